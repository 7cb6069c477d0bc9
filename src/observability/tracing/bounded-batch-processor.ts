/**
 * A batching span processor with a hard bound: finished spans wait in a queue of at most
 * `maxQueueSize`; beyond that they are dropped and counted, never blocking the request that
 * ended them. One batch is exported at a time, every `scheduledDelayMs` or as soon as a full
 * batch is waiting. Spans are turned into what is queued by `prepare` when they end (the gateway
 * encodes them through the privacy filter, otlp-protobuf.ts), so the queue holds only what may
 * leave the process, and no span object outlives its request.
 */
import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { context, ROOT_CONTEXT, suppressTracing, TraceFlags } from './otel-api';

/**
 * Where the export work runs: in no request's context, whichever request ended the span that
 * set it off, so its timers, sockets and log lines carry no request id or trace id (and hold no
 * request's objects alive), and with tracing suppressed, so that it traces nothing itself.
 */
const EXPORT_CONTEXT = suppressTracing(ROOT_CONTEXT);

/** Exports batches of queued items (the SDK's SpanExporter is one, for ReadableSpan items). */
export interface BatchExporter<T> {
  export(items: T[], done: (result: ExportResult) => void): void;
  shutdown(): Promise<void>;
  forceFlush?(): Promise<void>;
}

/** Settings of a BoundedBatchProcessor. */
export interface BatchOptions<T> {
  maxQueueSize: number;
  maxExportBatchSize: number;
  scheduledDelayMs: number;
  exportTimeoutMs: number;
  /** Turns a finished span into what is queued. */
  prepare: (span: ReadableSpan) => T;
  /** Called with the number of spans dropped because the queue was full. */
  onQueueFull?: (dropped: number) => void;
}

/** Queues finished, sampled spans and exports them in bounded batches. */
export class BoundedBatchProcessor<T> implements SpanProcessor {
  private readonly queue: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  private exporting: Promise<void> | undefined;
  private stopped = false;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly exporter: BatchExporter<T>,
    private readonly options: BatchOptions<T>,
  ) {}

  /** Spans waiting for export. */
  get queued(): number {
    return this.queue.length;
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if (this.stopped || (span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    if (this.queue.length >= this.options.maxQueueSize) {
      this.options.onQueueFull?.(1);
      return;
    }
    this.queue.push(this.options.prepare(span));
    if (this.queue.length >= this.options.maxExportBatchSize) this.kick();
    else this.schedule();
  }

  /**
   * Exports what is queued when called (spans that end meanwhile may ride along, but a steady
   * stream of new ones cannot keep it waiting forever).
   */
  async forceFlush(): Promise<void> {
    let batches = Math.ceil(this.queue.length / this.options.maxExportBatchSize);
    if (this.exporting !== undefined) await this.exporting;
    while (batches-- > 0 && this.queue.length > 0) {
      await (this.exporting ?? this.exportNext());
    }
  }

  shutdown(): Promise<void> {
    this.stopping ??= (async () => {
      await this.forceFlush();
      this.stopped = true;
      clearTimeout(this.timer);
      await this.exporter.shutdown();
    })();
    return this.stopping;
  }

  private schedule(): void {
    if (this.timer !== undefined || this.exporting !== undefined) return;
    this.timer = context.with(EXPORT_CONTEXT, () =>
      setTimeout(() => {
        this.timer = undefined;
        this.kick();
      }, this.options.scheduledDelayMs),
    );
    this.timer.unref();
  }

  private kick(): void {
    if (this.exporting !== undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    void this.exportNext();
  }

  private exportNext(): Promise<void> {
    return context.with(EXPORT_CONTEXT, () => this.exportQueued());
  }

  private exportQueued(): Promise<void> {
    const batch = this.queue.splice(0, this.options.maxExportBatchSize);
    if (batch.length === 0) return Promise.resolve();
    const running = this.exportBatch(batch).finally(() => {
      this.exporting = undefined;
      if (this.queue.length >= this.options.maxExportBatchSize) this.kick();
      else if (this.queue.length > 0) this.schedule();
    });
    this.exporting = running;
    return running;
  }

  /** One export, bounded by exportTimeoutMs (in EXPORT_CONTEXT). */
  private exportBatch(batch: T[]): Promise<void> {
    return new Promise<void>((resolve) => {
      const timeout = setTimeout(resolve, this.options.exportTimeoutMs);
      timeout.unref();
      try {
        // The exporter counts, logs or hands failed batches to its fallback itself.
        this.exporter.export(batch, () => {
          clearTimeout(timeout);
          resolve();
        });
      } catch {
        clearTimeout(timeout);
        resolve();
      }
    });
  }
}
