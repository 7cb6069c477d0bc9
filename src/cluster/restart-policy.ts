/**
 * When the primary restarts a worker that died: after a delay that doubles with each recent
 * crash of that worker, and not at all once it has crashed too often within a window, so a
 * crash loop ends the gateway (for its supervisor to see) instead of spinning.
 */

/** Tuning of the restart policy. */
export interface RestartPolicyOptions {
  /** Delay before restarting after a first crash; each further crash in the window doubles it. */
  initialDelayMs: number;
  /** Upper bound of the delay. */
  maxDelayMs: number;
  /** Crashes older than this are forgotten. */
  windowMs: number;
  /** A worker that crashes more often than this within the window is not restarted. */
  maxCrashes: number;
}

/** Five crashes of one worker in a minute are tolerated, restarted after 0.25, 0.5, 1, 2, 4 s. */
export const DEFAULT_RESTART_POLICY: RestartPolicyOptions = {
  initialDelayMs: 250,
  maxDelayMs: 10_000,
  windowMs: 60_000,
  maxCrashes: 5,
};

/** What to do about one crash; `crashes` counts those of this worker within the window. */
export type RestartDecision =
  { restart: true; delayMs: number; crashes: number } | { restart: false; crashes: number };

/** Remembers recent crashes per worker index and decides about the next one. */
export class RestartPolicy {
  private readonly crashes = new Map<number, number[]>();

  constructor(readonly options: RestartPolicyOptions = DEFAULT_RESTART_POLICY) {}

  /** Records that worker `index` died at `now` (ms) and decides whether and when to restart it. */
  onCrash(index: number, now: number = Date.now()): RestartDecision {
    const recent = (this.crashes.get(index) ?? []).filter((t) => now - t < this.options.windowMs);
    recent.push(now);
    this.crashes.set(index, recent);
    const crashes = recent.length;
    if (crashes > this.options.maxCrashes) return { restart: false, crashes };
    const delayMs = Math.min(
      this.options.initialDelayMs * 2 ** (crashes - 1),
      this.options.maxDelayMs,
    );
    return { restart: true, delayMs, crashes };
  }
}
