/**
 * Issue 7 acceptance: bodies spliced past Node (socket -> pipe -> socket) land byte-exact in Ceph,
 * keep-alive connections stay usable, failures store nothing and leak no descriptor, and slow
 * clients do not hold up others. Every case runs twice: with splice, and with ZERO_COPY=off (the
 * stream path), which must behave the same on the wire.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import {
  cephSettings,
  closeDirectS3,
  createTestBucket,
  destroyTestBucket,
  listMultipartUploads,
  storedObject,
} from './helpers/ceph';
import { cephRoute, createTestApp, type TestApp } from './helpers/create-test-app';
import { type FaultProxy, startFaultProxy } from './helpers/fault-proxy';
import { eventually } from './helpers/landing';
import { expectS3Error, send } from './helpers/wire';

const KiB = 1024;
const MiB = 1024 * KiB;

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** The value of a metric series in a /metrics text, 0 when absent. */
function metricValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** Sends a PUT head and then the body in the given pieces, waiting `pauseMs` between them. */
function putInPieces(
  url: string,
  path: string,
  pieces: Buffer[],
  pauseMs: number,
  agent?: Agent,
): Promise<{ status: number; body: string; reused: boolean }> {
  const total = pieces.reduce((n, p) => n + p.length, 0);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}${path}`,
      { method: 'PUT', headers: { 'content-length': total }, agent },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body, reused: req.reusedSocket }),
        );
      },
    );
    req.on('error', reject);
    void (async () => {
      for (const [i, piece] of pieces.entries()) {
        if (i > 0 && pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
        req.write(piece);
      }
      req.end();
    })();
  });
}

const MODES: Array<[string, string | undefined]> = [
  ['splice', undefined],
  ['stream (ZERO_COPY=off)', 'off'],
];

describe.each(MODES)('Zero-copy uploads into Ceph, %s', (mode, zeroCopyEnv) => {
  let bucket: string;
  let gw: TestApp;
  let earlyBackend: Server;
  const spliced = mode === 'splice';

  beforeAll(async () => {
    bucket = await createTestBucket('zero-copy');
    earlyBackend = createServer((_req, res) => {
      // Answers before reading any of the body, as a backend refusing a request does.
      res.writeHead(403, { 'content-type': 'application/xml', connection: 'close' });
      res.end('<Error><Code>AccessDenied</Code><Message>early</Message></Error>');
    });
    await new Promise<void>((r) => earlyBackend.listen(0, '127.0.0.1', r));
    const earlyPort = (earlyBackend.address() as AddressInfo).port;
    const previous = process.env.ZERO_COPY;
    if (zeroCopyEnv !== undefined) process.env.ZERO_COPY = zeroCopyEnv;
    try {
      gw = await createTestApp({
        server: { zero_copy: { min_body_bytes: 0 } },
        buckets: [
          cephRoute('zc', bucket),
          cephRoute('early', bucket, { s3: { endpoint: `http://127.0.0.1:${earlyPort}` } }),
        ],
      });
    } finally {
      if (previous === undefined) delete process.env.ZERO_COPY;
      else process.env.ZERO_COPY = previous;
    }
  });

  afterAll(async () => {
    await gw?.close();
    earlyBackend?.closeAllConnections();
    await new Promise<void>((r) => earlyBackend?.close(() => r()));
    if (bucket !== undefined) await destroyTestBucket(bucket);
    closeDirectS3();
  });

  async function metrics(): Promise<string> {
    return (await send(gw.url, { method: 'GET', path: '/metrics' })).text;
  }

  it(`reports the ${spliced ? 'splice' : 'stream'} path in /health/ready`, async () => {
    const res = await send(gw.url, { method: 'GET', path: '/health/ready' });
    const report = JSON.parse(res.text) as { details: Record<string, Record<string, unknown>> };
    expect(report.details.zero_copy).toMatchObject({
      status: 'up',
      mode: spliced ? 'splice' : 'stream',
    });
    if (!spliced) expect(report.details.zero_copy.reason).toBe('ZERO_COPY=off');
  });

  it.each([0, 1, 7, 4095, 65537, MiB + 7, 5 * MiB + 3])(
    'stores a %d-byte body byte-exact',
    async (size) => {
      const body = randomBytes(size);
      const before = metricValue(await metrics(), 'mizuchi_zero_copy_bytes_total{mode="splice"}');
      const res = await send(gw.url, { method: 'PUT', path: `/zc/sizes/${size}.bin`, body });
      expect(res.status).toBe(200);
      expect(res.headers.etag).toBe(`"${md5(body)}"`);
      const stored = await storedObject(bucket, `sizes/${size}.bin`);
      expect(stored).toMatchObject({ md5: md5(body), size });
      const after = metricValue(await metrics(), 'mizuchi_zero_copy_bytes_total{mode="splice"}');
      // What Node had already read before the splice began is counted as streamed.
      if (spliced && size > 256 * KiB) expect(after - before).toBeGreaterThan(0);
      if (!spliced) expect(after).toBe(before);
    },
  );

  it('stores a body that Node partly buffered before the rest arrived', async () => {
    const body = randomBytes(3 * MiB + 11);
    const res = await putInPieces(
      gw.url,
      '/zc/buffered/partly.bin',
      [body.subarray(0, 100 * KiB), body.subarray(100 * KiB)],
      150,
    );
    expect(res.status).toBe(200);
    expect(await storedObject(bucket, 'buffered/partly.bin')).toMatchObject({
      md5: md5(body),
      size: body.length,
    });
  });

  it('stores a body that Node had wholly buffered', async () => {
    const body = randomBytes(20 * KiB);
    const res = await putInPieces(gw.url, '/zc/buffered/wholly.bin', [body], 0);
    expect(res.status).toBe(200);
    expect((await storedObject(bucket, 'buffered/wholly.bin'))?.md5).toBe(md5(body));
  });

  it('carries several uploads on one keep-alive connection', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const bodies = [2 * MiB + 1, 300 * KiB, 17, 4 * MiB].map((n) => randomBytes(n));
      const results = [];
      for (const [i, body] of bodies.entries()) {
        results.push(await putInPieces(gw.url, `/zc/keepalive/${i}.bin`, [body], 0, agent));
      }
      expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      expect(results.slice(1).every((r) => r.reused)).toBe(true);
      for (const [i, body] of bodies.entries()) {
        expect((await storedObject(bucket, `keepalive/${i}.bin`))?.md5).toBe(md5(body));
      }
    } finally {
      agent.destroy();
    }
  });

  it('stores nothing and leaks no descriptor when the client aborts mid-transfer', async () => {
    const settle = async () => {
      // Let sockets of earlier cases close before counting.
      await new Promise((r) => setTimeout(r, 300));
    };
    // One complete upload first: the addon's shared epoll thread (an epoll fd and an eventfd,
    // kept for the life of the process) starts with the first splice.
    const warmUp = await send(gw.url, {
      method: 'PUT',
      path: '/zc/aborted/warm-up.bin',
      body: randomBytes(MiB),
    });
    expect(warmUp.status).toBe(200);
    await settle();
    const fdsBefore = openFds();

    for (let i = 0; i < 3; i++) {
      const socket: Socket = connect(new URL(gw.url).port as unknown as number, '127.0.0.1');
      await new Promise((r) => socket.once('connect', r));
      socket.write(
        `PUT /zc/aborted/${i}.bin HTTP/1.1\r\nHost: x\r\nContent-Length: ${8 * MiB}\r\n\r\n`,
      );
      socket.write(randomBytes(MiB));
      await new Promise((r) => setTimeout(r, 100));
      socket.write(randomBytes(MiB));
      await new Promise((r) => setTimeout(r, 100));
      socket.destroy();
    }
    await eventually(async () => {
      const res = await send(gw.url, { method: 'GET', path: '/metrics' });
      return metricValue(res.text, 'mizuchi_uploads_in_flight') === 0;
    });

    await settle();
    for (let i = 0; i < 3; i++) {
      expect(await storedObject(bucket, `aborted/${i}.bin`)).toBeUndefined();
    }
    expect(await listMultipartUploads(bucket)).toEqual([]);
    await eventually(() => openFds() <= fdsBefore);
    expect(openFds()).toBeLessThanOrEqual(fdsBefore);
  });

  it('answers with the backend error when the backend replies before taking the body', async () => {
    const body = randomBytes(4 * MiB);
    const res = await send(gw.url, { method: 'PUT', path: '/early/refused.bin', body });
    // The refusal itself (403) or, when the backend's close wins the race against the body
    // still being sent, a connection error (502/503): either way an S3 error, never a hang.
    expect([403, 502, 503]).toContain(res.status);
    expect(res.text).toMatch(
      /<Code>(AccessDenied|ServiceUnavailable|BadGateway|InternalError)<\/Code>/,
    );
    // The gateway still serves normally afterwards.
    const next = randomBytes(300 * KiB);
    const ok = await send(gw.url, { method: 'PUT', path: '/zc/after-early.bin', body: next });
    expect(ok.status).toBe(200);
    expect((await storedObject(bucket, 'after-early.bin'))?.md5).toBe(md5(next));
  });

  it('stores nothing when the body does not match its x-amz-content-sha256', async () => {
    const body = randomBytes(MiB);
    const res = await send(gw.url, {
      method: 'PUT',
      path: '/zc/digest/sha.bin',
      headers: { 'x-amz-content-sha256': sha256(randomBytes(8)) },
      body,
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(await storedObject(bucket, 'digest/sha.bin')).toBeUndefined();

    const good = await send(gw.url, {
      method: 'PUT',
      path: '/zc/digest/sha-good.bin',
      headers: { 'x-amz-content-sha256': sha256(body) },
      body,
    });
    expect(good.status).toBe(200);
    expect((await storedObject(bucket, 'digest/sha-good.bin'))?.md5).toBe(md5(body));
  });

  it('stores nothing when the body does not match its Content-MD5', async () => {
    const body = randomBytes(MiB);
    const res = await send(gw.url, {
      method: 'PUT',
      path: '/zc/digest/md5.bin',
      headers: { 'content-md5': createHash('md5').update('other').digest('base64') },
      body,
    });
    expect(res.status).toBe(400);
    expect(res.text).toContain('BadDigest');
    expect(await storedObject(bucket, 'digest/md5.bin')).toBeUndefined();
  });

  it('finishes a fast upload while four slow clients stall', async () => {
    const port = Number(new URL(gw.url).port);
    const slow: Socket[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const socket = connect(port, '127.0.0.1');
        await new Promise((r) => socket.once('connect', r));
        socket.on('error', () => undefined);
        socket.write(
          `PUT /zc/slow/${i}.bin HTTP/1.1\r\nHost: x\r\nContent-Length: ${4 * MiB}\r\n\r\n`,
        );
        socket.write(randomBytes(300 * KiB));
        slow.push(socket);
      }
      await new Promise((r) => setTimeout(r, 200));
      const body = randomBytes(8 * MiB);
      const res = await send(gw.url, { method: 'PUT', path: '/zc/slow/fast.bin', body });
      expect(res.status).toBe(200);
      expect((await storedObject(bucket, 'slow/fast.bin'))?.md5).toBe(md5(body));
    } finally {
      slow.forEach((s) => s.destroy());
    }
    for (let i = 0; i < 4; i++) {
      await eventually(async () => (await storedObject(bucket, `slow/${i}.bin`)) === undefined);
    }
  });
});

/**
 * Routes without static keys send bodies through the AWS SDK (its NodeHttpHandler), not the lean
 * client, with the SDK's default credential chain (here the AWS_* environment). The SDK arms its
 * socket timeout on the backend socket itself: at connect below 6 s, else 3 s after the request
 * starts. A spliced body moves past Node, which sees no traffic on that socket meanwhile; the
 * backend's idle timeout must neither stay off after the body nor run down during it.
 */
describe.each(MODES)(
  'The backend idle timeout on the AWS SDK data path, %s',
  (mode, zeroCopyEnv) => {
    let bucket: string;
    let proxy: FaultProxy;
    let gw: TestApp;
    const spliced = mode === 'splice';
    const saved = {
      id: process.env.AWS_ACCESS_KEY_ID,
      secret: process.env.AWS_SECRET_ACCESS_KEY,
      zeroCopy: process.env.ZERO_COPY,
    };

    /** A route to the test bucket through the fault proxy, keys from the SDK's chain. */
    function sdkRoute(prefix: string, timeoutSeconds: number) {
      return {
        name: prefix,
        path_prefix: `/${prefix}`,
        s3: {
          bucket,
          endpoint: proxy.url,
          region: cephSettings().region,
          timeout_seconds: timeoutSeconds,
        },
      };
    }

    beforeAll(async () => {
      bucket = await createTestBucket('zero-copy-sdk');
      proxy = await startFaultProxy(cephSettings().endpoint);
      process.env.AWS_ACCESS_KEY_ID = cephSettings().accessKeyId;
      process.env.AWS_SECRET_ACCESS_KEY = cephSettings().secretAccessKey;
      if (zeroCopyEnv !== undefined) process.env.ZERO_COPY = zeroCopyEnv;
      try {
        gw = await createTestApp({
          server: { zero_copy: { min_body_bytes: 0 } },
          // 3 s: armed at connect; 6 s: armed 3 s into the request.
          buckets: [sdkRoute('sdk-3s', 3), sdkRoute('sdk-6s', 6)],
        });
      } finally {
        if (saved.zeroCopy === undefined) delete process.env.ZERO_COPY;
        else process.env.ZERO_COPY = saved.zeroCopy;
      }
    });

    afterEach(async () => {
      await proxy.heal();
    });

    afterAll(async () => {
      await gw?.close();
      await proxy?.close();
      for (const [name, value] of [
        ['AWS_ACCESS_KEY_ID', saved.id],
        ['AWS_SECRET_ACCESS_KEY', saved.secret],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      if (bucket !== undefined) await destroyTestBucket(bucket);
      closeDirectS3();
    });

    async function splicedBytes(): Promise<number> {
      const text = (await send(gw.url, { method: 'GET', path: '/metrics' })).text;
      return metricValue(text, 'mizuchi_zero_copy_bytes_total{mode="splice"}');
    }

    it('fails an upload whose backend stalls after taking the whole body with 504 GatewayTimeout, storing nothing', async () => {
      const body = randomBytes(MiB);
      const before = await splicedBytes();
      proxy.failNext('PutObject', { kind: 'stall' });

      const res = await send(gw.url, { method: 'PUT', path: '/sdk-3s/stalled.bin', body });

      expectS3Error(res, 504, 'GatewayTimeout');
      expect(proxy.log.map((r) => r.outcome)).toContain('stall');
      expect(await storedObject(bucket, 'stalled.bin')).toBeUndefined();
      // The body really took the path under test.
      if (spliced) expect(await splicedBytes()).toBeGreaterThan(before);
      else expect(await splicedBytes()).toBe(before);
      // The same route stores the next upload.
      const next = randomBytes(MiB);
      const ok = await send(gw.url, { method: 'PUT', path: '/sdk-3s/after-stall.bin', body: next });
      expect(ok.status).toBe(200);
      expect((await storedObject(bucket, 'after-stall.bin'))?.md5).toBe(md5(next));
    });

    it('stores a slow but steady body that takes longer than 3 s plus timeout_seconds', async () => {
      // Twelve pieces a second apart: about 11 s in transfer, never idle for long.
      const pieces = Array.from({ length: 12 }, () => randomBytes(512 * KiB));
      const before = await splicedBytes();

      const res = await putInPieces(gw.url, '/sdk-6s/slow-steady.bin', pieces, 1000);

      expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: '' });
      expect((await storedObject(bucket, 'slow-steady.bin'))?.md5).toBe(md5(Buffer.concat(pieces)));
      if (spliced) expect(await splicedBytes()).toBeGreaterThan(before);
    });
  },
);
