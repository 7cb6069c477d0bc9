/**
 * The gateway's own HTTP server span: one per request while tracing runs, a child of a valid
 * incoming traceparent (a new root otherwise), the rest of the request in its context, only
 * exportable attributes, and the outcome recorded when the response closes.
 */
import { EventEmitter } from 'node:events';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { NextFunction, Request, Response } from 'express';
import { serverSpan } from './server-span';
import { setTracingStatusSource } from './tracing-status';
import { RUNNING_TRACER, useInMemoryTracing } from './tracing.testing';

const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

interface FakeExchange {
  req: Request;
  res: Response & EventEmitter;
  /** What `next` saw as the active span. */
  activeInNext: () => string | undefined;
}

function exchange(path: string, headers: Record<string, string> = {}): FakeExchange {
  const req = {
    method: 'PUT',
    path,
    headers,
    httpVersion: '1.1',
    socket: { localPort: 8080 },
  } as unknown as Request;
  const res = Object.assign(new EventEmitter(), {
    headersSent: false,
    statusCode: 200,
    writableFinished: false,
  }) as unknown as Response & EventEmitter;
  let seen: string | undefined;
  const next: NextFunction = () => {
    seen = trace.getActiveSpan()?.spanContext().spanId;
  };
  serverSpan(['/health', '/metrics'])(req, res, next);
  return { req, res, activeInNext: () => seen };
}

function finish(res: FakeExchange['res'], status: number, completed = true): void {
  Object.assign(res, { headersSent: true, statusCode: status, writableFinished: completed });
  res.emit('close');
}

describe('serverSpan', () => {
  const memory = useInMemoryTracing();

  it('runs the request under a server span that continues the caller trace', () => {
    const { res, activeInNext } = exchange('/uploads/a.txt', {
      traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01`,
    });
    finish(res, 200);

    const [span] = memory.getFinishedSpans();
    expect(span.kind).toBe(SpanKind.SERVER);
    expect(span.name).toBe('PUT');
    expect(span.spanContext().traceId).toBe(CALLER_TRACE);
    expect(span.parentSpanContext?.spanId).toBe(CALLER_SPAN);
    expect(activeInNext()).toBe(span.spanContext().spanId);
    expect(span.attributes).toEqual({
      'http.request.method': 'PUT',
      'url.scheme': 'http',
      'network.protocol.version': '1.1',
      'server.port': 8080,
      'http.response.status_code': 200,
    });
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('starts a new root trace for an invalid traceparent, without failing', () => {
    const { res } = exchange('/uploads/a.txt', { traceparent: `00-${'0'.repeat(32)}-zz-01` });
    finish(res, 200);

    const [span] = memory.getFinishedSpans();
    expect(span.parentSpanContext).toBeUndefined();
    expect(span.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(span.spanContext().traceId).not.toBe('0'.repeat(32));
  });

  it('marks a 5xx answer and a client that went away as errors, a 4xx not', () => {
    finish(exchange('/uploads/a').res, 503);
    finish(exchange('/uploads/b').res, 403);
    const gone = exchange('/uploads/c').res;
    gone.emit('close');

    const [failed, refused, aborted] = memory.getFinishedSpans();
    expect(failed.status.code).toBe(SpanStatusCode.ERROR);
    expect(failed.attributes['http.response.status_code']).toBe(503);
    expect(refused.status.code).toBe(SpanStatusCode.UNSET);
    expect(aborted.status.code).toBe(SpanStatusCode.ERROR);
    expect(aborted.attributes['error.type']).toBe('aborted');
    expect(aborted.attributes['http.response.status_code']).toBeUndefined();
  });

  it('opens no span for probes and scrapes', () => {
    const { res, activeInNext } = exchange('/health/ready');
    finish(res, 200);
    finish(exchange('/metrics').res, 200);

    expect(memory.getFinishedSpans()).toEqual([]);
    expect(activeInNext()).toBeUndefined();
  });

  it('opens no span while tracing is not running', () => {
    setTracingStatusSource(undefined);
    try {
      const { res, activeInNext } = exchange('/uploads/a.txt');
      finish(res, 200);
      expect(memory.getFinishedSpans()).toEqual([]);
      expect(activeInNext()).toBeUndefined();
    } finally {
      setTracingStatusSource(RUNNING_TRACER);
    }
  });
});
