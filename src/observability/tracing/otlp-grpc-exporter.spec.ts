import * as http2 from 'node:http2';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { decodeExportTraceRequest, type ReceivedSpan } from '../../../test/helpers/otlp-receiver';
import { EXPORT_PATH, OtlpGrpcExporter, type OtlpGrpcOptions } from './otlp-grpc-exporter';
import { encodeResource } from './otlp-protobuf';
import { encodedSpans, exportOnce } from './tracing.testing';

const RESOURCE = encodeResource({ 'service.name': 'otlp-grpc-exporter-spec' });

const finishedSpans = (...names: string[]) =>
  encodedSpans({ name: 'otlp-grpc-exporter-spec', version: '1.2.3' }, ...names);

/** A port that nothing listens on: bound, noted, released. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves when `condition` holds, or rejects after `guardMs` so a broken test fails, not hangs. */
async function until(condition: () => boolean, guardMs = 10_000): Promise<void> {
  const deadline = Date.now() + guardMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${guardMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

// --- A collector on @grpc/grpc-js ---------------------------------------------------------------

interface GrpcCall {
  spans: ReceivedSpan[];
  /** The call's deadline as the server read it from grpc-timeout, in ms since the epoch. */
  deadline: number;
  receivedAt: number;
}

type GrpcHandler = (
  call: grpc.ServerUnaryCall<Buffer, Buffer>,
  callback: grpc.sendUnaryData<Buffer>,
) => void;

const succeed: GrpcHandler = (_call, callback) => callback(null, Buffer.alloc(0));

/** The collector's TraceService/Export on a real gRPC server; messages pass through as bytes. */
async function startGrpcCollector(handler: GrpcHandler = succeed) {
  const calls: GrpcCall[] = [];
  const server = new grpc.Server();
  const passThrough = (data: Buffer) => data;
  server.addService(
    {
      Export: {
        path: EXPORT_PATH,
        requestStream: false,
        responseStream: false,
        requestSerialize: passThrough,
        requestDeserialize: passThrough,
        responseSerialize: passThrough,
        responseDeserialize: passThrough,
      },
    },
    {
      Export: (
        call: grpc.ServerUnaryCall<Buffer, Buffer>,
        callback: grpc.sendUnaryData<Buffer>,
      ) => {
        const deadline = call.getDeadline();
        calls.push({
          spans: decodeExportTraceRequest(call.request),
          deadline: deadline instanceof Date ? deadline.getTime() : deadline,
          receivedAt: Date.now(),
        });
        handler(call, callback);
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    close: () => server.forceShutdown(),
  };
}

// --- A collector on bare node:http2, for what grpc-js hides -----------------------------------

interface RawRequest {
  headers: http2.IncomingHttpHeaders;
  /** The whole request body: the 5-byte prefix and the message. */
  body: Buffer;
  /** The RST_STREAM code the stream closed with, once it has (0 for a clean close). */
  rstCode?: number;
}

type RawAnswer = (stream: http2.ServerHttp2Stream, request: RawRequest) => void;

/** A well-formed gRPC OK: headers, an empty response message, then grpc-status 0 as a trailer. */
const grpcOk: RawAnswer = (stream) => {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.end(Buffer.alloc(5));
};

async function startRawCollector(answer: RawAnswer = grpcOk) {
  const requests: RawRequest[] = [];
  const sessions: http2.ServerHttp2Session[] = [];
  let closedSessions = 0;
  const server = http2.createServer();
  server.on('session', (session) => {
    sessions.push(session);
    session.on('close', () => {
      closedSessions += 1;
    });
  });
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    const request: RawRequest = { headers, body: Buffer.alloc(0) };
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    // a stream the collector resets reports that as an error of its own
    stream.on('error', () => undefined);
    stream.on('close', () => {
      request.rstCode = stream.rstCode;
    });
    stream.on('end', () => {
      request.body = Buffer.concat(chunks);
      requests.push(request);
      answer(stream, request);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    sessions: () => sessions.length,
    closedSessions: () => closedSessions,
    /** Drops every connection from the collector's side. */
    dropConnections: () => sessions.forEach((session) => session.destroy()),
    close: () =>
      new Promise<void>((resolve) => {
        sessions.forEach((session) => session.destroy());
        server.close(() => resolve());
      }),
  };
}

/** The message of a request body, after its 5-byte prefix says how it is framed. */
function messageOf(body: Buffer): { compressed: number; message: Buffer } {
  expect(body.length).toBeGreaterThanOrEqual(5);
  const compressed = body[0];
  const length = body.readUInt32BE(1);
  expect(body.length).toBe(5 + length);
  const message = body.subarray(5);
  return { compressed, message: compressed === 1 ? gunzipSync(message) : message };
}

describe('OtlpGrpcExporter', () => {
  let closeCollector: (() => unknown) | undefined;
  let exporter: OtlpGrpcExporter | undefined;

  function exporterFor(endpoint: string, options: Partial<OtlpGrpcOptions> = {}) {
    exporter = new OtlpGrpcExporter({
      endpoint,
      timeoutMs: 10_000,
      compression: 'none',
      resource: RESOURCE,
      ...options,
    });
    return exporter;
  }

  afterEach(async () => {
    await exporter?.shutdown();
    await closeCollector?.();
    exporter = undefined;
    closeCollector = undefined;
  });

  describe('against a gRPC server', () => {
    async function grpcCollector(handler?: GrpcHandler) {
      const collector = await startGrpcCollector(handler);
      closeCollector = collector.close;
      return collector;
    }

    it('exports the spans as one TraceService/Export call', async () => {
      const collector = await grpcCollector();

      const result = await exportOnce(
        exporterFor(collector.endpoint),
        finishedSpans('PUT uploads', 'GET backend'),
      );

      expect(result).toEqual({ code: ExportResultCode.SUCCESS });
      expect(collector.calls).toHaveLength(1);
      expect(
        collector.calls[0].spans.map((span) => ({
          name: span.name,
          scope: span.scope,
          scopeVersion: span.scopeVersion,
          route: span.attributes['mizuchi.route'],
          service: span.resource['service.name'],
        })),
      ).toEqual(
        ['PUT uploads', 'GET backend'].map((name) => ({
          name,
          scope: 'otlp-grpc-exporter-spec',
          scopeVersion: '1.2.3',
          route: 'uploads',
          service: 'otlp-grpc-exporter-spec',
        })),
      );
    });

    it('gives the call the deadline of timeoutMs', async () => {
      const collector = await grpcCollector();

      await exportOnce(exporterFor(collector.endpoint, { timeoutMs: 7_000 }), finishedSpans('a'));

      const [call] = collector.calls;
      expect(call.deadline - call.receivedAt).toBeGreaterThan(4_000);
      expect(call.deadline - call.receivedAt).toBeLessThanOrEqual(7_000);
    });

    it('sends a gzip-compressed message that the server inflates', async () => {
      const collector = await grpcCollector();

      const result = await exportOnce(
        exporterFor(collector.endpoint, { compression: 'gzip' }),
        finishedSpans('compressed one', 'compressed two'),
      );

      expect(result.code).toBe(ExportResultCode.SUCCESS);
      expect(collector.calls[0].spans.map((span) => span.name)).toEqual([
        'compressed one',
        'compressed two',
      ]);
    });

    it('fails with the gRPC status and its message when the server refuses the call', async () => {
      const collector = await grpcCollector((_call, callback) =>
        callback({ code: grpc.status.UNAVAILABLE, details: 'collector is draining' }),
      );

      const result = await exportOnce(exporterFor(collector.endpoint), finishedSpans('a'));

      expect(result.code).toBe(ExportResultCode.FAILED);
      expect(result.error).toBeInstanceOf(Error);
      expect(result.error?.message).toBe(
        'the collector answered gRPC status 14: collector is draining',
      );
    });

    it('decodes a percent-encoded status message', async () => {
      const collector = await grpcCollector((_call, callback) =>
        callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'über 100% voll' }),
      );

      const result = await exportOnce(exporterFor(collector.endpoint), finishedSpans('a'));

      expect(result.code).toBe(ExportResultCode.FAILED);
      expect(result.error?.message).toBe('the collector answered gRPC status 8: über 100% voll');
    });

    it('answers each of several exports with its own result', async () => {
      let next = 0;
      const outcomes = [grpc.status.OK, grpc.status.UNAVAILABLE, grpc.status.OK];
      const collector = await grpcCollector((_call, callback) => {
        const code = outcomes[next++];
        if (code === grpc.status.OK) callback(null, Buffer.alloc(0));
        else callback({ code, details: 'try later' });
      });
      const exp = exporterFor(collector.endpoint);

      const results = [];
      for (const name of ['one', 'two', 'three']) {
        results.push(await exportOnce(exp, finishedSpans(name)));
      }

      expect(results.map((result) => result.code)).toEqual([
        ExportResultCode.SUCCESS,
        ExportResultCode.FAILED,
        ExportResultCode.SUCCESS,
      ]);
      expect(collector.calls.map((call) => call.spans[0].name)).toEqual(['one', 'two', 'three']);
    });

    it('exports an empty batch as a valid request', async () => {
      const collector = await grpcCollector();

      const result = await exportOnce(exporterFor(collector.endpoint), []);

      expect(result.code).toBe(ExportResultCode.SUCCESS);
      expect(collector.calls).toHaveLength(1);
      expect(collector.calls[0].spans).toEqual([]);
    });
  });

  describe('against bare HTTP/2', () => {
    async function rawCollector(answer?: RawAnswer) {
      const collector = await startRawCollector(answer);
      closeCollector = collector.close;
      return collector;
    }

    it('POSTs to the Export path with the gRPC headers and a 5-byte prefixed message', async () => {
      const collector = await rawCollector();
      const spans = finishedSpans('framed');

      const result = await exportOnce(exporterFor(collector.endpoint), spans);

      expect(result.code).toBe(ExportResultCode.SUCCESS);
      const [request] = collector.requests;
      expect(request.headers).toMatchObject({
        ':method': 'POST',
        ':path': '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': '10000m',
        'grpc-accept-encoding': 'identity,gzip',
      });
      expect(request.headers['grpc-encoding']).toBeUndefined();
      const { compressed, message } = messageOf(request.body);
      expect(compressed).toBe(0);
      expect(message.includes(spans[0].bytes)).toBe(true);
      expect(decodeExportTraceRequest(message).map((span) => span.name)).toEqual(['framed']);
    });

    it('rounds a fractional timeout up to whole milliseconds', async () => {
      const collector = await rawCollector();

      await exportOnce(exporterFor(collector.endpoint, { timeoutMs: 2_500.2 }), finishedSpans('a'));

      expect(collector.requests.map((request) => request.headers['grpc-timeout'])).toEqual([
        '2501m',
      ]);
    });

    it('flags, frames and announces a gzip-compressed message', async () => {
      const collector = await rawCollector();

      const result = await exportOnce(
        exporterFor(collector.endpoint, { compression: 'gzip' }),
        finishedSpans('zipped'),
      );

      expect(result.code).toBe(ExportResultCode.SUCCESS);
      const [request] = collector.requests;
      expect(request.headers['grpc-encoding']).toBe('gzip');
      expect(request.body.subarray(5, 7).equals(Buffer.from([0x1f, 0x8b]))).toBe(true);
      const { compressed, message } = messageOf(request.body);
      expect(compressed).toBe(1);
      expect(decodeExportTraceRequest(message).map((span) => span.name)).toEqual(['zipped']);
    });

    it.each([400, 404, 415, 503])(
      'fails with the HTTP status when the answer is HTTP %i',
      async (status) => {
        const collector = await rawCollector((stream) => {
          stream.respond({ ':status': status, 'content-type': 'text/plain' });
          stream.end('not a gRPC answer');
        });

        const result = await exportOnce(exporterFor(collector.endpoint), finishedSpans('a'));

        expect(result.code).toBe(ExportResultCode.FAILED);
        expect(result.error?.message).toBe(`the collector answered HTTP ${status} to a gRPC call`);
      },
    );

    it('reads the status of a trailers-only answer from its headers', async () => {
      const collector = await rawCollector((stream) =>
        stream.respond(
          {
            ':status': 200,
            'content-type': 'application/grpc',
            'grpc-status': '14',
            'grpc-message': 'no%20backend',
          },
          { endStream: true },
        ),
      );

      const result = await exportOnce(exporterFor(collector.endpoint), finishedSpans('a'));

      expect(result.code).toBe(ExportResultCode.FAILED);
      expect(result.error?.message).toBe('the collector answered gRPC status 14: no backend');
    });

    it('succeeds on a trailers-only answer with grpc-status 0', async () => {
      const collector = await rawCollector((stream) =>
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' },
          { endStream: true },
        ),
      );

      const result = await exportOnce(exporterFor(collector.endpoint), finishedSpans('a'));

      expect(result).toEqual({ code: ExportResultCode.SUCCESS });
    });

    it('takes the trailer’s status over an OK in the headers', async () => {
      const collector = await rawCollector((stream) => {
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' },
          { waitForTrailers: true },
        );
        stream.on('wantTrailers', () =>
          stream.sendTrailers({ 'grpc-status': '13', 'grpc-message': 'late failure' }),
        );
        stream.end();
      });

      const result = await exportOnce(exporterFor(collector.endpoint), finishedSpans('a'));

      expect(result.code).toBe(ExportResultCode.FAILED);
      expect(result.error?.message).toBe('the collector answered gRPC status 13: late failure');
    });

    it('fails when the call ends without any grpc-status', async () => {
      const collector = await rawCollector((stream) => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
        stream.end(Buffer.alloc(5));
      });

      const result = await exportOnce(exporterFor(collector.endpoint), finishedSpans('a'));

      expect(result.code).toBe(ExportResultCode.FAILED);
      expect(result.error?.message).toBe('the gRPC call ended without a status');
    });

    it('fails when the server resets the stream', async () => {
      const collector = await rawCollector((stream) =>
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM),
      );

      const result = await exportOnce(exporterFor(collector.endpoint), finishedSpans('a'));

      expect(result.code).toBe(ExportResultCode.FAILED);
      expect(result.error).toBeInstanceOf(Error);
      expect(result.error?.message).toMatch(/NGHTTP2_REFUSED_STREAM/);
    });

    it('fails with the timeout message and cancels the call when no answer comes', async () => {
      const collector = await rawCollector(() => undefined);

      const result = await exportOnce(
        exporterFor(collector.endpoint, { timeoutMs: 100 }),
        finishedSpans('a'),
      );

      expect(result.code).toBe(ExportResultCode.FAILED);
      expect(result.error?.message).toBe('no answer from the collector within 100 ms');
      expect(collector.requests).toHaveLength(1);
      await until(() => collector.requests[0].rstCode !== undefined);
      expect(collector.requests[0].rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
    });

    it('calls back exactly once when the stream closes after the timeout fired', async () => {
      const collector = await rawCollector(() => undefined);
      const exp = exporterFor(collector.endpoint, { timeoutMs: 50 });
      const results: ExportResult[] = [];

      await new Promise<void>((resolve) =>
        exp.export(finishedSpans('late'), (result) => {
          results.push(result);
          resolve();
        }),
      );
      await until(() => collector.requests[0]?.rstCode !== undefined);
      await new Promise((resolve) => setTimeout(resolve, 20));

      expect(results).toHaveLength(1);
      expect(results[0].code).toBe(ExportResultCode.FAILED);
    });

    it('reuses one connection for consecutive and concurrent exports', async () => {
      const collector = await rawCollector();
      const exp = exporterFor(collector.endpoint);

      await exportOnce(exp, finishedSpans('a'));
      await exportOnce(exp, finishedSpans('b'));
      const concurrent = await Promise.all([
        exportOnce(exp, finishedSpans('c')),
        exportOnce(exp, finishedSpans('d')),
        exportOnce(exp, finishedSpans('e')),
      ]);

      expect(concurrent.map((result) => result.code)).toEqual([
        ExportResultCode.SUCCESS,
        ExportResultCode.SUCCESS,
        ExportResultCode.SUCCESS,
      ]);
      expect(collector.requests).toHaveLength(5);
      expect(collector.sessions()).toBe(1);
    });

    it('closes the connection on shutdown and opens a new one for a later export', async () => {
      const collector = await rawCollector();
      const exp = exporterFor(collector.endpoint);
      await exportOnce(exp, finishedSpans('before'));
      expect(collector.closedSessions()).toBe(0);

      await exp.shutdown();
      await until(() => collector.closedSessions() === 1);
      const result = await exportOnce(exp, finishedSpans('after'));

      expect(result.code).toBe(ExportResultCode.SUCCESS);
      expect(collector.sessions()).toBe(2);
      expect(
        collector.requests.map(
          (request) => decodeExportTraceRequest(messageOf(request.body).message)[0].name,
        ),
      ).toEqual(['before', 'after']);
    });

    it('shuts down at once when it never connected', async () => {
      const exp = exporterFor('http://127.0.0.1:1');

      await expect(exp.shutdown()).resolves.toBeUndefined();
    });

    it('reconnects after the collector dropped the connection', async () => {
      const collector = await rawCollector();
      const exp = exporterFor(collector.endpoint);
      await exportOnce(exp, finishedSpans('first'));

      collector.dropConnections();
      await until(() => collector.closedSessions() === 1);
      // the client learns of the closed socket on its next turn of the event loop
      await new Promise((resolve) => setTimeout(resolve, 20));
      const result = await exportOnce(exp, finishedSpans('second'));

      expect(result.code).toBe(ExportResultCode.SUCCESS);
      expect(collector.sessions()).toBe(2);
    });
  });

  it('fails when the connection is refused', async () => {
    const port = await closedPort();

    const result = await exportOnce(
      exporterFor(`http://127.0.0.1:${port}`, { timeoutMs: 5_000 }),
      finishedSpans('a'),
    );

    expect(result.code).toBe(ExportResultCode.FAILED);
    expect(result.error).toBeInstanceOf(Error);
    expect(result.error?.message).toMatch(/ECONNREFUSED/);
  });

  it('tries again on a later export once the collector is up', async () => {
    const collector = await startRawCollector();
    closeCollector = collector.close;
    const port = Number(new URL(collector.endpoint).port);
    await collector.close();
    const exp = exporterFor(`http://127.0.0.1:${port}`, { timeoutMs: 5_000 });

    const refused = await exportOnce(exp, finishedSpans('refused'));
    const revived = http2.createServer();
    revived.on('stream', (stream) => {
      stream.on('data', () => undefined);
      stream.on('end', () => grpcOk(stream, { headers: {}, body: Buffer.alloc(0) }));
    });
    await new Promise<void>((resolve) => revived.listen(port, '127.0.0.1', resolve));
    closeCollector = () => new Promise<void>((resolve) => revived.close(() => resolve()));
    const accepted = await exportOnce(exp, finishedSpans('accepted'));
    await exp.shutdown();

    expect(refused.code).toBe(ExportResultCode.FAILED);
    expect(accepted.code).toBe(ExportResultCode.SUCCESS);
  });
});
