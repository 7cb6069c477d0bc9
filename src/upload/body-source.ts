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
 * first failure from any side: the client, a stage, the backend or shutdown. The upload's
 * controller (InFlightUploads) aborts the backend request on that first failure, before the
 * backend can complete an object. The client body is unpiped, never destroyed, so an error
 * response can still reach the client.
 */
export class Transfer {
  private readonly onAbort: () => void;
  private readonly onBodyError: (err: Error) => void;
  private failedHere = false;

  constructor(
    private readonly body: Readable,
    private readonly stages: readonly Transform[],
    private readonly upload: AbortController,
  ) {
    this.onAbort = () => this.tearDown();
    this.onBodyError = (err) => this.fail(err);
    body.on('error', this.onBodyError);
    for (const stage of stages) stage.on('error', (err) => this.fail(err));
    let upstream: Readable = body;
    for (const stage of stages) upstream = upstream.pipe(stage);
    if (upload.signal.aborted) this.tearDown();
    else upload.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Aborted on the first failure of any side. */
  get signal(): AbortSignal {
    return this.upload.signal;
  }

  /** Records a failure of the transfer itself (the first failure of any side wins). */
  fail(err: unknown): void {
    if (this.upload.signal.aborted) return;
    this.failedHere = true;
    this.upload.abort(err);
  }

  /** The first failure recorded. */
  firstError(): unknown {
    return this.upload.signal.reason;
  }

  /**
   * Throws the first failure if it was the transfer's own (body, stage, backend); the client
   * going away or shutdown after the backend stored the whole body is not the upload's failure.
   */
  throwIfFailedFirst(): void {
    if (this.failedHere) throw this.firstError();
  }

  /** Removes the listeners this transfer put on long-lived objects. */
  dispose(): void {
    this.upload.signal.removeEventListener('abort', this.onAbort);
    this.body.off('error', this.onBodyError);
  }

  /** Stops the flow into the backend: the stages are unpiped from the body and destroyed. */
  private tearDown(): void {
    const head = this.stages[0];
    if (head !== undefined) this.body.unpipe(head);
    for (const stage of this.stages) stage.destroy();
  }
}
