/**
 * V8 settings that the gateway's allocation pattern needs: it builds a few hundred small objects
 * per request that all die with the request, while everything long-lived is made at start-up.
 *
 * **Allocation-site pretenuring is turned off.** V8 watches how many objects from each allocation
 * site survive a scavenge, and once a site's survival rate is high it allocates that site's
 * objects directly in the old generation. Under a steady stream of small uploads some sites got
 * there (an object made at the start of a request and kept until its end survives a scavenge now
 * and then), and from then on each request's pretenured objects, dead as soon as the request
 * ended, still pointed at the request's young objects. A scavenge cannot tell a dead old object
 * from a live one, so it kept those young objects, the request's whole graph, and promoted them:
 * about 10 KB per 4 KiB PUT, 15 KB with tracing on, every request, until the next full
 * collection. Without pretenuring the same load promotes under 1 KB per request, GC pauses take a
 * third of the time, and 20,000 PUTs ran no full collection instead of four
 * (`bash bench/promotion.sh`; docs/OPERATIONS.md, "Memory").
 *
 * Starting node with `--allocation-site-pretenuring` keeps V8's default.
 */
import { setFlagsFromString } from 'node:v8';

/** The V8 flags the gateway sets for itself, unless node's command line says otherwise. */
export const GATEWAY_V8_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring'];

/** The flag's name without its `--` or `--no-` prefix, with `_` read as `-`, as V8 reads it. */
function flagName(arg: string): string | undefined {
  const match = /^--(?:no-?)?([a-z0-9_-]+)(?:=.*)?$/.exec(arg);
  return match?.[1].replace(/_/g, '-');
}

/**
 * The flags of `GATEWAY_V8_FLAGS` that node's own command line (`execArgv`) leaves unset: an
 * operator's choice there always wins.
 */
export function flagsToSet(execArgv: readonly string[]): string[] {
  const chosen = new Set(execArgv.map(flagName).filter((name) => name !== undefined));
  return GATEWAY_V8_FLAGS.filter((flag) => !chosen.has(flagName(flag) ?? flag));
}

/**
 * Sets the gateway's V8 flags in this process. Runs before the app is loaded: V8 reads this one
 * at each garbage collection, so it applies to everything allocated after.
 */
export function tuneHeap(
  execArgv: readonly string[] = process.execArgv,
  set: (flag: string) => void = setFlagsFromString,
): string[] {
  const flags = flagsToSet(execArgv);
  for (const flag of flags) set(flag);
  return flags;
}
