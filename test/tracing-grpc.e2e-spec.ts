/**
 * `tracing.otlp.protocol: grpc`: the gateway process exports its spans over OTLP/gRPC to an
 * in-process gRPC server that implements the collector's TraceService/Export method and decodes
 * the requests with the same protobuf reader as the HTTP receiver.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { stringify } from 'yaml';
import { filesystemRoute } from './helpers/create-test-app';
import { storedFile } from './helpers/filesystem-backend';
import {
  ensureGatewayBuilt,
  type GatewayProcess,
  SERVING_LINE,
  startGateway,
} from './helpers/gateway-process';
import { decodeExportTraceRequest, type ReceivedSpan } from './helpers/otlp-receiver';
import { freePort } from './helpers/processes';
import { send } from './helpers/wire';

const EXPORT_METHOD = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

describe('Tracing over OTLP/gRPC', () => {
  let dir: string;
  let root: string;
  let server: grpc.Server;
  let gateway: GatewayProcess | undefined;
  const received: ReceivedSpan[] = [];

  beforeAll(async () => {
    await ensureGatewayBuilt();
    dir = mkdtempSync(join(tmpdir(), 'mizuchi-tracing-grpc-'));
    root = mkdtempSync(join(tmpdir(), 'mizuchi-tracing-grpc-fs-'));
    server = new grpc.Server();
    const passThrough = (data: Buffer) => data;
    server.addService(
      {
        Export: {
          path: EXPORT_METHOD,
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
          received.push(...decodeExportTraceRequest(call.request));
          callback(null, Buffer.alloc(0));
        },
      },
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) =>
        err ? reject(err) : resolve(bound),
      ),
    );
    const gatewayPort = await freePort();
    const file = join(dir, 'grpc.yaml');
    writeFileSync(
      file,
      stringify({
        server: { address: `127.0.0.1:${gatewayPort}` },
        buckets: [filesystemRoute('grpc', root)],
        tracing: {
          enabled: true,
          otlp: { endpoint: `http://127.0.0.1:${port}`, protocol: 'grpc' },
          sampling: { strategy: 'always' },
          batch: { scheduled_delay_millis: 100 },
        },
      }),
    );
    gateway = startGateway(['--config', file]);
    await gateway.waitForStdout(SERVING_LINE);
  });

  afterAll(async () => {
    await gateway?.stop('SIGKILL');
    server?.forceShutdown();
    for (const path of [dir, root]) {
      if (path !== undefined) rmSync(path, { recursive: true, force: true });
    }
  });

  it('delivers the server and upload spans of one trace to a gRPC collector', async () => {
    const url = /serving \d+ route\(s\) on (http:\/\/\S+)/.exec(gateway!.stdout())![1];
    const traceId = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
    const res = await send(url, {
      method: 'PUT',
      path: '/grpc/over/grpc.txt',
      headers: { traceparent: `00-${traceId}-1122334455667788-01` },
      body: 'exported over grpc',
    });
    expect(res.status).toBe(200);
    expect((await storedFile(root, 'over/grpc.txt'))?.md5).toBe(
      createHash('md5').update('exported over grpc').digest('hex'),
    );

    const deadline = Date.now() + 15_000;
    const names = () => received.filter((s) => s.traceId === traceId).map((s) => s.name);
    while (!(names().includes('PUT grpc') && names().includes('upload.put_object'))) {
      if (Date.now() > deadline) throw new Error(`spans seen: ${names().join(', ') || 'none'}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const serverSpan = received.find((s) => s.traceId === traceId && s.name === 'PUT grpc')!;
    expect(serverSpan.parentSpanId).toBe('1122334455667788');
    expect(serverSpan.resource['service.name']).toBe('mizuchi-uploadr');
  });
});
