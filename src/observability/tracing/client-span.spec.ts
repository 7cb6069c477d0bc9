/**
 * The lean backend client's own client spans: only under a valid active span, a traceparent that
 * names the new span (or, in an unsampled request, its parent), and the outcome on the span.
 */
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOffSampler } from '@opentelemetry/sdk-trace-base';
import { startClientSpan } from './client-span';
import { LeanTracerProvider } from './lean-tracer';
import { tracer } from './spans';
import { useInMemoryTracing } from './tracing.testing';

const TARGET = { scheme: 'http', host: 'rgw.internal', port: 7480 } as const;

describe('startClientSpan', () => {
  const memory = useInMemoryTracing();

  it('makes no span and sends no traceparent outside a traced request', () => {
    expect(startClientSpan('PUT', TARGET)).toBeUndefined();
  });

  it('starts a child of the active span whose id the traceparent carries', () => {
    const parent = tracer.startSpan('upload.put_object');
    const started = context.with(trace.setSpan(context.active(), parent), () =>
      startClientSpan('PUT', TARGET),
    );
    expect(started?.recording).toBe(true);
    started?.end({ status: 200 });
    started?.end({ status: 500 }); // a second end changes nothing
    parent.end();

    const [client] = memory.getFinishedSpans();
    const { traceId, spanId } = client.spanContext();
    expect(client.kind).toBe(SpanKind.CLIENT);
    expect(client.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(traceId).toBe(parent.spanContext().traceId);
    expect(started?.headers.traceparent).toBe(`00-${traceId}-${spanId}-01`);
    expect(client.attributes).toEqual({
      'http.request.method': 'PUT',
      'url.scheme': 'http',
      'server.address': 'rgw.internal',
      'server.port': 7480,
      'http.response.status_code': 200,
    });
    expect(client.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('sends an unsampled request’s own trace context and makes no span under it', () => {
    const server = new LeanTracerProvider({
      resource: resourceFromAttributes({}),
      sampler: new AlwaysOffSampler(),
      processor: { onEnd: () => undefined, forceFlush: async () => {}, shutdown: async () => {} },
    })
      .getTracer('server')
      .startSpan('PUT');

    const started = context.with(trace.setSpan(context.active(), server), () =>
      startClientSpan('PUT', TARGET),
    );
    started?.end({ status: 200 });

    const { traceId, spanId } = server.spanContext();
    expect(started?.recording).toBe(false);
    expect(started?.headers).toEqual({ traceparent: `00-${traceId}-${spanId}-00` });
    expect(memory.getFinishedSpans()).toEqual([]);
  });

  it('marks a refused request and a failed connection as errors', () => {
    const parent = tracer.startSpan('upload.put_object');
    context.with(trace.setSpan(context.active(), parent), () => {
      startClientSpan('PUT', TARGET)?.end({ status: 403 });
      startClientSpan('PUT', TARGET)?.end({
        error: Object.assign(new Error('x'), { name: 'ECONNRESET' }),
      });
    });
    parent.end();

    const [refused, reset] = memory.getFinishedSpans();
    expect(refused.status.code).toBe(SpanStatusCode.ERROR);
    expect(refused.attributes['http.response.status_code']).toBe(403);
    expect(reset.status.code).toBe(SpanStatusCode.ERROR);
    expect(reset.attributes['error.type']).toBe('ECONNRESET');
  });
});
