/**
 * An in-process OpenTelemetry collector stand-in for e2e tests: it receives trace exports over
 * OTLP/HTTP, decodes them into plain objects and can be switched to fail, lag or go away, so
 * tests can assert on the spans the gateway emits and on how it copes with a broken collector.
 * It owns only its own listener; it never touches the global OpenTelemetry API.
 *
 *   request   POST /v1/traces   Content-Type: application/x-protobuf | application/json
 *                               Content-Encoding: gzip (optional)
 *   response  200 empty ExportTraceServiceResponse (protobuf) or `{}` (JSON)
 *             400 undecodable body, 415 other content types, 404 other paths, 405 other methods
 *             any status set with `respondWith`, with a google.rpc.Status body as the spec asks
 *
 * The protobuf decoder is hand-written on purpose: it keeps the test free of a second encoder
 * implementation that could share the real one's mistakes.
 * @see https://opentelemetry.io/docs/specs/otlp/#otlphttp
 * @see https://github.com/open-telemetry/opentelemetry-proto/blob/main/opentelemetry/proto/trace/v1/trace.proto
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** An attribute value as OTLP's AnyValue carries it; an int64 outside the safe range is a bigint. */
export type OtlpValue =
  string | number | boolean | bigint | Buffer | null | OtlpValue[] | { [key: string]: OtlpValue };

/** Attributes by key, as decoded from a repeated KeyValue. */
export type OtlpAttributes = Record<string, OtlpValue>;

/** OTLP's SpanKind: the API's `SpanKind` plus one, because 0 means unspecified on the wire. */
export const OtlpSpanKind = {
  UNSPECIFIED: 0,
  INTERNAL: 1,
  SERVER: 2,
  CLIENT: 3,
  PRODUCER: 4,
  CONSUMER: 5,
} as const;

/** OTLP's Status.StatusCode (the same numbers as the API's `SpanStatusCode`). */
export const OtlpStatusCode = { UNSET: 0, OK: 1, ERROR: 2 } as const;

/** One span as the receiver decoded it. */
export interface ReceivedSpan {
  /** 32 lowercase hex digits. */
  traceId: string;
  /** 16 lowercase hex digits. */
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  /** The W3C tracestate header value ('' when none). */
  traceState: string;
  name: string;
  /** See `OtlpSpanKind`. */
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: OtlpAttributes;
  /** Attributes the sender left out (limits, or its own filtering); 0 when none. */
  droppedAttributesCount: number;
  events: ReceivedEvent[];
  droppedEventsCount: number;
  /** Links are not decoded, only the count of those the sender left out. */
  droppedLinksCount: number;
  /** `code` is one of `OtlpStatusCode`. */
  status: { code: number; message: string };
  /** W3C trace flags in the low byte, 0x100 "parent remoteness known", 0x200 "parent remote". */
  flags: number;
  /** The attributes of the resource that emitted the span. */
  resource: OtlpAttributes;
  /** The instrumentation scope's name. */
  scope: string;
  /** The instrumentation scope's version ('' when none). */
  scopeVersion: string;
  /** The schema URL of the scope's spans (ScopeSpans.schema_url, '' when none). */
  scopeSchemaUrl: string;
}

/** One span event as the receiver decoded it. */
export interface ReceivedEvent {
  name: string;
  timeUnixNano: bigint;
  attributes: OtlpAttributes;
  droppedAttributesCount: number;
}

/** One POST as the receiver saw it, whatever it answered. */
export interface ReceivedRequest {
  /** The status the receiver answered (or will answer, while `delay` holds it). */
  status: number;
  /** `Date.now()` when the body had arrived. */
  at: number;
  /** Spans in the body, also when the answer was a failure (0 when the body did not decode). */
  spanCount: number;
  path: string;
  contentType: string;
  /** '' when the body was not compressed. */
  contentEncoding: string;
  /** Why the body was refused, when it was. */
  error?: string;
}

/** A running receiver. */
export interface OtlpReceiver {
  /** Base URL without `/v1/traces`, e.g. `http://127.0.0.1:41234`. */
  readonly endpoint: string;
  readonly port: number;
  /** Spans from every export answered with 2xx, in arrival order. */
  spans(): ReceivedSpan[];
  /** Every POST received, in order, including refused and failed ones. */
  requests(): ReceivedRequest[];
  /** Polls until `predicate` holds for the spans so far; rejects after `timeoutMs`. */
  waitForSpans(
    predicate: (spans: ReceivedSpan[]) => boolean,
    timeoutMs?: number,
  ): Promise<ReceivedSpan[]>;
  /** Forgets the spans and requests recorded so far. */
  clear(): void;
  /** Answers every later export with `status` (200 restores normal service). */
  respondWith(status: number): void;
  /** Holds every later response for `ms` before sending it (0 turns it off). */
  delay(ms: number): void;
  /** Stops listening and drops every connection, so the port refuses connections. */
  stop(): Promise<void>;
  /** Listens again on the same port (stopping first if still running). */
  restart(): Promise<void>;
}

// --- Protobuf wire format -------------------------------------------------------------------
// @see https://protobuf.dev/programming-guides/encoding/

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const SGROUP = 3;
const EGROUP = 4;
const I32 = 5;

class ProtoReader {
  private pos: number;

  constructor(
    private readonly buf: Buffer,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** The next field's number and wire type. */
  tag(): { field: number; wireType: number } {
    const key = Number(this.rawVarint());
    return { field: Math.floor(key / 8), wireType: key % 8 };
  }

  varint(wireType: number): bigint {
    this.expect(wireType, VARINT);
    return this.rawVarint();
  }

  fixed64(wireType: number): bigint {
    this.expect(wireType, I64);
    return this.buf.readBigUInt64LE(this.take(8));
  }

  fixed32(wireType: number): number {
    this.expect(wireType, I32);
    return this.buf.readUInt32LE(this.take(4));
  }

  /** A uint32 field (counts). */
  uint32(wireType: number): number {
    return Number(BigInt.asUintN(32, this.varint(wireType)));
  }

  double(wireType: number): number {
    this.expect(wireType, I64);
    return this.buf.readDoubleLE(this.take(8));
  }

  bytes(wireType: number): Buffer {
    this.expect(wireType, LEN);
    const length = this.length();
    const start = this.take(length);
    return this.buf.subarray(start, start + length);
  }

  string(wireType: number): string {
    return this.bytes(wireType).toString('utf8');
  }

  /** A reader over an embedded message. */
  message(wireType: number): ProtoReader {
    this.expect(wireType, LEN);
    const length = this.length();
    const start = this.take(length);
    return new ProtoReader(this.buf, start, start + length);
  }

  /** Skips a field this decoder does not know, as proto3 parsers must. */
  skip(field: number, wireType: number): void {
    switch (wireType) {
      case VARINT:
        this.rawVarint();
        return;
      case I64:
        this.take(8);
        return;
      case LEN:
        this.take(this.length());
        return;
      case I32:
        this.take(4);
        return;
      case SGROUP:
        for (;;) {
          const inner = this.tag();
          if (inner.wireType === EGROUP) {
            if (inner.field !== field) throw new Error(`group ${field} closed by ${inner.field}`);
            return;
          }
          this.skip(inner.field, inner.wireType);
        }
      default:
        throw new Error(`field ${field} has invalid wire type ${wireType}`);
    }
  }

  private rawVarint(): bigint {
    let value = 0n;
    for (let i = 0; i < 10; i++) {
      const byte = this.buf[this.take(1)];
      value |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if ((byte & 0x80) === 0) return BigInt.asUintN(64, value);
    }
    throw new Error('varint longer than 10 bytes');
  }

  private length(): number {
    const length = this.rawVarint();
    if (length > BigInt(this.end - this.pos)) {
      throw new Error(`length ${length} overruns the message at byte ${this.pos}`);
    }
    return Number(length);
  }

  /** Advances past `n` bytes and returns where they start. */
  private take(n: number): number {
    if (this.pos + n > this.end) throw new Error(`message truncated at byte ${this.pos}`);
    const start = this.pos;
    this.pos += n;
    return start;
  }

  private expect(actual: number, wanted: number): void {
    if (actual !== wanted) {
      throw new Error(`wire type ${actual} where ${wanted} was expected at byte ${this.pos}`);
    }
  }
}

/** An int64 as a number when that is exact, else as a bigint. */
function int64(unsigned: bigint): number | bigint {
  const signed = BigInt.asIntN(64, unsigned);
  return signed >= BigInt(Number.MIN_SAFE_INTEGER) && signed <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(signed)
    : signed;
}

/** AnyValue{1 string, 2 bool, 3 int64, 4 double, 5 ArrayValue, 6 KeyValueList, 7 bytes}. */
function decodeAnyValue(r: ProtoReader): OtlpValue {
  let value: OtlpValue = null;
  while (!r.done) {
    const { field, wireType } = r.tag();
    switch (field) {
      case 1:
        value = r.string(wireType);
        break;
      case 2:
        value = r.varint(wireType) !== 0n;
        break;
      case 3:
        value = int64(r.varint(wireType));
        break;
      case 4:
        value = r.double(wireType);
        break;
      case 5: {
        // ArrayValue{1 repeated AnyValue values}
        const array = r.message(wireType);
        const values: OtlpValue[] = [];
        while (!array.done) {
          const item = array.tag();
          if (item.field === 1) values.push(decodeAnyValue(array.message(item.wireType)));
          else array.skip(item.field, item.wireType);
        }
        value = values;
        break;
      }
      case 6: {
        // KeyValueList{1 repeated KeyValue values}
        const list = r.message(wireType);
        const values: OtlpAttributes = {};
        while (!list.done) {
          const item = list.tag();
          if (item.field === 1) decodeKeyValue(list.message(item.wireType), values);
          else list.skip(item.field, item.wireType);
        }
        value = values;
        break;
      }
      case 7:
        value = Buffer.from(r.bytes(wireType));
        break;
      default:
        r.skip(field, wireType);
    }
  }
  return value;
}

/** KeyValue{1 key, 2 AnyValue value}, added to `into`. */
function decodeKeyValue(r: ProtoReader, into: OtlpAttributes): void {
  let key = '';
  let value: OtlpValue = null;
  while (!r.done) {
    const { field, wireType } = r.tag();
    if (field === 1) key = r.string(wireType);
    else if (field === 2) value = decodeAnyValue(r.message(wireType));
    else r.skip(field, wireType);
  }
  into[key] = value;
}

/** Event{1 time_unix_nano fixed64, 2 name, 3 repeated KeyValue attributes, 4 dropped count}. */
function decodeEvent(r: ProtoReader): ReceivedEvent {
  const event: ReceivedEvent = {
    name: '',
    timeUnixNano: 0n,
    attributes: {},
    droppedAttributesCount: 0,
  };
  while (!r.done) {
    const { field, wireType } = r.tag();
    if (field === 1) event.timeUnixNano = r.fixed64(wireType);
    else if (field === 2) event.name = r.string(wireType);
    else if (field === 3) decodeKeyValue(r.message(wireType), event.attributes);
    else if (field === 4) event.droppedAttributesCount = r.uint32(wireType);
    else r.skip(field, wireType);
  }
  return event;
}

/** Status{2 message, 3 code}; field 1 is reserved. */
function decodeStatus(r: ProtoReader): ReceivedSpan['status'] {
  const status = { code: 0, message: '' };
  while (!r.done) {
    const { field, wireType } = r.tag();
    if (field === 2) status.message = r.string(wireType);
    else if (field === 3) status.code = Number(BigInt.asIntN(32, r.varint(wireType)));
    else r.skip(field, wireType);
  }
  return status;
}

function emptySpan(): ReceivedSpan {
  return {
    traceId: '',
    spanId: '',
    parentSpanId: '',
    traceState: '',
    name: '',
    kind: 0,
    startTimeUnixNano: 0n,
    endTimeUnixNano: 0n,
    attributes: {},
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    droppedLinksCount: 0,
    status: { code: 0, message: '' },
    flags: 0,
    resource: {},
    scope: '',
    scopeVersion: '',
    scopeSchemaUrl: '',
  };
}

/** Span; every field but 13 (links, which the gateway never exports) is decoded. */
function decodeSpan(r: ProtoReader): ReceivedSpan {
  const span = emptySpan();
  while (!r.done) {
    const { field, wireType } = r.tag();
    switch (field) {
      case 1:
        span.traceId = r.bytes(wireType).toString('hex');
        break;
      case 2:
        span.spanId = r.bytes(wireType).toString('hex');
        break;
      case 3:
        span.traceState = r.string(wireType);
        break;
      case 4:
        span.parentSpanId = r.bytes(wireType).toString('hex');
        break;
      case 5:
        span.name = r.string(wireType);
        break;
      case 6:
        span.kind = Number(BigInt.asIntN(32, r.varint(wireType)));
        break;
      case 7:
        span.startTimeUnixNano = r.fixed64(wireType);
        break;
      case 8:
        span.endTimeUnixNano = r.fixed64(wireType);
        break;
      case 9:
        decodeKeyValue(r.message(wireType), span.attributes);
        break;
      case 10:
        span.droppedAttributesCount = r.uint32(wireType);
        break;
      case 11:
        span.events.push(decodeEvent(r.message(wireType)));
        break;
      case 12:
        span.droppedEventsCount = r.uint32(wireType);
        break;
      case 14:
        span.droppedLinksCount = r.uint32(wireType);
        break;
      case 15:
        span.status = decodeStatus(r.message(wireType));
        break;
      case 16:
        span.flags = r.fixed32(wireType);
        break;
      default:
        r.skip(field, wireType);
    }
  }
  return span;
}

/** InstrumentationScope{1 name, 2 version, ...}: the name and version. */
function decodeScope(r: ProtoReader): { name: string; version: string } {
  const scope = { name: '', version: '' };
  while (!r.done) {
    const { field, wireType } = r.tag();
    if (field === 1) scope.name = r.string(wireType);
    else if (field === 2) scope.version = r.string(wireType);
    else r.skip(field, wireType);
  }
  return scope;
}

/**
 * ScopeSpans{1 scope, 2 repeated Span spans, 3 schema_url}; the scope may follow the spans on
 * the wire.
 */
function decodeScopeSpans(r: ProtoReader): ReceivedSpan[] {
  let scope = { name: '', version: '' };
  let schemaUrl = '';
  const spans: ReceivedSpan[] = [];
  while (!r.done) {
    const { field, wireType } = r.tag();
    if (field === 1) scope = decodeScope(r.message(wireType));
    else if (field === 2) spans.push(decodeSpan(r.message(wireType)));
    else if (field === 3) schemaUrl = r.string(wireType);
    else r.skip(field, wireType);
  }
  for (const span of spans) {
    span.scope = scope.name;
    span.scopeVersion = scope.version;
    span.scopeSchemaUrl = schemaUrl;
  }
  return spans;
}

/** Resource{1 repeated KeyValue attributes}. */
function decodeResource(r: ProtoReader): OtlpAttributes {
  const attributes: OtlpAttributes = {};
  while (!r.done) {
    const { field, wireType } = r.tag();
    if (field === 1) decodeKeyValue(r.message(wireType), attributes);
    else r.skip(field, wireType);
  }
  return attributes;
}

/** ResourceSpans{1 resource, 2 repeated ScopeSpans scope_spans}. */
function decodeResourceSpans(r: ProtoReader): ReceivedSpan[] {
  let resource: OtlpAttributes = {};
  const spans: ReceivedSpan[] = [];
  while (!r.done) {
    const { field, wireType } = r.tag();
    if (field === 1) resource = decodeResource(r.message(wireType));
    else if (field === 2) spans.push(...decodeScopeSpans(r.message(wireType)));
    else r.skip(field, wireType);
  }
  for (const span of spans) span.resource = resource;
  return spans;
}

/**
 * Decodes a protobuf ExportTraceServiceRequest{1 repeated ResourceSpans resource_spans} into its
 * spans, flattened. Throws on malformed input.
 * @see https://github.com/open-telemetry/opentelemetry-proto/blob/main/opentelemetry/proto/collector/trace/v1/trace_service.proto
 */
export function decodeExportTraceRequest(buf: Buffer): ReceivedSpan[] {
  const r = new ProtoReader(buf);
  const spans: ReceivedSpan[] = [];
  while (!r.done) {
    const { field, wireType } = r.tag();
    if (field === 1) spans.push(...decodeResourceSpans(r.message(wireType)));
    else r.skip(field, wireType);
  }
  return spans;
}

// --- OTLP/JSON ------------------------------------------------------------------------------
// @see https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** proto3 JSON writes 64-bit integers as strings, but numbers are accepted too. */
function jsonBigInt(value: unknown): bigint {
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  if (value === undefined) return 0n;
  throw new Error(`not an integer: ${JSON.stringify(value)}`);
}

/** Trace and span ids are hex in OTLP/JSON, unlike proto3 JSON's base64 for bytes. */
function hexId(value: unknown): string {
  const id = text(value);
  if (!/^(?:[0-9a-f]{2})*$/i.test(id)) throw new Error(`not a hex id: ${JSON.stringify(value)}`);
  return id.toLowerCase();
}

/** Enums must be integers in OTLP/JSON; the proto names are accepted as a courtesy. */
function jsonEnum(value: unknown, names: Record<string, number>): number {
  if (typeof value === 'string' && value in names) return names[value];
  return Number(jsonBigInt(value));
}

const SPAN_KIND_NAMES: Record<string, number> = Object.fromEntries(
  Object.entries(OtlpSpanKind).map(([name, code]) => [`SPAN_KIND_${name}`, code]),
);
const STATUS_CODE_NAMES: Record<string, number> = Object.fromEntries(
  Object.entries(OtlpStatusCode).map(([name, code]) => [`STATUS_CODE_${name}`, code]),
);

function jsonAnyValue(value: unknown): OtlpValue {
  const v = record(value);
  if ('stringValue' in v) return text(v.stringValue);
  if ('boolValue' in v) return v.boolValue === true;
  if ('intValue' in v) return int64(BigInt.asUintN(64, jsonBigInt(v.intValue)));
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('arrayValue' in v) return list(record(v.arrayValue).values).map(jsonAnyValue);
  if ('kvlistValue' in v) return jsonAttributes(record(v.kvlistValue).values);
  if ('bytesValue' in v) return Buffer.from(text(v.bytesValue), 'base64');
  return null;
}

function jsonAttributes(value: unknown): OtlpAttributes {
  const attributes: OtlpAttributes = {};
  for (const kv of list(value)) attributes[text(record(kv).key)] = jsonAnyValue(record(kv).value);
  return attributes;
}

/** A uint32 count or fixed32 field, 0 when absent. */
function jsonUint32(value: unknown): number {
  return Number(BigInt.asUintN(32, jsonBigInt(value ?? 0)));
}

function jsonSpan(
  value: unknown,
  resource: OtlpAttributes,
  scope: { name: string; version: string; schemaUrl: string },
): ReceivedSpan {
  const s = record(value);
  const status = record(s.status);
  return {
    traceId: hexId(s.traceId),
    spanId: hexId(s.spanId),
    parentSpanId: hexId(s.parentSpanId),
    traceState: text(s.traceState),
    name: text(s.name),
    kind: jsonEnum(s.kind, SPAN_KIND_NAMES),
    startTimeUnixNano: jsonBigInt(s.startTimeUnixNano),
    endTimeUnixNano: jsonBigInt(s.endTimeUnixNano),
    attributes: jsonAttributes(s.attributes),
    droppedAttributesCount: jsonUint32(s.droppedAttributesCount),
    events: list(s.events).map((event) => ({
      name: text(record(event).name),
      timeUnixNano: jsonBigInt(record(event).timeUnixNano),
      attributes: jsonAttributes(record(event).attributes),
      droppedAttributesCount: jsonUint32(record(event).droppedAttributesCount),
    })),
    droppedEventsCount: jsonUint32(s.droppedEventsCount),
    droppedLinksCount: jsonUint32(s.droppedLinksCount),
    status: { code: jsonEnum(status.code, STATUS_CODE_NAMES), message: text(status.message) },
    flags: jsonUint32(s.flags),
    resource,
    scope: scope.name,
    scopeVersion: scope.version,
    scopeSchemaUrl: scope.schemaUrl,
  };
}

/** Decodes an OTLP/JSON ExportTraceServiceRequest (already parsed) into its spans, flattened. */
export function decodeExportTraceRequestJson(body: unknown): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const resourceSpans of list(record(body).resourceSpans)) {
    const resource = jsonAttributes(record(record(resourceSpans).resource).attributes);
    for (const scopeSpans of list(record(resourceSpans).scopeSpans)) {
      const scopeRecord = record(record(scopeSpans).scope);
      const scope = {
        name: text(scopeRecord.name),
        version: text(scopeRecord.version),
        schemaUrl: text(record(scopeSpans).schemaUrl),
      };
      for (const span of list(record(scopeSpans).spans)) {
        spans.push(jsonSpan(span, resource, scope));
      }
    }
  }
  return spans;
}

// --- HTTP -----------------------------------------------------------------------------------

const PROTOBUF = 'application/x-protobuf';
const JSON_TYPE = 'application/json';

/** An HTTP-level refusal with the status it deserves. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function encodeVarint(n: number): Buffer {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

/** google.rpc.Status{2 message}: what OTLP/HTTP asks for in every 4xx and 5xx body. */
function encodeRpcStatus(message: string): Buffer {
  const utf8 = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from([(2 << 3) | LEN]), encodeVarint(utf8.length), utf8]);
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0].trim().toLowerCase();
}

function decodeBody(raw: Buffer, contentType: string, contentEncoding: string): ReceivedSpan[] {
  let body: Buffer;
  if (contentEncoding === '' || contentEncoding === 'identity') body = raw;
  else if (contentEncoding === 'gzip') {
    try {
      body = gunzipSync(raw);
    } catch (err) {
      throw new Refusal(400, `gzip body does not inflate: ${(err as Error).message}`);
    }
  } else throw new Refusal(415, `unsupported Content-Encoding ${contentEncoding}`);
  try {
    if (contentType === PROTOBUF) return decodeExportTraceRequest(body);
    if (contentType === JSON_TYPE) {
      return decodeExportTraceRequestJson(JSON.parse(body.toString('utf8')));
    }
  } catch (err) {
    throw new Refusal(400, `undecodable ExportTraceServiceRequest: ${(err as Error).message}`);
  }
  throw new Refusal(415, `unsupported Content-Type ${contentType || '(none)'}`);
}

function send(res: ServerResponse, status: number, contentType: string, message: string): void {
  if (res.destroyed) return;
  const ok = status >= 200 && status < 300;
  let body: Buffer;
  if (contentType === JSON_TYPE) {
    body = Buffer.from(ok ? '{}' : JSON.stringify({ code: status, message }));
  } else {
    // An empty ExportTraceServiceResponse is zero bytes: every field has its default value.
    body = ok ? Buffer.alloc(0) : encodeRpcStatus(message);
  }
  res.writeHead(status, {
    'content-type': contentType === JSON_TYPE ? JSON_TYPE : PROTOBUF,
    'content-length': body.length,
  });
  res.end(body);
}

/** Starts a receiver on 127.0.0.1, on `options.port` or else on a free port. */
export async function startOtlpReceiver(options: { port?: number } = {}): Promise<OtlpReceiver> {
  const received: ReceivedSpan[] = [];
  const seen: ReceivedRequest[] = [];
  const sockets = new Set<Socket>();
  const held = new Set<NodeJS.Timeout>();
  let forcedStatus = 200;
  let delayMs = 0;

  const handle = (req: IncomingMessage, res: ServerResponse, raw: Buffer): void => {
    const path = (req.url ?? '/').split('?')[0];
    const contentType = mediaType(req.headers['content-type']);
    const contentEncoding = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
    let status = 200;
    let error: string | undefined;
    let spans: ReceivedSpan[] = [];
    try {
      if (path !== '/v1/traces') throw new Refusal(404, `${path} not found`);
      if (req.method !== 'POST') throw new Refusal(405, 'the receiver serves POST only');
      spans = decodeBody(raw, contentType, contentEncoding);
    } catch (err) {
      status = err instanceof Refusal ? err.status : 500;
      error = (err as Error).message;
    }
    if (status === 200 && forcedStatus !== 200) {
      status = forcedStatus;
      error = `receiver switched to answer ${forcedStatus}`;
    }
    if (req.method === 'POST') {
      seen.push({
        status,
        at: Date.now(),
        spanCount: spans.length,
        path,
        contentType,
        contentEncoding,
        ...(error === undefined ? {} : { error }),
      });
    }
    // A collector that refuses an export has not stored it, so neither does the receiver.
    if (status >= 200 && status < 300) received.push(...spans);
    const answer = () => send(res, status, contentType, error ?? '');
    if (delayMs <= 0) {
      answer();
      return;
    }
    const timer = setTimeout(() => {
      held.delete(timer);
      answer();
    }, delayMs);
    held.add(timer);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  const port = await listen(options.port ?? 0);

  const stop = async (): Promise<void> => {
    if (!server.listening) return;
    for (const timer of held) clearTimeout(timer);
    held.clear();
    const closed = new Promise<void>((resolve, reject) =>
      server.close((err) => (err ? reject(err) : resolve())),
    );
    for (const socket of sockets) socket.destroy();
    await closed;
  };

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    spans: () => received.slice(),
    requests: () => seen.slice(),
    async waitForSpans(predicate, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const spans = received.slice();
        if (predicate(spans)) return spans;
        if (Date.now() >= deadline) {
          const names = spans.map((span) => JSON.stringify(span.name)).join(', ') || 'none';
          const statuses = seen.map((request) => request.status).join(', ') || 'none';
          throw new Error(
            `waitForSpans: no match within ${timeoutMs} ms; ${spans.length} span(s) seen: ` +
              `${names}; export requests answered: ${statuses}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    clear() {
      received.length = 0;
      seen.length = 0;
    },
    respondWith(status) {
      forcedStatus = status;
    },
    delay(ms) {
      delayMs = ms;
    },
    stop,
    async restart() {
      await stop();
      await listen(port);
    },
  };
}
