import { performance } from 'node:perf_hooks';
import {
  type Attributes,
  context,
  type Exception,
  createTraceState,
  type HrTime,
  INVALID_SPAN_CONTEXT,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { suppressTracing, TraceState } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  type ReadableSpan,
  type Sampler,
  SamplingDecision,
  type SamplingResult,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import {
  ATTRIBUTE_COUNT_LIMIT,
  EVENT_COUNT_LIMIT,
  IdPool,
  isUnsampledLocal,
  isValidSpanContext,
  LeanSpan,
  type LeanSpanProcessor,
  LeanTracerProvider,
} from './lean-tracer';
import { SpanEncoder } from './otlp-protobuf';

const RESOURCE = resourceFromAttributes({ 'service.name': 'lean-tracer-spec' });
const REMOTE_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const REMOTE_SPAN_ID = '00f067aa0ba902b7';

/** A processor that keeps what ends, and counts flushes and shutdowns. */
function memoryProcessor() {
  const ended: ReadableSpan[] = [];
  const calls = { forceFlush: 0, shutdown: 0 };
  const processor: LeanSpanProcessor = {
    onEnd: (span) => ended.push(span),
    forceFlush: () => {
      calls.forceFlush += 1;
      return Promise.resolve();
    },
    shutdown: () => {
      calls.shutdown += 1;
      return Promise.resolve();
    },
  };
  return { ended, calls, processor };
}

/** A provider with an in-memory processor; AlwaysOn unless another sampler is given. */
function setup(sampler: Sampler = new AlwaysOnSampler()) {
  const memory = memoryProcessor();
  const provider = new LeanTracerProvider({
    resource: RESOURCE,
    sampler,
    processor: memory.processor,
  });
  return { ...memory, provider, tracer: provider.getTracer('lean-tracer-spec', '1.0.0') };
}

/** A context whose parent is a span of another process. */
function remoteParent(traceFlags = TraceFlags.SAMPLED, traceState?: TraceState) {
  const parent: SpanContext = {
    traceId: REMOTE_TRACE_ID,
    spanId: REMOTE_SPAN_ID,
    traceFlags,
    isRemote: true,
    ...(traceState !== undefined ? { traceState } : {}),
  };
  return { parent, ctx: trace.setSpanContext(ROOT_CONTEXT, parent) };
}

function nanos(time: HrTime): bigint {
  return BigInt(time[0]) * 1_000_000_000n + BigInt(time[1]);
}

function near(a: bigint, b: bigint, tolerance = 1000n): boolean {
  return (a > b ? a - b : b - a) <= tolerance;
}

/** A span as the lean provider's own class, for its extra fields. */
function lean(span: Span): LeanSpan {
  expect(span).toBeInstanceOf(LeanSpan);
  return span as LeanSpan;
}

/** A sampler with a fixed decision that remembers what it was asked. */
function fixedSampler(result: SamplingResult) {
  const asked: Parameters<Sampler['shouldSample']>[] = [];
  const sampler: Sampler = {
    shouldSample: (...args) => {
      asked.push(args);
      return result;
    },
    toString: () => 'Fixed',
  };
  return { sampler, asked };
}

describe('LeanTracerProvider', () => {
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  });

  afterAll(() => {
    context.disable();
  });

  describe('ids', () => {
    it('gives every span lowercase hex ids of 32 and 16 digits', () => {
      const { tracer } = setup();

      const span = tracer.startSpan('ids');

      expect(span.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(span.spanContext().spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(trace.isSpanContextValid(span.spanContext())).toBe(true);
    });

    it('never repeats an id over many spans (the random pool refills many times)', () => {
      const { tracer } = setup();
      const traceIds = new Set<string>();
      const spanIds = new Set<string>();
      const count = 5000;

      for (let i = 0; i < count; i++) {
        const { traceId, spanId } = tracer.startSpan(`span ${i}`).spanContext();
        expect(traceId).toMatch(/^[0-9a-f]{32}$/);
        expect(spanId).toMatch(/^[0-9a-f]{16}$/);
        traceIds.add(traceId);
        spanIds.add(spanId);
      }

      expect(traceIds.size).toBe(count);
      expect(spanIds.size).toBe(count);
    });

    it('makes a span id’s hex only when it is read, from the bytes the encoder copies', () => {
      const { tracer } = setup();
      const toString = jest.spyOn(Buffer.prototype, 'toString');
      const hexCalls = () => toString.mock.calls.filter(([encoding]) => encoding === 'hex').length;
      let parent: LeanSpan;
      let child: LeanSpan;
      try {
        parent = lean(tracer.startSpan('parent'));
        child = lean(tracer.startSpan('child', {}, trace.setSpan(ROOT_CONTEXT, parent)));
        child.end();
        parent.end();
        const encoder = new SpanEncoder({ recordObjectKeys: false });
        encoder.encode(child);
        encoder.encode(parent);
        // The new trace's id only: neither span id has been read, nor the child's parent id.
        expect(hexCalls()).toBe(1);
      } finally {
        toString.mockRestore();
      }

      const { spanId } = parent.spanContext();
      expect(parent.spanContext().spanId).toBe(spanId);
      expect(spanId).toBe(
        parent.spanIdBytes?.toString('hex', parent.spanIdAt, parent.spanIdAt + 8),
      );
      expect(child.parentIdBytes?.toString('hex', child.parentIdAt, child.parentIdAt + 8)).toBe(
        spanId,
      );
      expect(child.parentSpanContext?.spanId).toBe(spanId);
      expect(child.spanContext().spanId).not.toBe(spanId);
    });

    it('never issues an all-zero trace or span id', () => {
      // A pool of 0xab bytes with zeros where the first trace id and the span id after it go.
      const ids = new IdPool((pool) => pool.fill(0xab).fill(0, 0, 16).fill(0, 32, 40));

      expect(ids.traceId()).toBe('ab'.repeat(16));
      expect(ids.lastAt).toBe(16);
      ids.spanId();
      expect(ids.lastAt).toBe(40);
      expect(ids.lastPool.toString('hex', ids.lastAt, ids.lastAt + 8)).toBe('ab'.repeat(8));
    });
  });

  describe('parents', () => {
    it('starts a root span with a new trace and no parent', () => {
      const { tracer } = setup();

      const span = lean(tracer.startSpan('root'));

      expect(span.parentSpanContext).toBeUndefined();
      expect(span.spanContext().traceState).toBeUndefined();
    });

    it('makes a child of the span in the given context, in the same trace', () => {
      const { tracer } = setup();
      const parent = tracer.startSpan('parent');

      const child = lean(tracer.startSpan('child', {}, trace.setSpan(ROOT_CONTEXT, parent)));

      expect(child.spanContext().traceId).toBe(parent.spanContext().traceId);
      expect(child.spanContext().spanId).not.toBe(parent.spanContext().spanId);
      expect(child.parentSpanContext).toEqual(parent.spanContext());
    });

    it('makes a child of the active span when no context is given', () => {
      const { tracer } = setup();
      const parent = tracer.startSpan('parent');

      const child = context.with(trace.setSpan(context.active(), parent), () =>
        lean(tracer.startSpan('child')),
      );

      expect(child.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
      expect(child.spanContext().traceId).toBe(parent.spanContext().traceId);
    });

    it('ignores the active parent for a span started with root: true', () => {
      const { tracer } = setup();
      const parent = tracer.startSpan('parent');

      const root = context.with(trace.setSpan(context.active(), parent), () =>
        lean(tracer.startSpan('new root', { root: true })),
      );

      expect(root.parentSpanContext).toBeUndefined();
      expect(root.spanContext().traceId).not.toBe(parent.spanContext().traceId);
    });

    it('asks the sampler about a root: true span as a root, not as the child of the parent', () => {
      const { tracer, ended } = setup(new ParentBasedSampler({ root: new AlwaysOnSampler() }));
      const { ctx } = remoteParent(TraceFlags.NONE);

      const asChild = tracer.startSpan('child of unsampled', {}, ctx);
      const asRoot = tracer.startSpan('root despite parent', { root: true }, ctx);

      expect(asChild.isRecording()).toBe(false);
      expect(asRoot.isRecording()).toBe(true);
      expect(asRoot.spanContext().traceId).not.toBe(REMOTE_TRACE_ID);
      asChild.end();
      asRoot.end();
      expect(ended.map((span) => span.name)).toEqual(['root despite parent']);
    });

    it('continues a remote parent from the context', () => {
      const { tracer } = setup();
      const { parent, ctx } = remoteParent();

      const child = lean(tracer.startSpan('server', { kind: SpanKind.SERVER }, ctx));

      expect(child.spanContext().traceId).toBe(REMOTE_TRACE_ID);
      expect(child.parentSpanContext).toEqual(parent);
      expect(child.parentSpanContext?.isRemote).toBe(true);
      expect(child.spanContext().isRemote).toBeUndefined();
    });

    it('has no id bytes for a remote parent’s ids: the encoder reads their hex', () => {
      const { tracer } = setup();
      const { ctx } = remoteParent();

      const child = lean(tracer.startSpan('server', { kind: SpanKind.SERVER }, ctx));

      expect(child.traceIdBytes).toBeUndefined();
      expect(child.parentIdBytes).toBeUndefined();
      expect(child.spanIdBytes).toBeDefined();
    });

    it('takes the id bytes of a local parent that is not recorded, as of a recorded one', () => {
      // The parent is dropped by the sampler but still parents the child, which is recorded.
      const sampler: Sampler = {
        shouldSample: (_ctx, _traceId, name) => ({
          decision:
            name === 'parent' ? SamplingDecision.NOT_RECORD : SamplingDecision.RECORD_AND_SAMPLED,
        }),
        toString: () => 'ParentDropped',
      };
      const { tracer } = setup(sampler);
      const parent = tracer.startSpan('parent');
      expect(parent.isRecording()).toBe(false);

      const child = lean(tracer.startSpan('child', {}, trace.setSpan(ROOT_CONTEXT, parent)));

      const { traceId, spanId } = parent.spanContext();
      const hex = (bytes: Buffer | undefined, at: number, length: number) =>
        bytes?.toString('hex', at, at + length);
      expect(hex(child.traceIdBytes, child.traceIdAt, 16)).toBe(traceId);
      expect(hex(child.parentIdBytes, child.parentIdAt, 8)).toBe(spanId);
      expect(child.spanContext().traceId).toBe(traceId);
    });

    it('inherits the parent’s trace state, down to grandchildren', () => {
      const { tracer } = setup();
      const traceState = new TraceState('mizuchi=abc,congo=t61rcWkgMzE');
      const { ctx } = remoteParent(TraceFlags.SAMPLED, traceState);

      const child = tracer.startSpan('child', {}, ctx);
      const grandchild = tracer.startSpan('grandchild', {}, trace.setSpan(ctx, child));

      expect(child.spanContext().traceState?.serialize()).toBe('mizuchi=abc,congo=t61rcWkgMzE');
      expect(grandchild.spanContext().traceState?.serialize()).toBe(
        'mizuchi=abc,congo=t61rcWkgMzE',
      );
    });

    it.each([
      ['the invalid span context', INVALID_SPAN_CONTEXT],
      [
        'an all-zero trace id',
        { traceId: '0'.repeat(32), spanId: REMOTE_SPAN_ID, traceFlags: 1, isRemote: true },
      ],
      [
        'an all-zero span id',
        { traceId: REMOTE_TRACE_ID, spanId: '0'.repeat(16), traceFlags: 1, isRemote: true },
      ],
      [
        'ids that are not hex',
        { traceId: 'x'.repeat(32), spanId: 'y'.repeat(16), traceFlags: 1, isRemote: true },
      ],
      ['ids of the wrong length', { traceId: 'abc', spanId: 'def', traceFlags: 1, isRemote: true }],
    ])('starts a new trace under %s', (_name, invalid: SpanContext) => {
      const { tracer } = setup();

      const span = lean(
        tracer.startSpan('orphan', {}, trace.setSpanContext(ROOT_CONTEXT, invalid)),
      );

      expect(span.parentSpanContext).toBeUndefined();
      expect(span.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(span.spanContext().traceId).not.toBe(invalid.traceId);
      expect(trace.isSpanContextValid(span.spanContext())).toBe(true);
    });

    it('makes a child of a non-recording span from another tracer', () => {
      const { tracer } = setup();
      const { parent } = remoteParent();
      const foreign = trace.wrapSpanContext({ ...parent, isRemote: false });

      const child = lean(tracer.startSpan('child', {}, trace.setSpan(ROOT_CONTEXT, foreign)));

      expect(child.spanContext().traceId).toBe(REMOTE_TRACE_ID);
      expect(child.parentSpanContext?.spanId).toBe(REMOTE_SPAN_ID);
    });
  });

  describe('isValidSpanContext', () => {
    it('accepts the contexts of spans the provider started, sampled or not', () => {
      const sampled = setup().tracer.startSpan('sampled').spanContext();
      const unsampled = setup(new AlwaysOffSampler()).tracer.startSpan('unsampled').spanContext();

      expect([isValidSpanContext(sampled), isValidSpanContext(unsampled)]).toEqual([true, true]);
    });

    it('checks any other context: valid remote ids pass, invalid ones do not', () => {
      const { parent } = remoteParent();

      expect(isValidSpanContext(parent)).toBe(true);
      expect(isValidSpanContext(INVALID_SPAN_CONTEXT)).toBe(false);
      expect(isValidSpanContext({ ...parent, traceId: 'not-hex'.padEnd(32, 'z') })).toBe(false);
      expect(isValidSpanContext({ ...parent, spanId: '0000000000000000' })).toBe(false);
    });

    it('does not let a copy of an issued context skip the check', () => {
      const issued = setup().tracer.startSpan('issued').spanContext();

      expect(isValidSpanContext({ ...issued, spanId: 'xyz' })).toBe(false);
    });
  });

  describe('sampling', () => {
    it('gives a non-recording invalid span when tracing is suppressed, and nothing ends', () => {
      const { tracer, ended } = setup();

      const span = tracer.startSpan('suppressed', {}, suppressTracing(ROOT_CONTEXT));
      span.setAttribute('mizuchi.route', 'uploads');
      span.end();

      expect(span.isRecording()).toBe(false);
      expect(span).not.toBeInstanceOf(LeanSpan);
      expect(span.spanContext()).toEqual(INVALID_SPAN_CONTEXT);
      expect(trace.isSpanContextValid(span.spanContext())).toBe(false);
      expect(ended).toEqual([]);
    });

    it('suppresses tracing inside an active suppressed context too', () => {
      const { tracer } = setup();

      const span = context.with(suppressTracing(context.active()), () => tracer.startSpan('x'));

      expect(span.isRecording()).toBe(false);
    });

    it('gives AlwaysOff a non-recording span with a valid context, so propagation continues', () => {
      const { tracer, ended } = setup(new AlwaysOffSampler());
      const { ctx } = remoteParent();

      const span = tracer.startSpan('unsampled', {}, ctx);
      const child = tracer.startSpan('unsampled child', {}, trace.setSpan(ctx, span));
      span.setAttribute('mizuchi.route', 'uploads');
      child.end();
      span.end();

      expect(span.isRecording()).toBe(false);
      expect(span).not.toBeInstanceOf(LeanSpan);
      expect(trace.isSpanContextValid(span.spanContext())).toBe(true);
      expect(span.spanContext().traceId).toBe(REMOTE_TRACE_ID);
      expect(span.spanContext().spanId).not.toBe(REMOTE_SPAN_ID);
      expect(span.spanContext().traceFlags).toBe(TraceFlags.NONE);
      expect(child.spanContext().traceId).toBe(REMOTE_TRACE_ID);
      expect(ended).toEqual([]);
    });

    it('gives an unsampled root a fresh valid trace id too', () => {
      const { tracer } = setup(new AlwaysOffSampler());

      const span = tracer.startSpan('unsampled root');

      expect(span.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(trace.isSpanContextValid(span.spanContext())).toBe(true);
    });

    it('sets the sampled flag for RECORD_AND_SAMPLED and hands the ended span on', () => {
      const { tracer, ended } = setup();

      const span = tracer.startSpan('sampled');
      span.end();

      expect(span.spanContext().traceFlags).toBe(TraceFlags.SAMPLED);
      expect(span.isRecording()).toBe(false);
      expect(ended).toEqual([span]);
    });

    it('records without the sampled flag for RECORD, and still hands the span on', () => {
      const { sampler } = fixedSampler({ decision: SamplingDecision.RECORD });
      const { tracer, ended } = setup(sampler);

      const span = tracer.startSpan('recorded');
      expect(span.isRecording()).toBe(true);
      span.end();

      expect(span.spanContext().traceFlags).toBe(TraceFlags.NONE);
      expect(ended).toEqual([span]);
    });

    it('asks the sampler with the trace id, name, kind, attributes and links of the span', () => {
      const { sampler, asked } = fixedSampler({ decision: SamplingDecision.RECORD_AND_SAMPLED });
      const { tracer } = setup(sampler);
      const { ctx } = remoteParent();
      const links = [{ context: { ...remoteParent().parent, spanId: 'a0b1c2d3e4f5a6b7' } }];
      const attributes = { 'mizuchi.route': 'uploads' };

      const span = tracer.startSpan('asked', { kind: SpanKind.CLIENT, attributes, links }, ctx);

      expect(asked).toHaveLength(1);
      const [askedContext, traceId, name, kind, askedAttributes, askedLinks] = asked[0];
      expect(trace.getSpanContext(askedContext)?.spanId).toBe(REMOTE_SPAN_ID);
      expect(traceId).toBe(span.spanContext().traceId);
      expect(name).toBe('asked');
      expect(kind).toBe(SpanKind.CLIENT);
      expect(askedAttributes).toEqual(attributes);
      expect(askedLinks).toEqual(links);
    });

    it('adds the sampler’s attributes and uses its trace state', () => {
      const { sampler } = fixedSampler({
        decision: SamplingDecision.RECORD_AND_SAMPLED,
        attributes: { 'mizuchi.sampled_by': 'fixed' },
        traceState: createTraceState('sampler=yes'),
      });
      const { tracer } = setup(sampler);
      const { ctx } = remoteParent(TraceFlags.SAMPLED, new TraceState('parent=1'));

      const span = lean(tracer.startSpan('x', { attributes: { 'mizuchi.a': 1 } }, ctx));

      expect(span.attributes).toEqual({ 'mizuchi.a': 1, 'mizuchi.sampled_by': 'fixed' });
      expect(span.spanContext().traceState?.serialize()).toBe('sampler=yes');
    });

    it('follows a ParentBasedSampler: remote and local parents decide, roots use the root sampler', () => {
      const { tracer } = setup(new ParentBasedSampler({ root: new AlwaysOffSampler() }));

      const root = tracer.startSpan('root');
      const underSampled = tracer.startSpan('a', {}, remoteParent(TraceFlags.SAMPLED).ctx);
      const underUnsampled = tracer.startSpan('b', {}, remoteParent(TraceFlags.NONE).ctx);
      const localChild = tracer.startSpan('c', {}, trace.setSpan(ROOT_CONTEXT, underSampled));
      const localUnsampled = tracer.startSpan('d', {}, trace.setSpan(ROOT_CONTEXT, root));

      expect(root.isRecording()).toBe(false);
      expect(underSampled.isRecording()).toBe(true);
      expect(underSampled.spanContext().traceFlags).toBe(TraceFlags.SAMPLED);
      expect(underUnsampled.isRecording()).toBe(false);
      expect(localChild.isRecording()).toBe(true);
      expect(localChild.spanContext().traceId).toBe(REMOTE_TRACE_ID);
      expect(localUnsampled.isRecording()).toBe(false);
      expect(localUnsampled.spanContext().traceId).toBe(root.spanContext().traceId);
    });

    it.each([
      [0, 0],
      [1, 1],
    ])('samples a fraction %d of traces with TraceIdRatioBasedSampler(%d)', (ratio, expected) => {
      const { tracer } = setup(new TraceIdRatioBasedSampler(ratio));

      const spans = Array.from({ length: 200 }, (_, i) => tracer.startSpan(`s${i}`));

      expect(spans.filter((span) => span.isRecording()).length / spans.length).toBe(expected);
    });

    it('samples by trace id with TraceIdRatioBasedSampler(0.5), about half of the traces', () => {
      const sampler = new TraceIdRatioBasedSampler(0.5);
      const { tracer, ended } = setup(sampler);

      const spans = Array.from({ length: 2000 }, (_, i) => tracer.startSpan(`s${i}`));
      spans.forEach((span) => span.end());

      for (const span of spans) {
        const { traceId } = span.spanContext();
        const decision = sampler.shouldSample(ROOT_CONTEXT, traceId).decision;
        expect(ended.some((done) => done.spanContext().spanId === span.spanContext().spanId)).toBe(
          decision === SamplingDecision.RECORD_AND_SAMPLED,
        );
      }
      expect(ended.length).toBeGreaterThan(700);
      expect(ended.length).toBeLessThan(1300);
    });
  });

  describe('startActiveSpan', () => {
    it('makes the span active inside fn and returns fn’s value (name, fn)', () => {
      const { tracer } = setup();
      let inside: Span | undefined;

      const result = tracer.startActiveSpan('active', (span) => {
        inside = trace.getActiveSpan();
        expect(inside).toBe(span);
        span.end();
        return 42;
      });

      expect(result).toBe(42);
      expect(inside).toBeInstanceOf(LeanSpan);
      expect(trace.getActiveSpan()).toBeUndefined();
    });

    it('applies the options and parents on the active span (name, options, fn)', () => {
      const { tracer } = setup();
      const parent = tracer.startSpan('parent');

      const child = context.with(trace.setSpan(context.active(), parent), () =>
        tracer.startActiveSpan(
          'child',
          { kind: SpanKind.CLIENT, attributes: { 'mizuchi.attempt': 1 } },
          (span) => {
            expect(trace.getActiveSpan()).toBe(span);
            return lean(span);
          },
        ),
      );

      expect(child.kind).toBe(SpanKind.CLIENT);
      expect(child.attributes).toEqual({ 'mizuchi.attempt': 1 });
      expect(child.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    });

    it('parents on the given context, not the active one (name, options, ctx, fn)', () => {
      const { tracer } = setup();
      const active = tracer.startSpan('active');
      const { ctx } = remoteParent();

      const { child, activeInside } = context.with(trace.setSpan(context.active(), active), () =>
        tracer.startActiveSpan('child', { kind: SpanKind.SERVER }, ctx, (span) => ({
          child: lean(span),
          activeInside: trace.getActiveSpan(),
        })),
      );

      expect(activeInside).toBe(child);
      expect(child.kind).toBe(SpanKind.SERVER);
      expect(child.parentSpanContext?.spanId).toBe(REMOTE_SPAN_ID);
      expect(child.spanContext().traceId).toBe(REMOTE_TRACE_ID);
    });

    it('keeps the span active across awaits of an async fn and returns its promise', async () => {
      const { tracer } = setup();

      const pending = tracer.startActiveSpan('async', async (span) => {
        await new Promise((resolve) => setImmediate(resolve));
        const stillActive = trace.getActiveSpan() === span;
        const nested = tracer.startSpan('nested');
        span.end();
        return { stillActive, nested: lean(nested), span };
      });

      expect(pending).toBeInstanceOf(Promise);
      const { stillActive, nested, span } = await pending;
      expect(stillActive).toBe(true);
      expect(nested.parentSpanContext?.spanId).toBe(span.spanContext().spanId);
      expect(trace.getActiveSpan()).toBeUndefined();
    });

    it('makes even a non-recording span active, so its context propagates', () => {
      const { tracer } = setup(new AlwaysOffSampler());

      const [span, active] = tracer.startActiveSpan('off', (s) => [s, trace.getActiveSpan()]);

      expect(active).toBe(span);
      expect(span?.isRecording()).toBe(false);
    });

    it('runs a child of its own unsampled span with that span, in the same context', () => {
      const { tracer, ended } = setup(new AlwaysOffSampler());
      const parent = tracer.startSpan('server');
      const outer = trace.setSpan(context.active(), parent);

      const { given, inside } = context.with(outer, () =>
        tracer.startActiveSpan('upload.put_object', (span) => {
          span.setAttribute('mizuchi.route', 'uploads');
          span.end();
          return { given: span, inside: context.active() };
        }),
      );

      expect(isUnsampledLocal(parent)).toBe(true);
      expect(given).toBe(parent);
      expect(inside).toBe(outer);
      expect(ended).toEqual([]);
    });

    it('enters a given context whose unsampled span stands in for the child (name, options, ctx, fn)', () => {
      const { tracer } = setup(new AlwaysOffSampler());
      const parent = tracer.startSpan('server');
      const given = trace.setSpan(context.active(), parent);

      const [span, inside] = tracer.startActiveSpan('child', {}, given, (s) => [
        s,
        context.active(),
      ]);

      expect(span).toBe(parent);
      expect(inside).toBe(given);
    });

    it('still makes a span of its own under an unsampled remote parent, and for root: true', () => {
      const { tracer } = setup(new ParentBasedSampler({ root: new AlwaysOnSampler() }));
      const { ctx } = remoteParent(TraceFlags.NONE);

      const underRemote = tracer.startActiveSpan('child', {}, ctx, (span) => span);
      const root = tracer.startActiveSpan(
        'new root',
        { root: true },
        trace.setSpan(ctx, underRemote),
        (span) => span,
      );

      expect(underRemote.spanContext().spanId).not.toBe(REMOTE_SPAN_ID);
      expect(underRemote.isRecording()).toBe(false);
      expect(isUnsampledLocal(underRemote)).toBe(true);
      expect(root).not.toBe(underRemote);
      expect(root.isRecording()).toBe(true);
    });
  });

  describe('attributes', () => {
    it('keeps valid values: primitives and homogeneous arrays, nulls allowed', () => {
      const { tracer } = setup();
      const span = lean(tracer.startSpan('attrs'));

      span.setAttribute('s', 'text');
      span.setAttribute('n', -1.5);
      span.setAttribute('zero', 0);
      span.setAttribute('b', false);
      span.setAttribute('strings', ['a', 'b']);
      span.setAttribute('numbers', [1, null, 3]);
      span.setAttribute('booleans', [true, undefined, false]);
      span.setAttribute('empty', []);
      span.setAttribute('only nulls', [null, null]);

      expect(span.attributes).toEqual({
        s: 'text',
        n: -1.5,
        zero: 0,
        b: false,
        strings: ['a', 'b'],
        numbers: [1, null, 3],
        booleans: [true, undefined, false],
        empty: [],
        'only nulls': [null, null],
      });
      expect(span.droppedAttributesCount).toBe(0);
    });

    it('ignores invalid values and empty keys without counting them as dropped', () => {
      const { tracer } = setup();
      const span = lean(tracer.startSpan('attrs'));
      const set = (key: string, value: unknown) =>
        span.setAttribute(key, value as Parameters<Span['setAttribute']>[1]);

      set('object', { nested: true });
      set('mixed', [1, 'a']);
      set('mixed booleans', [true, 0]);
      set('objects', [{}]);
      set('nested', [[1]]);
      set('null', null);
      set('undefined', undefined);
      set('function', () => 1);
      set('bigint', 1n);
      set('', 'empty key');
      span.setAttributes({ ok: 1, bad: { x: 1 } as unknown as string, '': 'x' });

      expect(span.attributes).toEqual({ ok: 1 });
      expect(span.droppedAttributesCount).toBe(0);
    });

    it('keeps a valid value when an invalid one is later set for the same key', () => {
      const { tracer } = setup();
      const span = lean(tracer.startSpan('attrs'));

      span.setAttribute('k', 'kept');
      span.setAttribute('k', null as unknown as string);
      span.setAttribute('k', undefined);

      expect(span.attributes).toEqual({ k: 'kept' });
    });

    it('filters the start options’ attributes the same way', () => {
      const { tracer } = setup();

      const span = lean(
        tracer.startSpan('attrs', {
          attributes: { ok: 'yes', bad: [1, 'x'] as unknown as string[], '': 'no' },
        }),
      );

      expect(span.attributes).toEqual({ ok: 'yes' });
    });

    it('holds at most 128 distinct attributes and counts the rest as dropped', () => {
      const { tracer } = setup();
      const span = lean(tracer.startSpan('many'));

      for (let i = 0; i < ATTRIBUTE_COUNT_LIMIT + 5; i++) span.setAttribute(`k${i}`, i);

      expect(ATTRIBUTE_COUNT_LIMIT).toBe(128);
      expect(Object.keys(span.attributes)).toHaveLength(128);
      expect(span.attributes.k127).toBe(127);
      expect(span.attributes).not.toHaveProperty('k128');
      expect(span.droppedAttributesCount).toBe(5);
    });

    it('still overwrites existing keys at the limit, without counting a drop', () => {
      const { tracer } = setup();
      const start: Attributes = {};
      for (let i = 0; i < ATTRIBUTE_COUNT_LIMIT; i++) start[`k${i}`] = i;
      const span = lean(tracer.startSpan('full', { attributes: start }));

      span.setAttribute('k0', 'overwritten');
      span.setAttributes({ k1: 'also', k5: 'too' });
      span.setAttribute('new', 1);

      expect(Object.keys(span.attributes)).toHaveLength(128);
      expect(span.attributes).toMatchObject({ k0: 'overwritten', k1: 'also', k5: 'too' });
      expect(span.droppedAttributesCount).toBe(1);
    });

    it('counts the start options’ attributes against the limit', () => {
      const { tracer } = setup();
      const start: Attributes = {};
      for (let i = 0; i < ATTRIBUTE_COUNT_LIMIT + 2; i++) start[`k${i}`] = i;

      const span = lean(tracer.startSpan('too many', { attributes: start }));

      expect(Object.keys(span.attributes)).toHaveLength(128);
      expect(span.droppedAttributesCount).toBe(2);
    });
  });

  describe('after end', () => {
    it('changes nothing: attributes, name, status, events, links', () => {
      const { tracer, ended } = setup();
      const span = lean(tracer.startSpan('before', { attributes: { a: 1 } }));
      span.addEvent('early');
      span.end();
      const endTime = span.endTime;

      span.setAttribute('a', 2);
      span.setAttribute('b', 1);
      span.setAttributes({ c: 3 });
      span.updateName('after');
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'late' });
      span.addEvent('late');
      span.recordException(new Error('late'));
      span.addLink({ context: remoteParent().parent });
      span.addLinks([{ context: remoteParent().parent }]);
      span.end();

      expect(span.name).toBe('before');
      expect(span.attributes).toEqual({ a: 1 });
      expect(span.status).toEqual({ code: SpanStatusCode.UNSET });
      expect(span.events.map((event) => event.name)).toEqual(['early']);
      expect(span.links).toEqual([]);
      expect(span.endTime).toEqual(endTime);
      expect(span.isRecording()).toBe(false);
      expect(span.ended).toBe(true);
      expect(ended).toEqual([span]);
    });

    it('hands a span to the processor once, however often it is ended', () => {
      const { tracer, ended } = setup();
      const span = tracer.startSpan('twice');

      span.end();
      span.end();
      span.end(Date.now() + 1000);

      expect(ended).toHaveLength(1);
    });

    it('hands the processor a finished ReadableSpan of the provider’s resource and scope', () => {
      const { tracer, ended } = setup();
      tracer.startSpan('readable', { kind: SpanKind.SERVER }).end();

      const [span] = ended;

      expect(span.ended).toBe(true);
      expect(span.name).toBe('readable');
      expect(span.kind).toBe(SpanKind.SERVER);
      expect(span.resource).toBe(RESOURCE);
      expect(span.instrumentationScope).toEqual({ name: 'lean-tracer-spec', version: '1.0.0' });
      expect(span.droppedEventsCount).toBe(0);
      expect(span.droppedLinksCount).toBe(0);
    });
  });

  describe('setStatus', () => {
    it('ignores UNSET', () => {
      const { tracer } = setup();
      const span = lean(tracer.startSpan('status'));

      span.setStatus({ code: SpanStatusCode.UNSET, message: 'nothing' });
      expect(span.status).toEqual({ code: SpanStatusCode.UNSET });

      span.setStatus({ code: SpanStatusCode.ERROR, message: 'failed' });
      span.setStatus({ code: SpanStatusCode.UNSET });
      expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'failed' });
    });

    it('keeps the message of an ERROR, and a later ERROR replaces it', () => {
      const { tracer } = setup();
      const span = lean(tracer.startSpan('status'));

      span.setStatus({ code: SpanStatusCode.ERROR, message: 'first' });
      expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'first' });

      span.setStatus({ code: SpanStatusCode.ERROR });
      expect(span.status).toEqual({ code: SpanStatusCode.ERROR });
    });

    it('drops a message that is not a string', () => {
      const { tracer } = setup();
      const span = lean(tracer.startSpan('status'));

      span.setStatus({ code: SpanStatusCode.ERROR, message: 42 as unknown as string });

      expect(span.status).toEqual({ code: SpanStatusCode.ERROR });
    });

    it('lets OK override an ERROR, and then keeps OK for good, without a message', () => {
      const { tracer } = setup();
      const span = lean(tracer.startSpan('status'));

      span.setStatus({ code: SpanStatusCode.ERROR, message: 'failed' });
      span.setStatus({ code: SpanStatusCode.OK, message: 'ignored' });
      expect(span.status).toEqual({ code: SpanStatusCode.OK });

      span.setStatus({ code: SpanStatusCode.ERROR, message: 'too late' });
      expect(span.status).toEqual({ code: SpanStatusCode.OK });
    });
  });

  describe('events', () => {
    it('adds an event with its valid attributes at the current time', () => {
      const { tracer } = setup();
      const span = lean(tracer.startSpan('events'));

      span.addEvent('checkpoint', {
        'mizuchi.bytes': 10,
        list: ['a'],
        bad: { x: 1 } as unknown as string,
        mixed: [1, 'a'] as unknown as string[],
      });
      span.end();

      expect(span.events).toHaveLength(1);
      const [event] = span.events;
      expect(event.name).toBe('checkpoint');
      expect(event.attributes).toEqual({ 'mizuchi.bytes': 10, list: ['a'] });
      expect(event.droppedAttributesCount).toBe(0);
      expect(nanos(event.time)).toBeGreaterThanOrEqual(nanos(span.startTime));
      expect(nanos(event.time)).toBeLessThanOrEqual(nanos(span.endTime));
    });

    it('adds an event without attributes with empty ones', () => {
      const { tracer } = setup();
      const span = lean(tracer.startSpan('events'));

      span.addEvent('bare');

      expect(span.events[0].attributes).toEqual({});
    });

    it.each([
      ['an HrTime', [1_900_000_000, 250_000_000] as HrTime],
      ['a Date', new Date(1_900_000_000_250)],
      ['epoch milliseconds', 1_900_000_000_250],
    ])('takes an event time given as %s, with or without attributes', (_name, time) => {
      const { tracer } = setup();
      const span = lean(tracer.startSpan('events'));

      span.addEvent('timed', time);
      span.addEvent('timed with attributes', { 'mizuchi.n': 1 }, time);

      expect(span.events.map((event) => [event.name, event.time, event.attributes])).toEqual([
        ['timed', [1_900_000_000, 250_000_000], {}],
        ['timed with attributes', [1_900_000_000, 250_000_000], { 'mizuchi.n': 1 }],
      ]);
    });

    it('reads a small number as a performance.now() time', () => {
      const { tracer } = setup();
      const span = lean(tracer.startSpan('events'));
      const now = performance.now();

      span.addEvent('relative', now);

      const expected = BigInt(Math.round((performance.timeOrigin + now) * 1e6));
      expect(near(nanos(span.events[0].time), expected)).toBe(true);
    });

    it('keeps the newest 128 events and counts the oldest it dropped', () => {
      const { tracer } = setup();
      const span = lean(tracer.startSpan('events'));

      for (let i = 0; i < EVENT_COUNT_LIMIT + 3; i++) span.addEvent(`e${i}`);

      expect(EVENT_COUNT_LIMIT).toBe(128);
      expect(span.events).toHaveLength(128);
      expect(span.events[0].name).toBe('e3');
      expect(span.events[127].name).toBe('e130');
      expect(span.droppedEventsCount).toBe(3);
    });
  });

  describe('recordException', () => {
    it('records an Error with a code as an exception event of that type', () => {
      const { tracer } = setup();
      const span = lean(tracer.startSpan('exceptions'));
      const error = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

      span.recordException(error);

      expect(span.events).toHaveLength(1);
      expect(span.events[0].name).toBe('exception');
      expect(span.events[0].attributes).toEqual({
        'exception.type': 'ECONNRESET',
        'exception.message': 'socket hang up',
        'exception.stacktrace': error.stack,
      });
    });

    it('uses a numeric code as the type, as a string', () => {
      const { tracer } = setup();
      const span = lean(tracer.startSpan('exceptions'));

      span.recordException({ code: 503, message: 'unavailable' });

      expect(span.events[0].attributes).toEqual({
        'exception.type': '503',
        'exception.message': 'unavailable',
      });
    });

    it('uses the name of an Error without a code as the type', () => {
      class QuotaExceeded extends Error {
        override name = 'QuotaExceeded';
      }
      const { tracer } = setup();
      const span = lean(tracer.startSpan('exceptions'));
      const error = new QuotaExceeded('over quota');

      span.recordException(error);

      expect(span.events[0].attributes).toEqual({
        'exception.type': 'QuotaExceeded',
        'exception.message': 'over quota',
        'exception.stacktrace': error.stack,
      });
    });

    it('records a string as the message only', () => {
      const { tracer } = setup();
      const span = lean(tracer.startSpan('exceptions'));

      span.recordException('something broke');

      expect(span.events[0].name).toBe('exception');
      expect(span.events[0].attributes).toEqual({ 'exception.message': 'something broke' });
    });

    it('records at the time given (to the quarter microsecond an epoch-ms double holds)', () => {
      const { tracer } = setup();
      const span = lean(tracer.startSpan('exceptions'));

      span.recordException(new Error('x'), [1_900_000_001, 5_000]);

      expect(span.events[0].name).toBe('exception');
      expect(near(nanos(span.events[0].time), 1_900_000_001_000_005_000n)).toBe(true);
    });

    it('records nothing for an exception with neither type nor message', () => {
      const { tracer } = setup();
      const span = lean(tracer.startSpan('exceptions'));

      span.recordException({} as Exception);
      span.recordException({ stack: 'at nowhere' } as Exception);
      span.recordException('');

      expect(span.events).toEqual([]);
    });

    it.each([
      ['an empty code', ''],
      ['a null code', null],
      ['a zero code', 0],
    ])('names the type after the name for %s, as the SDK span does', (_, code) => {
      const { tracer } = setup();
      const span = lean(tracer.startSpan('exceptions'));

      span.recordException({ code, name: 'N', message: 'm' } as unknown as Exception);

      expect(span.events.map((event) => event.attributes?.['exception.type'])).toEqual(['N']);
    });
  });

  describe('times', () => {
    it('starts now and keeps start <= end with duration = end - start', () => {
      const { tracer } = setup();
      const before = Date.now();

      const span = lean(tracer.startSpan('timed'));
      span.end();

      const start = nanos(span.startTime);
      const end = nanos(span.endTime);
      const duration = nanos(span.duration);
      // generous guards: the clock is performance.now() anchored at the process start
      expect(near(start, BigInt(before) * 1_000_000n, 60_000_000_000n)).toBe(true);
      expect(end).toBeGreaterThanOrEqual(start);
      expect(duration).toBeGreaterThanOrEqual(0n);
      expect(near(duration, end - start)).toBe(true);
      expect(span.startTime[1]).toBeGreaterThanOrEqual(0);
      expect(span.startTime[1]).toBeLessThan(1e9);
    });

    it('measures a span that lasts a while', async () => {
      const { tracer } = setup();
      const span = lean(tracer.startSpan('timed'));

      await new Promise((resolve) => setTimeout(resolve, 30));
      span.end();

      expect(nanos(span.duration)).toBeGreaterThanOrEqual(20_000_000n);
      expect(near(nanos(span.duration), nanos(span.endTime) - nanos(span.startTime))).toBe(true);
    });

    it.each([
      ['an HrTime', [1_900_000_000, 123_456_789] as HrTime, 1_900_000_000_123_456_789n],
      ['a Date', new Date(1_900_000_000_123), 1_900_000_000_123_000_000n],
      ['epoch milliseconds', 1_900_000_000_123.5, 1_900_000_000_123_500_000n],
    ])('takes a start time given as %s', (_name, startTime, expected) => {
      const { tracer } = setup();

      const span = lean(tracer.startSpan('explicit', { startTime }));
      span.end([1_900_000_001, 0]);

      expect(near(nanos(span.startTime), expected)).toBe(true);
      expect(near(nanos(span.duration), 1_900_000_001_000_000_000n - expected)).toBe(true);
      expect(span.endTime).toEqual([1_900_000_001, 0]);
    });

    it('takes an end time given as a Date or epoch milliseconds', () => {
      const { tracer } = setup();
      const first = lean(tracer.startSpan('a', { startTime: new Date(1_900_000_000_000) }));
      const second = lean(tracer.startSpan('b', { startTime: new Date(1_900_000_000_000) }));

      first.end(new Date(1_900_000_000_250));
      second.end(1_900_000_000_500.25);

      expect(first.duration).toEqual([0, 250_000_000]);
      expect(near(nanos(second.duration), 500_250_000n)).toBe(true);
    });

    it('clamps an end time before the start to the start', () => {
      const { tracer, ended } = setup();
      const span = lean(tracer.startSpan('backwards', { startTime: [1_900_000_000, 500] }));

      span.end([1_899_999_999, 0]);

      expect(span.endTime).toEqual(span.startTime);
      expect(span.duration).toEqual([0, 0]);
      expect(ended).toEqual([span]);
    });

    it('gives a duration of whole seconds and nanoseconds over a second', () => {
      const { tracer } = setup();
      const span = lean(tracer.startSpan('long', { startTime: [1_900_000_000, 900_000_000] }));

      span.end([1_900_000_002, 100_000_000]);

      expect(span.duration[0]).toBe(1);
      expect(near(BigInt(span.duration[1]), 200_000_000n)).toBe(true);
    });
  });

  describe('tracers and scopes', () => {
    it('carries name, version and schema URL in the instrumentation scope', () => {
      const { provider, ended } = setup();
      const schemaUrl = 'https://opentelemetry.io/schemas/1.27.0';

      provider.getTracer('full', '2.1.0', { schemaUrl }).startSpan('a').end();
      provider.getTracer('bare').startSpan('b').end();

      expect(ended[0].instrumentationScope).toEqual({ name: 'full', version: '2.1.0', schemaUrl });
      expect(ended[1].instrumentationScope).toEqual({ name: 'bare' });
      expect(ended[1].instrumentationScope).not.toHaveProperty('version');
    });

    it('returns the same tracer for the same name, version and schema URL only', () => {
      const { provider } = setup();
      const schemaUrl = 'https://opentelemetry.io/schemas/1.27.0';

      const tracer = provider.getTracer('t', '1', { schemaUrl });

      expect(provider.getTracer('t', '1', { schemaUrl })).toBe(tracer);
      expect(provider.getTracer('t', '1')).not.toBe(tracer);
      expect(provider.getTracer('t', '2', { schemaUrl })).not.toBe(tracer);
      expect(provider.getTracer('u', '1', { schemaUrl })).not.toBe(tracer);
      expect(provider.getTracer('t')).toBe(provider.getTracer('t'));
      expect(provider.getTracer('t')).not.toBe(provider.getTracer('t', '1'));
    });

    it('defaults the kind to INTERNAL', () => {
      const { tracer } = setup();

      expect(lean(tracer.startSpan('internal')).kind).toBe(SpanKind.INTERNAL);
    });

    it('copies the start links and lets addLink and addLinks add more', () => {
      const { tracer } = setup();
      const links = [{ context: remoteParent().parent }];

      const span = lean(tracer.startSpan('linked', { links }));
      links.push({ context: { ...remoteParent().parent, spanId: 'a0b1c2d3e4f5a6b7' } });
      span.addLink({ context: { ...remoteParent().parent, spanId: 'b0b1c2d3e4f5a6b7' } });
      span.addLinks([{ context: { ...remoteParent().parent, spanId: 'c0b1c2d3e4f5a6b7' } }]);

      expect(span.links.map((link) => link.context.spanId)).toEqual([
        REMOTE_SPAN_ID,
        'b0b1c2d3e4f5a6b7',
        'c0b1c2d3e4f5a6b7',
      ]);
      expect(span.droppedLinksCount).toBe(0);
    });

    it('gives every span its own links, events and status, however many start without', () => {
      const { tracer } = setup();
      const [a, b, c] = ['a', 'b', 'c'].map((name) => lean(tracer.startSpan(name)));

      a.addLink({ context: remoteParent().parent });
      a.addEvent('first');
      a.setStatus({ code: SpanStatusCode.ERROR, message: 'broken' });
      b.addLinks([{ context: remoteParent().parent }, { context: remoteParent().parent }]);
      b.addEvent('second');

      expect([a, b, c].map((span) => span.links.length)).toEqual([1, 2, 0]);
      expect([a, b, c].map((span) => span.events.map((event) => event.name))).toEqual([
        ['first'],
        ['second'],
        [],
      ]);
      expect([a, b, c].map((span) => span.status)).toEqual([
        { code: SpanStatusCode.ERROR, message: 'broken' },
        { code: SpanStatusCode.UNSET },
        { code: SpanStatusCode.UNSET },
      ]);
      // A span started afterwards still starts empty.
      const d = lean(tracer.startSpan('d'));
      expect([d.links, d.events, d.status]).toEqual([[], [], { code: SpanStatusCode.UNSET }]);
    });

    it('delegates forceFlush and shutdown to the processor', async () => {
      const { provider, calls } = setup();

      await provider.forceFlush();
      await provider.shutdown();

      expect(calls).toEqual({ forceFlush: 1, shutdown: 1 });
    });

    it('can be registered as the global provider for the API', () => {
      const { provider, ended } = setup();
      trace.setGlobalTracerProvider(provider);
      try {
        trace.getTracer('global', '0.0.1').startActiveSpan('via api', (span) => span.end());
      } finally {
        trace.disable();
      }

      expect(ended.map((span) => [span.name, span.instrumentationScope.name])).toEqual([
        ['via api', 'global'],
      ]);
    });
  });
});
