/**
 * The OTLP trace protobuf, written directly: each finished span is encoded once, when it ends,
 * through the privacy filter (span-privacy.ts), into a few hundred bytes; the export queue then
 * holds those bytes instead of the span's object graph, and an export only concatenates them
 * under their resource and instrumentation scope. Links are never exported (they are counted as
 * dropped, as the filter always did).
 *
 * Field numbers are those of opentelemetry-proto's trace.proto, common.proto and resource.proto;
 * fields at their default value are left out, as proto3 allows.
 * @see https://github.com/open-telemetry/opentelemetry-proto/blob/main/opentelemetry/proto/trace/v1/trace.proto
 * @see https://protobuf.dev/programming-guides/encoding/
 */
import { gzipSync } from 'node:zlib';
import type { Attributes, HrTime } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import type { AttributeTemplate } from './attribute-template';
import { SpanKind, SpanStatusCode } from './otel-api';
import { exportableAttribute, exportableEventAttribute, type PrivacyOptions } from './span-privacy';

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

/** Span.flags: the W3C trace flags plus "the parent's remoteness is known" (bit 8) and bit 9. */
const FLAGS_HAS_IS_REMOTE = 0x100;
const FLAGS_IS_REMOTE = 0x200;

const NANOS_PER_SECOND = BigInt(1_000_000_000);
const TWO_32 = 2 ** 32;

/** The value of each hex digit by character code (other characters read as 0). */
const HEX_DIGITS = new Uint8Array(128);
for (let digit = 0; digit < 16; digit++) {
  HEX_DIGITS[digit.toString(16).charCodeAt(0)] = digit;
  HEX_DIGITS[digit.toString(16).toUpperCase().charCodeAt(0)] = digit;
}

/** Copies shorter than this, in whole 32-bit words, are a loop in JS; a native call costs more. */
const SHORT_COPY = 64;

/** The number of bytes `value` takes as a varint. */
function varintSize(value: number): number {
  let size = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    size += 1;
  }
  return size;
}

const EMPTY_VIEW: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

/** A growable buffer with protobuf's primitive writes. */
export class ProtoWriter {
  buf: Buffer;
  pos = 0;
  /** `buf` as a DataView (for `viewed`, the buffer it was made for) and the last source of `copy`. */
  private view = EMPTY_VIEW;
  private viewed: Buffer | undefined;
  private sourceView = EMPTY_VIEW;
  private source: Uint8Array | undefined;

  constructor(initialSize = 1024) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  /** The bytes written so far (a view, valid until the next write or reset). */
  get written(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  reset(): void {
    this.pos = 0;
  }

  /** Continues in a fresh buffer of `size` bytes (what was written stays in the old one). */
  renew(size: number): void {
    this.buf = Buffer.allocUnsafe(size);
    this.pos = 0;
  }

  /** An unsigned integer below 2^53. */
  varint(value: number): void {
    this.ensure(10);
    while (value >= 128) {
      this.buf[this.pos++] = (value % 128) | 0x80;
      value = Math.floor(value / 128);
    }
    this.buf[this.pos++] = value;
  }

  tag(field: number, wireType: number): void {
    const key = field * 8 + wireType;
    // Every field number the encoder writes is below 16: one byte.
    if (key < 128 && this.pos < this.buf.length) this.buf[this.pos++] = key;
    else this.varint(key);
  }

  /** An int64 field: negative values take ten bytes, two's complement. */
  int64(field: number, value: number): void {
    this.tag(field, VARINT);
    if (value >= 0) {
      this.varint(value);
      return;
    }
    let rest = BigInt.asUintN(64, BigInt(value));
    this.ensure(10);
    while (rest >= BigInt(128)) {
      this.buf[this.pos++] = Number(rest % BigInt(128)) | 0x80;
      rest /= BigInt(128);
    }
    this.buf[this.pos++] = Number(rest);
  }

  uint(field: number, value: number): void {
    if (value === 0) return;
    this.tag(field, VARINT);
    this.varint(value);
  }

  double(field: number, value: number): void {
    this.tag(field, I64);
    this.ensure(8);
    this.pos = this.buf.writeDoubleLE(value, this.pos);
  }

  fixed32(field: number, value: number): void {
    this.tag(field, I32);
    this.ensure(4);
    this.bufView().setUint32(this.pos, value, true);
    this.pos += 4;
  }

  /**
   * A time given in milliseconds since the epoch, as fixed64 nanoseconds (to the precision of a
   * double: a quarter of a microsecond today).
   */
  timeMs(field: number, ms: number): void {
    this.tag(field, I64);
    this.ensure(8);
    const nanos = Math.round(ms * 1e6);
    const high = Math.floor(nanos / TWO_32);
    const view = this.bufView();
    view.setUint32(this.pos, nanos - high * TWO_32, true);
    view.setUint32(this.pos + 4, high, true);
    this.pos += 8;
  }

  /** A time as fixed64 nanoseconds since the epoch. */
  time(field: number, time: HrTime): void {
    this.tag(field, I64);
    this.ensure(8);
    const nanos = BigInt(time[0]) * NANOS_PER_SECOND + BigInt(time[1]);
    this.pos = this.buf.writeBigUInt64LE(nanos, this.pos);
  }

  string(field: number, value: string): void {
    this.tag(field, LEN);
    const length = value.length;
    if (length < 128) {
      // Short ASCII, what spans mostly hold: one length byte and the characters themselves.
      this.ensure(1 + length);
      const buf = this.buf;
      let at = this.pos + 1;
      let i = 0;
      while (i < length) {
        const code = value.charCodeAt(i);
        if (code >= 0x80) break;
        buf[at++] = code;
        i += 1;
      }
      if (i === length) {
        buf[this.pos] = length;
        this.pos = at;
        return;
      }
    }
    const start = this.open();
    this.ensure(length * 3);
    this.pos += this.buf.write(value, this.pos, 'utf8');
    this.close(start);
  }

  /** Bytes given as hex digits (trace and span ids, which are valid hex by construction). */
  hex(field: number, hex: string): void {
    this.tag(field, LEN);
    const length = hex.length >>> 1;
    this.varint(length);
    this.ensure(length);
    const buf = this.buf;
    let at = this.pos;
    for (let i = 0; i < length * 2; i += 2) {
      buf[at++] =
        (HEX_DIGITS[hex.charCodeAt(i) & 0x7f] << 4) | HEX_DIGITS[hex.charCodeAt(i + 1) & 0x7f];
    }
    this.pos = at;
  }

  /** A bytes field holding `length` bytes of `source` from `at` (trace and span ids). */
  bytes(field: number, source: Uint8Array, at: number, length: number): void {
    const key = field * 8 + LEN;
    if (key < 128 && length < 128) {
      // Tag and length of one byte each, as every id's are: written here, not by tag and varint.
      this.ensure(2);
      this.buf[this.pos] = key;
      this.buf[this.pos + 1] = length;
      this.pos += 2;
    } else {
      this.tag(field, LEN);
      this.varint(length);
    }
    this.copy(source, at, length);
  }

  /**
   * Bytes already encoded, e.g. an embedded message or a cached attribute. A whole array is one
   * `set`, which V8 does natively without a new view: about twice as fast as the JS loop for the
   * 20 to 40 bytes of a cached attribute (`copy` takes the ids' short slices word by word instead,
   * without a view per slice).
   */
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Starts an embedded message of `field`; `close` with the returned mark writes its length. */
  begin(field: number): number {
    this.tag(field, LEN);
    return this.open();
  }

  close(mark: number): void {
    const length = this.pos - mark - 1;
    if (length < 128) {
      this.buf[mark] = length;
      return;
    }
    // One byte was kept for the length; move the body up to make room for the longer varint.
    const extra = varintSize(length) - 1;
    this.ensure(extra);
    this.buf.copyWithin(mark + 1 + extra, mark + 1, this.pos);
    const end = this.pos + extra;
    this.pos = mark;
    this.varint(length);
    this.pos = end;
  }

  /** `buf` as a DataView, made again only when the buffer changes (a new slab, growth). */
  private bufView(): DataView {
    if (this.viewed !== this.buf) {
      this.viewed = this.buf;
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
    }
    return this.view;
  }

  /** `length` bytes of `source` from `at`, appended. */
  private copy(source: Uint8Array, at: number, length: number): void {
    this.ensure(length);
    if ((length & 3) === 0 && length < SHORT_COPY) {
      // Ids (8 and 16 bytes): four bytes a step through DataViews, about four times faster
      // than a byte loop. Both views are made again only when the buffer or the source changes
      // (a new slab, a new id pool). Other lengths (no caller has them) take one native copy.
      const to = this.bufView();
      if (this.source !== source) {
        this.source = source;
        this.sourceView = new DataView(source.buffer, source.byteOffset, source.length);
      }
      const from = this.sourceView;
      for (let i = 0; i < length; i += 4) to.setUint32(this.pos + i, from.getUint32(at + i));
    } else {
      this.buf.set(source.subarray(at, at + length), this.pos);
    }
    this.pos += length;
  }

  private open(): number {
    this.ensure(1);
    return this.pos++;
  }

  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + bytes));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
}

/** AnyValue{1 string, 2 bool, 3 int, 4 double, 5 array}. */
function writeAnyValue(w: ProtoWriter, value: unknown): void {
  if (typeof value === 'string') w.string(1, value);
  else if (typeof value === 'boolean') {
    w.tag(2, VARINT);
    w.varint(value ? 1 : 0);
  } else if (typeof value === 'number') {
    if (Number.isSafeInteger(value)) w.int64(3, value);
    else w.double(4, value);
  } else if (Array.isArray(value)) {
    const array = w.begin(5);
    for (const item of value) {
      // ArrayValue{1 repeated AnyValue}: a null item is an empty AnyValue.
      const mark = w.begin(1);
      if (item !== null && item !== undefined) writeAnyValue(w, item);
      w.close(mark);
    }
    w.close(array);
  }
}

/** The encoded `key` field of a KeyValue, per attribute key; keys come from code, so few. */
const keyFields = new Map<string, Buffer>();
const KEY_CACHE_LIMIT = 1024;

function keyField(key: string): Buffer {
  let field = keyFields.get(key);
  if (field === undefined) {
    const w = new ProtoWriter(key.length * 3 + 8);
    w.string(1, key);
    field = Buffer.from(w.written);
    if (keyFields.size < KEY_CACHE_LIMIT) keyFields.set(key, field);
  }
  return field;
}

/** The encoded key field of an attribute that may be exported, or undefined for one that may not. */
type KeyFieldOf = (key: string) => Buffer | undefined;

/**
 * KeyValues of `attributes` that `keyFieldOf` lets through, as repeated `field`; returns how many
 * were left out.
 */
function writeAttributes(
  w: ProtoWriter,
  field: number,
  attributes: Attributes,
  keyFieldOf: KeyFieldOf,
): number {
  let removed = 0;
  for (const key in attributes) {
    const value = attributes[key];
    if (value === undefined) continue;
    const encodedKey = keyFieldOf(key);
    if (encodedKey === undefined) {
      removed += 1;
      continue;
    }
    writeKeyValue(w, field, encodedKey, value);
  }
  return removed;
}

/** One KeyValue{1 key, 2 value} as `field`, its key already encoded. */
function writeKeyValue(w: ProtoWriter, field: number, encodedKey: Buffer, value: unknown): void {
  const pair = w.begin(field);
  w.raw(encodedKey);
  const any = w.begin(2);
  writeAnyValue(w, value);
  w.close(any);
  w.close(pair);
}

/** Event{1 time fixed64, 2 name, 3 attributes, 4 dropped_attributes_count}. */
function writeEvent(w: ProtoWriter, event: TimedEvent, options: PrivacyOptions): void {
  const mark = w.begin(11);
  w.time(1, event.time);
  w.string(2, event.name);
  const removed = writeAttributes(w, 3, event.attributes ?? {}, (key) =>
    exportableEventAttribute(key, options) ? keyField(key) : undefined,
  );
  w.uint(4, (event.droppedAttributesCount ?? 0) + removed);
  w.close(mark);
}

/**
 * The body of one Span message (without its own tag and length), with only the attributes the
 * privacy filter lets through.
 */
export function writeSpan(
  w: ProtoWriter,
  span: ReadableSpan & Partial<LeanSpanFields>,
  options: PrivacyOptions,
  cache: AttributeCache,
): void {
  const context = span.spanContext();
  // A LeanSpan knows where its ids' bytes are; other spans' ids are read from their hex.
  if (span.traceIdBytes !== undefined) w.bytes(1, span.traceIdBytes, span.traceIdAt ?? 0, 16);
  else w.hex(1, context.traceId);
  if (span.spanIdBytes !== undefined) w.bytes(2, span.spanIdBytes, span.spanIdAt ?? 0, 8);
  else w.hex(2, context.spanId);
  const traceState = context.traceState?.serialize();
  if (traceState) w.string(3, traceState);
  const parent = span.parentSpanContext;
  // A local parent's id is copied as bytes, without reading its hex (made only when read).
  if (span.parentIdBytes !== undefined) w.bytes(4, span.parentIdBytes, span.parentIdAt ?? 0, 8);
  else if (parent?.spanId) w.hex(4, parent.spanId);
  w.string(5, span.name);
  // OTLP's SpanKind is the API's plus one: 0 means unspecified on the wire.
  w.uint(6, span.kind + 1);
  if (span.startEpochMs !== undefined && span.endEpochMs !== undefined) {
    w.timeMs(7, span.startEpochMs);
    w.timeMs(8, span.endEpochMs);
  } else {
    w.time(7, span.startTime);
    w.time(8, span.endTime);
  }
  const kind = span.kind;
  let removed = 0;
  if (span.template !== undefined) removed += cache.writeTemplate(w, span.template, kind);
  if (span.attributeKeys !== undefined && span.attributeValues !== undefined) {
    const { attributeKeys: keys, attributeValues: values } = span;
    for (let i = 0; i < keys.length; i++) {
      if (!cache.write(w, keys[i], kind, values[i])) removed += 1;
    }
  } else {
    removed = writeAttributes(w, 9, span.attributes, (key) => cache.fieldOf(key, kind));
  }
  w.uint(10, span.droppedAttributesCount + removed);
  for (const event of span.events) writeEvent(w, event, options);
  w.uint(12, span.droppedEventsCount);
  w.uint(14, span.droppedLinksCount + span.links.length);
  const { code, message } = span.status;
  if (code !== SpanStatusCode.UNSET || message) {
    const status = w.begin(15);
    if (message) w.string(2, message);
    w.uint(3, code);
    w.close(status);
  }
  let flags = (context.traceFlags & 0xff) | FLAGS_HAS_IS_REMOTE;
  if (parent?.isRemote === true) flags |= FLAGS_IS_REMOTE;
  w.fixed32(16, flags);
}

/**
 * What a LeanSpan offers beyond ReadableSpan: times as epoch milliseconds (no HrTime round
 * trip) and attributes as parallel arrays (no object to iterate).
 */
export interface LeanSpanFields {
  readonly startEpochMs: number;
  readonly endEpochMs: number;
  /** Start attributes shared with other spans, written before the span's own. */
  readonly template: AttributeTemplate | undefined;
  readonly attributeKeys: readonly string[];
  readonly attributeValues: readonly unknown[];
  /** Where the bytes of the span's ids are, when it knows (LeanSpan's getters of these names). */
  readonly spanIdBytes: Uint8Array | undefined;
  readonly spanIdAt: number;
  readonly traceIdBytes: Uint8Array | undefined;
  readonly traceIdAt: number;
  readonly parentIdBytes: Uint8Array | undefined;
  readonly parentIdAt: number;
}

/** The body of a Resource message with these attributes. */
export function encodeResource(attributes: Attributes): Buffer {
  const w = new ProtoWriter(256);
  writeAttributes(w, 1, attributes, keyField);
  return Buffer.from(w.written);
}

/** Values a key may have cached before its further values are encoded each time. */
const PAIR_VALUES_PER_KEY = 32;

/** What the encoder knows of one attribute key for one span kind. */
interface KeyEntry {
  /** The key's encoded field, or null when the privacy filter keeps the key in the process. */
  readonly field: Buffer | null;
  /** Whole KeyValue fields already written for this key, by value. */
  readonly values: Map<unknown, Buffer>;
}

/**
 * The privacy filter's verdict and encoded field per attribute key and span kind, and the
 * encoding of span attributes (`Span.attributes`, field 9) remembered per key and value. Most of
 * a gateway span's attributes repeat from request to request (method, scheme, port, route,
 * operation, status), so the encoder copies their whole KeyValue field instead of writing it
 * again; a key with many values (a request id) stops being cached once it has
 * PAIR_VALUES_PER_KEY of them. One map lookup finds a key's verdicts for every kind, and a
 * second its value.
 */
export class AttributeCache {
  private readonly byKey = new Map<string, Array<KeyEntry | undefined>>();

  constructor(private readonly options: PrivacyOptions) {}

  /** The encoded field of `key` on a span of `kind`, or undefined when it may not be exported. */
  fieldOf(key: string, kind: SpanKind): Buffer | undefined {
    return this.entryOf(key, kind).field ?? undefined;
  }

  /**
   * Writes a template's attributes, encoded once per encoder and span kind; returns how many
   * the privacy filter drops.
   */
  writeTemplate(w: ProtoWriter, template: AttributeTemplate, kind: SpanKind): number {
    const known = template.encoded;
    if (known !== undefined && known.owner === this && known.kind === kind) {
      w.raw(known.bytes);
      return known.removed;
    }
    const start = w.pos;
    let removed = 0;
    for (let i = 0; i < template.keys.length; i++) {
      if (!this.write(w, template.keys[i], kind, template.values[i])) removed += 1;
    }
    const bytes = Buffer.from(w.buf.subarray(start, w.pos));
    template.encoded = { owner: this, kind, bytes, removed };
    return removed;
  }

  /** Writes one span attribute, or returns false when the privacy filter drops it. */
  write(w: ProtoWriter, key: string, kind: SpanKind, value: unknown): boolean {
    const { field, values } = this.entryOf(key, kind);
    if (field === null) return false;
    const cacheable = typeof value === 'string' ? value.length <= 64 : typeof value !== 'object';
    const pair = cacheable ? values.get(value) : undefined;
    if (pair !== undefined) {
      w.raw(pair);
      return true;
    }
    const start = w.pos;
    writeKeyValue(w, 9, field, value);
    if (cacheable && values.size < PAIR_VALUES_PER_KEY) {
      values.set(value, Buffer.from(w.buf.subarray(start, w.pos)));
    }
    return true;
  }

  private entryOf(key: string, kind: SpanKind): KeyEntry {
    let kinds = this.byKey.get(key);
    if (kinds === undefined) {
      kinds = [];
      // Keys come from code, so few; past the limit they are looked at anew each time.
      if (this.byKey.size < KEY_CACHE_LIMIT) this.byKey.set(key, kinds);
    }
    let entry = kinds[kind];
    if (entry === undefined) {
      entry = {
        field: exportableAttribute(key, kind, this.options) ? keyField(key) : null,
        values: new Map(),
      };
      kinds[kind] = entry;
    }
    return entry;
  }
}

/** One span, encoded and filtered, as the export queue holds it. */
export interface EncodedSpan {
  /** The tracer that made it: spans are grouped by scope on the wire. */
  readonly scope: InstrumentationScope;
  /** The body of its Span message. */
  readonly bytes: Buffer;
  /** Its line for the console fallback, when that is configured. */
  readonly line?: string;
}

/** How much memory encoded spans are cut from, at a time. */
const SLAB_BYTES = 64 * 1024;
/** A span starts in a new slab when less than this is left of the current one. */
const SLAB_HEADROOM = 4 * 1024;

/** Encodes finished spans straight into small slices of shared slabs. */
export class SpanEncoder {
  private readonly slab = new ProtoWriter(SLAB_BYTES);
  private readonly attributes: AttributeCache;

  constructor(
    private readonly options: PrivacyOptions,
    private readonly describe?: (span: ReadableSpan) => string,
  ) {
    this.attributes = new AttributeCache(options);
  }

  encode(span: ReadableSpan): EncodedSpan {
    const w = this.slab;
    // Spans already encoded keep their views of the old slab; a span larger than the headroom
    // grows the current one (rare: a span is a few hundred bytes).
    if (w.buf.length - w.pos < SLAB_HEADROOM) w.renew(SLAB_BYTES);
    const start = w.pos;
    writeSpan(w, span, this.options, this.attributes);
    const bytes = w.buf.subarray(start, w.pos);
    const scope = span.instrumentationScope;
    // Two literals rather than a spread of an optional part: a spread copies through a generic
    // path on every span.
    return this.describe === undefined
      ? { scope, bytes }
      : { scope, bytes, line: this.describe(span) };
  }
}

/** A length-delimited field's total size: tag, length and body. */
function fieldSize(bodyLength: number): number {
  return 1 + varintSize(bodyLength) + bodyLength;
}

/** The body of an InstrumentationScope{1 name, 2 version}. */
function encodeScope(scope: InstrumentationScope): Buffer {
  const w = new ProtoWriter(64);
  w.string(1, scope.name);
  if (scope.version) w.string(2, scope.version);
  return Buffer.from(w.written);
}

/** The spans of one instrumentation scope in an export. */
interface ScopeGroup {
  readonly scope: InstrumentationScope;
  readonly spans: Buffer[];
}

/** The group of `scope` (the same object, or an equal name, version and schema URL), or a new one. */
function groupOf(groups: ScopeGroup[], scope: InstrumentationScope): ScopeGroup {
  for (const group of groups) {
    const other = group.scope;
    if (
      other === scope ||
      (other.name === scope.name &&
        (other.version ?? '') === (scope.version ?? '') &&
        (other.schemaUrl ?? '') === (scope.schemaUrl ?? ''))
    ) {
      return group;
    }
  }
  const group = { scope, spans: [] };
  groups.push(group);
  return group;
}

/**
 * An ExportTraceServiceRequest carrying `spans` under one resource, grouped by instrumentation
 * scope in order of first appearance.
 */
export function encodeExportRequest(resource: Buffer, spans: readonly EncodedSpan[]): Buffer {
  const groups: ScopeGroup[] = [];
  let last: ScopeGroup | undefined;
  for (const span of spans) {
    // Spans of one tracer share its scope object, and a batch holds a handful of scopes: a
    // comparison finds the group, where a key string per span cost a hash and a map lookup.
    if (last === undefined || last.scope !== span.scope) last = groupOf(groups, span.scope);
    last.spans.push(span.bytes);
  }
  // Sizes first, so every length is known before it is written.
  const scopes = groups.map((group) => {
    const scope = encodeScope(group.scope);
    let size = fieldSize(scope.length);
    for (const bytes of group.spans) size += fieldSize(bytes.length);
    if (group.scope.schemaUrl) size += fieldSize(Buffer.byteLength(group.scope.schemaUrl));
    return { ...group, scopeBytes: scope, size };
  });
  let resourceSpansSize = fieldSize(resource.length);
  for (const scope of scopes) resourceSpansSize += fieldSize(scope.size);

  const w = new ProtoWriter(fieldSize(resourceSpansSize));
  // ExportTraceServiceRequest{1 ResourceSpans{1 Resource, 2 ScopeSpans{1 scope, 2 spans, 3 url}}}
  w.tag(1, LEN);
  w.varint(resourceSpansSize);
  w.tag(1, LEN);
  w.varint(resource.length);
  w.raw(resource);
  for (const scope of scopes) {
    w.tag(2, LEN);
    w.varint(scope.size);
    w.tag(1, LEN);
    w.varint(scope.scopeBytes.length);
    w.raw(scope.scopeBytes);
    for (const bytes of scope.spans) {
      w.tag(2, LEN);
      w.varint(bytes.length);
      w.raw(bytes);
    }
    if (scope.scope.schemaUrl) w.string(3, scope.scope.schemaUrl);
  }
  return w.written;
}

/** The body an exporter sends: the request for `spans`, gzipped when asked. */
export function exportBody(
  resource: Buffer,
  spans: readonly EncodedSpan[],
  compression: 'gzip' | 'none',
): Buffer {
  const request = encodeExportRequest(resource, spans);
  return compression === 'gzip' ? gzipSync(request) : request;
}
