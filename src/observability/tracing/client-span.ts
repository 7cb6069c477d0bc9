/**
 * Client spans that the gateway's lean backend client (src/s3/lean-data-client.ts) makes itself,
 * for the PUTs that carry upload bodies: the http instrumentation would copy and parse each
 * request's options, compute attributes the export filter drops and re-bind the request's
 * listeners, for every PutObject and UploadPart. Its requests are marked with
 * {@link OWN_CLIENT_SPAN} so that the instrumentation (start-tracing.ts) leaves them alone.
 *
 * As with the instrumentation's `requireParentforOutgoingSpans`, only a request made under a
 * valid active span (the upload span) gets a client span and a `traceparent`.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { tracer } from './spans';
import { tracingActive } from './tracing-status';

/** Marks request options whose client span the caller makes (the instrumentation skips them). */
export const OWN_CLIENT_SPAN = Symbol('mizuchi.ownClientSpan');

/** Whether `options` carry the {@link OWN_CLIENT_SPAN} mark. */
export function hasOwnClientSpan(options: object): boolean {
  return (options as { [OWN_CLIENT_SPAN]?: unknown })[OWN_CLIENT_SPAN] === true;
}

/** A started client span: headers to send, and how to end it. */
export interface ClientSpan {
  /** `traceparent` (and `tracestate`) for the outgoing request. */
  readonly headers: Record<string, string>;
  /** Ends the span with the backend's status, or with the error that ended the request. */
  end(outcome: { status: number } | { error: Error }): void;
}

/** Where the request goes: scheme, host and port of the backend. */
export interface ClientTarget {
  scheme: 'http' | 'https';
  host: string;
  port: number;
}

/** Starts a client span under the active span, or returns undefined (no tracing, no parent). */
export function startClientSpan(method: string, target: ClientTarget): ClientSpan | undefined {
  if (!tracingActive()) return undefined;
  const parent = context.active();
  const parentSpan = trace.getSpan(parent);
  if (parentSpan === undefined || !trace.isSpanContextValid(parentSpan.spanContext())) {
    return undefined;
  }
  const span = tracer.startSpan(
    method,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'http.request.method': method,
        'url.scheme': target.scheme,
        'server.address': target.host,
        'server.port': target.port,
      },
    },
    parent,
  );
  const headers: Record<string, string> = {};
  propagation.inject(trace.setSpan(parent, span), headers);
  let ended = false;
  return {
    headers,
    end(outcome) {
      if (ended) return;
      ended = true;
      if ('status' in outcome) {
        span.setAttribute('http.response.status_code', outcome.status);
        if (outcome.status >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
      } else {
        span.setAttribute('error.type', outcome.error.name);
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    },
  };
}
