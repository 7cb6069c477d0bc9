/**
 * The last stage before a backend: it lets exactly the declared number of bytes through and holds
 * back the final chunk until the whole body has arrived and every verifier before it has passed.
 * A backend therefore never sees a complete body, and cannot store an object, for an upload that
 * is short, long, or fails a digest check.
 */
import type { Readable } from 'node:stream';
import { Transform, type TransformCallback } from 'node:stream';
import { S3Error } from '@mizuchi/s3-protocol';
import { metrics } from '../observability/metrics';

/**
 * Forwards exactly `expected` bytes (or, for a body of unknown length, at most `max`),
 * withholding the last chunk until the input ends cleanly.
 */
export class BodyGate extends Transform {
  /** Bytes that came through so far. */
  received = 0;
  private held: Buffer | undefined;

  constructor(
    private readonly expected: number | undefined,
    private readonly max: number = Number.MAX_SAFE_INTEGER,
  ) {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.received += chunk.length;
    metrics().bytesInFlight.inc(chunk.length);
    if (this.expected !== undefined && this.received > this.expected) {
      done(new S3Error('InvalidRequest', 'The body is longer than its declared length.'));
      return;
    }
    if (this.received > this.max) {
      done(
        new S3Error(
          'EntityTooLarge',
          `The body exceeds the maximum allowed size of ${this.max} bytes.`,
          { status: 413 },
        ),
      );
      return;
    }
    const previous = this.held;
    this.held = chunk;
    done(null, previous);
  }

  override _destroy(err: Error | null, done: (error: Error | null) => void): void {
    // The upload is over, stored or not: its bytes are no longer in flight.
    metrics().bytesInFlight.dec(this.received);
    done(err);
  }

  override _flush(done: TransformCallback): void {
    if (this.expected !== undefined && this.received !== this.expected) {
      done(new S3Error('IncompleteBody'));
      return;
    }
    done(null, this.held);
  }
}

/**
 * Connects a client body through verifying stages to the gate a backend reads, and remembers the
 * first failure from any side: the client, a stage, the backend or shutdown. Its signal aborts
 * the backend request on that first failure, before the backend can complete an object. The
 * client body is unpiped, never destroyed, so an error response can still reach the client.
 */
export class Transfer {
  private readonly controller = new AbortController();
  private readonly onOuterAbort: () => void;
  private readonly onBodyError: (err: Error) => void;

  constructor(
    private readonly body: Readable,
    private readonly stages: readonly Transform[],
    private readonly outer: AbortSignal,
  ) {
    this.onOuterAbort = () => this.fail(outer.reason);
    this.onBodyError = (err) => this.fail(err);
    if (outer.aborted) this.onOuterAbort();
    else outer.addEventListener('abort', this.onOuterAbort, { once: true });
    body.on('error', this.onBodyError);
    for (const stage of stages) stage.on('error', (err) => this.fail(err));
    let upstream: Readable = body;
    for (const stage of stages) upstream = upstream.pipe(stage);
  }

  /** Aborted on the first failure of any side. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Records a failure (the first one wins) and tears the transfer down. */
  fail(err: unknown): void {
    if (this.controller.signal.aborted) return;
    this.controller.abort(err);
    const head = this.stages[0];
    if (head !== undefined) this.body.unpipe(head);
    for (const stage of this.stages) stage.destroy();
  }

  /** The first failure recorded. */
  firstError(): unknown {
    return this.controller.signal.reason;
  }

  /** Throws the first failure, if there was one. */
  throwIfFailed(): void {
    if (this.controller.signal.aborted) throw this.firstError();
  }

  /** Removes the listeners this transfer put on long-lived objects. */
  dispose(): void {
    this.outer.removeEventListener('abort', this.onOuterAbort);
    this.body.off('error', this.onBodyError);
  }
}
