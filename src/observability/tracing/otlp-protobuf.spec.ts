import {
  type Attributes,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
} from '@opentelemetry/api';
import { type InstrumentationScope, TraceState } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SamplingDecision,
  SimpleSpanProcessor,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import {
  decodeExportTraceRequest,
  OtlpSpanKind,
  OtlpStatusCode,
  type ReceivedSpan,
} from '../../../test/helpers/otlp-receiver';
import { templated } from './attribute-template';
import { LeanTracerProvider } from './lean-tracer';
import {
  type EncodedSpan,
  encodeExportRequest,
  encodeResource,
  ProtoWriter,
  SpanEncoder,
} from './otlp-protobuf';
import { type PrivacyOptions, privateCopy } from './span-privacy';

// --- An independent reader of raw protobuf fields, for what the span decoder does not expose --

/** A varint at `pos`, as an unsigned 64-bit bigint, and where the next field starts. */
function readVarint(buf: Buffer, pos: number): { value: bigint; next: number } {
  let value = 0n;
  for (let i = 0; i < 10; i++) {
    const byte = buf[pos + i];
    if (byte === undefined) throw new Error(`varint runs past the end at byte ${pos + i}`);
    value |= BigInt(byte & 0x7f) << BigInt(7 * i);
    if ((byte & 0x80) === 0) return { value, next: pos + i + 1 };
  }
  throw new Error('varint longer than 10 bytes');
}

interface RawField {
  field: number;
  wireType: number;
  /** The varint or fixed value, or the body of a length-delimited field. */
  value: bigint | Buffer;
}

/** The top-level fields of one message, in wire order. */
function rawFields(buf: Buffer): RawField[] {
  const fields: RawField[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const key = readVarint(buf, pos);
    const field = Number(key.value >> 3n);
    const wireType = Number(key.value & 7n);
    pos = key.next;
    if (wireType === 0) {
      const v = readVarint(buf, pos);
      fields.push({ field, wireType, value: v.value });
      pos = v.next;
    } else if (wireType === 1) {
      fields.push({ field, wireType, value: buf.readBigUInt64LE(pos) });
      pos += 8;
    } else if (wireType === 5) {
      fields.push({ field, wireType, value: BigInt(buf.readUInt32LE(pos)) });
      pos += 4;
    } else if (wireType === 2) {
      const length = readVarint(buf, pos);
      const end = length.next + Number(length.value);
      if (end > buf.length) throw new Error(`field ${field} overruns the message`);
      fields.push({ field, wireType, value: buf.subarray(length.next, end) });
      pos = end;
    } else {
      throw new Error(`unexpected wire type ${wireType}`);
    }
  }
  return fields;
}

/** The only field numbered `field` of a message. */
function only(buf: Buffer, field: number): Buffer {
  const matches = rawFields(buf).filter((candidate) => candidate.field === field);
  if (matches.length !== 1) throw new Error(`${matches.length} fields ${field}, not one`);
  return matches[0].value as Buffer;
}

/** The body of the one Span of a one-span ExportTraceServiceRequest. */
function officialSpanBody(request: Buffer): Buffer {
  return only(only(only(request, 1), 2), 2);
}

/** Which AnyValue field (1 string, 3 int, 4 double, ...) each attribute of a Span body uses. */
function anyValueFields(spanBody: Buffer): number[] {
  return rawFields(spanBody)
    .filter((field) => field.field === 9)
    .map((pair) => rawFields(only(pair.value as Buffer, 2))[0].field);
}

/** The bytes a ProtoWriter holds, copied out. */
function written(write: (w: ProtoWriter) => void, initialSize?: number): Buffer {
  const w = new ProtoWriter(initialSize);
  write(w);
  return Buffer.from(w.written);
}

// --- Spans from the real SDK ------------------------------------------------------------------

const OPTIONS: PrivacyOptions = { recordObjectKeys: true };
const SERVICE = { 'service.name': 'otlp-protobuf-spec', 'service.instance.id': 'gateway-7' };
const SCHEMA_URL = 'https://opentelemetry.io/schemas/1.27.0';
const REMOTE_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const REMOTE_SPAN_ID = '00f067aa0ba902b7';
const REMOTE_TRACE_STATE = 'mizuchi=t61rcWkgMzE,congo=ucfJifl5GOE';
const LONG_TEXT = 'Grüße aus Köln — 日本語のテキスト — '.repeat(12);

/** Attributes of every type the SDK accepts, with keys the privacy filter keeps. */
const KEPT_ATTRIBUTES: Attributes = {
  'http.request.method': 'PUT',
  'http.response.status_code': 201,
  'mizuchi.route': 'uploads',
  'mizuchi.text.non_ascii': 'ünïcödé ✓ 🎉',
  'mizuchi.text.long': LONG_TEXT,
  'mizuchi.text.empty': '',
  'mizuchi.zero_copy': true,
  'mizuchi.retried': false,
  'mizuchi.int.zero': 0,
  'mizuchi.int.negative': -42,
  'mizuchi.int.min_safe': Number.MIN_SAFE_INTEGER,
  'mizuchi.int.max_safe': Number.MAX_SAFE_INTEGER,
  'mizuchi.int.big': 2 ** 40 + 7,
  'mizuchi.double': 0.25,
  'mizuchi.double.negative': -1234.5678,
  'mizuchi.double.tiny': 5e-324,
  'mizuchi.double.nan': NaN,
  'mizuchi.double.infinity': Infinity,
  'mizuchi.double.negative_infinity': -Infinity,
  'mizuchi.strings': ['raw', 'thumbs', 'ünï'],
  'mizuchi.ints': [1, -2, 0, 300],
  'mizuchi.doubles': [0.5, -1.5],
  'mizuchi.booleans': [true, false, true],
  'mizuchi.with_nulls': ['a', null, 'c'],
  'mizuchi.numbers_with_nulls': [null, 7, null],
  'mizuchi.empty_array': [],
  'mizuchi.object.key': 'photos/2024/ü.jpg',
};

interface Recorded {
  spans: ReadableSpan[];
  resource: Attributes;
}

/**
 * Spans of every shape the gateway makes, from three tracers (scopes) whose spans interleave,
 * one of them with a schema URL; finished by the real SDK.
 */
function recordSdkSpans(): Recorded {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(SERVICE),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const gateway = provider.getTracer('mizuchi-uploadr', '0.1.0');
  const sdk = provider.getTracer('@aws-sdk/client-s3', '3.1169.0', { schemaUrl: SCHEMA_URL });
  const bare = provider.getTracer('no-version');

  const server = gateway.startSpan('PUT /uploads/{key}', {
    kind: SpanKind.SERVER,
    startTime: [1_700_000_000, 123_456_789],
    attributes: {
      ...KEPT_ATTRIBUTES,
      'server.port': 8080,
      // dropped by the privacy filter
      'url.full': 'http://gw/uploads/secret?X-Amz-Signature=abc',
      'client.address': '203.0.113.9',
      'server.address': 'gw.internal',
      'user_agent.original': 'curl/8',
    },
  });
  server.addEvent(
    'mizuchi.checkpoint',
    { 'mizuchi.bytes': 1024, 'mizuchi.object.key': 'k', 'http.url': 'http://x/?sig=1' },
    [1_700_000_000, 223_456_789],
  );
  server.addEvent('bare event', undefined, [1_700_000_000, 323_000_000]);
  server.recordException(
    Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
    [1_700_000_000, 423_000_000],
  );
  const serverContext = trace.setSpan(ROOT_CONTEXT, server);

  const client = sdk.startSpan(
    'S3.PutObject',
    {
      kind: SpanKind.CLIENT,
      startTime: [1_700_000_000, 500_000_000],
      attributes: {
        'server.address': 'ceph.internal',
        'server.port': 7480,
        'net.host.port': 5555,
        'rpc.service': 'S3',
        'mizuchi.attempt': 2,
      },
      links: [
        { context: { traceId: REMOTE_TRACE_ID, spanId: REMOTE_SPAN_ID, traceFlags: 1 } },
        {
          context: { traceId: REMOTE_TRACE_ID, spanId: 'a0b1c2d3e4f5a6b7', traceFlags: 0 },
          attributes: { 'mizuchi.reason': 'retry' },
        },
      ],
    },
    serverContext,
  );
  client.addLink({ context: server.spanContext() });
  client.addEvent('retry', { 'mizuchi.attempt': 2, 'error.type': 'SlowDown' }, new Date(1.7e12));
  client.setStatus({ code: SpanStatusCode.ERROR, message: 'SlowDown: reduce your request rate' });
  client.end([1_700_000_001, 0]);

  const internal = bare.startSpan('upload.put_object', {
    startTime: [1_700_000_000, 600_000_000],
    attributes: { 'mizuchi.parts': [1, 2, 3], 'http.method': 'PUT', secret: 'x' },
  });
  internal.setStatus({ code: SpanStatusCode.OK });
  internal.end([1_700_000_000, 999_999_999]);

  const gatewaySecond = gateway.startSpan(
    'authz.check',
    { kind: SpanKind.INTERNAL, startTime: [1_700_000_000, 700_000_000] },
    serverContext,
  );
  gatewaySecond.setStatus({ code: SpanStatusCode.ERROR });
  gatewaySecond.end([1_700_000_000, 800_000_000]);

  const remoteParent = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: REMOTE_TRACE_ID,
    spanId: REMOTE_SPAN_ID,
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
    traceState: new TraceState(REMOTE_TRACE_STATE),
  });
  const continued = gateway.startSpan(
    'POST /uploads/{key}',
    { kind: SpanKind.SERVER, startTime: [1_700_000_003, 0] },
    remoteParent,
  );
  continued.setAttribute('mizuchi.route', 'uploads');
  continued.end([1_700_000_003, 5]);

  const producer = sdk.startSpan('queue.publish', {
    kind: SpanKind.PRODUCER,
    startTime: [1_700_000_004, 0],
    attributes: { 'server.address': 'mq', 'mizuchi.queue': 'events' },
  });
  producer.end([1_700_000_004, 1]);

  server.setStatus({ code: SpanStatusCode.ERROR, message: 'backend failed: ünïcödé' });
  server.end([1_700_000_002, 42]);

  const spans = memory.getFinishedSpans().slice();
  return { spans, resource: spans[0].resource.attributes };
}

/** Our encoding: each span encoded as it ends, then the request. */
function ours(spans: ReadableSpan[], resource: Attributes, options = OPTIONS): Buffer {
  const encoder = new SpanEncoder(options);
  return Buffer.from(
    encodeExportRequest(
      encodeResource(resource),
      spans.map((span) => encoder.encode(span)),
    ),
  );
}

/** The official encoding of the same spans, after the same privacy filter. */
function official(spans: ReadableSpan[], options = OPTIONS): Buffer {
  const bytes = ProtobufTraceSerializer.serializeRequest(
    spans.map((span) => privateCopy(span, options)),
  );
  if (bytes === undefined) throw new Error('the official serializer returned nothing');
  return Buffer.from(bytes);
}

function named(spans: ReceivedSpan[], name: string): ReceivedSpan {
  const span = spans.find((candidate) => candidate.name === name);
  if (span === undefined) throw new Error(`no span named ${name}`);
  return span;
}

/** Finished SDK spans of one scope with the given names. */
function sdkSpans(...names: string[]): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  const tracer = provider.getTracer('otlp-protobuf-spec', '1.0.0');
  for (const name of names) {
    tracer.startSpan(name, { kind: SpanKind.SERVER, attributes: { 'mizuchi.route': name } }).end();
  }
  return memory.getFinishedSpans().slice();
}

/** A lean tracer provider, sampling everything, that keeps the spans it ends. */
function leanProvider(): { provider: LeanTracerProvider; ended: ReadableSpan[] } {
  const ended: ReadableSpan[] = [];
  const provider = new LeanTracerProvider({
    resource: resourceFromAttributes(SERVICE),
    sampler: new AlwaysOnSampler(),
    processor: {
      onEnd: (span) => ended.push(span),
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    },
  });
  return { provider, ended };
}

function requestOf(spans: EncodedSpan[], resource: Attributes = SERVICE): ReceivedSpan[] {
  return decodeExportTraceRequest(
    Buffer.from(encodeExportRequest(encodeResource(resource), spans)),
  );
}

describe('the encoding of finished spans, against the official OTLP encoder', () => {
  let recorded: Recorded;

  beforeAll(() => {
    recorded = recordSdkSpans();
  });

  it('records the spans this suite compares', () => {
    expect(recorded.spans.map((span) => span.name)).toEqual([
      'S3.PutObject',
      'upload.put_object',
      'authz.check',
      'POST /uploads/{key}',
      'queue.publish',
      'PUT /uploads/{key}',
    ]);
  });

  it('decodes to exactly what the official encoder writes for the privacy-filtered copies', () => {
    const mine = decodeExportTraceRequest(ours(recorded.spans, recorded.resource));
    const theirs = decodeExportTraceRequest(official(recorded.spans));

    expect(mine).toHaveLength(recorded.spans.length);
    expect(mine).toEqual(theirs);
  });

  it('matches the official encoder span by span apart from the resource', () => {
    const mine = decodeExportTraceRequest(ours(recorded.spans, { only: 'this' }));
    const theirs = decodeExportTraceRequest(official(recorded.spans));
    const withoutResource = ({ resource: _resource, ...span }: ReceivedSpan) => span;

    expect(mine.map(withoutResource)).toEqual(theirs.map(withoutResource));
    expect(mine.every((span) => span.resource.only === 'this')).toBe(true);
    expect(mine[0].resource).toEqual({ only: 'this' });
  });

  it('also matches when object keys may not be recorded', () => {
    const options = { recordObjectKeys: false };
    const mine = decodeExportTraceRequest(ours(recorded.spans, recorded.resource, options));
    const theirs = decodeExportTraceRequest(official(recorded.spans, options));

    expect(mine).toEqual(theirs);
    const server = named(mine, 'PUT /uploads/{key}');
    expect(server.attributes).not.toHaveProperty(['mizuchi.object.key']);
    expect(server.events[0].attributes).not.toHaveProperty(['mizuchi.object.key']);
  });

  it('groups the spans by scope in order of first appearance, with version and schema URL', () => {
    const mine = decodeExportTraceRequest(ours(recorded.spans, recorded.resource));

    expect(
      mine.map((span) => [span.scope, span.scopeVersion, span.scopeSchemaUrl, span.name]),
    ).toEqual([
      ['@aws-sdk/client-s3', '3.1169.0', SCHEMA_URL, 'S3.PutObject'],
      ['@aws-sdk/client-s3', '3.1169.0', SCHEMA_URL, 'queue.publish'],
      ['no-version', '', '', 'upload.put_object'],
      ['mizuchi-uploadr', '0.1.0', '', 'authz.check'],
      ['mizuchi-uploadr', '0.1.0', '', 'POST /uploads/{key}'],
      ['mizuchi-uploadr', '0.1.0', '', 'PUT /uploads/{key}'],
    ]);
  });

  it('carries every attribute type the filter keeps, value for value', () => {
    const server = named(
      decodeExportTraceRequest(ours(recorded.spans, recorded.resource)),
      'PUT /uploads/{key}',
    );

    expect(server.attributes).toEqual({ ...KEPT_ATTRIBUTES, 'server.port': 8080 });
    expect(Buffer.byteLength(server.attributes['mizuchi.text.long'] as string)).toBeGreaterThan(
      200,
    );
    expect(server.attributes['mizuchi.double.nan']).toBeNaN();
  });

  it('leaves out what the privacy filter drops and counts it as dropped', () => {
    const spans = decodeExportTraceRequest(ours(recorded.spans, recorded.resource));
    const server = named(spans, 'PUT /uploads/{key}');
    const client = named(spans, 'S3.PutObject');
    const internal = named(spans, 'upload.put_object');
    const producer = named(spans, 'queue.publish');

    for (const key of ['url.full', 'client.address', 'server.address', 'user_agent.original']) {
      expect(server.attributes).not.toHaveProperty([key]);
    }
    expect(server.droppedAttributesCount).toBe(4);
    // a client span keeps its peer, not its own host port or other RPC details
    expect(client.attributes).toEqual({
      'server.address': 'ceph.internal',
      'server.port': 7480,
      'mizuchi.attempt': 2,
    });
    expect(client.droppedAttributesCount).toBe(2);
    expect(internal.attributes).toEqual({ 'mizuchi.parts': [1, 2, 3], 'http.method': 'PUT' });
    expect(internal.droppedAttributesCount).toBe(1);
    expect(producer.attributes).toEqual({ 'mizuchi.queue': 'events' });
    expect(producer.droppedAttributesCount).toBe(1);
  });

  it('filters event attributes and counts the dropped ones per event', () => {
    const spans = decodeExportTraceRequest(ours(recorded.spans, recorded.resource));
    const server = named(spans, 'PUT /uploads/{key}');
    const stack = (recorded.spans.find((span) => span.name === 'PUT /uploads/{key}')!.events[2]
      .attributes ?? {})['exception.stacktrace'];

    expect(server.events).toEqual([
      {
        name: 'mizuchi.checkpoint',
        timeUnixNano: 1_700_000_000_223_456_789n,
        attributes: { 'mizuchi.bytes': 1024, 'mizuchi.object.key': 'k' },
        droppedAttributesCount: 1,
      },
      {
        name: 'bare event',
        timeUnixNano: 1_700_000_000_323_000_000n,
        attributes: {},
        droppedAttributesCount: 0,
      },
      {
        name: 'exception',
        timeUnixNano: 1_700_000_000_423_000_000n,
        attributes: {
          'exception.type': 'ECONNRESET',
          'exception.message': 'socket hang up',
          'exception.stacktrace': stack,
        },
        droppedAttributesCount: 0,
      },
    ]);
    expect(typeof stack).toBe('string');
    expect(named(spans, 'S3.PutObject').events).toEqual([
      {
        name: 'retry',
        timeUnixNano: 1_700_000_000_000_000_000n,
        attributes: { 'mizuchi.attempt': 2 },
        droppedAttributesCount: 1,
      },
    ]);
  });

  it('writes ids, parent, kind, times, status and flags as the SDK span has them', () => {
    const spans = decodeExportTraceRequest(ours(recorded.spans, recorded.resource));
    const sdkServer = recorded.spans.find((span) => span.name === 'PUT /uploads/{key}')!;
    const server = named(spans, 'PUT /uploads/{key}');
    const client = named(spans, 'S3.PutObject');

    expect(server).toMatchObject({
      traceId: sdkServer.spanContext().traceId,
      spanId: sdkServer.spanContext().spanId,
      parentSpanId: '',
      traceState: '',
      kind: OtlpSpanKind.SERVER,
      startTimeUnixNano: 1_700_000_000_123_456_789n,
      endTimeUnixNano: 1_700_000_002_000_000_042n,
      status: { code: OtlpStatusCode.ERROR, message: 'backend failed: ünïcödé' },
      droppedEventsCount: 0,
      flags: 0x101,
    });
    expect(client).toMatchObject({
      traceId: server.traceId,
      parentSpanId: server.spanId,
      kind: OtlpSpanKind.CLIENT,
      status: { code: OtlpStatusCode.ERROR, message: 'SlowDown: reduce your request rate' },
    });
    expect(named(spans, 'upload.put_object')).toMatchObject({
      kind: OtlpSpanKind.INTERNAL,
      status: { code: OtlpStatusCode.OK, message: '' },
    });
    expect(named(spans, 'authz.check').status).toEqual({
      code: OtlpStatusCode.ERROR,
      message: '',
    });
    expect(named(spans, 'queue.publish')).toMatchObject({
      kind: OtlpSpanKind.PRODUCER,
      status: { code: OtlpStatusCode.UNSET, message: '' },
    });
  });

  it('continues a remote parent with its trace state and marks the parent remote in the flags', () => {
    const continued = named(
      decodeExportTraceRequest(ours(recorded.spans, recorded.resource)),
      'POST /uploads/{key}',
    );

    expect(continued).toMatchObject({
      traceId: REMOTE_TRACE_ID,
      parentSpanId: REMOTE_SPAN_ID,
      traceState: REMOTE_TRACE_STATE,
      // sampled | parent remoteness known | parent is remote
      flags: 0x301,
    });
  });

  it('never exports links: they are counted as dropped and no link field is written', () => {
    const encoder = new SpanEncoder(OPTIONS);
    const sdkClient = recorded.spans.find((span) => span.name === 'S3.PutObject')!;
    expect(sdkClient.links).toHaveLength(3);

    const encoded = encoder.encode(sdkClient);
    const [client] = requestOf([encoded]);

    expect(client.droppedLinksCount).toBe(3);
    expect(rawFields(encoded.bytes).map((field) => field.field)).not.toContain(13);
    // the official encoder of the unfiltered span does write them, so they were there to drop
    const unfiltered = ProtobufTraceSerializer.serializeRequest([sdkClient])!;
    expect(Buffer.from(unfiltered).includes(Buffer.from('a0b1c2d3e4f5a6b7', 'hex'))).toBe(true);
    expect(encoded.bytes.includes(Buffer.from('a0b1c2d3e4f5a6b7', 'hex'))).toBe(false);
  });

  it('adds the SDK limits’ own drop counts to those of the filter', () => {
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(memory)],
      spanLimits: {
        attributeCountLimit: 3,
        eventCountLimit: 2,
        linkCountLimit: 1,
        attributePerEventCountLimit: 1,
      },
    });
    const span = provider.getTracer('limits').startSpan('limited', {
      kind: SpanKind.SERVER,
      attributes: { 'mizuchi.a': 1, 'client.address': '198.51.100.1', 'mizuchi.b': 2 },
      links: [
        { context: { traceId: REMOTE_TRACE_ID, spanId: REMOTE_SPAN_ID, traceFlags: 1 } },
        { context: { traceId: REMOTE_TRACE_ID, spanId: 'a0b1c2d3e4f5a6b7', traceFlags: 1 } },
      ],
    });
    span.setAttribute('mizuchi.c', 3);
    span.setAttribute('mizuchi.d', 4);
    for (let i = 0; i < 5; i++) {
      span.addEvent(`e${i}`, { 'mizuchi.i': i, 'mizuchi.over_limit': 1, 'error.type': 'x' });
    }
    span.end();
    const spans = memory.getFinishedSpans().slice();
    expect(spans[0].droppedAttributesCount).toBe(2);

    const [mine] = decodeExportTraceRequest(ours(spans, spans[0].resource.attributes));

    expect(mine).toEqual(decodeExportTraceRequest(official(spans))[0]);
    expect(mine.attributes).toEqual({ 'mizuchi.a': 1, 'mizuchi.b': 2 });
    expect(mine.droppedAttributesCount).toBe(3);
    expect(mine.events.map((event) => event.name)).toEqual(['e3', 'e4']);
    // the SDK kept one attribute per event and counted two as dropped
    expect(mine.events.map((event) => [event.attributes, event.droppedAttributesCount])).toEqual([
      [{ 'mizuchi.i': 3 }, 2],
      [{ 'mizuchi.i': 4 }, 2],
    ]);
    expect(mine.droppedEventsCount).toBe(3);
    expect(mine.droppedLinksCount).toBe(2);
  });

  it('writes the low trace flags of a recorded but unsampled span as 0', () => {
    const ended: ReadableSpan[] = [];
    const keep: SpanProcessor = {
      onStart: () => undefined,
      onEnd: (span) => ended.push(span),
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    };
    const provider = new BasicTracerProvider({
      sampler: {
        shouldSample: () => ({ decision: SamplingDecision.RECORD }),
        toString: () => 'RecordOnly',
      },
      spanProcessors: [keep],
    });
    provider.getTracer('unsampled').startSpan('recorded only').end();

    const [mine] = decodeExportTraceRequest(ours(ended, ended[0].resource.attributes));

    expect(mine).toEqual(decodeExportTraceRequest(official(ended))[0]);
    expect(mine.flags).toBe(0x100);
  });

  it('writes integers as int_value and other numbers as double_value, as the official one', () => {
    const values = [0, 7, -42, Number.MIN_SAFE_INTEGER, 0.5, -1.25, NaN, Infinity];
    const span = Object.create(sdkSpans('numbers')[0], {
      attributes: { value: Object.fromEntries(values.map((v, i) => [`mizuchi.n${i}`, v])) },
    }) as ReadableSpan;

    const mine = anyValueFields(new SpanEncoder(OPTIONS).encode(span).bytes);

    expect(mine).toEqual([3, 3, 3, 3, 4, 4, 4, 4]);
    expect(mine).toEqual(anyValueFields(officialSpanBody(official([span]))));
  });

  it('writes an integer beyond 2^53 as a double of the same value', () => {
    // Our int64 writer takes safe integers only; the official one writes these as int_value.
    const span = Object.create(sdkSpans('huge')[0], {
      attributes: { value: { 'mizuchi.bytes': 2 ** 60, 'mizuchi.neg': -(2 ** 60) } },
    }) as ReadableSpan;

    const [decoded] = requestOf([new SpanEncoder(OPTIONS).encode(span)]);

    expect(decoded.attributes).toEqual({ 'mizuchi.bytes': 2 ** 60, 'mizuchi.neg': -(2 ** 60) });
  });
});

describe('ProtoWriter', () => {
  it.each([
    [0, [0x00]],
    [1, [0x01]],
    [127, [0x7f]],
    [128, [0x80, 0x01]],
    [300, [0xac, 0x02]],
    [16383, [0xff, 0x7f]],
    [16384, [0x80, 0x80, 0x01]],
    [2 ** 21 - 1, [0xff, 0xff, 0x7f]],
    [2 ** 21, [0x80, 0x80, 0x80, 0x01]],
    [2 ** 32 - 1, [0xff, 0xff, 0xff, 0xff, 0x0f]],
    [2 ** 32, [0x80, 0x80, 0x80, 0x80, 0x10]],
    [2 ** 53 - 1, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]],
  ])('writes the varint %d as its %j bytes', (value, bytes) => {
    const out = written((w) => w.varint(value));

    expect([...out]).toEqual(bytes);
    expect(readVarint(out, 0)).toEqual({ value: BigInt(value), next: bytes.length });
  });

  it('copies bytes fields of every length from any offset, across new buffers and sources', () => {
    // Two sources at odd offsets inside larger buffers, as pooled Buffers and id pools are.
    const backing = [Buffer.alloc(300), Buffer.alloc(300)];
    backing.forEach((buffer, n) => buffer.forEach((_, i) => (buffer[i] = (i * 31 + n * 7) & 0xff)));
    const sources = backing.map((buffer) => buffer.subarray(3, 297));
    const lengths = [4, 8, 16, 12, 5, 1, 63, 64, 100, 8, 16];
    const expected: number[] = [];

    const w = new ProtoWriter(1);
    w.uint(1, 1); // an odd position to start from
    expected.push(0x08, 0x01);
    lengths.forEach((length, i) => {
      const source = sources[i % 2];
      const at = (i * 13) % 150;
      w.bytes(2, source, at, length);
      expected.push(0x12, length, ...source.subarray(at, at + length));
    });
    const beforeRenew = Buffer.from(w.written);
    w.renew(5); // a fresh buffer: the copy must not write through a view of the old one
    w.bytes(3, sources[0], 7, 16);

    expect([...beforeRenew]).toEqual(expected);
    expect([...w.written]).toEqual([0x1a, 16, ...sources[0].subarray(7, 23)]);
  });

  it('writes a bytes field whose tag or length takes two bytes', () => {
    const source = Buffer.alloc(200, 0xab);

    expect([...written((w) => w.bytes(16, source, 0, 4))]).toEqual([
      0x82,
      0x01,
      4,
      ...source.subarray(0, 4),
    ]);
    expect([...written((w) => w.bytes(2, source, 0, 200))]).toEqual([0x12, 0xc8, 0x01, ...source]);
  });

  it('writes a tag as field number and wire type in one varint', () => {
    expect([...written((w) => w.tag(1, 2))]).toEqual([0x0a]);
    expect([...written((w) => w.tag(16, 5))]).toEqual([0x85, 0x01]);
    expect([...written((w) => w.tag(15, 2))]).toEqual([0x7a]);
    // A one-byte tag at the very end of the buffer grows it, as any other write does.
    expect([...written((w) => [1, 2, 3].forEach((field) => w.tag(field, 2)), 1)]).toEqual([
      0x0a, 0x12, 0x1a,
    ]);
  });

  it.each([127, 128, 16383, 16384, 2_100_000])(
    'closes an embedded message of %d bytes with its length in front and the body intact',
    (size) => {
      const body = Buffer.alloc(size);
      for (let i = 0; i < size; i++) body[i] = (i * 7 + 3) % 251;

      const out = written((w) => {
        w.uint(1, 5);
        const mark = w.begin(2);
        w.raw(body);
        w.close(mark);
        w.uint(3, 9);
      }, 16);

      const fields = rawFields(out);
      expect(fields.map((field) => field.field)).toEqual([1, 2, 3]);
      expect(fields[0].value).toBe(5n);
      expect((fields[1].value as Buffer).equals(body)).toBe(true);
      expect(fields[2].value).toBe(9n);
      const lengthBytes = out.length - size - 2 - 2 - 1;
      expect(lengthBytes).toBe(size < 128 ? 1 : size < 16384 ? 2 : size < 2 ** 21 ? 3 : 4);
    },
  );

  it('moves nested bodies when inner and outer lengths both grow', () => {
    const body = Buffer.alloc(20_000, 0xab);

    const out = written((w) => {
      const outer = w.begin(1);
      w.uint(1, 1);
      const inner = w.begin(2);
      w.raw(body);
      w.close(inner);
      w.uint(3, 3);
      w.close(outer);
    }, 8);

    const [outer] = rawFields(out);
    expect(outer.field).toBe(1);
    const inner = rawFields(outer.value as Buffer);
    expect(inner.map((field) => field.field)).toEqual([1, 2, 3]);
    expect((inner[1].value as Buffer).equals(body)).toBe(true);
    expect(inner[2].value).toBe(3n);
  });

  it('grows its buffer when the longer length varint no longer fits', () => {
    const body = Buffer.alloc(128, 0x5a);
    // tag, one byte kept for the length, the body: exactly the initial size
    const w = new ProtoWriter(2 + body.length);
    const mark = w.begin(1);
    w.raw(body);
    expect(w.pos).toBe(w.buf.length);

    w.close(mark);

    expect([...w.written.subarray(0, 3)]).toEqual([0x0a, 0x80, 0x01]);
    expect(w.written.subarray(3).equals(body)).toBe(true);
  });

  it('starts over after reset', () => {
    const w = new ProtoWriter(4);
    w.string(1, 'first message');
    w.reset();
    w.uint(2, 1);

    expect([...w.written]).toEqual([0x10, 0x01]);
  });

  it.each([-1, -2, -42, -(2 ** 31), -(2 ** 32), Number.MIN_SAFE_INTEGER])(
    'writes the negative int64 %d as ten bytes of two’s complement',
    (value) => {
      const out = written((w) => w.int64(3, value));

      expect(out[0]).toBe(0x18);
      expect(out.length).toBe(11);
      const { value: raw, next } = readVarint(out, 1);
      expect(next).toBe(11);
      expect(BigInt.asIntN(64, raw)).toBe(BigInt(value));
    },
  );

  it('writes -1 as nine 0xff bytes and a 0x01', () => {
    expect([...written((w) => w.int64(1, -1)).subarray(1)]).toEqual([
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ]);
  });

  it('writes non-negative int64s as plain varints, 0 included', () => {
    expect([...written((w) => w.int64(3, 0))]).toEqual([0x18, 0x00]);
    expect([...written((w) => w.int64(3, 300))]).toEqual([0x18, 0xac, 0x02]);
  });

  it.each([
    ['-1', -1],
    ['-42', -42],
    ['the smallest safe integer', Number.MIN_SAFE_INTEGER],
    ['0', 0],
    ['the largest safe integer', Number.MAX_SAFE_INTEGER],
  ])('writes an int attribute of %s that an independent decoder reads back', (_name, value) => {
    const [span] = decodeExportTraceRequest(
      Buffer.from(
        encodeExportRequest(encodeResource({ n: value }), [
          new SpanEncoder(OPTIONS).encode(sdkSpans('int')[0]),
        ]),
      ),
    );

    expect(span.resource).toEqual({ n: value });
  });

  it('leaves a zero uint out, as proto3 does for defaults', () => {
    expect(written((w) => w.uint(10, 0)).length).toBe(0);
    expect([...written((w) => w.uint(10, 2))]).toEqual([0x50, 0x02]);
  });

  it('writes doubles and fixed32 little-endian', () => {
    const double = written((w) => w.double(4, -1.5));
    const fixed = written((w) => w.fixed32(16, 0x301));

    expect(double[0]).toBe(0x21);
    expect(double.readDoubleLE(1)).toBe(-1.5);
    expect([...fixed]).toEqual([0x85, 0x01, 0x01, 0x03, 0x00, 0x00]);
  });

  it.each([
    [1_700_000_000, 123_456_789],
    [1_700_000_000, 0],
    [1_700_000_000, 999_999_999],
    [1_999_999_999, 500_000_001],
    [0, 1_000],
    [4_294, 967_296],
  ])('writes [%d s, %d ns] as timeMs and as time within 1 µs of each other', (seconds, nanos) => {
    const exact = BigInt(seconds) * 1_000_000_000n + BigInt(nanos);
    const ms = seconds * 1000 + nanos / 1e6;

    const fromMs = written((w) => w.timeMs(7, ms));
    const fromHr = written((w) => w.time(7, [seconds, nanos]));

    expect(fromMs[0]).toBe(0x39);
    expect(fromHr[0]).toBe(0x39);
    expect(fromMs.length).toBe(9);
    expect(fromHr.readBigUInt64LE(1)).toBe(exact);
    const difference = fromMs.readBigUInt64LE(1) - exact;
    expect(difference <= 1000n && difference >= -1000n).toBe(true);
  });

  it('agrees with time() to 1 µs across many instants of today', () => {
    const now = Date.now();
    for (let i = 0; i < 1000; i++) {
      const ms = now + i * 7.123457 + i / 1e4;
      const seconds = Math.floor(ms / 1000);
      const nanos = Math.round((ms - seconds * 1000) * 1e6);
      const fromMs = written((w) => w.timeMs(7, ms)).readBigUInt64LE(1);
      const fromHr = written((w) => w.time(7, [seconds, nanos])).readBigUInt64LE(1);
      const difference = fromMs - fromHr;
      expect(difference <= 1000n && difference >= -1000n).toBe(true);
    }
  });

  it.each([
    ['ASCII', 'PUT /uploads'],
    ['two-byte UTF-8', 'Grüße, café'],
    ['three-byte UTF-8', '日本語のテキスト'],
    ['four-byte UTF-8', '🎉🚀 emoji'],
    ['an empty string', ''],
    ['100 two-byte characters (a length over 127 bytes)', 'é'.repeat(100)],
    ['6000 three-byte characters (a length over 16383 bytes)', 'あ'.repeat(6000)],
    ['5000 four-byte characters', '🎉'.repeat(5000)],
    ['127 ASCII characters (the longest one-byte length)', 'k'.repeat(127)],
    ['128 ASCII characters', 'k'.repeat(128)],
    ['ASCII with one non-ASCII character last', `${'k'.repeat(120)}é`],
    ['a NUL and DEL among ASCII', 'a\u0000b\u007fc'],
  ])('writes %s as its UTF-8 bytes behind their byte length', (_name, text) => {
    const out = written((w) => w.string(5, text), 4);

    const [field] = rawFields(out);
    expect(field.field).toBe(5);
    expect(field.wireType).toBe(2);
    expect((field.value as Buffer).equals(Buffer.from(text, 'utf8'))).toBe(true);
    expect((field.value as Buffer).toString('utf8')).toBe(text);
  });

  it('writes hex ids as raw bytes', () => {
    const out = written((w) => w.hex(1, REMOTE_TRACE_ID));

    expect(out[0]).toBe(0x0a);
    expect(out[1]).toBe(16);
    expect(out.subarray(2).toString('hex')).toBe(REMOTE_TRACE_ID);
  });

  it('reads hex digits in either case', () => {
    const upper = written((w) => w.hex(2, REMOTE_SPAN_ID.toUpperCase()));
    const lower = written((w) => w.hex(2, REMOTE_SPAN_ID));

    expect(upper.equals(lower)).toBe(true);
    expect(lower.subarray(2).toString('hex')).toBe(REMOTE_SPAN_ID);
  });

  it('writes fixed32 values with the top bit set', () => {
    const out = written((w) => w.fixed32(16, 0xfedcba98), 1);

    expect(out.readUInt32LE(2)).toBe(0xfedcba98);
  });

  it('copies short and long raw bytes alike', () => {
    for (const size of [0, 1, 63, 64, 65, 1000]) {
      const bytes = Buffer.alloc(size);
      for (let i = 0; i < size; i++) bytes[i] = (i * 13 + 1) % 256;

      const out = written((w) => w.raw(bytes), 2);

      expect(out.equals(bytes)).toBe(true);
    }
  });
});

describe('encodeResource', () => {
  it('encodes attributes of every type that decode back unchanged', () => {
    const attributes = {
      'service.name': 'mizuchi-uploadr',
      'service.version': 'ü-0.1.0',
      'process.pid': 4242,
      'process.negative': -7,
      'host.load': 0.75,
      'mizuchi.tls': false,
      'mizuchi.workers': [1, 2],
      'mizuchi.names': ['a', null, 'b'],
    };

    const [span] = requestOf([new SpanEncoder(OPTIONS).encode(sdkSpans('s')[0])], attributes);

    expect(span.resource).toEqual(attributes);
  });

  it('keeps every key (the resource is not filtered) and skips undefined values', () => {
    const body = encodeResource({ 'client.address': '192.0.2.1', gone: undefined });

    const [span] = decodeExportTraceRequest(
      Buffer.from(encodeExportRequest(body, [new SpanEncoder(OPTIONS).encode(sdkSpans('s')[0])])),
    );

    expect(span.resource).toEqual({ 'client.address': '192.0.2.1' });
  });

  it('encodes no attributes as an empty message', () => {
    expect(encodeResource({}).length).toBe(0);
  });
});

describe('SpanEncoder', () => {
  it('keeps every span it encoded intact while later ones fill and replace its slabs', () => {
    const encoder = new SpanEncoder(OPTIONS);
    const spans = sdkSpans(...Array.from({ length: 2000 }, (_, i) => `span-${i}`));

    const encoded = spans.map((span) => encoder.encode(span));

    // 2,000 spans of this size take several 64 KiB slabs; each view must still hold its own span.
    expect(new Set(encoded.map((one) => one.bytes.buffer)).size).toBeGreaterThan(1);
    encoded.forEach((one, i) => {
      expect(one.bytes.equals(new SpanEncoder(OPTIONS).encode(spans[i]).bytes)).toBe(true);
    });
    expect(requestOf(encoded).map((span) => span.name)).toEqual(spans.map((span) => span.name));
  });

  it('encodes a span larger than a slab, and the spans around it', () => {
    const encoder = new SpanEncoder(OPTIONS);
    const [before, after] = sdkSpans('before', 'after');
    const huge = Object.create(sdkSpans('huge')[0], {
      attributes: { value: { 'mizuchi.text.long': 'x'.repeat(100_000) } },
    }) as ReadableSpan;

    const encoded = [before, huge, after].map((span) => encoder.encode(span));

    const decoded = requestOf(encoded);
    expect(decoded.map((span) => span.name)).toEqual(['before', 'huge', 'after']);
    expect(decoded[1].attributes).toEqual({ 'mizuchi.text.long': 'x'.repeat(100_000) });
    expect(encoded[0].bytes.equals(new SpanEncoder(OPTIONS).encode(before).bytes)).toBe(true);
  });
});

describe('AttributeCache (through SpanEncoder)', () => {
  /** Lean spans whose attributes repeat, change on every span, or cannot be cached. */
  function leanSpans(count: number): ReadableSpan[] {
    const { provider, ended } = leanProvider();
    const tracer = provider.getTracer('otlp-protobuf-spec');
    for (let i = 0; i < count; i++) {
      const span = tracer.startSpan(`span-${i}`, { kind: SpanKind.SERVER });
      span.setAttribute('mizuchi.route', 'same');
      span.setAttribute('mizuchi.operation', 'same');
      span.setAttribute('mizuchi.request_id', `request-${i}`);
      span.setAttribute('http.response.status_code', i % 3 === 0 ? 503 : 200);
      span.setAttribute('mizuchi.upload.bytes', i * 1024);
      span.setAttribute('mizuchi.zero_copy', i % 2 === 0);
      span.setAttribute('mizuchi.list', [`a${i}`, 'b']);
      span.setAttribute('mizuchi.text.long', `${'y'.repeat(70)}${i % 2}`);
      // Dropped by the privacy filter, whether its verdict is cached or not.
      span.setAttribute('url.full', `http://gateway/bucket/key-${i}?X-Amz-Signature=${i % 2}`);
      span.setAttribute('client.address', '192.0.2.7');
      span.end();
    }
    return ended;
  }

  it('writes every value right, remembered or not, past the per-key limit', () => {
    const spans = leanSpans(100);
    const encoder = new SpanEncoder(OPTIONS);

    const encoded = spans.map((span) => encoder.encode(span));

    const decoded = requestOf(encoded);
    expect(decoded.map((span) => span.droppedAttributesCount)).toEqual(spans.map(() => 2));
    expect(decoded.map((span) => span.attributes)).toEqual(
      spans.map((_, i) => ({
        'mizuchi.route': 'same',
        'mizuchi.operation': 'same',
        'mizuchi.request_id': `request-${i}`,
        'http.response.status_code': i % 3 === 0 ? 503 : 200,
        'mizuchi.upload.bytes': i * 1024,
        'mizuchi.zero_copy': i % 2 === 0,
        'mizuchi.list': [`a${i}`, 'b'],
        'mizuchi.text.long': `${'y'.repeat(70)}${i % 2}`,
      })),
    );
  });

  it("writes lean spans' ids from the bytes they were cut from, long after their pool", () => {
    const { provider, ended } = leanProvider();
    const tracer = provider.getTracer('otlp-protobuf-spec');
    const remote = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: REMOTE_TRACE_ID,
      spanId: REMOTE_SPAN_ID,
      traceFlags: 1,
      isRemote: true,
    });
    // 1,200 spans cut about 12 KiB of ids: the pool is replaced several times before any of
    // them is encoded. Every fourth root continues a remote trace, whose ids come as hex.
    for (let i = 0; i < 400; i++) {
      const root = tracer.startSpan(`root-${i}`, {}, i % 4 === 0 ? remote : ROOT_CONTEXT);
      const child = tracer.startSpan(`child-${i}`, {}, trace.setSpan(ROOT_CONTEXT, root));
      const grandchild = tracer.startSpan(`grand-${i}`, {}, trace.setSpan(ROOT_CONTEXT, child));
      grandchild.end();
      child.end();
      root.end();
    }
    const encoder = new SpanEncoder(OPTIONS);

    const decoded = requestOf(ended.map((span) => encoder.encode(span)));

    expect(decoded.map((span) => [span.traceId, span.spanId, span.parentSpanId])).toEqual(
      ended.map((span) => [
        span.spanContext().traceId,
        span.spanContext().spanId,
        span.parentSpanContext?.spanId ?? '',
      ]),
    );
    expect(decoded.filter((span) => span.traceId === REMOTE_TRACE_ID)).toHaveLength(300);
  });

  it('copies exactly the bytes a fresh encoder writes for the same span', () => {
    const spans = leanSpans(60);
    const encoder = new SpanEncoder(OPTIONS);
    spans.forEach((span) => encoder.encode(span));

    // The second time round every cacheable pair is remembered; a fresh encoder has none.
    for (const span of spans) {
      expect(encoder.encode(span).bytes.equals(new SpanEncoder(OPTIONS).encode(span).bytes)).toBe(
        true,
      );
    }
  });
});

describe('templated start attributes (through SpanEncoder)', () => {
  /** Start attributes as a site passes them; two are dropped on server spans, one is invalid. */
  const START: Attributes = {
    'http.request.method': 'PUT',
    'server.address': 'ceph.internal',
    'server.port': 7480,
    'mizuchi.object.key': 'photos/cat.jpg',
    'client.address': '192.0.2.7',
    'mizuchi.bad': { nested: true } as unknown as string,
  };

  /** Spans of each kind, once with the attributes templated and once as a plain object. */
  function pairs(attributes: Attributes, kinds: SpanKind[]): [ReadableSpan, ReadableSpan][] {
    const { provider, ended } = leanProvider();
    const tracer = provider.getTracer('otlp-protobuf-spec');
    const shared = templated(attributes);
    for (const kind of kinds) {
      for (const start of [shared, { ...attributes }]) {
        const span = tracer.startSpan('span', { kind, attributes: start });
        span.setAttribute('http.response.status_code', 201);
        span.end();
      }
    }
    const spans = [...ended];
    return kinds.map((_, i) => [spans[2 * i], spans[2 * i + 1]]);
  }

  /** A span's encoding without its ids and times, which differ between any two spans. */
  function body(span: ReceivedSpan) {
    const { traceId: _t, spanId: _s, startTimeUnixNano: _b, endTimeUnixNano: _e, ...rest } = span;
    return rest;
  }

  it('encodes a templated span as the same span with plain attributes, kind by kind', () => {
    const kinds = [SpanKind.SERVER, SpanKind.CLIENT, SpanKind.INTERNAL, SpanKind.SERVER];
    const encoder = new SpanEncoder(OPTIONS);

    for (const [withTemplate, plain] of pairs(START, kinds)) {
      const [a, b] = requestOf([encoder.encode(withTemplate), encoder.encode(plain)]);
      expect(body(a)).toEqual(body(b));
    }
    const [server, , client] = requestOf(
      pairs(START, kinds).flatMap((pair) => pair.map((span) => encoder.encode(span))),
    );
    expect(server.attributes).toEqual({
      'http.request.method': 'PUT',
      'server.port': 7480,
      'mizuchi.object.key': 'photos/cat.jpg',
      'http.response.status_code': 201,
    });
    expect(server.droppedAttributesCount).toBe(2);
    expect(client.attributes).toMatchObject({ 'server.address': 'ceph.internal' });
  });

  it("writes each encoder's own privacy verdicts for a template they share", () => {
    const [[withTemplate]] = pairs(START, [SpanKind.SERVER]);
    const keys = new SpanEncoder({ recordObjectKeys: true });
    const noKeys = new SpanEncoder({ recordObjectKeys: false });

    // Alternating, so each encoder meets the template after the other has encoded it.
    for (let round = 0; round < 2; round++) {
      const [kept] = requestOf([keys.encode(withTemplate)]);
      const [left] = requestOf([noKeys.encode(withTemplate)]);
      expect(kept.attributes['mizuchi.object.key']).toBe('photos/cat.jpg');
      expect(left.attributes).not.toHaveProperty(['mizuchi.object.key']);
      expect(left.droppedAttributesCount).toBe(kept.droppedAttributesCount + 1);
    }
  });

  it('writes a template attribute that was set again with its new value, in its place', () => {
    const { provider, ended } = leanProvider();
    const tracer = provider.getTracer('otlp-protobuf-spec');
    const shared = templated({ 'http.request.method': 'PUT', 'server.port': 7480 });
    const changed = tracer.startSpan('changed', { kind: SpanKind.SERVER, attributes: shared });
    changed.setAttribute('server.port', 9000);
    changed.setAttribute('mizuchi.route', 'uploads');
    changed.end();
    tracer.startSpan('unchanged', { kind: SpanKind.SERVER, attributes: shared }).end();
    const encoder = new SpanEncoder(OPTIONS);

    const [first, second] = requestOf(ended.map((span) => encoder.encode(span)));

    expect(Object.entries(first.attributes)).toEqual([
      ['http.request.method', 'PUT'],
      ['server.port', 9000],
      ['mizuchi.route', 'uploads'],
    ]);
    expect(second.attributes).toEqual({ 'http.request.method': 'PUT', 'server.port': 7480 });
  });
});

describe('encodeExportRequest', () => {
  const encoder = new SpanEncoder(OPTIONS);

  /** An encoded span of `scope`, named `name`. */
  function spanOf(name: string, scope: InstrumentationScope): EncodedSpan {
    return { ...encoder.encode(sdkSpans(name)[0]), scope };
  }

  it('groups spans by scope name and version in order of first appearance', () => {
    const a1 = { name: 'a', version: '1' };
    const b = { name: 'b' };
    const a2 = { name: 'a', version: '2' };
    const spans = [
      spanOf('s1', a1),
      spanOf('s2', b),
      spanOf('s3', { name: 'a', version: '1' }),
      spanOf('s4', a2),
      spanOf('s5', b),
      spanOf('s6', { name: 'b', version: '' }),
    ];

    const decoded = requestOf(spans);

    expect(decoded.map((span) => [span.scope, span.scopeVersion, span.name])).toEqual([
      ['a', '1', 's1'],
      ['a', '1', 's3'],
      ['b', '', 's2'],
      ['b', '', 's5'],
      ['b', '', 's6'],
      ['a', '2', 's4'],
    ]);
  });

  it('writes one ScopeSpans per scope, each with its schema URL when it has one', () => {
    const spans = [
      spanOf('plain', { name: 'a', version: '1' }),
      spanOf('with url', { name: 'a', version: '1', schemaUrl: SCHEMA_URL }),
      spanOf('plain again', { name: 'a', version: '1' }),
    ];

    const request = Buffer.from(encodeExportRequest(encodeResource(SERVICE), spans));

    const [resourceSpans] = rawFields(request);
    const scopeSpans = rawFields(resourceSpans.value as Buffer).filter((f) => f.field === 2);
    expect(scopeSpans).toHaveLength(2);
    expect(requestOf(spans).map((span) => [span.name, span.scope, span.scopeSchemaUrl])).toEqual([
      ['plain', 'a', ''],
      ['plain again', 'a', ''],
      ['with url', 'a', SCHEMA_URL],
    ]);
  });

  it('writes an empty list as a valid request with the resource and no spans', () => {
    const request = Buffer.from(encodeExportRequest(encodeResource(SERVICE), []));

    expect(decodeExportTraceRequest(request)).toEqual([]);
    const top = rawFields(request);
    expect(top.map((field) => field.field)).toEqual([1]);
    const resourceSpans = rawFields(top[0].value as Buffer);
    expect(resourceSpans.map((field) => field.field)).toEqual([1]);
    expect((resourceSpans[0].value as Buffer).equals(encodeResource(SERVICE))).toBe(true);
  });

  it('carries the resource attributes to every span', () => {
    const resource = { 'service.name': 'mizuchi-uploadr', 'service.instance.id': 'gw-2' };
    const spans = [spanOf('x', { name: 'a' }), spanOf('y', { name: 'b', version: '3' })];

    expect(requestOf(spans, resource).map((span) => span.resource)).toEqual([resource, resource]);
  });

  it('holds each span’s bytes unchanged', () => {
    const spans = [spanOf('x', { name: 'a' }), spanOf('y', { name: 'b' })];

    const request = Buffer.from(encodeExportRequest(encodeResource(SERVICE), spans));

    for (const span of spans) expect(request.includes(span.bytes)).toBe(true);
  });

  it('sizes a request of several MiB right, with four-byte lengths', () => {
    const padding = 'p'.repeat(700);
    const sdk = sdkSpans(...Array.from({ length: 4000 }, (_, i) => `span-${i}-${padding}`));
    const spans = sdk.map((span, i) => ({
      ...encoder.encode(span),
      scope: { name: `scope-${i % 3}` },
    }));

    const request = Buffer.from(encodeExportRequest(encodeResource(SERVICE), spans));

    expect(request.length).toBeGreaterThan(2 ** 21);
    const decoded = decodeExportTraceRequest(request);
    expect(decoded).toHaveLength(4000);
    expect(decoded.filter((span) => span.scope === 'scope-0')).toHaveLength(1334);
    expect(decoded[0].name).toBe(`span-0-${padding}`);
    expect(decoded[1334].name).toBe(`span-1-${padding}`);
  });
});

describe('SpanEncoder', () => {
  it('keeps every span’s bytes intact when many spans fill several slabs', () => {
    const names = Array.from({ length: 1500 }, (_, i) => `span-${i}-${'x'.repeat(i % 200)}`);
    const encoder = new SpanEncoder(OPTIONS);
    const encoded: EncodedSpan[] = [];
    const copies: Buffer[] = [];
    for (const span of sdkSpans(...names)) {
      const one = encoder.encode(span);
      encoded.push(one);
      copies.push(Buffer.from(one.bytes));
    }

    const total = copies.reduce((sum, bytes) => sum + bytes.length, 0);
    expect(total).toBeGreaterThan(3 * 64 * 1024);
    expect(new Set(encoded.map((span) => span.bytes.buffer)).size).toBeGreaterThan(3);
    encoded.forEach((span, i) => expect(span.bytes.equals(copies[i])).toBe(true));
    expect(requestOf(encoded).map((span) => span.name)).toEqual(names);
  });

  it('gives a span larger than a slab its own memory, and later spans are unaffected', () => {
    const [small, big, after] = sdkSpans('small', 'big', 'after');
    const huge = Object.create(big, {
      attributes: { value: { 'mizuchi.blob': 'b'.repeat(100_000) } },
    }) as ReadableSpan;
    const encoder = new SpanEncoder(OPTIONS);

    const encoded = [encoder.encode(small), encoder.encode(huge), encoder.encode(after)];
    const copies = encoded.map((span) => Buffer.from(span.bytes));
    encoder.encode(small);

    expect(encoded[1].bytes.length).toBeGreaterThan(100_000);
    encoded.forEach((span, i) => expect(span.bytes.equals(copies[i])).toBe(true));
    const decoded = requestOf(encoded);
    expect(decoded.map((span) => span.name)).toEqual(['small', 'big', 'after']);
    expect(decoded[1].attributes['mizuchi.blob']).toBe('b'.repeat(100_000));
  });

  it('sets line from the describe callback only when one is given', () => {
    const [span] = sdkSpans('described');
    const seen: ReadableSpan[] = [];

    const plain = new SpanEncoder(OPTIONS).encode(span);
    const described = new SpanEncoder(OPTIONS, (s) => {
      seen.push(s);
      return `line of ${s.name}`;
    }).encode(span);

    expect('line' in plain).toBe(false);
    expect(described.line).toBe('line of described');
    expect(seen).toEqual([span]);
    expect(described.bytes.equals(plain.bytes)).toBe(true);
  });

  it('tags each encoded span with the scope of its tracer', () => {
    const [span] = sdkSpans('scoped');

    expect(new SpanEncoder(OPTIONS).encode(span).scope).toBe(span.instrumentationScope);
  });

  it('judges the same key by the kind of each span, also after caching a verdict', () => {
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
    const tracer = provider.getTracer('kinds');
    const attributes = { 'server.address': 'peer', 'net.host.port': 8080, 'mizuchi.n': 1 };
    for (const kind of [SpanKind.CLIENT, SpanKind.SERVER, SpanKind.INTERNAL, SpanKind.CLIENT]) {
      tracer.startSpan(SpanKind[kind], { kind, attributes }).end();
    }
    const encoder = new SpanEncoder(OPTIONS);

    const decoded = requestOf(memory.getFinishedSpans().map((span) => encoder.encode(span)));

    expect(
      decoded.map((span) => [span.name, span.attributes, span.droppedAttributesCount]),
    ).toEqual([
      ['CLIENT', { 'server.address': 'peer', 'mizuchi.n': 1 }, 1],
      ['SERVER', { 'net.host.port': 8080, 'mizuchi.n': 1 }, 1],
      ['INTERNAL', { 'mizuchi.n': 1 }, 2],
      ['CLIENT', { 'server.address': 'peer', 'mizuchi.n': 1 }, 1],
    ]);
  });

  it('keeps its privacy options per encoder', () => {
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
    provider
      .getTracer('keys')
      .startSpan('put', { attributes: { 'mizuchi.object.key': 'a/b.txt' } })
      .end();
    const [span] = memory.getFinishedSpans();

    const [withKeys] = requestOf([new SpanEncoder({ recordObjectKeys: true }).encode(span)]);
    const [withoutKeys] = requestOf([new SpanEncoder({ recordObjectKeys: false }).encode(span)]);

    expect(withKeys.attributes).toEqual({ 'mizuchi.object.key': 'a/b.txt' });
    expect(withoutKeys.attributes).toEqual({});
    expect(withoutKeys.droppedAttributesCount).toBe(1);
  });

  it('writes a lean span’s attributes (kept as arrays) exactly as the SDK span’s', () => {
    const { provider: lean, ended } = leanProvider();
    const memory = new InMemorySpanExporter();
    const sdk = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
    for (const provider of [lean, sdk]) {
      const span = provider.getTracer('same').startSpan('same', {
        kind: SpanKind.SERVER,
        attributes: { ...KEPT_ATTRIBUTES, 'client.address': '203.0.113.9' },
      });
      span.setAttribute('mizuchi.route', 'overwritten');
      span.setAttributes({ 'mizuchi.added': 7, 'url.full': 'http://gw/k?X-Amz-Signature=abc' });
      span.end();
    }

    const [fromLean, fromSdk] = requestOf([
      new SpanEncoder(OPTIONS).encode(ended[0]),
      new SpanEncoder(OPTIONS).encode(memory.getFinishedSpans()[0]),
    ]);

    expect(fromLean.attributes).toEqual(fromSdk.attributes);
    expect(fromLean.attributes).toMatchObject({
      'mizuchi.route': 'overwritten',
      'mizuchi.added': 7,
    });
    expect(fromLean.droppedAttributesCount).toBe(2);
    expect(fromSdk.droppedAttributesCount).toBe(2);
    expect(ended[0].attributes).toEqual(memory.getFinishedSpans()[0].attributes);
  });

  it('writes a lean span’s epoch-millisecond times within 1 µs of its HrTimes', () => {
    const { provider, ended } = leanProvider();
    // epoch milliseconds after the process started (smaller numbers are performance.now() times)
    const startMs = Date.now() + 0.4567;
    const endMs = startMs + 333.3323;
    const span = provider
      .getTracer('lean', '2.0.0')
      .startSpan('lean span', { kind: SpanKind.SERVER, startTime: startMs });
    span.setAttribute('mizuchi.route', 'uploads');
    span.setAttribute('client.address', '192.0.2.7');
    span.addEvent('mizuchi.step', [1_700_000_000, 200_000_000]);
    span.end(endMs);
    const lean = ended[0];

    const [decoded] = requestOf([new SpanEncoder(OPTIONS).encode(lean)]);

    const nanos = (time: [number, number]) => BigInt(time[0]) * 1_000_000_000n + BigInt(time[1]);
    const near = (a: bigint, b: bigint) => (a > b ? a - b : b - a) <= 1000n;
    expect(near(decoded.startTimeUnixNano, nanos(lean.startTime))).toBe(true);
    expect(near(decoded.endTimeUnixNano, nanos(lean.endTime))).toBe(true);
    const epochNanos = (ms: number) => BigInt(Math.round(ms * 1000)) * 1000n;
    expect(near(decoded.startTimeUnixNano, epochNanos(startMs))).toBe(true);
    expect(near(decoded.endTimeUnixNano, epochNanos(endMs))).toBe(true);
    expect(decoded).toMatchObject({
      name: 'lean span',
      kind: OtlpSpanKind.SERVER,
      traceId: lean.spanContext().traceId,
      spanId: lean.spanContext().spanId,
      attributes: { 'mizuchi.route': 'uploads' },
      droppedAttributesCount: 1,
      scope: 'lean',
      scopeVersion: '2.0.0',
      flags: 0x101,
    });
    expect(decoded.events).toEqual([
      {
        name: 'mizuchi.step',
        timeUnixNano: 1_700_000_000_200_000_000n,
        attributes: {},
        droppedAttributesCount: 0,
      },
    ]);
  });
});
