/**
 * Proves the OTLP receiver against the real OpenTelemetry encoders: spans made by the SDK are
 * serialized by `@opentelemetry/otlp-transformer` and must come back field for field, over the
 * wire too, while the fault switches behave as a broken collector would.
 */
import { request, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { gzipSync } from 'node:zlib';
import {
  type Attributes,
  context,
  createTraceState,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  type Sampler,
  SamplingDecision,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import {
  decodeExportTraceRequest,
  decodeExportTraceRequestJson,
  OtlpSpanKind,
  OtlpStatusCode,
  type OtlpReceiver,
  type ReceivedSpan,
  startOtlpReceiver,
} from './otlp-receiver';

const TRACE_STATE = 'mizuchi=t61rcWkgMzE,rojo=00f067aa0ba902b7';

/** Gives root spans a tracestate, as a vendor sampler would; children inherit it. */
const traceStateSampler: Sampler = {
  shouldSample: (ctx) =>
    trace.getSpanContext(ctx) === undefined
      ? { decision: SamplingDecision.RECORD_AND_SAMPLED, traceState: createTraceState(TRACE_STATE) }
      : { decision: SamplingDecision.RECORD_AND_SAMPLED },
  toString: () => 'TraceStateSampler',
};

/** A server span with an S3 client child that failed after a retry, made by the real SDK. */
async function recordSpans(): Promise<ReadableSpan[]> {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': 'mizuchi-uploadr',
      'service.instance.id': 'gateway-1',
      'process.pid': 4242,
    }),
    sampler: traceStateSampler,
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const gateway = provider.getTracer('mizuchi-uploadr', '0.1.0');
  const sdk = provider.getTracer('@aws-sdk/client-s3', '3.1169.0');

  const server = gateway.startSpan('PUT /uploads/{key}', {
    kind: SpanKind.SERVER,
    startTime: [1_700_000_000, 123_456_789],
    attributes: {
      'http.request.method': 'PUT',
      'http.response.status_code': 503,
      'mizuchi.zero_copy': true,
      'mizuchi.part_ratio': 0.25,
      'mizuchi.parts': [1, 2, 3],
      'mizuchi.buckets': ['raw', 'thumbs'],
      'mizuchi.flags': [true, false],
      'mizuchi.offset': -42,
      'mizuchi.bytes': 2 ** 60,
    },
  });
  const client = sdk.startSpan(
    'S3.PutObject',
    { kind: SpanKind.CLIENT, startTime: [1_700_000_000, 500_000_000] },
    trace.setSpan(context.active(), server),
  );
  client.setAttribute('rpc.service', 'S3');
  client.addEvent('retry', { attempt: 2, 'error.type': 'SlowDown' }, [1_700_000_000, 750_000_000]);
  client.setStatus({ code: SpanStatusCode.ERROR, message: 'SlowDown: reduce your request rate' });
  client.end([1_700_000_001, 0]);
  server.setStatus({ code: SpanStatusCode.ERROR });
  server.end([1_700_000_002, 42]);

  await provider.forceFlush();
  const spans = exporter.getFinishedSpans().slice();
  await provider.shutdown();
  return spans;
}

function protobufOf(spans: ReadableSpan[]): Buffer {
  const bytes = ProtobufTraceSerializer.serializeRequest(spans);
  if (bytes === undefined) throw new Error('the protobuf serializer returned nothing');
  return Buffer.from(bytes);
}

function jsonOf(spans: ReadableSpan[]): Buffer {
  const bytes = JsonTraceSerializer.serializeRequest(spans);
  if (bytes === undefined) throw new Error('the JSON serializer returned nothing');
  return Buffer.from(bytes);
}

function named(spans: ReceivedSpan[], name: string): ReceivedSpan {
  const span = spans.find((candidate) => candidate.name === name);
  if (span === undefined) throw new Error(`no span named ${name}`);
  return span;
}

function varint(n: number): number[] {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return bytes;
}

function tag(field: number, wireType: number): number[] {
  return varint(field * 8 + wireType);
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One POST on a fresh connection, so a stopped receiver is seen at once. */
function post(url: string, body: Buffer, headers: OutgoingHttpHeaders): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', agent: false, headers: { 'content-length': body.length, ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const PROTOBUF_HEADERS = { 'content-type': 'application/x-protobuf' };

describe('decodeExportTraceRequest', () => {
  let recorded: ReadableSpan[];

  beforeAll(async () => {
    recorded = await recordSpans();
  });

  it('decodes every field the real OpenTelemetry protobuf encoder writes', () => {
    const spans = decodeExportTraceRequest(protobufOf(recorded));

    const serverContext = recorded
      .find((span) => span.name === 'PUT /uploads/{key}')!
      .spanContext();
    const clientContext = recorded.find((span) => span.name === 'S3.PutObject')!.spanContext();
    expect(serverContext.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(clientContext.spanId).toMatch(/^[0-9a-f]{16}$/);
    const resource = {
      'service.name': 'mizuchi-uploadr',
      'service.instance.id': 'gateway-1',
      'process.pid': 4242,
    };
    expect(spans).toHaveLength(2);
    expect(named(spans, 'PUT /uploads/{key}')).toEqual({
      traceId: serverContext.traceId,
      spanId: serverContext.spanId,
      parentSpanId: '',
      traceState: TRACE_STATE,
      name: 'PUT /uploads/{key}',
      kind: OtlpSpanKind.SERVER,
      startTimeUnixNano: 1_700_000_000_123_456_789n,
      endTimeUnixNano: 1_700_000_002_000_000_042n,
      attributes: {
        'http.request.method': 'PUT',
        'http.response.status_code': 503,
        'mizuchi.zero_copy': true,
        'mizuchi.part_ratio': 0.25,
        'mizuchi.parts': [1, 2, 3],
        'mizuchi.buckets': ['raw', 'thumbs'],
        'mizuchi.flags': [true, false],
        'mizuchi.offset': -42,
        'mizuchi.bytes': 2n ** 60n,
      },
      droppedAttributesCount: 0,
      events: [],
      droppedEventsCount: 0,
      droppedLinksCount: 0,
      status: { code: OtlpStatusCode.ERROR, message: '' },
      // sampled, and the parent's remoteness is known (a root span has none)
      flags: 0x101,
      resource,
      scope: 'mizuchi-uploadr',
      scopeVersion: '0.1.0',
      scopeSchemaUrl: '',
    });
    expect(named(spans, 'S3.PutObject')).toEqual({
      traceId: serverContext.traceId,
      spanId: clientContext.spanId,
      parentSpanId: serverContext.spanId,
      traceState: TRACE_STATE,
      name: 'S3.PutObject',
      kind: OtlpSpanKind.CLIENT,
      startTimeUnixNano: 1_700_000_000_500_000_000n,
      endTimeUnixNano: 1_700_000_001_000_000_000n,
      attributes: { 'rpc.service': 'S3' },
      droppedAttributesCount: 0,
      events: [
        {
          name: 'retry',
          timeUnixNano: 1_700_000_000_750_000_000n,
          attributes: { attempt: 2, 'error.type': 'SlowDown' },
          droppedAttributesCount: 0,
        },
      ],
      droppedEventsCount: 0,
      droppedLinksCount: 0,
      status: { code: OtlpStatusCode.ERROR, message: 'SlowDown: reduce your request rate' },
      flags: 0x101,
      resource,
      scope: '@aws-sdk/client-s3',
      scopeVersion: '3.1169.0',
      scopeSchemaUrl: '',
    });
  });

  it('decodes kvlist, bytes and 64-bit integer values that the encoder accepts but the SDK drops', () => {
    const attributes = {
      nested: { bucket: 'raw', sizes: [5, 6], deeper: { ok: true } },
      digest: new Uint8Array([0xde, 0xad, 0xbe, 0xef]),
      huge: 2 ** 62,
      hugeNegative: -(2 ** 62),
      empty: [],
    } as unknown as Attributes;
    // A view of a real span with attributes the SDK's setAttribute would have refused.
    const exotic = Object.create(recorded[0], {
      attributes: { value: attributes },
    }) as ReadableSpan;

    const [span] = decodeExportTraceRequest(protobufOf([exotic]));

    expect(span.attributes).toEqual({
      nested: { bucket: 'raw', sizes: [5, 6], deeper: { ok: true } },
      digest: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
      huge: 2n ** 62n,
      hugeNegative: -(2n ** 62n),
      empty: [],
    });
  });

  it('skips unknown fields of every wire type', () => {
    const bytes = protobufOf(recorded);
    const unknown = Buffer.from([
      ...tag(99, 0),
      ...varint(300),
      ...tag(98, 1),
      ...[1, 2, 3, 4, 5, 6, 7, 8],
      ...tag(97, 2),
      ...varint(3),
      ...[0xff, 0xfe, 0xfd],
      ...tag(96, 5),
      ...[1, 2, 3, 4],
      ...tag(95, 3),
      ...tag(1, 0),
      ...varint(7),
      ...tag(95, 4),
    ]);

    expect(decodeExportTraceRequest(Buffer.concat([unknown, bytes, unknown]))).toEqual(
      decodeExportTraceRequest(bytes),
    );
  });

  it('throws on a truncated message instead of returning part of it', () => {
    const bytes = protobufOf(recorded);

    expect(() => decodeExportTraceRequest(bytes.subarray(0, bytes.length - 5))).toThrow(
      /truncated|overruns/,
    );
  });

  it('reads the real OTLP/JSON encoding into the same spans as the protobuf one', () => {
    const fromJson = decodeExportTraceRequestJson(JSON.parse(jsonOf(recorded).toString('utf8')));

    expect(fromJson).toEqual(decodeExportTraceRequest(protobufOf(recorded)));
  });
});

describe('startOtlpReceiver', () => {
  let recorded: ReadableSpan[];
  let receiver: OtlpReceiver;
  let url: string;

  beforeAll(async () => {
    recorded = await recordSpans();
  });

  beforeEach(async () => {
    receiver = await startOtlpReceiver();
    url = `${receiver.endpoint}/v1/traces`;
  });

  afterEach(async () => {
    await receiver.stop();
  });

  it('listens on loopback and names its endpoint without the /v1/traces path', () => {
    expect(receiver.endpoint).toBe(`http://127.0.0.1:${receiver.port}`);
    expect(receiver.port).toBeGreaterThan(0);
  });

  it('answers a protobuf export with 200 and an empty protobuf body, and keeps its spans', async () => {
    const bytes = protobufOf(recorded);

    const reply = await post(url, bytes, PROTOBUF_HEADERS);

    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/x-protobuf');
    expect(reply.body).toHaveLength(0);
    expect(receiver.spans()).toEqual(decodeExportTraceRequest(bytes));
    expect(receiver.requests()).toEqual([
      expect.objectContaining({ status: 200, spanCount: 2, contentEncoding: '' }),
    ]);
  });

  it('inflates a gzip-compressed export', async () => {
    const bytes = protobufOf(recorded);

    const reply = await post(url, gzipSync(bytes), {
      ...PROTOBUF_HEADERS,
      'content-encoding': 'gzip',
    });

    expect(reply.status).toBe(200);
    expect(receiver.spans()).toEqual(decodeExportTraceRequest(bytes));
    expect(receiver.requests()).toEqual([
      expect.objectContaining({ status: 200, spanCount: 2, contentEncoding: 'gzip' }),
    ]);
  });

  it('accepts OTLP/JSON with hex ids and answers it in JSON', async () => {
    const reply = await post(url, jsonOf(recorded), { 'content-type': 'application/json' });

    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(JSON.parse(reply.body.toString('utf8'))).toEqual({});
    expect(receiver.spans()).toEqual(decodeExportTraceRequest(protobufOf(recorded)));
  });

  it('answers 404 on other paths, 415 for other media types and 400 for garbage, keeping no spans', async () => {
    const bytes = protobufOf(recorded);

    const wrongPath = await post(`${receiver.endpoint}/v1/metrics`, bytes, PROTOBUF_HEADERS);
    const wrongType = await post(url, bytes, { 'content-type': 'text/plain' });
    const garbage = await post(url, Buffer.from([0x0a, 0xff]), PROTOBUF_HEADERS);

    expect([wrongPath.status, wrongType.status, garbage.status]).toEqual([404, 415, 400]);
    expect(receiver.spans()).toEqual([]);
    expect(receiver.requests().map((seen) => seen.status)).toEqual([404, 415, 400]);
  });

  it('fails every export while told to answer 500, counts them, and recovers at 200', async () => {
    const bytes = protobufOf(recorded);
    receiver.respondWith(500);

    const first = await post(url, bytes, PROTOBUF_HEADERS);
    const second = await post(url, bytes, PROTOBUF_HEADERS);

    expect([first.status, second.status]).toEqual([500, 500]);
    // OTLP/HTTP wants a google.rpc.Status body: field 2 (message) is length-delimited, tag 0x12.
    expect(first.headers['content-type']).toBe('application/x-protobuf');
    expect(first.body[0]).toBe(0x12);
    expect(receiver.spans()).toEqual([]);
    expect(receiver.requests()).toEqual([
      expect.objectContaining({ status: 500, spanCount: 2 }),
      expect.objectContaining({ status: 500, spanCount: 2 }),
    ]);

    receiver.respondWith(200);
    const third = await post(url, bytes, PROTOBUF_HEADERS);

    expect(third.status).toBe(200);
    expect(receiver.spans()).toHaveLength(2);
    expect(receiver.requests().map((seen) => seen.status)).toEqual([500, 500, 200]);
  });

  it('refuses connections after stop() and accepts again on the same port after restart()', async () => {
    const bytes = protobufOf(recorded);
    const port = receiver.port;

    await receiver.stop();

    await expect(post(url, bytes, PROTOBUF_HEADERS)).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });

    await receiver.restart();
    const reply = await post(url, bytes, PROTOBUF_HEADERS);

    expect(receiver.port).toBe(port);
    expect(reply.status).toBe(200);
    expect(receiver.spans()).toHaveLength(2);
  });

  it('drops a connection whose response it is holding when stopped', async () => {
    receiver.delay(60_000);
    const pending = post(url, protobufOf(recorded), PROTOBUF_HEADERS);
    await receiver.waitForSpans((spans) => spans.length === 2);

    await receiver.stop();

    await expect(pending).rejects.toMatchObject({ code: 'ECONNRESET' });
  });

  it('records a delayed export on arrival and still answers it', async () => {
    receiver.delay(200);
    let answered = false;
    const pending = post(url, protobufOf(recorded), PROTOBUF_HEADERS).then((reply) => {
      answered = true;
      return reply;
    });

    await receiver.waitForSpans((spans) => spans.length === 2);
    expect(answered).toBe(false);

    const reply = await pending;
    expect(reply.status).toBe(200);
    expect(receiver.requests()).toHaveLength(1);
  });

  it('waits for matching spans and otherwise rejects naming the spans it saw', async () => {
    const waiting = receiver.waitForSpans((spans) =>
      spans.some((span) => span.name === 'S3.PutObject'),
    );
    await post(url, protobufOf(recorded), PROTOBUF_HEADERS);

    await expect(waiting).resolves.toHaveLength(2);
    const timedOut = await receiver
      .waitForSpans((spans) => spans.some((span) => span.name === 'GET /nowhere'), 100)
      .then(
        () => new Error('waitForSpans resolved'),
        (err: Error) => err,
      );
    expect(timedOut.message).toContain('2 span(s) seen');
    expect(timedOut.message).toContain('"S3.PutObject"');
    expect(timedOut.message).toContain('"PUT /uploads/{key}"');
  });

  it('forgets spans and requests on clear()', async () => {
    await post(url, protobufOf(recorded), PROTOBUF_HEADERS);

    receiver.clear();

    expect(receiver.spans()).toEqual([]);
    expect(receiver.requests()).toEqual([]);
  });

  it('listens on the port it is given', async () => {
    const port = receiver.port;
    await receiver.stop();

    receiver = await startOtlpReceiver({ port });

    expect(receiver.port).toBe(port);
    const reply = await post(url, protobufOf(recorded), PROTOBUF_HEADERS);
    expect(reply.status).toBe(200);
  });
});
