/**
 * What a span may carry out of the process. Spans pass an allowlist before they are queued for
 * export: HTTP semantics that name no person or object, and the gateway's own `mizuchi.*`
 * attributes. URLs, query strings (presigned signatures live there), headers, client addresses
 * and claims never leave; object keys leave only when `tracing.record_object_keys` is true.
 */
import { createHash } from 'node:crypto';
import { type Attributes, SpanKind } from '@opentelemetry/api';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';

/** The attribute that names an object key; exported only when keys may be recorded. */
export const OBJECT_KEY_ATTRIBUTE = 'mizuchi.object.key';

/** HTTP attributes (old and stable semantic conventions) that carry no personal data. */
const SAFE_HTTP = new Set([
  'http.method',
  'http.request.method',
  'http.status_code',
  'http.response.status_code',
  'http.route',
  'http.flavor',
  'http.scheme',
  'url.scheme',
  'network.protocol.version',
  'http.request_content_length',
  'http.response_content_length',
  'http.request_content_length_uncompressed',
  'http.response_content_length_uncompressed',
  'error.type',
]);

/** The peer of a client span is the backend or policy engine; of a server span, the client. */
const SAFE_CLIENT_PEER = new Set([
  'server.address',
  'server.port',
  'net.peer.name',
  'net.peer.port',
]);

/** The gateway's own listening side. */
const SAFE_SERVER_HOST = new Set(['net.host.port', 'server.port']);

const SAFE_EVENT = new Set(['exception.type', 'exception.message', 'exception.stacktrace']);

/** Settings of the filter. */
export interface PrivacyOptions {
  recordObjectKeys: boolean;
}

/** Whether a span attribute may be exported. */
export function exportableAttribute(key: string, kind: SpanKind, options: PrivacyOptions): boolean {
  if (key === OBJECT_KEY_ATTRIBUTE) return options.recordObjectKeys;
  if (key.startsWith('mizuchi.') || SAFE_HTTP.has(key)) return true;
  if (kind === SpanKind.CLIENT) return SAFE_CLIENT_PEER.has(key);
  if (kind === SpanKind.SERVER) return SAFE_SERVER_HOST.has(key);
  return false;
}

/** The attributes of `attributes` that may be exported. */
export function filterAttributes(
  attributes: Attributes,
  kind: SpanKind,
  options: PrivacyOptions,
): Attributes {
  const out: Attributes = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (exportableAttribute(key, kind, options)) out[key] = value;
  }
  return out;
}

/** Whether an event attribute (an exception's, or the gateway's own) may be exported. */
export function exportableEventAttribute(key: string, options: PrivacyOptions): boolean {
  const own =
    key.startsWith('mizuchi.') && (key !== OBJECT_KEY_ATTRIBUTE || options.recordObjectKeys);
  return SAFE_EVENT.has(key) || own;
}

function filterEvent(event: TimedEvent, options: PrivacyOptions): TimedEvent {
  const attributes: Attributes = {};
  const given = Object.entries(event.attributes ?? {});
  for (const [key, value] of given) {
    if (exportableEventAttribute(key, options)) attributes[key] = value;
  }
  const removed = given.length - Object.keys(attributes).length;
  return {
    name: event.name,
    time: event.time,
    attributes,
    droppedAttributesCount: (event.droppedAttributesCount ?? 0) + removed,
  };
}

/** A detached, filtered copy of a finished span: what the export queue holds. */
export function privateCopy(span: ReadableSpan, options: PrivacyOptions): ReadableSpan {
  const context = span.spanContext();
  // Read once: a LeanSpan builds its attributes object on each read.
  const given = span.attributes;
  const attributes = filterAttributes(given, span.kind, options);
  const removed = Object.keys(given).length - Object.keys(attributes).length;
  return {
    name: span.name,
    kind: span.kind,
    spanContext: () => context,
    parentSpanContext: span.parentSpanContext,
    startTime: span.startTime,
    endTime: span.endTime,
    status: span.status,
    attributes,
    links: [],
    events: span.events.map((event) => filterEvent(event, options)),
    duration: span.duration,
    ended: span.ended,
    resource: span.resource,
    instrumentationScope: span.instrumentationScope,
    droppedAttributesCount: span.droppedAttributesCount + removed,
    droppedEventsCount: span.droppedEventsCount,
    droppedLinksCount: span.droppedLinksCount + span.links.length,
  };
}

/**
 * A stable pseudonym of a subject: the first 16 hex digits of its SHA-256, enough to group one
 * principal's requests without putting the subject itself on a span.
 */
export function hashSubject(subject: string): string {
  return createHash('sha256').update(subject, 'utf8').digest('hex').slice(0, 16);
}
