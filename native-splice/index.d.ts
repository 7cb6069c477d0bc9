/** True when the compiled addon loaded (Linux only). */
export const available: boolean;

/** Why the addon is not available (missing build, failed build, other platform); else undefined. */
export const loadError: string | undefined;

/** One transfer: `length` bytes from `inFd` to `outFd` through a pipe of `pipeSize` bytes. */
export interface SpliceOptions {
  /** A non-blocking socket (or a pipe); Node must have stopped reading it. */
  inFd: number;
  /** A non-blocking socket, a pipe, or a regular file (written at its current offset). */
  outFd: number;
  /** Exact number of bytes to move; never more is read from inFd. */
  length: number;
  /** F_SETPIPE_SZ for the transfer's pipe; 0, or a refused size, keeps the system default. */
  pipeSize: number;
  /** Fails the transfer when no byte moved for this long; 0 = no timeout. */
  idleTimeoutMs: number;
}

/** Handle of a running transfer. */
export interface SpliceTransfer {
  /** Stops the transfer (done gets Error('cancelled')); a no-op once it finished. Thread-safe. */
  cancel(): void;
}

/**
 * The Error given to `done`. `code` is an errno name (EPIPE, ECONNRESET, ...) or one of
 * ERR_SPLICE_PREMATURE_EOF, ERR_SPLICE_CANCELLED, ERR_SPLICE_IDLE_TIMEOUT,
 * ERR_SPLICE_UNSUPPORTED_FD; `side` says which descriptor failed when that is known.
 */
export interface SpliceError extends Error {
  code: string;
  errno?: number;
  syscall?: 'splice';
  side?: 'in' | 'out';
}

/** Moves exactly `length` bytes from inFd (a socket) to outFd (a socket or a regular file). */
export function splice(
  options: SpliceOptions,
  done: (error: Error | null, moved: number) => void,
): SpliceTransfer;

/** Counters of this process (or worker thread); all zero when the addon is not available. */
export function stats(): {
  active: number;
  started: number;
  completed: number;
  failed: number;
  threadRunning: boolean;
};
