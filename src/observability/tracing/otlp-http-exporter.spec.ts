import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { decodeExportTraceRequest } from '../../../test/helpers/otlp-receiver';
import { selfSignedCertificate } from '../../common/tls.testing';
import { OtlpHttpExporter, tracesUrl, type OtlpHttpOptions } from './otlp-http-exporter';
import { encodeResource } from './otlp-protobuf';
import { encodedSpans, exportOnce } from './tracing.testing';

const RESOURCE = encodeResource({ 'service.name': 'otlp-http-exporter-spec' });

/** What the test collector saw of one request. */
interface Received {
  method: string | undefined;
  url: string | undefined;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * A local collector. `answer` decides each response: a status code, or 'hang' to read the
 * request and never answer.
 */
async function startCollector(answer: () => number | 'hang' = () => 200, host = '127.0.0.1') {
  const received: Received[] = [];
  let connections = 0;
  let closed = 0;
  const onClose: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks),
      });
      const status = answer();
      if (status === 'hang') return;
      res.writeHead(status, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  server.on('connection', (socket) => {
    connections += 1;
    socket.on('close', () => {
      closed += 1;
      onClose.splice(0).forEach((notify) => notify());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    received,
    connections: () => connections,
    closed: () => closed,
    /** Resolves when a connection closes, or after `guardMs` so a broken test fails, not hangs. */
    nextClose: (guardMs: number) =>
      new Promise<void>((resolve) => {
        onClose.push(resolve);
        setTimeout(resolve, guardMs).unref();
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

type Collector = Awaited<ReturnType<typeof startCollector>>;

/** A port that nothing listens on: bound, noted, released. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const finishedSpans = (...names: string[]) =>
  encodedSpans({ name: 'otlp-http-exporter-spec' }, ...names);

/** Span names, scope and resource of a body, as an independent decoder reads them. */
function contentOf(body: Buffer) {
  return decodeExportTraceRequest(body).map((span) => ({
    name: span.name,
    scope: span.scope,
    service: span.resource['service.name'],
    route: span.attributes['mizuchi.route'],
  }));
}

describe('tracesUrl', () => {
  it.each([
    ['http://localhost:4318', 'http://localhost:4318/v1/traces'],
    ['http://localhost:4318/', 'http://localhost:4318/v1/traces'],
    ['https://otel.example.com', 'https://otel.example.com/v1/traces'],
    ['http://collector:4318/otlp', 'http://collector:4318/otlp/v1/traces'],
    ['http://collector:4318/otlp/', 'http://collector:4318/otlp/v1/traces'],
    ['http://collector:4318/otlp//', 'http://collector:4318/otlp/v1/traces'],
    ['http://collector:4318/v1/traces', 'http://collector:4318/v1/traces'],
    ['http://collector:4318/otlp/v1/traces', 'http://collector:4318/otlp/v1/traces'],
  ])('turns %s into %s', (endpoint, expected) => {
    expect(tracesUrl(endpoint).href).toBe(expected);
  });

  it('returns a URL object with the collector host and port', () => {
    const url = tracesUrl('http://collector:4318');

    expect(url).toBeInstanceOf(URL);
    expect(url.hostname).toBe('collector');
    expect(url.port).toBe('4318');
    expect(url.pathname).toBe('/v1/traces');
  });

  it('rejects an endpoint that is not a URL', () => {
    expect(() => tracesUrl('not a url')).toThrow();
    expect(() => tracesUrl('')).toThrow();
  });
});

describe('OtlpHttpExporter', () => {
  let collector: Collector | undefined;
  let exporter: OtlpHttpExporter | undefined;

  function exporterFor(options: Partial<OtlpHttpOptions> = {}): OtlpHttpExporter {
    exporter = new OtlpHttpExporter({
      endpoint: collector?.base ?? 'http://127.0.0.1:1',
      timeoutMs: 10_000,
      compression: 'none',
      resource: RESOURCE,
      ...options,
    });
    return exporter;
  }

  afterEach(async () => {
    await exporter?.shutdown();
    await collector?.close();
    exporter = undefined;
    collector = undefined;
  });

  it('POSTs the spans as OTLP protobuf to /v1/traces', async () => {
    collector = await startCollector();
    const spans = finishedSpans('PUT uploads', 'GET backend');

    const result = await exportOnce(exporterFor(), spans);

    expect(result.code).toBe(ExportResultCode.SUCCESS);
    expect(collector.received).toHaveLength(1);
    const [request] = collector.received;
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/v1/traces');
    expect(request.headers['content-type']).toBe('application/x-protobuf');
    expect(request.headers['content-encoding']).toBeUndefined();
    expect(request.headers['content-length']).toBe(String(request.body.length));
    const span = {
      scope: 'otlp-http-exporter-spec',
      service: 'otlp-http-exporter-spec',
      route: 'uploads',
    };
    expect(contentOf(request.body)).toEqual([
      { name: 'PUT uploads', ...span },
      { name: 'GET backend', ...span },
    ]);
    expect(request.body.includes(spans[0].bytes)).toBe(true);
    expect(request.body.includes(spans[1].bytes)).toBe(true);
  });

  it('posts under the base path of the endpoint, trailing slash or not', async () => {
    collector = await startCollector();

    await exportOnce(exporterFor({ endpoint: `${collector.base}/collector/` }), finishedSpans('a'));
    await exporter?.shutdown();
    await exportOnce(exporterFor({ endpoint: `${collector.base}/collector` }), finishedSpans('b'));

    expect(collector.received.map((r) => r.url)).toEqual([
      '/collector/v1/traces',
      '/collector/v1/traces',
    ]);
  });

  it('posts to an endpoint that already names /v1/traces as given', async () => {
    collector = await startCollector();

    await exportOnce(exporterFor({ endpoint: `${collector.base}/v1/traces` }), finishedSpans('a'));

    expect(collector.received.map((r) => r.url)).toEqual(['/v1/traces']);
  });

  it('gzips the body and says so when compression is gzip', async () => {
    collector = await startCollector();
    const spans = finishedSpans('PUT uploads');

    const result = await exportOnce(exporterFor({ compression: 'gzip' }), spans);

    expect(result.code).toBe(ExportResultCode.SUCCESS);
    const [request] = collector.received;
    expect(request.headers['content-encoding']).toBe('gzip');
    expect(request.headers['content-type']).toBe('application/x-protobuf');
    expect(request.headers['content-length']).toBe(String(request.body.length));
    // gzip magic number
    expect(request.body.subarray(0, 2).equals(Buffer.from([0x1f, 0x8b]))).toBe(true);
    expect(contentOf(gunzipSync(request.body)).map((span) => span.name)).toEqual(['PUT uploads']);
  });

  it.each([204, 202])('treats HTTP %i as success', async (status) => {
    collector = await startCollector(() => status);

    const result = await exportOnce(exporterFor(), finishedSpans('a'));

    expect(result.code).toBe(ExportResultCode.SUCCESS);
    expect(result.error).toBeUndefined();
  });

  it.each([301, 400, 404, 429, 500, 503])(
    'fails with the status in the error when the collector answers HTTP %i',
    async (status) => {
      collector = await startCollector(() => status);

      const result = await exportOnce(exporterFor(), finishedSpans('a'));

      expect(result.code).toBe(ExportResultCode.FAILED);
      expect(result.error).toBeInstanceOf(Error);
      expect(result.error?.message).toContain(String(status));
      expect(collector.received).toHaveLength(1);
    },
  );

  it('exports to a collector whose endpoint is an IPv6 literal', async () => {
    collector = await startCollector(() => 200, '::1');
    expect(collector.base).toMatch(/^http:\/\/\[::1\]:\d+$/);

    const result = await exportOnce(exporterFor(), finishedSpans('v6'));

    expect(result.code).toBe(ExportResultCode.SUCCESS);
    expect(collector.received.map((r) => r.url)).toEqual(['/v1/traces']);
  });

  it('speaks TLS to an https endpoint and checks the certificate: a self-signed one fails', async () => {
    const tls = selfSignedCertificate();
    let connections = 0;
    const server = https.createServer({ key: tls.key, cert: tls.cert }, (_req, res) => res.end());
    server.on('secureConnection', () => (connections += 1));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const result = await exportOnce(
        exporterFor({ endpoint: `https://127.0.0.1:${port}` }),
        finishedSpans('tls'),
      );

      expect(result.code).toBe(ExportResultCode.FAILED);
      expect(result.error?.message).toContain('self-signed certificate');
      expect(connections).toBe(0);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('fails when the connection is refused', async () => {
    const port = await closedPort();

    const result = await exportOnce(
      exporterFor({ endpoint: `http://127.0.0.1:${port}` }),
      finishedSpans('a'),
    );

    expect(result.code).toBe(ExportResultCode.FAILED);
    expect(result.error).toBeInstanceOf(Error);
    expect(result.error?.message).toContain('ECONNREFUSED');
  });

  it('fails when the collector does not answer within timeoutMs', async () => {
    collector = await startCollector(() => 'hang');

    const result = await exportOnce(exporterFor({ timeoutMs: 50 }), finishedSpans('a'));

    expect(result.code).toBe(ExportResultCode.FAILED);
    expect(result.error?.message).toBe('no answer from the collector within 50 ms');
    expect(collector.received).toHaveLength(1);
  });

  it('answers once per export, each with its own result', async () => {
    let next = 0;
    const statuses = [200, 503, 200];
    collector = await startCollector(() => statuses[next++]);
    const exp = exporterFor();
    const calls: ExportResult[][] = [[], [], []];

    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve) =>
        exp.export(finishedSpans(`s${i}`), (result) => {
          calls[i].push(result);
          resolve();
        }),
      );
    }

    expect(calls.map((c) => c.length)).toEqual([1, 1, 1]);
    expect(calls.map((c) => c[0].code)).toEqual([
      ExportResultCode.SUCCESS,
      ExportResultCode.FAILED,
      ExportResultCode.SUCCESS,
    ]);
  });

  it('reuses one kept-alive connection for consecutive exports', async () => {
    collector = await startCollector();
    const exp = exporterFor();

    await exportOnce(exp, finishedSpans('a'));
    await exportOnce(exp, finishedSpans('b'));
    await exportOnce(exp, finishedSpans('c'));

    expect(collector.received).toHaveLength(3);
    expect(collector.connections()).toBe(1);
  });

  it('closes a kept-alive connection that idled for idleMs, and exports on a new one', async () => {
    collector = await startCollector();
    const exp = exporterFor({ idleMs: 200 });
    await exportOnce(exp, finishedSpans('a'));
    // Closed by the exporter: the collector's own keep-alive timeout (5 s) is past the guard.
    await collector.nextClose(3_000);
    expect(collector.closed()).toBe(1);
    await exportOnce(exp, finishedSpans('b'));

    expect(collector.received).toHaveLength(2);
    expect(collector.connections()).toBe(2);
  });

  it('closes its kept-alive connection on shutdown', async () => {
    collector = await startCollector();
    const exp = exporterFor();
    await exportOnce(exp, finishedSpans('a'));
    expect(collector.closed()).toBe(0);
    const closing = collector.nextClose(10_000);

    await exp.shutdown();
    await closing;

    expect(collector.connections()).toBe(1);
    expect(collector.closed()).toBe(1);
  });
});
