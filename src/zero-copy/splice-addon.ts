/**
 * The optional native addon (native-splice/), loaded once. Its absence is normal: a machine
 * without a C++ toolchain, another OS, or a failed build all mean "stream everything".
 */

/** One splice in progress. */
export interface SpliceTransfer {
  cancel(): void;
}

/** Settings of one splice. */
export interface SpliceOptions {
  inFd: number;
  outFd: number;
  length: number;
  pipeSize: number;
  idleTimeoutMs: number;
}

/** The addon's API (native-splice/index.d.ts). */
export interface SpliceAddon {
  available: boolean;
  loadError?: string;
  splice(
    options: SpliceOptions,
    done: (error: Error | null, moved: number) => void,
  ): SpliceTransfer;
}

let loaded: SpliceAddon | undefined;

/** The addon, or an unavailable stand-in that says why. */
export function spliceAddon(): SpliceAddon {
  if (loaded !== undefined) return loaded;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require('@mizuchi/native-splice') as SpliceAddon;
  } catch (err) {
    loaded = {
      available: false,
      loadError: `@mizuchi/native-splice is not installed (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`,
      splice: () => {
        throw new Error('the splice addon is not available');
      },
    };
  }
  return loaded;
}

/** Runs one splice to its end; rejects with the addon's error and the bytes moved so far. */
export function spliceOnce(
  addon: SpliceAddon,
  options: SpliceOptions,
  signal?: AbortSignal,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let onAbort: (() => void) | undefined;
    const transfer = addon.splice(options, (error, moved) => {
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
      if (error !== null) reject(Object.assign(error, { moved }));
      else resolve(moved);
    });
    if (signal !== undefined) {
      onAbort = () => transfer.cancel();
      if (signal.aborted) transfer.cancel();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
  });
}
