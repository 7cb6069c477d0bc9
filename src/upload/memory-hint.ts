/**
 * A hint to V8 that socket chunks just died. V8 frees the memory behind a Buffer only when a
 * garbage collection finds it unreachable, and it schedules collections for external memory only
 * after about 64 MiB more of it was allocated. An auto-multipart upload copies its body out of
 * the socket's chunks into reused part buffers, so without a hint up to 64 MiB of dead chunks
 * linger on top of the part buffers. A young-generation collection after every few MiB copied
 * frees them while they are still young, at little cost: the young generation is almost all
 * garbage then. (A full collection per part freed no more and slowed a 1 GiB upload by a quarter.)
 * `MIZUCHI_GC_HINTS=off` turns the hint off.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Collect = (options?: { type?: 'major' | 'minor' }) => void;

function obtainCollector(): Collect | undefined {
  if (process.env.MIZUCHI_GC_HINTS === 'off') return undefined;
  try {
    setFlagsFromString('--expose-gc');
    const collect = runInNewContext('gc') as unknown;
    return typeof collect === 'function' ? (collect as Collect) : undefined;
  } catch {
    return undefined;
  }
}

const collect = obtainCollector();

/** Bytes copied out of socket chunks between two collections. */
const COLLECT_EVERY = 4 * 1024 * 1024;
let copiedSinceCollect = 0;

/** Counts `bytes` copied out of chunks that are now garbage; collects after every few MiB. */
export function chunksCopied(bytes: number): void {
  if (collect === undefined) return;
  copiedSinceCollect += bytes;
  if (copiedSinceCollect < COLLECT_EVERY) return;
  copiedSinceCollect = 0;
  collect({ type: 'minor' });
}
