/**
 * Client spans that the gateway's lean backend client (src/s3/lean-data-client.ts) makes itself,
 * for the PUTs that carry upload bodies: the http instrumentation would copy and parse each
 * request's options, compute attributes the export filter drops and re-bind the request's
 * listeners, for every PutObject and UploadPart. The lean client builds its requests with
 * `new http.ClientRequest`, which the instrumentation (it wraps `http.request`) never sees.
 *
 * As with the instrumentation's `requireParentforOutgoingSpans`, only a request made under a
 * valid active span (the upload span) gets a client span and a `traceparent`.
 */
import type { Span } from '@opentelemetry/api';
import { RecentTemplates } from './attribute-template';
import { isUnsampledLocal, isValidSpanContext } from './lean-tracer';
import { context, SpanKind, SpanStatusCode, trace } from './otel-api';
import { tracer } from './spans';
import { tracingActive } from './tracing-status';

/** A started client span: headers to send, and how to end it. */
export interface ClientSpan {
  /** `traceparent` (and `tracestate`) for the outgoing request. */
  readonly headers: Record<string, string>;
  /** Whether end() records anything; when not, the caller need not watch the request for it. */
  readonly recording: boolean;
  /** Ends the span with the backend's status, or with the error that ended the request. */
  end(outcome: { status: number } | { error: Error }): void;
}

/** Where the request goes: scheme, host and port of the backend. */
export interface ClientTarget {
  scheme: 'http' | 'https';
  host: string;
  port: number;
}

/** A client span's start attributes: a few methods per backend. */
const startAttributes = new RecentTemplates([
  'http.request.method',
  'url.scheme',
  'server.address',
  'server.port',
]);

/**
 * Starts a client span under the active span, or returns undefined (no tracing, no parent). Under
 * an unsampled span of this process, whose child would be unsampled too, it makes no span and
 * sends the parent's own trace context (isUnsampledLocal).
 */
export function startClientSpan(method: string, target: ClientTarget): ClientSpan | undefined {
  if (!tracingActive()) return undefined;
  const parent = context.active();
  const parentSpan = trace.getSpan(parent);
  if (parentSpan === undefined || !isValidSpanContext(parentSpan.spanContext())) {
    return undefined;
  }
  if (isUnsampledLocal(parentSpan)) return new UnsampledClientSpan(traceHeaders(parentSpan));
  const span = tracer.startSpan(
    method,
    {
      kind: SpanKind.CLIENT,
      attributes: startAttributes.of(method, target.scheme, target.host, target.port),
    },
    parent,
  );
  return new StartedClientSpan(span, traceHeaders(span));
}

/** The W3C trace context of `span`, as W3CTraceContextPropagator writes it. */
function traceHeaders(span: Span): Record<string, string> {
  const sent = span.spanContext();
  const headers: Record<string, string> = {
    traceparent: `00-${sent.traceId}-${sent.spanId}-0${(sent.traceFlags & 1).toString(16)}`,
  };
  const traceState = sent.traceState?.serialize();
  if (traceState) headers.tracestate = traceState;
  return headers;
}

/** The trace context of an unsampled request, with nothing to record. */
class UnsampledClientSpan implements ClientSpan {
  readonly recording = false;

  constructor(readonly headers: Record<string, string>) {}

  end(): void {}
}

/** A ClientSpan as an instance rather than a literal with a closure: one object per request. */
class StartedClientSpan implements ClientSpan {
  readonly recording = true;
  private ended = false;

  constructor(
    private readonly span: Span,
    readonly headers: Record<string, string>,
  ) {}

  end(outcome: { status: number } | { error: Error }): void {
    if (this.ended) return;
    this.ended = true;
    const span = this.span;
    if ('status' in outcome) {
      span.setAttribute('http.response.status_code', outcome.status);
      if (outcome.status >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
    } else {
      span.setAttribute('error.type', outcome.error.name);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  }
}
