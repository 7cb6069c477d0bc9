/**
 * Tracks uploads in progress so that shutdown can wait for them, then abort what remains.
 * An aborted upload leaves nothing behind: its backend request is cancelled before completion.
 */
import { Injectable } from '@nestjs/common';
import { S3Error } from '@mizuchi/s3-protocol';
import type { OnClientGone } from '../common/request.decorators';
import { metrics } from '../observability/metrics';

/** The live uploads of this process. */
@Injectable()
export class InFlightUploads {
  private readonly active = new Set<AbortController>();
  private idle: Array<() => void> = [];

  /** How many uploads are running now. */
  get size(): number {
    return this.active.size;
  }

  /**
   * Runs `work` with the upload's controller, which aborts when the client goes away or when
   * shutdown aborts all uploads; the work aborts it itself on a failure of its own.
   */
  async run<T>(
    onClientGone: OnClientGone,
    work: (upload: AbortController) => Promise<T>,
  ): Promise<T> {
    const controller = new AbortController();
    const unsubscribe = onClientGone((reason) => controller.abort(reason));
    this.active.add(controller);
    metrics().inFlight.inc();
    try {
      return await work(controller);
    } finally {
      metrics().inFlight.dec();
      unsubscribe();
      this.active.delete(controller);
      if (this.active.size === 0) this.notifyIdle();
    }
  }

  /** Waits up to `graceMs` for running uploads to end, then aborts the rest and waits for them. */
  async drain(graceMs: number): Promise<{ finished: boolean; aborted: number }> {
    if (this.active.size === 0) return { finished: true, aborted: 0 };
    const idle = this.whenIdle();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    const outcome = await Promise.race([idle.then(() => 'idle' as const), timedOut]);
    clearTimeout(timer);
    if (outcome === 'idle') return { finished: true, aborted: 0 };
    const aborted = this.active.size;
    const reason = new S3Error('ServiceUnavailable', 'The gateway is shutting down.');
    for (const controller of this.active) controller.abort(reason);
    await idle;
    return { finished: false, aborted };
  }

  private whenIdle(): Promise<void> {
    if (this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private notifyIdle(): void {
    const waiting = this.idle;
    this.idle = [];
    for (const resolve of waiting) resolve();
  }
}
