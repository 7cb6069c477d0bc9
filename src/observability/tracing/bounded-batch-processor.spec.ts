import { context, createContextKey, ROOT_CONTEXT, TraceFlags } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode, isTracingSuppressed, type ExportResult } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { BoundedBatchProcessor, type BatchOptions } from './bounded-batch-processor';

/** A request's mark in its context, which export work must not carry. */
const REQUEST_KEY = createContextKey('bounded-batch-processor-spec.request');

/** A finished span stand-in: the processor reads only its name (here) and its trace flags. */
function span(name: string, sampled = true): ReadableSpan {
  const spanContext = {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
  };
  return { name, spanContext: () => spanContext } as ReadableSpan;
}

function names(count: number, from = 0): string[] {
  return Array.from({ length: count }, (_, i) => `s${from + i}`);
}

/**
 * An exporter that records batches by span name. `immediate` answers at once, `manual` holds the
 * callback until `complete()`, `never` never answers, `throw` throws from export().
 */
class RecordingExporter implements SpanExporter {
  readonly batches: string[][] = [];
  readonly exported: ReadableSpan[] = [];
  readonly events: string[] = [];
  readonly suppressed: boolean[] = [];
  /** The value of REQUEST_KEY in the context of each export() call. */
  readonly requests: unknown[] = [];
  private readonly pending: Array<(result: ExportResult) => void> = [];
  inFlight = 0;
  maxInFlight = 0;
  shutdowns = 0;

  constructor(public mode: 'immediate' | 'manual' | 'never' | 'throw' = 'immediate') {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.batches.push(spans.map((s) => s.name));
    this.exported.push(...spans);
    this.events.push(`export ${spans.map((s) => s.name).join(',')}`);
    this.suppressed.push(isTracingSuppressed(context.active()));
    this.requests.push(context.active().getValue(REQUEST_KEY));
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const finish = (result: ExportResult) => {
      this.inFlight -= 1;
      done(result);
    };
    switch (this.mode) {
      case 'immediate':
        finish({ code: ExportResultCode.SUCCESS });
        return;
      case 'manual':
        this.pending.push(finish);
        return;
      case 'never':
        return;
      case 'throw':
        this.inFlight -= 1;
        throw new Error('exporter exploded');
    }
  }

  /** Answers the oldest held export. */
  complete(): void {
    const next = this.pending.shift();
    if (next === undefined) throw new Error('no export is waiting');
    next({ code: ExportResultCode.SUCCESS });
  }

  get waiting(): number {
    return this.pending.length;
  }

  shutdown(): Promise<void> {
    this.shutdowns += 1;
    this.events.push('shutdown');
    return Promise.resolve();
  }
}

function processorFor(exporter: SpanExporter, overrides: Partial<BatchOptions<ReadableSpan>> = {}) {
  return new BoundedBatchProcessor(exporter, {
    maxQueueSize: 100,
    maxExportBatchSize: 10,
    scheduledDelayMs: 1000,
    exportTimeoutMs: 30_000,
    prepare: (s) => s,
    ...overrides,
  });
}

/** Lets pending promise callbacks (export completions) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe('BoundedBatchProcessor', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });

  afterEach(() => {
    jest.clearAllTimers();
    jest.useRealTimers();
  });

  describe('queueing', () => {
    it('ignores spans that were not sampled', async () => {
      const exporter = new RecordingExporter();
      const prepare = jest.fn((s: ReadableSpan) => s);
      const processor = processorFor(exporter, { prepare, maxExportBatchSize: 1 });

      processor.onEnd(span('unsampled', false));

      expect(processor.queued).toBe(0);
      expect(prepare).not.toHaveBeenCalled();
      expect(jest.getTimerCount()).toBe(0);
      await processor.forceFlush();
      await jest.advanceTimersByTimeAsync(5000);
      expect(exporter.batches).toEqual([]);
    });

    it('queues what prepare returns, not the span that ended', async () => {
      const exporter = new RecordingExporter();
      const copies: ReadableSpan[] = [];
      const prepare = jest.fn((s: ReadableSpan) => {
        const copy = span(`copy-of-${s.name}`);
        copies.push(copy);
        return copy;
      });
      const processor = processorFor(exporter, { prepare });
      const original = span('original');

      processor.onEnd(original);
      await processor.forceFlush();

      expect(prepare).toHaveBeenCalledTimes(1);
      expect(prepare).toHaveBeenCalledWith(original);
      expect(exporter.exported).toHaveLength(1);
      expect(exporter.exported[0]).toBe(copies[0]);
      expect(exporter.batches).toEqual([['copy-of-original']]);
    });

    it('drops spans beyond maxQueueSize and counts each one with onQueueFull', async () => {
      const exporter = new RecordingExporter();
      const onQueueFull = jest.fn();
      const processor = processorFor(exporter, {
        maxQueueSize: 3,
        maxExportBatchSize: 10,
        onQueueFull,
      });

      for (const name of names(5)) processor.onEnd(span(name));

      expect(processor.queued).toBe(3);
      expect(onQueueFull).toHaveBeenCalledTimes(2);
      expect(onQueueFull.mock.calls).toEqual([[1], [1]]);
      await processor.forceFlush();
      expect(exporter.batches).toEqual([['s0', 's1', 's2']]);
    });

    it('does not run prepare on a span it drops for a full queue', () => {
      const prepare = jest.fn((s: ReadableSpan) => s);
      const processor = processorFor(new RecordingExporter(), {
        maxQueueSize: 1,
        maxExportBatchSize: 10,
        prepare,
      });

      processor.onEnd(span('kept'));
      processor.onEnd(span('dropped'));

      expect(prepare).toHaveBeenCalledTimes(1);
      expect(prepare).toHaveBeenCalledWith(expect.objectContaining({ name: 'kept' }));
    });

    it('accepts spans again once an export has made room', async () => {
      const exporter = new RecordingExporter();
      const onQueueFull = jest.fn();
      const processor = processorFor(exporter, {
        maxQueueSize: 2,
        maxExportBatchSize: 10,
        onQueueFull,
      });
      processor.onEnd(span('a'));
      processor.onEnd(span('b'));
      await processor.forceFlush();

      processor.onEnd(span('c'));
      processor.onEnd(span('d'));

      expect(onQueueFull).not.toHaveBeenCalled();
      expect(processor.queued).toBe(2);
    });

    it('drops rather than blocks while an export is stuck and the queue is full', () => {
      const exporter = new RecordingExporter('manual');
      const onQueueFull = jest.fn();
      const processor = processorFor(exporter, {
        maxQueueSize: 2,
        maxExportBatchSize: 2,
        onQueueFull,
      });

      for (const name of names(6)) processor.onEnd(span(name));

      // Two went out in the first batch, two wait, two found the queue full.
      expect(exporter.batches).toEqual([['s0', 's1']]);
      expect(processor.queued).toBe(2);
      expect(onQueueFull).toHaveBeenCalledTimes(2);
    });
  });

  describe('when it exports', () => {
    it('exports as soon as a full batch is waiting, without waiting for the delay', () => {
      const exporter = new RecordingExporter();
      const processor = processorFor(exporter, {
        maxExportBatchSize: 3,
        scheduledDelayMs: 60_000,
      });

      processor.onEnd(span('s0'));
      processor.onEnd(span('s1'));
      expect(exporter.batches).toEqual([]);
      processor.onEnd(span('s2'));

      expect(exporter.batches).toEqual([['s0', 's1', 's2']]);
      expect(processor.queued).toBe(0);
    });

    it('exports a partial batch once scheduledDelayMs has passed', async () => {
      const exporter = new RecordingExporter();
      const processor = processorFor(exporter, {
        maxExportBatchSize: 10,
        scheduledDelayMs: 1000,
      });

      processor.onEnd(span('s0'));
      await jest.advanceTimersByTimeAsync(999);
      expect(exporter.batches).toEqual([]);
      expect(processor.queued).toBe(1);

      await jest.advanceTimersByTimeAsync(1);
      expect(exporter.batches).toEqual([['s0']]);
      expect(processor.queued).toBe(0);
    });

    it('counts the delay from the first waiting span, not the latest', async () => {
      const exporter = new RecordingExporter();
      const processor = processorFor(exporter, { scheduledDelayMs: 1000 });

      processor.onEnd(span('s0'));
      await jest.advanceTimersByTimeAsync(600);
      processor.onEnd(span('s1'));
      await jest.advanceTimersByTimeAsync(400);

      expect(exporter.batches).toEqual([['s0', 's1']]);
    });

    it('splits a backlog into batches of at most maxExportBatchSize, in order', async () => {
      const exporter = new RecordingExporter();
      const processor = processorFor(exporter, {
        maxExportBatchSize: 3,
        scheduledDelayMs: 60_000,
      });

      for (const name of names(7)) processor.onEnd(span(name));
      await processor.forceFlush();

      expect(exporter.batches).toEqual([['s0', 's1', 's2'], ['s3', 's4', 's5'], ['s6']]);
    });

    it('exports one batch at a time and sends the next when the previous one answers', async () => {
      const exporter = new RecordingExporter('manual');
      const processor = processorFor(exporter, {
        maxExportBatchSize: 2,
        scheduledDelayMs: 60_000,
      });

      for (const name of names(5)) processor.onEnd(span(name));
      expect(exporter.batches).toEqual([['s0', 's1']]);
      expect(processor.queued).toBe(3);

      // Well past the delay but short of the export timeout: still only the first batch.
      await jest.advanceTimersByTimeAsync(20_000);
      expect(exporter.batches).toHaveLength(1);

      exporter.complete();
      await settle();
      expect(exporter.batches).toEqual([
        ['s0', 's1'],
        ['s2', 's3'],
      ]);

      exporter.complete();
      await settle();
      // One span left: less than a batch, so it waits for the delay.
      expect(exporter.batches).toHaveLength(2);
      await jest.advanceTimersByTimeAsync(60_000);
      expect(exporter.batches).toEqual([['s0', 's1'], ['s2', 's3'], ['s4']]);
      exporter.complete();
      await settle();
      expect(exporter.maxInFlight).toBe(1);
    });

    it('never starts a second export while forceFlush runs beside a scheduled one', async () => {
      const exporter = new RecordingExporter('manual');
      const processor = processorFor(exporter, {
        maxExportBatchSize: 2,
        scheduledDelayMs: 100,
      });
      for (const name of names(3)) processor.onEnd(span(name));
      const flushed = processor.forceFlush();

      for (let i = 0; i < 3; i++) {
        await jest.advanceTimersByTimeAsync(100);
        expect(exporter.inFlight).toBeLessThanOrEqual(1);
        if (exporter.waiting > 0) exporter.complete();
      }
      await flushed;

      expect(exporter.maxInFlight).toBe(1);
      expect(exporter.batches.flat()).toEqual(['s0', 's1', 's2']);
    });
  });

  describe('forceFlush', () => {
    it('resolves at once and exports nothing when the queue is empty', async () => {
      const exporter = new RecordingExporter();
      const processor = processorFor(exporter);

      await processor.forceFlush();

      expect(exporter.batches).toEqual([]);
    });

    it('drains every queued span without waiting for the delay', async () => {
      const exporter = new RecordingExporter();
      const processor = processorFor(exporter, {
        maxQueueSize: 100,
        maxExportBatchSize: 10,
        scheduledDelayMs: 60_000,
      });

      for (const name of names(25)) processor.onEnd(span(name));
      await processor.forceFlush();

      expect(exporter.batches.map((b) => b.length)).toEqual([10, 10, 5]);
      expect(exporter.batches.flat()).toEqual(names(25));
      expect(processor.queued).toBe(0);
    });

    it('waits for the export already in flight before resolving', async () => {
      const exporter = new RecordingExporter('manual');
      const processor = processorFor(exporter, { maxExportBatchSize: 2 });
      processor.onEnd(span('s0'));
      processor.onEnd(span('s1'));
      processor.onEnd(span('s2'));
      let done = false;

      const flushed = processor.forceFlush().then(() => {
        done = true;
      });
      await settle();
      expect(done).toBe(false);

      exporter.complete();
      await settle();
      expect(done).toBe(false);
      expect(exporter.batches).toEqual([['s0', 's1'], ['s2']]);

      exporter.complete();
      await flushed;
      expect(done).toBe(true);
      expect(processor.queued).toBe(0);
    });
  });

  describe('export timeout', () => {
    it('moves on to the next batch when the exporter never calls back', async () => {
      const exporter = new RecordingExporter('never');
      const processor = processorFor(exporter, {
        maxExportBatchSize: 1,
        exportTimeoutMs: 5000,
        scheduledDelayMs: 60_000,
      });

      processor.onEnd(span('s0'));
      processor.onEnd(span('s1'));
      expect(exporter.batches).toEqual([['s0']]);

      await jest.advanceTimersByTimeAsync(4999);
      expect(exporter.batches).toEqual([['s0']]);

      await jest.advanceTimersByTimeAsync(1);
      expect(exporter.batches).toEqual([['s0'], ['s1']]);
    });

    it('lets forceFlush finish when the exporter never calls back', async () => {
      const exporter = new RecordingExporter('never');
      const processor = processorFor(exporter, { exportTimeoutMs: 5000 });
      processor.onEnd(span('s0'));
      let done = false;

      const flushed = processor.forceFlush().then(() => {
        done = true;
      });
      await jest.advanceTimersByTimeAsync(4999);
      expect(done).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      await flushed;

      expect(done).toBe(true);
      expect(exporter.batches).toEqual([['s0']]);
    });

    it('keeps exporting after an exporter throws synchronously', async () => {
      const exporter = new RecordingExporter('throw');
      const processor = processorFor(exporter, { maxExportBatchSize: 1 });

      processor.onEnd(span('s0'));
      processor.onEnd(span('s1'));
      await processor.forceFlush();

      expect(exporter.batches).toEqual([['s0'], ['s1']]);
      expect(processor.queued).toBe(0);
    });
  });

  describe('shutdown', () => {
    it('exports what is queued, then shuts the exporter down', async () => {
      const exporter = new RecordingExporter();
      const processor = processorFor(exporter, { maxExportBatchSize: 2 });
      processor.onEnd(span('a'));

      // 'a' is still only queued (less than a batch, delay not passed).
      expect(exporter.events).toEqual([]);
      await processor.shutdown();

      expect(exporter.events).toEqual(['export a', 'shutdown']);
    });

    it('ignores spans that end after shutdown', async () => {
      const exporter = new RecordingExporter();
      const prepare = jest.fn((s: ReadableSpan) => s);
      const processor = processorFor(exporter, { maxExportBatchSize: 1, prepare });
      await processor.shutdown();

      processor.onEnd(span('late'));
      await processor.forceFlush();
      await jest.advanceTimersByTimeAsync(5000);

      expect(processor.queued).toBe(0);
      expect(prepare).not.toHaveBeenCalled();
      expect(exporter.batches).toEqual([]);
    });

    it('shuts the exporter down only once when called twice in a row', async () => {
      const exporter = new RecordingExporter();
      const processor = processorFor(exporter);

      await processor.shutdown();
      await processor.shutdown();

      expect(exporter.shutdowns).toBe(1);
    });

    it('waits for an export in flight before shutting the exporter down', async () => {
      const exporter = new RecordingExporter('manual');
      const processor = processorFor(exporter, { maxExportBatchSize: 1 });
      processor.onEnd(span('a'));

      const stopped = processor.shutdown();
      await settle();
      expect(exporter.shutdowns).toBe(0);

      exporter.complete();
      await stopped;
      expect(exporter.events).toEqual(['export a', 'shutdown']);
    });
  });
});

describe('BoundedBatchProcessor tracing suppression', () => {
  const contextManager = new AsyncLocalStorageContextManager();

  beforeAll(() => {
    context.setGlobalContextManager(contextManager.enable());
  });

  afterAll(() => {
    context.disable();
  });

  it('suppresses tracing inside export() so exporting traces nothing', async () => {
    const tracer = new BasicTracerProvider().getTracer('test');
    const recording: boolean[] = [];
    const exporter = new RecordingExporter();
    const inner = exporter.export.bind(exporter);
    exporter.export = (spans, done) => {
      // What the http instrumentation does for the exporter's own POST.
      recording.push(tracer.startSpan('POST /v1/traces').isRecording());
      inner(spans, done);
    };
    const processor = processorFor(exporter, { maxExportBatchSize: 1 });

    processor.onEnd(span('s0'));
    await processor.forceFlush();

    expect(exporter.suppressed).toEqual([true]);
    expect(recording).toEqual([false]);
  });

  it('suppresses tracing for exports started by the timer and by forceFlush too', async () => {
    const exporter = new RecordingExporter();
    const processor = processorFor(exporter, { scheduledDelayMs: 5 });

    processor.onEnd(span('timer'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    processor.onEnd(span('flush'));
    await processor.forceFlush();

    expect(exporter.batches).toEqual([['timer'], ['flush']]);
    expect(exporter.suppressed).toEqual([true, true]);
  });

  it('exports outside the context of the request whose span set the export off', async () => {
    const exporter = new RecordingExporter();
    const processor = processorFor(exporter, { maxExportBatchSize: 2, scheduledDelayMs: 5 });
    const request = (id: string, fn: () => void) =>
      context.with(ROOT_CONTEXT.setValue(REQUEST_KEY, id), fn);

    // The second span fills a batch (exported at once); the third waits for the timer.
    request('request-1', () => processor.onEnd(span('s0')));
    request('request-2', () => processor.onEnd(span('s1')));
    request('request-3', () => processor.onEnd(span('s2')));
    await new Promise((resolve) => setTimeout(resolve, 30));

    expect(exporter.batches).toEqual([['s0', 's1'], ['s2']]);
    expect(exporter.requests).toEqual([undefined, undefined]);
  });

  it('does not leave tracing suppressed in the context that ended the span', () => {
    const exporter = new RecordingExporter();
    const processor = processorFor(exporter, { maxExportBatchSize: 1 });

    processor.onEnd(span('s0'));

    expect(exporter.suppressed).toEqual([true]);
    expect(isTracingSuppressed(context.active())).toBe(false);
  });
});
