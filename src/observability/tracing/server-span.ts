/**
 * The HTTP server span of each request, made by the gateway itself rather than by
 * `@opentelemetry/instrumentation-http` (which still makes the backend client spans). The
 * instrumentation computed about twenty attributes per request that the export allowlist then
 * dropped, and re-bound every listener of the request and the response to the span's context;
 * together that was most of what tracing cost a small upload (docs/TRACING.md, "Tracing
 * overhead"). This middleware sets only what may be exported and runs the rest of the request in
 * the span's context, which AsyncLocalStorage carries through every await.
 *
 * Listeners that the request's sockets call later (`close`, `finish`) run outside that context:
 * what must log under the trace captures `context.active()` first (see access-log.ts).
 */
import type { NextFunction, Request, Response } from 'express';
import type { TLSSocket } from 'node:tls';
import { probePrefix } from '../logging/access-log';
import { RecentTemplates } from './attribute-template';
import { LEAN_ROOT } from './lean-context';
import { context, propagation, SpanKind, SpanStatusCode, trace } from './otel-api';
import { tracer } from './spans';
import { tracingActive } from './tracing-status';

/** The server span's start attributes: the same few combinations on every request. */
const startAttributes = new RecentTemplates([
  'http.request.method',
  'url.scheme',
  'network.protocol.version',
  'server.port',
]);

/**
 * Express middleware opening a server span per request while tracing runs (startTracing), except
 * under `ignoredPrefixes` (probes, scrapes).
 */
export function serverSpan(ignoredPrefixes: readonly string[]) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!tracingActive() || probePrefix(req.path, ignoredPrefixes) !== undefined) {
      next();
      return;
    }
    // A missing or malformed traceparent extracts nothing: the span starts a new trace.
    const parent =
      req.headers.traceparent === undefined
        ? LEAN_ROOT
        : propagation.extract(LEAN_ROOT, req.headers);
    const span = tracer.startSpan(
      req.method,
      {
        kind: SpanKind.SERVER,
        attributes: startAttributes.of(
          req.method,
          (req.socket as Partial<TLSSocket>).encrypted === true ? 'https' : 'http',
          req.httpVersion,
          req.socket.localPort,
        ),
      },
      parent,
    );
    if (span.isRecording()) {
      res.on('close', () => {
        if (res.headersSent) {
          span.setAttribute('http.response.status_code', res.statusCode);
          if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        }
        if (!res.writableFinished) {
          span.setAttribute('error.type', 'aborted');
          span.setStatus({ code: SpanStatusCode.ERROR, message: 'the client went away' });
        }
        span.end();
      });
    }
    // Unsampled, the span still parents the request's (unsampled) spans, so the sampling
    // decision and trace id travel on to backends; there is just nothing to record at the end.
    context.with(trace.setSpan(parent, span), next);
  };
}
