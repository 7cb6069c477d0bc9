/**
 * For specs of the request-path tracing helpers: a real tracer provider that keeps finished
 * spans in memory, the AsyncLocalStorage context manager and the W3C propagator, registered
 * globally for one describe block, with tracing marked as running (tracingActive()).
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
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
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
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
