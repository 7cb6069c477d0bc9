/**
 * Span helpers for the request path. Names and attributes follow docs/TRACING.md; everything set
 * here still passes the export allowlist (span-privacy.ts), so a mistake cannot leak a secret.
 * Without a registered tracer provider every call is a cheap no-op.
 */
import type { Attributes, AttributeValue, Span } from '@opentelemetry/api';
import { RecentTemplates } from './attribute-template';
import { activeSpan, SpanStatusCode, trace } from './otel-api';
import { OBJECT_KEY_ATTRIBUTE, hashSubject } from './span-privacy';

/** The tracer of the gateway's own spans. */
export const tracer = trace.getTracer('mizuchi-uploadr');

/** Attribute names the gateway sets. */
export const ATTR = {
  route: 'mizuchi.route',
  operation: 'mizuchi.operation',
  requestId: 'mizuchi.request_id',
  bytes: 'mizuchi.upload.bytes',
  partNumber: 'mizuchi.upload.part_number',
  parts: 'mizuchi.upload.parts',
  authMethod: 'mizuchi.auth.method',
  authResult: 'mizuchi.auth.result',
  subjectHash: 'mizuchi.subject.hash',
  authzProvider: 'mizuchi.authz.provider',
  authzDecision: 'mizuchi.authz.decision',
  authzCached: 'mizuchi.authz.cached',
  errorCode: 'mizuchi.error.code',
  objectKey: OBJECT_KEY_ATTRIBUTE,
} as const;

/** What a span is told of the S3 request: its route's name, operation and key. */
export interface TracedOperation {
  route: { name: string };
  operation: string;
  key: string;
}

/**
 * Names the HTTP server span after the route once routing knows it (`PUT uploads`), so traces
 * group by route; never by key. Runs in the guard, where the server span is still the active one.
 */
export function nameServerSpan(
  method: string,
  s3: TracedOperation,
  requestId: string | undefined,
): void {
  const span = recordingSpan();
  if (span === undefined) return;
  span.updateName(`${method} ${s3.route.name}`);
  span.setAttribute(ATTR.route, s3.route.name);
  span.setAttribute(ATTR.operation, s3.operation);
  if (requestId !== undefined) span.setAttribute(ATTR.requestId, requestId);
  if (s3.key !== '') span.setAttribute(ATTR.objectKey, s3.key);
}

/** Route and operation: the same few pairs on every upload span (attribute-template.ts). */
const operationAttributes = new RecentTemplates([ATTR.route, ATTR.operation]);

/**
 * The operation's attributes on an upload span: route, operation and key (which the export filter
 * drops unless tracing.record_object_keys is on).
 */
export function setOperationAttributes(span: Span, s3: TracedOperation): void {
  span.setAttributes(operationAttributes.of(s3.route.name, s3.operation));
  span.setAttribute(ATTR.objectKey, s3.key);
}

/** Puts the operation's attributes (and a part's number) on the active (upload) span. */
export function traceOperation(s3: TracedOperation, partNumber?: number): void {
  const span = recordingSpan();
  if (span === undefined) return;
  setOperationAttributes(span, s3);
  if (partNumber !== undefined) span.setAttribute(ATTR.partNumber, partNumber);
}

/** Sets attributes on the active span, if any. */
export function annotate(attributes: Attributes): void {
  activeSpan()?.setAttributes(attributes);
}

/**
 * Sets one attribute on the active span, if any. On the upload path this replaces `annotate`
 * with a one-key object, whose building and walking (a keyed load per shape of object) cost more
 * than the attribute itself.
 */
export function annotateOne(key: string, value: AttributeValue): void {
  activeSpan()?.setAttribute(key, value);
}

/**
 * The active span when it records, for setting several attributes one by one; undefined when
 * there is none or it is not sampled.
 */
export function recordingSpan(): Span | undefined {
  const span = activeSpan();
  return span !== undefined && span.isRecording() ? span : undefined;
}

/** The hashed-subject attribute for a principal's subject. */
export function subjectAttributes(subject: string | undefined): Attributes {
  return subject === undefined || subject === ''
    ? {}
    : { [ATTR.subjectHash]: hashSubject(subject) };
}

/** Marks a span failed with the error's S3 code (if it has one) and type, never its details. */
export function recordFailure(span: Span, error: unknown): void {
  const code =
    typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
      ? error.code
      : undefined;
  if (code !== undefined) span.setAttribute(ATTR.errorCode, code);
  span.recordException(error instanceof Error ? error : new Error(String(error)));
  span.setStatus({ code: SpanStatusCode.ERROR, message: code });
}

/** Runs `fn` inside a new active span named `name`, ending it when `fn` settles. */
export async function withSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      recordFailure(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}
