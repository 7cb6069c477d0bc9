/**
 * For specs of the request-path tracing helpers: a real tracer provider that keeps finished
 * spans in memory, the gateway's context manager (AsyncLocalStorage, lean-context.ts) and the
 * W3C propagator, registered globally for one describe block, with tracing marked as running
 * (tracingActive()).
 */
import { propagation, SpanKind, trace } from '@opentelemetry/api';
import type { ExportResult } from '@opentelemetry/core';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { BatchExporter } from './bounded-batch-processor';
import { LeanContextManager } from './lean-context';
import { context } from './otel-api';
import { type EncodedSpan, SpanEncoder } from './otlp-protobuf';
import { setTracingStatusSource, type TracingStatusSource } from './tracing-status';

/** The status source of a running tracer whose exports succeed. */
export const RUNNING_TRACER: TracingStatusSource = {
  exporterHealth: () => 'ok',
  breakerState: () => 'closed',
};

/** Registers in-memory tracing around the current describe block; spans are cleared per test. */
export function useInMemoryTracing(): InMemorySpanExporter {
  const memory = new InMemorySpanExporter();
  beforeAll(() => {
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] }),
    );
    context.setGlobalContextManager(new LeanContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    setTracingStatusSource(RUNNING_TRACER);
  });
  afterAll(() => {
    setTracingStatusSource(undefined);
    trace.disable();
    context.disable();
    propagation.disable();
  });
  beforeEach(() => memory.reset());
  return memory;
}

/** Finished SERVER spans from the SDK (route `uploads`), encoded as the export queue holds them. */
export function encodedSpans(
  scope: { name: string; version?: string },
  ...names: string[]
): EncodedSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  const tracer = provider.getTracer(scope.name, scope.version);
  for (const name of names) {
    tracer
      .startSpan(name, { kind: SpanKind.SERVER, attributes: { 'mizuchi.route': 'uploads' } })
      .end();
  }
  const encoder = new SpanEncoder({ recordObjectKeys: false });
  return memory.getFinishedSpans().map((span) => encoder.encode(span));
}

/** One export's result. */
export function exportOnce(
  exporter: BatchExporter<EncodedSpan>,
  spans: EncodedSpan[],
): Promise<ExportResult> {
  return new Promise<ExportResult>((resolve) => exporter.export(spans, resolve));
}
