import {
  type Context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  ParentBasedSampler,
  type ReadableSpan,
  type Sampler,
  SamplingDecision,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { isUnsampledLocal, LeanTracerProvider } from './lean-tracer';
import { describeSpan, samplerFor } from './start-tracing';

/** Accumulates to 1 under TraceIdRatioBased: inside any ratio above 0. */
const LOW_TRACE_ID = '00000000000000000000000000000001';
/** Accumulates to 0xffffffff: outside any ratio below 1. */
const HIGH_TRACE_ID = 'ffffffff000000000000000000000000';

function decide(sampler: Sampler, traceId: string, parent: Context = ROOT_CONTEXT) {
  return sampler.shouldSample(parent, traceId, 'PUT uploads', SpanKind.SERVER, {}, []).decision;
}

/** A context whose active span is a parent with these flags. */
function parentContext(sampled: boolean, isRemote: boolean): Context {
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: HIGH_TRACE_ID,
    spanId: '00f067aa0ba902b7',
    traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    isRemote,
  });
}

describe('samplerFor', () => {
  it('samples everything for strategy always', () => {
    const sampler = samplerFor({ strategy: 'always', ratio: 0 });

    expect(sampler).toBeInstanceOf(AlwaysOnSampler);
    expect(sampler.toString()).toBe('AlwaysOnSampler');
    expect(decide(sampler, HIGH_TRACE_ID)).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    expect(decide(sampler, HIGH_TRACE_ID, parentContext(false, true))).toBe(
      SamplingDecision.RECORD_AND_SAMPLED,
    );
  });

  it('samples nothing for strategy never', () => {
    const sampler = samplerFor({ strategy: 'never', ratio: 1 });

    expect(sampler).toBeInstanceOf(AlwaysOffSampler);
    expect(sampler.toString()).toBe('AlwaysOffSampler');
    expect(decide(sampler, LOW_TRACE_ID)).toBe(SamplingDecision.NOT_RECORD);
    expect(decide(sampler, LOW_TRACE_ID, parentContext(true, true))).toBe(
      SamplingDecision.NOT_RECORD,
    );
  });

  it('samples by trace id for strategy ratio, ignoring the parent', () => {
    const sampler = samplerFor({ strategy: 'ratio', ratio: 0.25 });

    expect(sampler).toBeInstanceOf(TraceIdRatioBasedSampler);
    expect(sampler.toString()).toBe('TraceIdRatioBased{0.25}');
    expect(decide(sampler, LOW_TRACE_ID)).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    expect(decide(sampler, HIGH_TRACE_ID)).toBe(SamplingDecision.NOT_RECORD);
    expect(decide(sampler, HIGH_TRACE_ID, parentContext(true, true))).toBe(
      SamplingDecision.NOT_RECORD,
    );
  });

  it.each([
    { strategy: 'never', ratio: 1 },
    { strategy: 'ratio', ratio: 0.5 },
    { strategy: 'parent_based', ratio: 0.5 },
  ] as const)(
    'under $strategy, every child of an unsampled span is unsampled too (isUnsampledLocal)',
    (sampling) => {
      const provider = new LeanTracerProvider({
        resource: resourceFromAttributes({}),
        sampler: samplerFor(sampling),
        processor: { onEnd: () => undefined, forceFlush: async () => {}, shutdown: async () => {} },
      });
      const tracer = provider.getTracer('children');
      let unsampled = 0;
      for (let i = 0; i < 200; i++) {
        const parent = tracer.startSpan('server', { kind: SpanKind.SERVER });
        if (parent.isRecording()) continue;
        unsampled += 1;
        expect(isUnsampledLocal(parent)).toBe(true);
        const child = tracer.startSpan('child', {}, trace.setSpan(ROOT_CONTEXT, parent));
        expect(child.isRecording()).toBe(false);
        expect(child.spanContext().traceFlags).toBe(TraceFlags.NONE);
      }
      expect(unsampled).toBeGreaterThan(50);
    },
  );

  it.each([0, 0.5, 1])('passes ratio %p through to the ratio sampler', (ratio) => {
    expect(samplerFor({ strategy: 'ratio', ratio }).toString()).toBe(`TraceIdRatioBased{${ratio}}`);
  });

  it('samples nothing at ratio 0 and everything at ratio 1', () => {
    expect(decide(samplerFor({ strategy: 'ratio', ratio: 0 }), LOW_TRACE_ID)).toBe(
      SamplingDecision.NOT_RECORD,
    );
    expect(decide(samplerFor({ strategy: 'ratio', ratio: 1 }), HIGH_TRACE_ID)).toBe(
      SamplingDecision.RECORD_AND_SAMPLED,
    );
  });

  it('follows the parent for strategy parent_based, with the ratio for root spans', () => {
    const sampler = samplerFor({ strategy: 'parent_based', ratio: 0.5 });

    expect(sampler).toBeInstanceOf(ParentBasedSampler);
    expect(sampler.toString()).toMatch(/^ParentBased\{root=TraceIdRatioBased\{0\.5\},/);
    // Root spans: the ratio decides.
    expect(decide(sampler, LOW_TRACE_ID)).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    expect(decide(sampler, HIGH_TRACE_ID)).toBe(SamplingDecision.NOT_RECORD);
    // Child spans: the parent decides, whatever the trace id.
    for (const isRemote of [true, false]) {
      expect(decide(sampler, HIGH_TRACE_ID, parentContext(true, isRemote))).toBe(
        SamplingDecision.RECORD_AND_SAMPLED,
      );
      expect(decide(sampler, LOW_TRACE_ID, parentContext(false, isRemote))).toBe(
        SamplingDecision.NOT_RECORD,
      );
    }
  });

  it('samples no root span for parent_based at ratio 0 but still follows a sampled parent', () => {
    const sampler = samplerFor({ strategy: 'parent_based', ratio: 0 });

    expect(decide(sampler, LOW_TRACE_ID)).toBe(SamplingDecision.NOT_RECORD);
    expect(decide(sampler, LOW_TRACE_ID, parentContext(true, true))).toBe(
      SamplingDecision.RECORD_AND_SAMPLED,
    );
  });
});

describe('describeSpan', () => {
  function recorder() {
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(memory)],
    });
    return { tracer: provider.getTracer('start-tracing-spec'), memory };
  }

  /** The JSON after the 'span ' prefix. */
  function parse(line: string): Record<string, unknown> {
    expect(line.startsWith('span ')).toBe(true);
    return JSON.parse(line.slice('span '.length)) as Record<string, unknown>;
  }

  it('writes one line: "span " then JSON naming the span, its ids, kind and attributes', () => {
    const { tracer, memory } = recorder();
    tracer
      .startSpan('PUT uploads', {
        kind: SpanKind.SERVER,
        attributes: { 'mizuchi.route': 'uploads', 'http.response.status_code': 200 },
      })
      .end();
    const [span] = memory.getFinishedSpans();

    const line = describeSpan(span);

    expect(line).not.toContain('\n');
    const json = parse(line);
    expect(json.name).toBe('PUT uploads');
    expect(json.kind).toBe('SERVER');
    expect(json.trace_id).toBe(span.spanContext().traceId);
    expect(json.span_id).toBe(span.spanContext().spanId);
    expect(json.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(json.span_id).toMatch(/^[0-9a-f]{16}$/);
    expect(json.attributes).toEqual({
      'mizuchi.route': 'uploads',
      'http.response.status_code': 200,
    });
    expect(json).not.toHaveProperty('parent_span_id');
  });

  it.each([
    [SpanKind.INTERNAL, 'INTERNAL'],
    [SpanKind.SERVER, 'SERVER'],
    [SpanKind.CLIENT, 'CLIENT'],
    [SpanKind.PRODUCER, 'PRODUCER'],
    [SpanKind.CONSUMER, 'CONSUMER'],
  ])('names kind %p as %s', (kind, name) => {
    const { tracer, memory } = recorder();
    tracer.startSpan('op', { kind }).end();

    expect(parse(describeSpan(memory.getFinishedSpans()[0])).kind).toBe(name);
  });

  it('includes the parent span id of a child span', () => {
    const { tracer, memory } = recorder();
    const parent = tracer.startSpan('parent');
    tracer.startSpan('child', {}, trace.setSpan(ROOT_CONTEXT, parent)).end();
    parent.end();
    const child = memory.getFinishedSpans().find((s) => s.name === 'child') as ReadableSpan;

    const json = parse(describeSpan(child));

    expect(json.parent_span_id).toBe(parent.spanContext().spanId);
    expect(json.trace_id).toBe(parent.spanContext().traceId);
  });

  it('gives the duration in milliseconds rounded to the microsecond, and the status code', () => {
    const { tracer, memory } = recorder();
    const span = tracer.startSpan('op', { startTime: [1_700_000_000, 0] });
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'secret detail' });
    span.end([1_700_000_001, 234_567_890]);

    const json = parse(describeSpan(memory.getFinishedSpans()[0]));

    expect(json.duration_ms).toBe(1234.568);
    expect(json.status).toBe(SpanStatusCode.ERROR);
    expect(JSON.stringify(json)).not.toContain('secret detail');
  });

  it('writes the attributes it is given, exactly', () => {
    const { tracer, memory } = recorder();
    tracer
      .startSpan('op', {
        attributes: { 'mizuchi.upload.parts': [1, 2], 'mizuchi.authz.cached': false },
      })
      .end();

    const json = parse(describeSpan(memory.getFinishedSpans()[0]));

    expect(json.attributes).toEqual({
      'mizuchi.upload.parts': [1, 2],
      'mizuchi.authz.cached': false,
    });
  });

  it('stays on one line when the name or an attribute holds a newline', () => {
    const { tracer, memory } = recorder();
    tracer.startSpan('PUT\nforged line', { attributes: { 'mizuchi.route': 'a\r\nb' } }).end();

    const line = describeSpan(memory.getFinishedSpans()[0]);

    expect(line).not.toMatch(/[\r\n]/);
    const json = parse(line);
    expect(json.name).toBe('PUT\nforged line');
    expect(json.attributes).toEqual({ 'mizuchi.route': 'a\r\nb' });
  });
});
