/**
 * Request limits end to end (issue 8, `server.limits`): the request head size, the URL length,
 * the key length, slow request heads and stalled bodies, the number of uploads in transfer, and
 * the per-principal request rate. Every refusal must be an S3 XML error with the right status and
 * code; what was refused must not exist in Ceph (read directly, never through the gateway), a
 * stalled upload must leave neither an object nor a multipart upload, and the gateway must go on
 * serving. Limits are configured small so that each case is quick; no assertion depends on time.
 */
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { ListPartsCommand } from '@aws-sdk/client-s3';
import { sign } from 'jsonwebtoken';
import {
  closeDirectS3,
  createTestBucket,
  destroyTestBucket,
  directS3,
  listMultipartUploads,
  storedObject,
} from './helpers/ceph';
import { cephRoute, createTestApp, type TestApp } from './helpers/create-test-app';
import { KiB, MiB, eventually, writeOrFail, xmlField } from './helpers/landing';
import {
  REQUEST_ID,
  expectOk,
  expectS3Error,
  md5Hex,
  send,
  type WireResponse,
} from './helpers/wire';
import { UploadSlots } from '../src/limits/upload-slots';
import { InFlightUploads } from '../src/upload/in-flight-uploads';

const JWT_SECRET = 'limits-e2e-secret-that-is-long-enough-for-hs256';

let bucket: string;
let gw: TestApp;
let busy: TestApp;
let rated: TestApp;

beforeAll(async () => {
  bucket = await createTestBucket('limits');
  gw = await createTestApp({
    server: {
      limits: {
        max_header_bytes: 4096,
        max_url_bytes: 512,
        max_key_bytes: 100,
        idle_timeout_seconds: 2,
      },
    },
    buckets: [
      cephRoute('lim', bucket),
      cephRoute('lim-mp', bucket, { upload: { multipart_threshold: '5MiB', part_size: '5MiB' } }),
    ],
  });
  busy = await createTestApp({
    server: { limits: { max_concurrent_uploads: 2 } },
    buckets: [cephRoute('busy', bucket)],
  });
  rated = await createTestApp({
    // One request per 100 s after a burst of three: no token comes back while a test runs.
    server: { limits: { rate_limit: { requests_per_second: 0.01, burst: 3 } } },
    buckets: [
      cephRoute('rated', bucket),
      cephRoute('rated-jwt', bucket, {
        auth: { enabled: true, jwt: { algorithms: ['HS256'], secret: JWT_SECRET } },
      }),
    ],
  });
});

afterAll(async () => {
  await gw?.close();
  await busy?.close();
  await rated?.close();
  await destroyTestBucket(bucket);
  closeDirectS3();
});

/** A client connection written byte by byte, and what the server answered before closing it. */
interface RawClient {
  socket: Socket;
  /** Writes, waiting for drain; fails once the server has closed the connection. */
  write(data: string | Buffer): Promise<void>;
  /** True once the connection is closed (by either side). */
  readonly closed: boolean;
  /** Resolves when the connection closes, with the first response received, if any. */
  ended: Promise<WireResponse | undefined>;
}

async function rawClient(baseUrl: string): Promise<RawClient> {
  const url = new URL(baseUrl);
  const socket = connect(Number(url.port), url.hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  // A reset after the server answered is not the test's concern; the response is.
  socket.on('error', () => undefined);
  let closed = false;
  const ended = new Promise<WireResponse | undefined>((resolve) =>
    socket.once('close', () => {
      closed = true;
      resolve(parseResponse(Buffer.concat(chunks)));
    }),
  );
  return {
    socket,
    write: (data) =>
      writeOrFail(socket, Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1')),
    get closed() {
      return closed;
    },
    ended,
  };
}

/** The first HTTP response in `raw`, or undefined when the server sent no complete head. */
function parseResponse(raw: Buffer): WireResponse | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const [statusLine, ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const headers: IncomingHttpHeaders = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? raw.length - end - 4);
  const body = raw.subarray(end + 4, end + 4 + length);
  return {
    status: Number(statusLine.split(' ')[1]),
    headers,
    body,
    text: body.toString('utf8'),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The percent-encoded wire form of a key. */
function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

/** PUTs `body` to `/{prefix}/{key}` of a gateway. */
function put(
  app: TestApp,
  prefix: string,
  key: string,
  body: Buffer | string,
  headers: Record<string, string> = {},
): Promise<WireResponse> {
  return send(app.url, { method: 'PUT', path: `/${prefix}/${encodeKey(key)}`, headers, body });
}

/** Asserts that a PUT through `app` lands, byte for byte, proving the gateway still serves. */
async function expectServing(app: TestApp, prefix: string, key: string): Promise<void> {
  const body = randomBytes(4 * KiB);
  expectOk(await put(app, prefix, key, body));
  expect((await storedObject(bucket, key))?.md5).toBe(md5Hex(body));
}

/** Value of mizuchi_errors_total{code} on a gateway's /metrics (0 when not yet counted). */
async function errorsCounted(app: TestApp, code: string): Promise<number> {
  const res = await send(app.url, { method: 'GET', path: '/metrics' });
  expect(res.status).toBe(200);
  const match = new RegExp(`^mizuchi_errors_total\\{code="${code}"\\} (\\d+)$`, 'm').exec(res.text);
  return match === null ? 0 : Number(match[1]);
}

/** Waits until the gateway has finished with every upload it started, then returns. */
async function uploadsSettled(app: TestApp): Promise<void> {
  const inFlight = app.app.get(InFlightUploads);
  await eventually(() => inFlight.size === 0);
}

describe('request head size (max_header_bytes)', () => {
  it('refuses a head over the limit with 431 RequestHeaderSectionTooLarge in S3 XML', async () => {
    const before = await errorsCounted(gw, 'RequestHeaderSectionTooLarge');
    const client = await rawClient(gw.url);
    // Larger than the configured 4096 bytes, well under Node's own 16 KiB default.
    await client.write(
      'PUT /lim/head/too-large.txt HTTP/1.1\r\nHost: gateway\r\nContent-Length: 5\r\n' +
        `x-padding: ${'p'.repeat(5000)}\r\n\r\nhello`,
    );
    const res = await client.ended;

    expect(res).toBeDefined();
    const error = expectS3Error(res!, 431, 'RequestHeaderSectionTooLarge');
    expect(error.message).toMatch(/header section exceeds/);
    expect(res!.headers.connection).toBe('close');
    expect(await storedObject(bucket, 'head/too-large.txt')).toBeUndefined();
    expect(await errorsCounted(gw, 'RequestHeaderSectionTooLarge')).toBe(before + 1);
    await expectServing(gw, 'lim', 'head/after-431.txt');
  });

  it('accepts a head just under the limit', async () => {
    const body = Buffer.from('small head, big header\n');
    const res = await put(gw, 'lim', 'head/just-under.txt', body, {
      'x-padding': 'p'.repeat(3500),
    });
    expectOk(res);
    expect((await storedObject(bucket, 'head/just-under.txt'))?.md5).toBe(md5Hex(body));
  });
});

describe('URL length (max_url_bytes)', () => {
  it('refuses a path over the limit with 414 InvalidURI before the key is even looked at', async () => {
    // 600 bytes of key would be KeyTooLongError; the URL limit answers first.
    const res = await put(gw, 'lim', 'u'.repeat(600), 'x');
    const error = expectS3Error(res, 414, 'InvalidURI');
    expect(error.message).toMatch(/at most 512/);
    expect(await errorsCounted(gw, 'InvalidURI')).toBeGreaterThanOrEqual(1);
  });

  it('counts the query string too', async () => {
    const res = await send(gw.url, {
      method: 'PUT',
      path: `/lim/url/long-query.txt?x-id=${'q'.repeat(520)}`,
      body: 'x',
    });
    expectS3Error(res, 414, 'InvalidURI');
    expect(await storedObject(bucket, 'url/long-query.txt')).toBeUndefined();
    await expectServing(gw, 'lim', 'url/after-414.txt');
  });
});

describe('key length (max_key_bytes)', () => {
  it('accepts a key of exactly the configured number of UTF-8 bytes', async () => {
    const key = 'é'.repeat(50);
    expect(Buffer.byteLength(key)).toBe(100);
    const body = randomBytes(KiB);
    expectOk(await put(gw, 'lim', key, body));
    expect((await storedObject(bucket, key))?.md5).toBe(md5Hex(body));
  });

  it.each([
    ['ASCII', 'k'.repeat(101)],
    ['two-byte characters, counted in bytes', 'é'.repeat(51)],
  ])('refuses a key one character over with 400 KeyTooLongError (%s)', async (_label, key) => {
    const res = await put(gw, 'lim', key, 'x');
    const error = expectS3Error(res, 400, 'KeyTooLongError');
    expect(error.message).toMatch(/at most 100 UTF-8 bytes/);
    expect(await storedObject(bucket, key)).toBeUndefined();
  });
});

describe('slow request heads (idle_timeout_seconds)', () => {
  it('cuts off a client that trickles its head with 408 RequestTimeout in S3 XML', async () => {
    const before = await errorsCounted(gw, 'RequestTimeout');
    const client = await rawClient(gw.url);
    await client.write('PUT /lim/slow/head.txt HTTP/1.1\r\nHost: gateway\r\n');
    // One short header line at a time, far more often than the idle timeout: only the deadline
    // on the whole head can stop this client.
    for (let i = 0; !client.closed; i++) {
      await client.write(`x-trickle-${i}: y\r\n`).catch(() => undefined);
      await sleep(100);
    }
    const res = await client.ended;

    expect(res).toBeDefined();
    expectS3Error(res!, 408, 'RequestTimeout');
    expect(await storedObject(bucket, 'slow/head.txt')).toBeUndefined();
    expect(await errorsCounted(gw, 'RequestTimeout')).toBe(before + 1);
    await expectServing(gw, 'lim', 'slow/after-408.txt');
  });
});

describe('stalled bodies (idle_timeout_seconds)', () => {
  it.each([
    ['a streamed body', 200 * KiB, 50 * KiB],
    ['a body large enough to be spliced', 2 * MiB, 300 * KiB],
  ])(
    'cuts off %s whose client stops sending, leaving no object',
    async (_label, declared, sent) => {
      const key = `stalled/put-${declared}.bin`;
      const client = await rawClient(gw.url);
      await client.write(
        `PUT /lim/${key} HTTP/1.1\r\nHost: gateway\r\nContent-Length: ${declared}\r\n\r\n`,
      );
      await client.write(randomBytes(sent));
      // The client now sends nothing more and never closes: the gateway has to. Spliced or
      // streamed, it closes the connection without an answer, as for a client that went away.
      expect(await client.ended).toBeUndefined();

      await uploadsSettled(gw);
      expect(await storedObject(bucket, key)).toBeUndefined();
      expect(await listMultipartUploads(bucket)).toEqual([]);
      await expectServing(gw, 'lim', `stalled/after-put-${declared}.txt`);
    },
  );

  it('cuts off an auto-multipart upload mid-body and aborts its multipart upload', async () => {
    const key = 'stalled/auto-multipart.bin';
    const client = await rawClient(gw.url);
    await client.write(
      `PUT /lim-mp/${key} HTTP/1.1\r\nHost: gateway\r\nTransfer-Encoding: chunked\r\n\r\n`,
    );
    const chunk = (data: Buffer) =>
      client.write(
        Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]),
      );
    // More than one 5 MiB part, so the gateway starts a backend multipart upload.
    for (let sent = 0; sent < 6 * MiB; sent += 256 * KiB) await chunk(randomBytes(256 * KiB));
    // Keep the body alive until Ceph shows the multipart upload, then stall.
    while ((await listMultipartUploads(bucket)).every((u) => u.key !== key)) {
      await chunk(randomBytes(1));
      await sleep(200);
    }
    await client.ended;

    await uploadsSettled(gw);
    await eventually(async () => (await listMultipartUploads(bucket)).length === 0);
    expect(await storedObject(bucket, key)).toBeUndefined();
    await expectServing(gw, 'lim', 'stalled/after-auto-multipart.txt');
  });

  it('cuts off a stalled UploadPart without storing the part', async () => {
    const key = 'stalled/part.bin';
    const created = await send(gw.url, { method: 'POST', path: `/lim/${key}?uploads` });
    expect(created.status).toBe(200);
    const uploadId = xmlField(created.text, 'UploadId')!;
    const backendUpload = (await listMultipartUploads(bucket)).find((u) => u.key === key);
    expect(backendUpload).toBeDefined();

    const client = await rawClient(gw.url);
    await client.write(
      `PUT /lim/${key}?partNumber=1&uploadId=${encodeURIComponent(uploadId)} HTTP/1.1\r\n` +
        `Host: gateway\r\nContent-Length: ${MiB}\r\n\r\n`,
    );
    await client.write(randomBytes(300 * KiB));
    await client.ended;
    await uploadsSettled(gw);

    const parts = await directS3().send(
      new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: backendUpload!.uploadId }),
    );
    expect(parts.Parts ?? []).toEqual([]);
    const aborted = await send(gw.url, {
      method: 'DELETE',
      path: `/lim/${key}?uploadId=${encodeURIComponent(uploadId)}`,
    });
    expect(aborted.status).toBe(204);
    expect(await listMultipartUploads(bucket)).toEqual([]);
  });

  it('keeps a slow but steady upload that takes longer than the idle timeout in total', async () => {
    const key = 'stalled/slow-but-steady.bin';
    const pieces = Array.from({ length: 12 }, () => randomBytes(KiB));
    const body = Buffer.concat(pieces);
    const client = await rawClient(gw.url);
    await client.write(
      `PUT /lim/${key} HTTP/1.1\r\nHost: gateway\r\nContent-Length: ${body.length}\r\n` +
        'Connection: close\r\n\r\n',
    );
    // Twelve pieces 300 ms apart: about twice the idle timeout overall, never idle for long.
    for (const piece of pieces) {
      await sleep(300);
      await client.write(piece);
    }
    const res = await client.ended;

    expect(res?.status).toBe(200);
    expect((await storedObject(bucket, key))?.md5).toBe(md5Hex(body));
  });
});

describe('idle timeout while the gateway, not the client, is waiting', () => {
  let slowBackend: { url: string; close(): Promise<void> };
  let waiting: TestApp;

  beforeAll(async () => {
    // A stand-in S3 backend that reads the body of `late/*` and answers 2.5 s later, and lets
    // the body of `slow-reader/*` wait 2.5 s before reading it: both longer than the idle timeout.
    const server = createServer((req, res) => {
      const answer = () => res.writeHead(200, { ETag: '"stand-in"', 'Content-Length': 0 }).end();
      if ((req.url ?? '').includes('/slow-reader/')) {
        req.pause();
        setTimeout(() => req.resume().on('end', answer), 2500);
      } else {
        req.resume().on('end', () => setTimeout(answer, 2500));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    slowBackend = {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
    waiting = await createTestApp({
      server: { zero_copy: { enabled: false }, limits: { idle_timeout_seconds: 1 } },
      buckets: [
        {
          name: 'slow',
          path_prefix: '/slow',
          s3: {
            bucket: 'slow',
            endpoint: slowBackend.url,
            region: 'us-east-1',
            access_key: 'stand-in',
            secret_key: 'stand-in-secret',
          },
        },
      ],
    });
  });

  afterAll(async () => {
    await waiting?.close();
    await slowBackend?.close();
  });

  it('does not cut off a client whose complete request waits for a slow backend answer', async () => {
    const res = await send(waiting.url, { method: 'PUT', path: '/slow/late/a.txt', body: 'x' });
    expectOk(res);
  });

  it('does not cut off a client held back because the backend reads slowly', async () => {
    // Far more than the socket buffers between client, gateway and backend hold, so the client
    // really is kept waiting while the backend is not reading.
    const res = await send(waiting.url, {
      method: 'PUT',
      path: '/slow/slow-reader/big.bin',
      body: randomBytes(24 * MiB),
    });
    expectOk(res);
  });
});

describe('max_concurrent_uploads', () => {
  /** Starts a PutObject whose head is sent but whose body is held back. */
  async function heldUpload(key: string, body: Buffer): Promise<RawClient> {
    const client = await rawClient(busy.url);
    await client.write(
      `PUT /busy/${key} HTTP/1.1\r\nHost: gateway\r\nContent-Length: ${body.length}\r\n` +
        'Connection: close\r\n\r\n',
    );
    await client.write(body.subarray(0, KiB));
    return client;
  }

  const slots = () => busy.app.get(UploadSlots);

  it('answers 503 SlowDown with Retry-After above the limit, and serves again once slots free', async () => {
    const bodyA = randomBytes(64 * KiB);
    const a = await heldUpload('busy/a.bin', bodyA);
    const b = await heldUpload('busy/b.bin', randomBytes(64 * KiB));
    await eventually(() => slots().inUse === 2);
    const before = await errorsCounted(busy, 'SlowDown');

    const refused = await put(busy, 'busy', 'busy/refused.bin', randomBytes(4 * KiB));
    expectS3Error(refused, 503, 'SlowDown');
    expect(refused.headers['retry-after']).toBe('1');
    expect(await storedObject(bucket, 'busy/refused.bin')).toBeUndefined();
    expect(await errorsCounted(busy, 'SlowDown')).toBe(before + 1);

    // Only body transfers count: starting a multipart upload still works.
    const created = await send(busy.url, { method: 'POST', path: '/busy/busy/mp.bin?uploads' });
    expect(created.status).toBe(200);
    const uploadId = encodeURIComponent(xmlField(created.text, 'UploadId')!);
    const aborted = await send(busy.url, {
      method: 'DELETE',
      path: `/busy/busy/mp.bin?uploadId=${uploadId}`,
    });
    expect(aborted.status).toBe(204);

    // One upload completes, the other's client goes away: both slots come back.
    await a.write(bodyA.subarray(KiB));
    expect((await a.ended)?.status).toBe(200);
    b.socket.destroy();
    await eventually(() => slots().inUse === 0);
    await uploadsSettled(busy);

    expect((await storedObject(bucket, 'busy/a.bin'))?.md5).toBe(md5Hex(bodyA));
    expect(await storedObject(bucket, 'busy/b.bin')).toBeUndefined();
    await expectServing(busy, 'busy', 'busy/after-slowdown.bin');
  });

  it('gives slots back after client aborts and refused uploads, never leaking one', async () => {
    for (let round = 0; round < 5; round++) {
      const held = [
        await heldUpload(`busy/abort-${round}-1.bin`, randomBytes(64 * KiB)),
        await heldUpload(`busy/abort-${round}-2.bin`, randomBytes(64 * KiB)),
      ];
      await eventually(() => slots().inUse === 2);
      for (const client of held) client.socket.destroy();
      await eventually(() => slots().inUse === 0);
    }
    for (let i = 0; i < 3; i++) {
      // The body does not match its declared SHA-256: refused after the slot was taken.
      const refused = await put(busy, 'busy', `busy/bad-digest-${i}.bin`, 'not what was hashed', {
        'x-amz-content-sha256': 'a'.repeat(64),
      });
      expectS3Error(refused, 400, 'XAmzContentSHA256Mismatch');
    }
    await eventually(() => slots().inUse === 0);
    await uploadsSettled(busy);

    // The full limit is available again: two uploads at once both complete.
    const bodies = [randomBytes(64 * KiB), randomBytes(64 * KiB)];
    const clients = [
      await heldUpload('busy/again-1.bin', bodies[0]),
      await heldUpload('busy/again-2.bin', bodies[1]),
    ];
    await eventually(() => slots().inUse === 2);
    await Promise.all(clients.map((client, i) => client.write(bodies[i].subarray(KiB))));
    expect((await clients[0].ended)?.status).toBe(200);
    expect((await clients[1].ended)?.status).toBe(200);
    expect((await storedObject(bucket, 'busy/again-1.bin'))?.md5).toBe(md5Hex(bodies[0]));
    expect((await storedObject(bucket, 'busy/again-2.bin'))?.md5).toBe(md5Hex(bodies[1]));
    for (let round = 0; round < 5; round++) {
      expect(await storedObject(bucket, `busy/abort-${round}-1.bin`)).toBeUndefined();
    }
    expect(await listMultipartUploads(bucket)).toEqual([]);
    await eventually(() => slots().inUse === 0);
  });
});

describe('per-principal request rate (rate_limit)', () => {
  /** Sends a request from a chosen loopback address (each is a different anonymous principal). */
  function sendFrom(
    localAddress: string,
    method: string,
    path: string,
    headers: Record<string, string> = {},
    body?: Buffer,
  ): Promise<WireResponse> {
    const url = new URL(rated.url);
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          method,
          path,
          localAddress,
          agent: false,
          headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const all = Buffer.concat(chunks);
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: all,
              text: all.toString(),
            });
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  const bearer = (sub: string) => ({
    authorization: `Bearer ${sign({ sub }, JWT_SECRET, { algorithm: 'HS256', expiresIn: 600 })}`,
  });

  function expectSlowDown(res: WireResponse): void {
    expectS3Error(res, 503, 'SlowDown');
    expect(res.headers['retry-after']).toMatch(/^\d+$/);
    // One token per 100 s: the next one is due within that, and never "now".
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(100);
  }

  it('lets an anonymous client address through `burst` times, then answers 503 SlowDown', async () => {
    const before = await errorsCounted(rated, 'SlowDown');
    const bodies = [0, 1, 2].map(() => randomBytes(KiB));
    for (const [i, body] of bodies.entries()) {
      expectOk(await sendFrom('127.0.0.2', 'PUT', `/rated/rate/anon-${i}.bin`, {}, body));
    }
    const refused = await sendFrom(
      '127.0.0.2',
      'PUT',
      '/rated/rate/anon-3.bin',
      {},
      randomBytes(KiB),
    );
    expectSlowDown(refused);

    expect(await storedObject(bucket, 'rate/anon-3.bin')).toBeUndefined();
    for (const [i, body] of bodies.entries()) {
      expect((await storedObject(bucket, `rate/anon-${i}.bin`))?.md5).toBe(md5Hex(body));
    }
    // Another address is another principal, with a bucket of its own.
    expectOk(await sendFrom('127.0.0.3', 'PUT', '/rated/rate/other-ip.bin', {}, randomBytes(KiB)));
    expect((await sendFrom('127.0.0.2', 'HEAD', '/rated')).status).toBe(503);
    // /metrics is not an S3 request: it is never rate limited.
    expect(await errorsCounted(rated, 'SlowDown')).toBe(before + 2);
  });

  it('counts authenticated requests per subject, not per address', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await sendFrom('127.0.0.4', 'HEAD', '/rated-jwt', bearer('alice'))).status).toBe(200);
    }
    const refused = await sendFrom(
      '127.0.0.4',
      'PUT',
      '/rated-jwt/rate/alice.bin',
      bearer('alice'),
      randomBytes(KiB),
    );
    expectSlowDown(refused);
    expect(await storedObject(bucket, 'rate/alice.bin')).toBeUndefined();

    // Same address, other subject: served. Same address, anonymous route: its own bucket too.
    const body = randomBytes(KiB);
    expectOk(await sendFrom('127.0.0.4', 'PUT', '/rated-jwt/rate/bob.bin', bearer('bob'), body));
    expect((await storedObject(bucket, 'rate/bob.bin'))?.md5).toBe(md5Hex(body));
    expect((await sendFrom('127.0.0.4', 'HEAD', '/rated')).status).toBe(200);
  });

  it('leaves the gateway without a rate limit unthrottled', async () => {
    for (let i = 0; i < 10; i++) {
      const res = await send(busy.url, { method: 'HEAD', path: '/busy' });
      expect(res.status).toBe(200);
      expect(res.headers['x-amz-request-id']).toMatch(REQUEST_ID);
    }
  });
});
