/**
 * How uploads fail: a client that sends less than it declared or goes away mid-body, a backend
 * that is down or answers with a server error, and a config file with mistakes in it. A failed
 * upload must leave nothing behind in the backend, and the client must get an S3 error that says
 * what kind of failure it was without leaking the backend's own words.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfigFile, parseConfig } from '../src/config/load-config';
import { InFlightUploads } from '../src/upload/in-flight-uploads';
import {
  closeDirectS3,
  createTestBucket,
  destroyTestBucket,
  listMultipartUploads,
  storedObject,
} from './helpers/ceph';
import { cephRoute, createTestApp, filesystemRoute, type TestApp } from './helpers/create-test-app';
import { nothingStored, storedFile, tempFiles } from './helpers/filesystem-backend';
import {
  REQUEST_ID,
  closedPort,
  eventually,
  expectOk,
  expectS3Error,
  md5Hex,
  send,
  startRecordingBackend,
  type BackendReply,
  type RecordingBackend,
} from './helpers/wire';

const KiB = 1024;
const MiB = 1024 * KiB;

/** The health check document of @nestjs/terminus. */
interface HealthReport {
  status: 'ok' | 'error' | 'shutting_down';
  info?: Record<string, { status: string }>;
  error?: Record<string, { status: string; reason?: string }>;
  details: Record<string, { status: string }>;
}

/** Writes `data` to a raw socket, waiting for the socket to take each piece. */
async function writeAll(socket: Socket, data: Buffer, pieceSize = 64 * KiB): Promise<void> {
  for (let offset = 0; offset < data.length; offset += pieceSize) {
    await new Promise<void>((resolve, reject) => {
      socket.write(data.subarray(offset, offset + pieceSize), (err) =>
        err ? reject(err) : resolve(),
      );
    });
  }
}

/**
 * Starts a PUT on a raw socket that declares `declared` bytes but sends only `sent` of them, waits
 * until the gateway has the upload in flight, then lets `hangUp` close the connection and waits
 * until the gateway has finished with it: no upload in flight any more.
 */
async function abandonUpload(
  gw: TestApp,
  path: string,
  declared: number,
  sent: number,
  hangUp: (socket: Socket) => void,
): Promise<void> {
  const inFlight = gw.app.get(InFlightUploads);
  const socket = connect(gw.port, '127.0.0.1');
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined); // a reset after hanging up is expected
  // Read (and drop) whatever the server answers, so that its closing of the connection is seen.
  socket.resume();
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const head =
    `PUT ${path} HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\n` +
    `Content-Type: application/octet-stream\r\nContent-Length: ${declared}\r\n\r\n`;
  await writeAll(socket, Buffer.from(head, 'latin1'));
  await writeAll(socket, randomBytes(sent));
  await eventually(() => inFlight.size > 0);

  hangUp(socket);

  await closed;
  await eventually(() => inFlight.size === 0);
}

describe('uploads that the client does not finish', () => {
  let gw: TestApp;
  let bucket: string;
  let fsRoot: string;

  beforeAll(async () => {
    bucket = await createTestBucket('failures');
    fsRoot = mkdtempSync(join(tmpdir(), 'mizuchi-failures-'));
    gw = await createTestApp({
      buckets: [cephRoute('ceph', bucket), filesystemRoute('files', fsRoot)],
    });
  });

  afterAll(async () => {
    await gw?.close();
    await destroyTestBucket(bucket);
    closeDirectS3();
    rmSync(fsRoot, { recursive: true, force: true });
  });

  /** Nothing stored for `key` in the backend behind `prefix`, and no leftovers. */
  async function expectNothingStored(prefix: 'ceph' | 'files', key: string): Promise<void> {
    if (prefix === 'ceph') {
      expect(await storedObject(bucket, key)).toBeUndefined();
      expect(await listMultipartUploads(bucket)).toEqual([]);
    } else {
      expect(await nothingStored(fsRoot, key)).toBe(true);
      expect(await tempFiles(fsRoot)).toEqual([]);
    }
  }

  /** The MD5 of what the backend behind `prefix` holds for `key`. */
  async function storedMd5(prefix: 'ceph' | 'files', key: string): Promise<string | undefined> {
    return prefix === 'ceph'
      ? (await storedObject(bucket, key))?.md5
      : (await storedFile(fsRoot, key))?.md5;
  }

  describe.each([
    ['the Ceph RADOS Gateway', 'ceph' as const],
    ['the filesystem backend', 'files' as const],
  ])('into %s', (_name, prefix) => {
    it('stores nothing when the client declares 1 MiB, sends 100 KiB and closes the connection', async () => {
      const key = 'short/declared-1MiB.bin';

      await abandonUpload(gw, `/${prefix}/${key}`, MiB, 100 * KiB, (socket) => socket.end());

      await expectNothingStored(prefix, key);
    });

    it('stores nothing when the client disconnects 5 MiB into a 20 MiB body, then serves the next upload', async () => {
      const key = 'disconnect/20MiB.bin';

      await abandonUpload(gw, `/${prefix}/${key}`, 20 * MiB, 5 * MiB, (socket) => socket.destroy());

      await expectNothingStored(prefix, key);

      const next = randomBytes(2 * MiB);
      const res = await send(gw.url, {
        method: 'PUT',
        path: `/${prefix}/disconnect/next.bin`,
        body: next,
      });
      expectOk(res);
      expect(await storedMd5(prefix, 'disconnect/next.bin')).toBe(md5Hex(next));
    });
  });

  it('reports itself ready while its backends answer', async () => {
    const res = await send(gw.url, { method: 'GET', path: '/health/ready' });

    expect(res.status).toBe(200);
    const report = JSON.parse(res.text) as HealthReport;
    expect(report.status).toBe('ok');
    expect(report.details).toEqual({
      'route:ceph': expect.objectContaining({ status: 'up' }),
      'route:files': expect.objectContaining({ status: 'up' }),
      // Tracing is off in this app: a detail, never a reason to fail.
      tracing: { status: 'up', exporter: 'disabled', breaker: 'closed' },
      zero_copy: expect.objectContaining({
        status: 'up',
        mode: expect.stringMatching(/^(splice|stream)$/),
      }),
    });
  });
});

describe('a backend that is down', () => {
  let gw: TestApp;
  let bucket: string;

  beforeAll(async () => {
    bucket = await createTestBucket('backend-down');
    const port = await closedPort();
    gw = await createTestApp({
      buckets: [
        cephRoute('healthy', bucket),
        {
          name: 'down',
          path_prefix: '/down',
          s3: {
            bucket: 'unreachable',
            endpoint: `http://127.0.0.1:${port}`,
            access_key: 'AKIDDOWN',
            secret_key: 'secret-down',
          },
        },
      ],
    });
  });

  afterAll(async () => {
    await gw?.close();
    await destroyTestBucket(bucket);
    closeDirectS3();
  });

  it('answers a PUT with 503 ServiceUnavailable and a Retry-After', async () => {
    const res = await send(gw.url, {
      method: 'PUT',
      path: '/down/report.pdf',
      body: randomBytes(KiB),
    });

    expectS3Error(res, 503, 'ServiceUnavailable');
    expect(res.headers['retry-after']).toMatch(/^[1-9]\d*$/);
  });

  it('answers /health/ready with 503 naming the failing route, and only that one', async () => {
    const res = await send(gw.url, { method: 'GET', path: '/health/ready' });

    expect(res.status).toBe(503);
    const report = JSON.parse(res.text) as HealthReport;
    expect(report.status).toBe('error');
    expect(Object.keys(report.error ?? {})).toEqual(['route:down']);
    expect(report.error?.['route:down'].status).toBe('down');
    expect(report.details['route:healthy'].status).toBe('up');
    // Unauthenticated probes never reveal where the backends are.
    expect(res.text).not.toMatch(/127\.0\.0\.1|http:|s3:/);
  });

  it('still answers /health/live with 200', async () => {
    const res = await send(gw.url, { method: 'GET', path: '/health/live' });

    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ status: 'ok' });
    expect(res.headers['x-amz-request-id']).toMatch(REQUEST_ID);
  });

  it('keeps serving the healthy route next to it', async () => {
    const body = randomBytes(64 * KiB);

    const res = await send(gw.url, { method: 'PUT', path: '/healthy/fine.bin', body });

    expectOk(res);
    expect((await storedObject(bucket, 'fine.bin'))?.md5).toBe(md5Hex(body));
  });
});

describe('a backend that answers with a server error', () => {
  // Words only the backend knows: none of them may reach the client.
  const SECRETS = ['osd.7', '/dev/sdz3', 'rgw-internal-host-9', 'BACKEND-REQ-4242', 'zone-b'];

  function s3ErrorReply(status: number, code: string): BackendReply {
    return (_req, res) => {
      const xml =
        '<?xml version="1.0" encoding="UTF-8"?>' +
        `<Error><Code>${code}</Code>` +
        '<Message>disk /dev/sdz3 on osd.7 failed in zone-b</Message>' +
        '<RequestId>BACKEND-REQ-4242</RequestId><HostId>rgw-internal-host-9</HostId></Error>';
      res.writeHead(status, {
        'Content-Type': 'application/xml',
        'Content-Length': Buffer.byteLength(xml),
        'x-amz-request-id': 'BACKEND-REQ-4242',
      });
      res.end(xml);
    };
  }

  let gw: TestApp;
  let broken: RecordingBackend;
  let busy: RecordingBackend;

  function route(name: string, backend: RecordingBackend) {
    return {
      name,
      path_prefix: `/${name}`,
      s3: {
        bucket: `${name}-bucket`,
        endpoint: backend.url,
        access_key: 'AKIDFAKE',
        secret_key: 'secret-fake',
      },
    };
  }

  beforeAll(async () => {
    broken = await startRecordingBackend(s3ErrorReply(500, 'InternalError'));
    busy = await startRecordingBackend(s3ErrorReply(503, 'SlowDown'));
    gw = await createTestApp({ buckets: [route('broken', broken), route('busy', busy)] });
  });

  afterAll(async () => {
    await gw?.close();
    await broken?.close();
    await busy?.close();
  });

  function expectNoBackendDetail(text: string): void {
    for (const secret of SECRETS) expect(text).not.toContain(secret);
  }

  it('turns a backend 500 InternalError into 502 BadGateway without leaking the backend message', async () => {
    const body = randomBytes(32 * KiB);

    const res = await send(gw.url, { method: 'PUT', path: '/broken/a.bin', body });

    expectS3Error(res, 502, 'BadGateway');
    expectNoBackendDetail(res.text);
    expect(res.headers['x-amz-request-id']).not.toBe('BACKEND-REQ-4242');
    // The backend did get the whole upload, once: the 502 is its answer, not a local failure.
    expect(broken.requests).toEqual([
      expect.objectContaining({ method: 'PUT', size: body.length, md5: md5Hex(body) }),
    ]);
  });

  it('turns a backend 503 SlowDown into 503 SlowDown with a Retry-After', async () => {
    const body = randomBytes(32 * KiB);

    const res = await send(gw.url, { method: 'PUT', path: '/busy/b.bin', body });

    expectS3Error(res, 503, 'SlowDown');
    expect(res.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    expectNoBackendDetail(res.text);
    expect(busy.requests).toEqual([
      expect.objectContaining({ method: 'PUT', size: body.length, md5: md5Hex(body) }),
    ]);
  });
});

describe('a backend that drops connections that idled', () => {
  // Like a server whose keep-alive timeout is 4.5 s, caught at the worst moment: a request on a
  // connection that idled longer is met with a reset instead of an answer. The gateway must not
  // send one there.
  const IDLE_LIMIT_MS = 4_500;
  let server: Server;
  let url: string;
  let gw: TestApp;
  const answered: string[] = [];
  let reset = 0;

  beforeAll(async () => {
    const lastAnswer = new WeakMap<Socket, number>();
    server = createServer((req, res) => {
      const last = lastAnswer.get(req.socket);
      if (last !== undefined && Date.now() - last > IDLE_LIMIT_MS) {
        reset++;
        req.socket.destroy();
        return;
      }
      const hash = createHash('md5');
      req.on('data', (chunk: Buffer) => hash.update(chunk));
      req.on('end', () => {
        const md5 = hash.digest('hex');
        answered.push(md5);
        res.writeHead(200, { ETag: `"${md5}"`, 'Content-Length': 0 });
        res.end(() => lastAnswer.set(req.socket, Date.now()));
      });
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    gw = await createTestApp({
      buckets: [
        {
          name: 'idle',
          path_prefix: '/idle',
          s3: { bucket: 'idle', endpoint: url, access_key: 'AKIDFAKE', secret_key: 'secret-fake' },
        },
      ],
    });
  });

  afterAll(async () => {
    await gw?.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  });

  it('opens a new connection rather than reuse one that idled for 5 s', async () => {
    const first = randomBytes(4 * KiB);
    expectOk(await send(gw.url, { method: 'PUT', path: '/idle/first.bin', body: first }));
    await new Promise((resolve) => setTimeout(resolve, IDLE_LIMIT_MS + 500));

    const second = randomBytes(4 * KiB);
    const res = await send(gw.url, { method: 'PUT', path: '/idle/second.bin', body: second });

    expectOk(res);
    expect(reset).toBe(0);
    expect(answered).toEqual([md5Hex(first), md5Hex(second)]);
  });
});

describe('config validation', () => {
  const MISTAKES = {
    buckets: [
      {
        name: 'uploads',
        path_prefix: '/uploads',
        s3: { buckt: 'my-uploads', region: 'us-east-1' },
      },
    ],
  };
  const MISTAKES_YAML = [
    'buckets:',
    '  - name: uploads',
    '    path_prefix: /uploads',
    '    s3:',
    '      buckt: my-uploads',
    '      region: us-east-1',
    '',
  ].join('\n');

  function configErrorOf(load: () => unknown): ConfigError {
    try {
      load();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return err as ConfigError;
    }
    throw new Error('the config was accepted');
  }

  it('names the unknown key and the missing bucket of a parsed config by their paths', () => {
    const error = configErrorOf(() => parseConfig(MISTAKES, {}));

    expect(error.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^buckets\[0\]\.s3\.buckt: unknown key \(did you mean 'bucket'\?\)/),
        expect.stringMatching(/^buckets\[0\]\.s3\.bucket: required/),
      ]),
    );
    expect(error.message).toContain('buckets[0].s3.buckt');
    expect(error.message).toContain('buckets[0].s3.bucket');
  });

  it('names the file, the unknown key and the missing bucket when loading a config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mizuchi-config-'));
    const file = join(dir, 'mizuchi.yaml');
    writeFileSync(file, MISTAKES_YAML);
    try {
      const error = configErrorOf(() => loadConfigFile(file, {}));

      expect(error.source).toBe(file);
      expect(error.message).toContain(file);
      expect(error.message).toContain('buckets[0].s3.buckt');
      expect(error.message).toContain('buckets[0].s3.bucket');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
