/**
 * Auto-multipart (DESIGN.md §3): a PutObject above the route's threshold, or of unknown length,
 * becomes a backend multipart upload. Parts are buffered in memory so that a failed part can be
 * sent again; the buffers come from one process-wide budget, and reading from the client waits
 * while it is spent, so memory stays bounded however many uploads run. Any failure, client
 * disconnect or shutdown aborts the backend upload: nothing is left behind.
 */
import { Readable } from 'node:stream';
import { Logger } from '@nestjs/common';
import { S3Error, type ObjectAttributes, type StoredObjectHeaders } from '@mizuchi/s3-protocol';
import type { Storage } from '../storage/storage';
import { chunksCopied } from './memory-hint';
import { toError } from '../common/to-error';

/** S3's limits on parts. */
export const MAX_PARTS = 10_000;
const MiB = 1024 * 1024;

/** A counting semaphore over an amount (bytes or slots), with abortable waits. */
export class Budget {
  private available: number;
  private readonly waiting: Array<{ amount: number; grant: () => void }> = [];

  constructor(readonly total: number) {
    this.available = total;
  }

  /** Takes `amount`, waiting until it is free; an amount above the total waits for all of it. */
  async acquire(amount: number, signal: AbortSignal): Promise<void> {
    const needed = Math.min(amount, this.total);
    if (this.waiting.length === 0 && this.available >= needed) {
      this.available -= needed;
      return;
    }
    signal.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const entry = {
        amount: needed,
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const index = this.waiting.indexOf(entry);
        if (index !== -1) this.waiting.splice(index, 1);
        reject(signal.reason as Error);
        this.pump();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  /** Gives back what `acquire(amount)` took. */
  release(amount: number): void {
    this.available += Math.min(amount, this.total);
    this.pump();
  }

  private pump(): void {
    // First come, first served: a large request at the head is not starved by small ones.
    for (;;) {
      const head = this.waiting[0];
      if (head === undefined || this.available < head.amount) return;
      this.waiting.shift();
      this.available -= head.amount;
      head.grant();
    }
  }
}

/** Settings of one auto-multipart upload. */
export interface AutoMultipartOptions {
  partSize: number;
  concurrentParts: number;
  /** Attempts per part, the first included. */
  maxAttempts: number;
  /** The process-wide budget for part buffers. */
  buffers: Budget;
  /** Called once per part stored, for progress metrics. */
  onPartStored?: () => void;
}

/** Part size for a body: the configured one, grown so that the body fits in 10,000 parts. */
export function choosePartSize(configured: number, length: number | undefined): number {
  if (length === undefined) return configured;
  const minimum = Math.ceil(length / MAX_PARTS / MiB) * MiB;
  return Math.max(configured, minimum);
}

function isRetryable(err: unknown): boolean {
  return !(err instanceof S3Error) || err.status >= 500;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Copies the body into part buffers. Socket chunks are copied out as they arrive, so they die
 * young and V8 frees them at once; the part buffers themselves are few and reused (PartBuffers),
 * so a long upload neither holds thousands of small chunks nor fragments the heap with them.
 */
class PartReader {
  private leftover: Buffer | undefined;
  ended = false;

  constructor(private readonly source: AsyncIterator<Buffer>) {}

  /** Fills `target` (fewer bytes only at the end of the body); returns how many it holds. */
  async fill(target: Buffer): Promise<number> {
    let filled = 0;
    while (filled < target.length) {
      let chunk = this.leftover;
      this.leftover = undefined;
      if (chunk === undefined) {
        const next = await this.source.next();
        if (next.done === true) {
          this.ended = true;
          break;
        }
        chunk = next.value;
      }
      const copied = chunk.copy(target, filled);
      if (copied < chunk.length) this.leftover = chunk.subarray(copied);
      else chunksCopied(chunk.length);
      filled += copied;
    }
    if (!this.ended && this.leftover === undefined) {
      // Peek so that a body ending exactly on a part boundary is known to have ended.
      const next = await this.source.next();
      if (next.done === true) this.ended = true;
      else this.leftover = next.value;
    }
    return filled;
  }
}

/** The part buffers of one upload: at most concurrent_parts of them, reused part after part. */
class PartBuffers {
  private readonly free: Buffer[] = [];

  constructor(private readonly size: number) {}

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  give(buffer: Buffer): void {
    this.free.push(buffer);
  }
}

/** One part read from the client: the bytes are `buffer.subarray(0, size)`. */
interface Part {
  buffer: Buffer;
  size: number;
}

/**
 * Uploads `body` (already decoded and verified in flight) as a multipart upload, or as one
 * PutObject when a body of unknown length turns out to fit in a single part.
 */
export async function uploadInParts(
  storage: Storage,
  key: string,
  attributes: ObjectAttributes,
  body: Readable,
  length: number | undefined,
  signal: AbortSignal,
  options: AutoMultipartOptions,
  logger?: Logger,
): Promise<StoredObjectHeaders> {
  const partSize = choosePartSize(options.partSize, length);
  const reader = new PartReader(body[Symbol.asyncIterator]() as AsyncIterator<Buffer>);
  // A part holds its slot from the moment it starts filling until it is stored, so at most
  // concurrent_parts parts of this upload are ever in memory, the one being read included.
  const slots = new Budget(options.concurrentParts);
  const buffers = new PartBuffers(partSize);
  const releasePart = (part: Part) => {
    buffers.give(part.buffer);
    options.buffers.release(partSize);
    slots.release(1);
  };
  const readPart = async (abort: AbortSignal): Promise<Part> => {
    await slots.acquire(1, abort);
    try {
      await options.buffers.acquire(partSize, abort);
    } catch (err) {
      slots.release(1);
      throw err;
    }
    const part = { buffer: buffers.take(), size: 0 };
    try {
      part.size = await reader.fill(part.buffer);
      return part;
    } catch (err) {
      releasePart(part);
      throw err;
    }
  };
  const first = await readPart(signal);
  if (reader.ended && length === undefined) {
    // A chunked body that fits in one part needs no multipart upload at all.
    try {
      const data = first.buffer.subarray(0, first.size);
      return await storage.putObject({
        key,
        body: Readable.from([data]),
        contentLength: data.length,
        attributes,
        signal,
      });
    } finally {
      releasePart(first);
    }
  }

  // Content-MD5 and x-amz-checksum-* describe the whole body; the gateway has verified them in
  // flight, and no single part could carry them.
  const uploadId = await storage
    .createMultipart({
      key,
      attributes: { ...attributes, contentMd5: undefined, checksum: undefined },
    })
    .catch((err: unknown) => {
      releasePart(first);
      throw err;
    });
  const local = new AbortController();
  const onOuterAbort = () => local.abort(signal.reason);
  signal.addEventListener('abort', onOuterAbort, { once: true });
  const etags: Array<{ partNumber: number; etag: string }> = [];
  const running = new Set<Promise<void>>();
  let failure: unknown;
  const fail = (err: unknown) => {
    if (failure === undefined) failure = err;
    local.abort(err);
  };

  const sendPart = async (partNumber: number, part: Part) => {
    const size = part.size;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const result = await storage.uploadPart({
            key,
            uploadId,
            partNumber,
            body: Readable.from([part.buffer.subarray(0, size)]),
            contentLength: size,
            signal: local.signal,
          });
          etags.push({ partNumber, etag: result.etag });
          options.onPartStored?.();
          // The key stays out of the log; the request id on the line names the upload.
          logger?.debug(`auto-multipart: part ${partNumber} stored (${size} bytes)`);
          return;
        } catch (err) {
          if (local.signal.aborted || attempt >= options.maxAttempts || !isRetryable(err))
            throw err;
          const backoff = 200 * 2 ** (attempt - 1) * (0.5 + Math.random());
          await sleep(backoff, local.signal);
        }
      }
    } catch (err) {
      fail(err);
    } finally {
      releasePart(part);
    }
  };

  try {
    let partNumber = 0;
    let next: Part | undefined = first;
    for (;;) {
      const part: Part = next ?? (await readPart(local.signal));
      next = undefined;
      if (part.size === 0 && partNumber > 0) {
        releasePart(part);
        break;
      }
      partNumber += 1;
      if (partNumber > MAX_PARTS) {
        releasePart(part);
        throw new S3Error(
          'EntityTooLarge',
          `The body needs more than ${MAX_PARTS} parts of ${partSize} bytes.`,
        );
      }
      const task = sendPart(partNumber, part);
      running.add(task);
      void task.finally(() => running.delete(task));
      if (reader.ended) break;
    }
    await Promise.all(running);
    if (failure !== undefined) throw toError(failure);
    etags.sort((a, b) => a.partNumber - b.partNumber);
    return await storage.complete({
      key,
      uploadId,
      parts: etags.map((p) => ({ partNumber: p.partNumber, etag: p.etag, checksums: {} })),
    });
  } catch (err) {
    fail(err);
    await Promise.allSettled(running);
    await abortQuietly(storage, key, uploadId, logger);
    throw toError(failure ?? err);
  } finally {
    signal.removeEventListener('abort', onOuterAbort);
  }
}

/**
 * How long a failed upload keeps trying to abort its backend upload. The failure was often the
 * backend going away for a moment, and the abort must outlast that, or the upload is left behind.
 */
const ABORT_PATIENCE_MS = 20_000;

async function abortQuietly(
  storage: Storage,
  key: string,
  uploadId: string,
  logger?: Logger,
): Promise<void> {
  const deadline = Date.now() + ABORT_PATIENCE_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      await storage.abort(key, uploadId);
      return;
    } catch (err) {
      if (err instanceof S3Error && err.code === 'NoSuchUpload') return;
      const backoff = Math.min(3000, 100 * 2 ** attempt);
      if (Date.now() + backoff > deadline) {
        logger?.error(
          `could not abort a failed auto-multipart upload (${attempt} attempts): ${errorName(err)}`,
        );
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, backoff));
    }
  }
}

/** An error's name and S3 code, never its message (which may name the key or a path). */
function errorName(err: unknown): string {
  if (!(err instanceof Error)) return typeof err;
  const code = (err as { Code?: unknown; code?: unknown }).Code ?? (err as { code?: unknown }).code;
  return typeof code === 'string' ? `${err.name} (${code})` : err.name;
}
