/**
 * Structured logs of the real process (DESIGN.md §6, issue 6): the built gateway serves a JWT
 * route and a SigV4 route into Ceph with the default (JSON) log format. Every stdout line must be
 * a JSON object; each request gets exactly one access line naming its route, operation, status,
 * bytes, request id and trace id (tracing is on, its collector unreachable); errors carry their
 * S3 code; and no token, secret, signature, credential or object key ever reaches stdout or
 * stderr.
 */
import { randomBytes } from 'node:crypto';
import fs, { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { FinalizeHandlerArguments, HttpRequest } from '@smithy/types';
import { sign } from 'jsonwebtoken';
import { createApp } from '../src/app.setup';
import { parseConfig } from '../src/config/load-config';
import { cephSettings, closeDirectS3, createTestBucket, destroyTestBucket } from './helpers/ceph';
import {
  ensureGatewayBuilt,
  type GatewayProcess,
  SERVING_LINE,
  startGateway,
} from './helpers/gateway-process';
import { freePort, isolatedAwsEnv } from './helpers/processes';
import { eventually, parseS3Error, send } from './helpers/wire';

const JWT_SECRET = 'logging-e2e-jwt-secret-long-enough-for-hs256';
const SIGV4_KEY = {
  access_key: 'LOGGINGE2EKEY0000001',
  secret_key: 'logging-e2e-secret/key+0123456789abcdefgh',
  subject: 'logger',
};
const REGION = 'us-east-1';
/** The trace the requests claim to belong to, in their `traceparent`. */
const TRACE_ID = randomBytes(16).toString('hex');
const traceparent = () => `00-${TRACE_ID}-${randomBytes(8).toString('hex')}-01`;
/** A distinctive piece of every object key, so a leak is easy to spot. */
const KEY_MARK = `k3y-${randomBytes(4).toString('hex')}`;

/** One parsed stdout line. */
type LogLine = Record<string, unknown>;

describe('Structured logs of the gateway process', () => {
  let bucket: string;
  let dir: string;
  let gateway: GatewayProcess;
  let url: string;

  beforeAll(async () => {
    await ensureGatewayBuilt();
    bucket = await createTestBucket('logging');
    dir = mkdtempSync(join(tmpdir(), 'mizuchi-logging-'));
    const ceph = cephSettings();
    const s3 = {
      bucket,
      endpoint: ceph.endpoint,
      region: ceph.region,
      access_key: ceph.accessKeyId,
      secret_key: ceph.secretAccessKey,
    };
    const port = await freePort();
    const deadCollector = await freePort();
    const config = join(dir, 'logging.yaml');
    writeFileSync(
      config,
      JSON.stringify({
        server: { address: `127.0.0.1:${port}` },
        buckets: [
          {
            name: 'tokens',
            path_prefix: '/jwt',
            s3,
            auth: { enabled: true, jwt: { algorithms: ['HS256'], secret: JWT_SECRET } },
          },
          {
            name: 'signed',
            path_prefix: '/signed',
            s3,
            auth: { enabled: true, sigv4: { region: REGION, credentials: [SIGV4_KEY] } },
          },
        ],
        tracing: { enabled: true, otlp: { endpoint: `http://127.0.0.1:${deadCollector}` } },
        // No `format`: JSON is the default.
        logging: { level: 'info' },
      }),
    );
    gateway = startGateway(['--config', config], { env: isolatedAwsEnv(), cwd: dir });
    [, url] = await gateway.waitForStdout(SERVING_LINE);
  });

  afterAll(async () => {
    await gateway?.stop('SIGKILL');
    if (bucket !== undefined) await destroyTestBucket(bucket);
    closeDirectS3();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** Every stdout line, parsed; a line that is not JSON fails the test. */
  function lines(): LogLine[] {
    return gateway
      .stdout()
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => {
        try {
          return JSON.parse(line) as LogLine;
        } catch {
          throw new Error(`a stdout line is not JSON: ${line}`);
        }
      });
  }

  const accessLines = () => lines().filter((line) => line.context === 'AccessLog');

  /** The access lines of one request id, once the gateway has written at least one. */
  async function accessLinesOf(requestId: string): Promise<LogLine[]> {
    await eventually(() => accessLines().some((line) => line.request_id === requestId));
    return accessLines().filter((line) => line.request_id === requestId);
  }

  /** What must never be printed, gathered as the requests are made. */
  const secrets: string[] = [JWT_SECRET, SIGV4_KEY.secret_key, KEY_MARK];

  it('logs one access line for an upload with a JWT bearer token', async () => {
    const token = sign({ sub: 'alice' }, JWT_SECRET, { algorithm: 'HS256', expiresIn: 600 });
    secrets.push(token);
    const body = randomBytes(123_457);

    const res = await send(url, {
      method: 'PUT',
      path: `/jwt/${KEY_MARK}/bearer.bin`,
      headers: { authorization: `Bearer ${token}`, traceparent: traceparent() },
      body,
    });

    expect(res.status).toBe(200);
    const requestId = res.headers['x-amz-request-id'] as string;
    expect(await accessLinesOf(requestId)).toEqual([
      expect.objectContaining({
        level: 'info',
        request_id: requestId,
        trace_id: TRACE_ID,
        span_id: expect.stringMatching(/^[0-9a-f]{16}$/),
        method: 'PUT',
        route: 'tokens',
        operation: 'PutObject',
        status: 200,
        bytes_received: body.length,
        duration_ms: expect.any(Number),
        msg: 'request completed',
      }),
    ]);
  });

  it('logs one access line for an upload signed with a SigV4 Authorization header', async () => {
    const sdk = new S3Client({
      endpoint: url,
      forcePathStyle: true,
      region: REGION,
      credentials: { accessKeyId: SIGV4_KEY.access_key, secretAccessKey: SIGV4_KEY.secret_key },
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    let authorization = '';
    sdk.middlewareStack.add(
      (next) => async (args: FinalizeHandlerArguments<object>) => {
        authorization = (args.request as HttpRequest).headers.authorization ?? '';
        return next(args);
      },
      { step: 'finalizeRequest', priority: 'low', name: 'loggingObserveSignedRequest' },
    );
    const body = randomBytes(65_537);
    try {
      const out = await sdk.send(
        new PutObjectCommand({ Bucket: 'signed', Key: `${KEY_MARK}/header.bin`, Body: body }),
      );
      const [, credential, signature] =
        /Credential=([^,]+), .*Signature=([0-9a-f]{64})/.exec(authorization) ?? [];
      expect(signature).toBeDefined();
      secrets.push(credential, signature);

      const requestId = out.$metadata.requestId ?? '';
      expect(await accessLinesOf(requestId)).toEqual([
        expect.objectContaining({
          route: 'signed',
          operation: 'PutObject',
          status: 200,
          bytes_received: body.length,
        }),
      ]);
    } finally {
      sdk.destroy();
    }
  });

  it('logs one access line for an upload to a SigV4 presigned URL', async () => {
    const sdk = new S3Client({
      endpoint: url,
      forcePathStyle: true,
      region: REGION,
      credentials: { accessKeyId: SIGV4_KEY.access_key, secretAccessKey: SIGV4_KEY.secret_key },
    });
    const presigned = await getSignedUrl(
      sdk,
      new PutObjectCommand({ Bucket: 'signed', Key: `${KEY_MARK}/presigned.bin` }),
      { expiresIn: 600 },
    );
    sdk.destroy();
    const query = new URL(presigned).searchParams;
    secrets.push(query.get('X-Amz-Signature') ?? 'missing', query.get('X-Amz-Credential') ?? '');
    const body = randomBytes(10_001);

    const res = await fetch(presigned, { method: 'PUT', body });

    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-amz-request-id') ?? '';
    expect(await accessLinesOf(requestId)).toEqual([
      expect.objectContaining({
        route: 'signed',
        operation: 'PutObject',
        status: 200,
        bytes_received: body.length,
      }),
    ]);
  });

  it("puts an error response's S3 code on its access line, and the ids on every line", async () => {
    const forged = sign({ sub: 'mallory' }, 'not-the-secret-but-long-enough-for-hs256', {
      algorithm: 'HS256',
    });
    secrets.push(forged);

    const res = await send(url, {
      method: 'PUT',
      path: `/jwt/${KEY_MARK}/forged.bin`,
      headers: { authorization: `Bearer ${forged}`, traceparent: traceparent() },
      body: 'refused',
    });

    expect(res.status).toBe(401);
    const code = parseS3Error(res.text).code;
    expect(code).toBe('AccessDenied');
    const requestId = res.headers['x-amz-request-id'] as string;
    expect(await accessLinesOf(requestId)).toEqual([
      expect.objectContaining({ route: 'tokens', status: 401, error_code: code }),
    ]);
    // The refusal the JWT service logs while handling the request names the same request.
    expect(lines()).toContainEqual(
      expect.objectContaining({
        context: 'JwtAuth',
        level: 'warn',
        request_id: requestId,
        trace_id: TRACE_ID,
      }),
    );
  });

  it("logs 'aborted' for an upload whose client goes away", async () => {
    const token = sign({ sub: 'alice' }, JWT_SECRET, { algorithm: 'HS256', expiresIn: 600 });
    secrets.push(token);
    const target = new URL(url);
    const req = httpRequest({
      host: target.hostname,
      port: target.port,
      method: 'PUT',
      path: `/jwt/${KEY_MARK}/cut-off.bin`,
      headers: { authorization: `Bearer ${token}`, 'content-length': String(1024 * 1024) },
      agent: false,
    });
    req.on('error', () => undefined);
    req.write(randomBytes(64 * 1024));
    await new Promise((resolve) => setTimeout(resolve, 300));
    req.destroy();

    await eventually(() => accessLines().some((line) => line.status === 'aborted'));
    const aborted = accessLines().filter((line) => line.status === 'aborted');
    expect(aborted).toEqual([
      expect.objectContaining({ route: 'tokens', operation: 'PutObject', status: 'aborted' }),
    ]);
    expect(aborted[0].bytes_received).toBeGreaterThan(0);
    expect(aborted[0].bytes_received).toBeLessThanOrEqual(64 * 1024);
  });

  it('keeps health probes out of the log at info', async () => {
    const res = await send(url, { method: 'GET', path: '/health/live' });
    expect(res.status).toBe(200);
    const requestId = res.headers['x-amz-request-id'] as string;
    // The next request's line proves the probe's would have been written by now.
    const after = await send(url, { method: 'GET', path: '/jwt/' });
    await accessLinesOf(after.headers['x-amz-request-id'] as string);

    expect(lines().filter((line) => line.request_id === requestId)).toEqual([]);
  });

  it('wrote exactly one access line per request, and never a secret or an object key', async () => {
    const ids = accessLines().map((line) => line.request_id);
    expect(new Set(ids).size).toBe(ids.length);
    // bearer, header-signed, presigned, forged, aborted, and the request after the probe.
    expect(ids).toHaveLength(6);

    expect(await gateway.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    const printed = gateway.stdout() + gateway.stderr();
    expect(lines().length).toBeGreaterThan(ids.length);
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThan(8);
      expect({ secret, leaked: printed.includes(secret) }).toEqual({ secret, leaked: false });
    }
  });
});

describe('createApp(config, false)', () => {
  it('writes nothing at all, for successful and failing requests alike', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mizuchi-silent-'));
    const config = parseConfig(
      {
        server: { address: '127.0.0.1:8080' },
        buckets: [{ name: 'files', path_prefix: '/files', filesystem: { path: root } }],
        logging: { level: 'verbose' },
      },
      {},
    );
    const stdout = jest.spyOn(process.stdout, 'write');
    const stderr = jest.spyOn(process.stderr, 'write');
    const writeSync = jest.spyOn(fs, 'writeSync');
    try {
      const app = await createApp(config, false);
      await app.listen(0, '127.0.0.1');
      const { port } = app.getHttpServer().address() as { port: number };
      const base = `http://127.0.0.1:${port}`;
      expect((await send(base, { method: 'PUT', path: '/files/a.txt', body: 'a' })).status).toBe(
        200,
      );
      expect((await send(base, { method: 'PUT', path: '/nowhere/a.txt', body: 'a' })).status).toBe(
        404,
      );
      await app.close();

      expect(stdout).not.toHaveBeenCalled();
      expect(stderr).not.toHaveBeenCalled();
      expect(writeSync.mock.calls.filter(([fd]) => fd === 1 || fd === 2)).toEqual([]);
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
      writeSync.mockRestore();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('Upload progress at debug level', () => {
  let dir: string;
  let gateway: GatewayProcess | undefined;
  let url: string;

  beforeAll(async () => {
    await ensureGatewayBuilt();
    dir = mkdtempSync(join(tmpdir(), 'mizuchi-progress-'));
    const port = await freePort();
    const config = join(dir, 'progress.yaml');
    writeFileSync(
      config,
      JSON.stringify({
        server: { address: `127.0.0.1:${port}` },
        buckets: [
          {
            name: 'progress',
            path_prefix: '/progress',
            filesystem: { path: join(dir, 'data') },
            upload: { multipart_threshold: '5MiB', part_size: '5MiB' },
          },
        ],
        logging: { level: 'debug' },
      }),
    );
    gateway = startGateway(['--config', config], { env: isolatedAwsEnv(), cwd: dir });
    [, url] = await gateway.waitForStdout(SERVING_LINE);
  });

  afterAll(async () => {
    await gateway?.stop('SIGKILL');
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('logs one line per stored part of an auto-multipart upload, under its request id', async () => {
    const size = 11 * 1024 * 1024;
    const res = await send(url, {
      method: 'PUT',
      path: `/progress/${KEY_MARK}/large.bin`,
      body: randomBytes(size),
    });
    expect(res.status).toBe(200);
    const requestId = String(res.headers['x-amz-request-id']);
    await eventually(
      () =>
        gateway!.stdout().includes(`"request_id":"${requestId}","context":"AccessLog"`) ||
        gateway!
          .stdout()
          .split('\n')
          .some((line) => line.includes(requestId) && line.includes('request completed')),
    );
    const progress = gateway!
      .stdout()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine)
      .filter((line) => line.request_id === requestId && /part \d+ stored/.test(String(line.msg)));
    expect(progress.map((line) => line.msg).sort()).toEqual([
      `auto-multipart: part 1 stored (${5 * 1024 * 1024} bytes)`,
      `auto-multipart: part 2 stored (${5 * 1024 * 1024} bytes)`,
      `auto-multipart: part 3 stored (${1024 * 1024} bytes)`,
    ]);
    expect(progress.every((line) => line.level === 'debug')).toBe(true);
    expect(gateway!.stdout()).not.toContain(KEY_MARK);
  });
});
