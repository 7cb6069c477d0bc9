/**
 * Shared fast-check settings for the `*.fuzz.spec.ts` property tests in libs/. Test-only: no
 * production code imports this folder.
 *
 * - `FUZZ_RUNS` sets the runs of a weight-1 property (default 200, so `npm test` stays quick;
 *   `npm run fuzz` raises it).
 * - Every run uses one seed per process, taken from `FUZZ_SEED` or drawn at random. A failure
 *   names the seed and the counterexample path, so `FUZZ_SEED=<seed> FUZZ_PATH=<path>` replays
 *   exactly the failing case.
 */
import * as fc from 'fast-check';

const DEFAULT_RUNS = 200;

function envInteger(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) throw new Error(`${name} must be an integer, got '${raw}'`);
  return value;
}

/** Runs of a weight-1 property: FUZZ_RUNS, or 200. */
export const FUZZ_RUNS = Math.max(1, envInteger('FUZZ_RUNS') ?? DEFAULT_RUNS);

/** The seed of every property in this process: FUZZ_SEED, or a fresh random one. */
export const FUZZ_SEED = envInteger('FUZZ_SEED') ?? (Math.random() * 0x7fffffff) | 0;

const FUZZ_PATH = process.env.FUZZ_PATH;

/** The number of runs for a property that costs `weight` times a typical one (at least 1). */
export function fuzzRuns(weight = 1): number {
  return Math.max(1, Math.round(FUZZ_RUNS * weight));
}

function parameters<Ts>(weight: number): fc.Parameters<Ts> {
  return {
    numRuns: fuzzRuns(weight),
    seed: FUZZ_SEED,
    ...(FUZZ_PATH !== undefined ? { path: FUZZ_PATH, endOnFailure: true } : {}),
  };
}

function withReplayHint(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const path = /path: "([^"]*)"/.exec(err.message)?.[1];
  err.message =
    `Replay with: FUZZ_SEED=${FUZZ_SEED}${path !== undefined ? ` FUZZ_PATH=${path}` : ''}\n` +
    err.message;
  return err;
}

/** Checks a synchronous property with the shared settings. */
export function fuzz<Ts>(property: fc.IProperty<Ts>, weight = 1): void {
  try {
    fc.assert(property, parameters<Ts>(weight));
  } catch (err) {
    throw withReplayHint(err);
  }
}

/** Checks an asynchronous property with the shared settings. */
export async function fuzzAsync<Ts>(property: fc.IAsyncProperty<Ts>, weight = 1): Promise<void> {
  try {
    await fc.assert(property, parameters<Ts>(weight));
  } catch (err) {
    throw withReplayHint(err);
  }
}

/**
 * Runs `fn` and returns what it threw, or undefined when it returned. Lets a property state
 * "either it succeeds or it fails with this error type" in one place.
 */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err;
  }
}
