/**
 * A span exporter that keeps a slow or dead collector away from uploads: each batch is retried
 * with exponential backoff and jitter, and after `failureThreshold` consecutive failed batches a
 * circuit breaker opens for `cooldownMs`, during which no export is attempted at all (spans go
 * to the fallback or are dropped and counted). After the cool-down one trial batch decides:
 * success closes the breaker, failure opens it again.
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { toError } from '../../common/to-error';
import type { BatchExporter } from './bounded-batch-processor';

/** The breaker: closed (exporting), open (resting) or half_open (one trial export). */
export type BreakerState = 'closed' | 'open' | 'half_open';

/** Why spans were not exported. */
export type DropReason = 'breaker_open' | 'export_failed';

/** Settings and hooks of a ResilientExporter. */
export interface ResilienceOptions<T> {
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  failureThreshold: number;
  cooldownMs: number;
  /** Receives spans that cannot be exported (e.g. writes them to the log); else they drop. */
  fallback?: (spans: T[]) => void;
  /** Called once per failed attempt. */
  onAttemptFailed?: (error: Error) => void;
  /** Called with spans that were neither exported nor given to the fallback. */
  onDropped?: (count: number, reason: DropReason) => void;
  /** Called when the breaker changes state. */
  onBreakerChange?: (state: BreakerState) => void;
  /** Clock and randomness, replaceable in tests. */
  now?: () => number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** Wraps an exporter with retries and a circuit breaker. */
export class ResilientExporter<T> implements BatchExporter<T> {
  private breaker: BreakerState = 'closed';
  private openUntil = 0;
  private consecutiveFailures = 0;
  private lastBatchFailed = false;
  private stopped = false;

  constructor(
    private readonly inner: BatchExporter<T>,
    private readonly options: ResilienceOptions<T>,
  ) {}

  /** The breaker's state now (an open breaker past its cool-down reports half_open). */
  get state(): BreakerState {
    if (this.breaker === 'open' && this.now() >= this.openUntil) return 'half_open';
    return this.breaker;
  }

  /** Whether exports are currently failing or suspended. */
  get degraded(): boolean {
    return this.breaker !== 'closed' || this.lastBatchFailed;
  }

  export(spans: T[], done: (result: ExportResult) => void): void {
    this.exportBatch(spans).then(done, (error: unknown) =>
      done({ code: ExportResultCode.FAILED, error: toError(error) }),
    );
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    await this.inner.shutdown();
  }

  async forceFlush(): Promise<void> {
    await this.inner.forceFlush?.();
  }

  private async exportBatch(spans: T[]): Promise<ExportResult> {
    if (this.breaker === 'open') {
      if (this.now() < this.openUntil) return this.giveUp(spans, 'breaker_open');
      this.setBreaker('half_open');
    }
    const attempts = this.breaker === 'half_open' ? 1 : this.options.maxAttempts;
    let lastError: Error | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) await this.sleep(this.backoff(attempt - 1));
      const result = await this.attempt(spans);
      if (result.code === ExportResultCode.SUCCESS) {
        this.consecutiveFailures = 0;
        this.lastBatchFailed = false;
        if (this.breaker !== 'closed') this.setBreaker('closed');
        return result;
      }
      lastError = result.error ?? new Error('span export failed');
      this.options.onAttemptFailed?.(lastError);
      if (this.stopped) break;
    }
    this.lastBatchFailed = true;
    this.consecutiveFailures += 1;
    if (this.breaker === 'half_open' || this.consecutiveFailures >= this.options.failureThreshold) {
      this.openUntil = this.now() + this.options.cooldownMs;
      this.setBreaker('open');
    }
    this.giveUp(spans, 'export_failed');
    return { code: ExportResultCode.FAILED, error: lastError };
  }

  private attempt(spans: T[]): Promise<ExportResult> {
    return new Promise<ExportResult>((resolve) => {
      try {
        this.inner.export(spans, resolve);
      } catch (error) {
        resolve({ code: ExportResultCode.FAILED, error: toError(error) });
      }
    });
  }

  /** Full jitter around an exponentially growing, capped delay. */
  private backoff(retry: number): number {
    const ceiling = Math.min(
      this.options.maxBackoffMs,
      this.options.initialBackoffMs * 2 ** (retry - 1),
    );
    return ceiling * (0.5 + 0.5 * (this.options.random ?? Math.random)());
  }

  private giveUp(spans: T[], reason: DropReason): ExportResult {
    if (this.options.fallback !== undefined) this.options.fallback(spans);
    else this.options.onDropped?.(spans.length, reason);
    // The spans are handled (written to the fallback or counted); the processor moves on.
    return { code: ExportResultCode.SUCCESS };
  }

  private setBreaker(state: BreakerState): void {
    this.breaker = state;
    this.options.onBreakerChange?.(state);
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private sleep(ms: number): Promise<void> {
    return (this.options.sleep ?? realSleep)(ms);
  }
}
