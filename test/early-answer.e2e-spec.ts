/**
 * Answers the gateway gives before it has read the request body: refusals by authentication
 * (a bad SigV4 signature, no JWT), by policy (a declared size over `max_object_size`, a refused
 * Content-Type, a refused operation), by limits (`max_concurrent_uploads`), and bodies refused
 * part-way (a malformed aws-chunked body, a chunked body that outgrows `max_object_size`).
 *
 * The client is usually still sending when the answer goes out. Real clients with their default
 * settings (@aws-sdk/client-s3, the aws CLI, boto3) must report the S3 error code the gateway
 * sent, not a broken connection. A client that writes its whole body before reading, as a
 * blocking client does, must be able to finish writing and then read the answer and a clean
 * close, with no reset (RFC 9112 §9.6); and a client that keeps sending past the gateway's
 * bounds (LINGER_MAX_BYTES, LINGER_MAX_MS in src/common/lingering-close.ts) must be cut off.
 * Nothing refused may land in Ceph, which is read directly, never through the gateway.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { LINGER_MAX_BYTES } from '../src/common/lingering-close';
import { UploadSlots } from '../src/limits/upload-slots';
import {
  closeDirectS3,
  createTestBucket,
  destroyTestBucket,
  listMultipartUploads,
  storedObject,
} from './helpers/ceph';
import { cephRoute, createTestApp, type TestApp } from './helpers/create-test-app';
import { KiB, MiB, eventually } from './helpers/landing';
import { isolatedAwsEnv, runProcess } from './helpers/processes';
import { parseS3Error, type WireResponse } from './helpers/wire';

const REGION = 'us-east-1';
const KEY = {
  access_key: 'MIZUCHIEARLYANSWER01',
  secret_key: 'early/answer+Secret=0123456789abcdefghij',
  subject: 'early-answer',
};
const WRONG_SECRET = 'not-the-secret-the-gateway-issued-000000';
const JWT_SECRET = 'early-answer-jwt-secret-long-enough-for-hs256';
/** Anything but image/*, which is all the `types` route takes. */
const REFUSED_TYPE = 'application/x-tar';

let bucket: string;
/** Every route but `busy`. */
let gw: TestApp;
/** One upload at a time, and one held in transfer while this file runs. */
let busy: TestApp;
let holder: Socket;
let workDir: string;

beforeAll(async () => {
  bucket = await createTestBucket('early-answer');
  gw = await createTestApp({
    buckets: [
      cephRoute('open', bucket),
      cephRoute('keys', bucket, {
        auth: { enabled: true, sigv4: { region: REGION, credentials: [KEY] } },
      }),
      cephRoute('jwt', bucket, {
        auth: { enabled: true, jwt: { algorithms: ['HS256'], secret: JWT_SECRET } },
      }),
      cephRoute('small', bucket, { upload: { max_object_size: '1MiB' } }),
      cephRoute('types', bucket, { upload: { allowed_content_types: ['image/*'] } }),
    ],
  });
  busy = await createTestApp({
    server: { limits: { max_concurrent_uploads: 1 } },
    buckets: [cephRoute('busy', bucket)],
  });
  // Holds the only upload slot: its head and 1 KiB of its body are sent, the rest never is.
  holder = connect(busy.port, '127.0.0.1');
  holder.on('error', () => undefined);
  holder.write(
    `PUT /busy/held.bin HTTP/1.1\r\nHost: gateway\r\nContent-Length: ${64 * KiB}\r\n\r\n`,
  );
  holder.write(randomBytes(KiB));
  await eventually(() => busy.app.get(UploadSlots).inUse === 1);
  workDir = mkdtempSync(join(tmpdir(), 'mizuchi-early-answer-'));
});

afterEach(async () => {
  // No connection is kept: each one closed once its client was done or a bound was reached.
  await eventually(async () => (await connections(gw)) === 0 && (await connections(busy)) <= 1);
});

afterAll(async () => {
  holder?.destroy();
  if (busy !== undefined) await eventually(() => busy.app.get(UploadSlots).inUse === 0);
  if (bucket !== undefined) {
    expect(await storedObject(bucket, 'held.bin')).toBeUndefined();
    // Nothing refused was stored, and no multipart upload was left behind.
    expect(await listMultipartUploads(bucket)).toEqual([]);
  }
  await gw?.close();
  await busy?.close();
  if (bucket !== undefined) await destroyTestBucket(bucket);
  closeDirectS3();
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

function connections(app: TestApp): Promise<number> {
  const server: Server = app.app.getHttpServer();
  return new Promise((resolve, reject) =>
    server.getConnections((err, count) => (err ? reject(err) : resolve(count))),
  );
}

/** A refusal that comes before the body is read, and the route or app that gives it. */
interface Refusal {
  name: string;
  prefix: string;
  app: () => TestApp;
  status: number;
  code: string;
}

const REFUSALS: Refusal[] = [
  {
    name: 'a bad SigV4 signature',
    prefix: 'keys',
    app: () => gw,
    status: 403,
    code: 'SignatureDoesNotMatch',
  },
  { name: 'no JWT', prefix: 'jwt', app: () => gw, status: 401, code: 'AccessDenied' },
  {
    name: 'a Content-Length over max_object_size',
    prefix: 'small',
    app: () => gw,
    status: 413,
    code: 'EntityTooLarge',
  },
  {
    name: 'a Content-Type the route refuses',
    prefix: 'types',
    app: () => gw,
    status: 415,
    code: 'InvalidArgument',
  },
  {
    name: 'max_concurrent_uploads reached',
    prefix: 'busy',
    app: () => busy,
    status: 503,
    code: 'SlowDown',
  },
];

/** botocore's clients retry SlowDown up to five times with seconds of backoff: SDK-only. */
const NOT_THROTTLED = REFUSALS.filter((r) => r.code !== 'SlowDown');

let keyCount = 0;
function freshKey(label: string): string {
  keyCount += 1;
  return `${label}/${keyCount}.bin`;
}

describe('real clients with default settings report the S3 error of an early answer', () => {
  it.each(REFUSALS)(
    '@aws-sdk/client-s3 PutObject of 64 MiB, refused for $name: $status $code',
    async ({ prefix, app, status, code }) => {
      const key = freshKey(`sdk-${prefix}`);
      const sdk = new S3Client({
        endpoint: app().url,
        forcePathStyle: true,
        region: REGION,
        credentials: { accessKeyId: KEY.access_key, secretAccessKey: WRONG_SECRET },
      });
      let failure: unknown;
      try {
        await sdk.send(
          new PutObjectCommand({
            Bucket: prefix,
            Key: key,
            Body: randomBytes(64 * MiB),
            ContentType: REFUSED_TYPE,
          }),
        );
      } catch (err) {
        failure = err;
      } finally {
        sdk.destroy();
      }

      expect(failure).toBeInstanceOf(S3ServiceException);
      const error = failure as S3ServiceException;
      expect({ name: error.name, status: error.$metadata.httpStatusCode }).toEqual({
        name: code,
        status,
      });
      expect(await storedObject(bucket, key)).toBeUndefined();
    },
  );

  describe.each([
    [
      'the aws CLI (s3api put-object)',
      async (url: string, prefix: string, key: string, file: string) => {
        const outcome = await runProcess(
          'aws',
          [
            's3api',
            'put-object',
            '--endpoint-url',
            url,
            '--bucket',
            prefix,
            '--key',
            key,
            '--body',
            file,
            '--content-type',
            REFUSED_TYPE,
          ],
          { env: clientEnv() },
        );
        return `${outcome.code} ${outcome.stderr.trim()}`;
      },
    ],
    [
      'boto3 (put_object)',
      async (url: string, prefix: string, key: string, file: string) => {
        const outcome = await runProcess('python3', ['-', url, prefix, key, file, REFUSED_TYPE], {
          env: clientEnv(),
          input: BOTO3_PUT,
        });
        return `${outcome.code} ${outcome.stdout.trim()}${outcome.stderr.trim()}`;
      },
    ],
  ])('%s', (_client, put) => {
    it.each(NOT_THROTTLED)(
      'a 16 MiB upload refused for $name: $status $code',
      async ({ prefix, app, status, code }) => {
        const key = freshKey(`cli-${prefix}`);
        const file = join(workDir, 'body.bin');
        writeFileSync(file, randomBytes(16 * MiB));

        const said = await put(app().url, prefix, key, file);

        // Both print the code; boto3's script prints the status too.
        expect(said).toMatch(new RegExp(`\\(${code}\\)|^0 ${code} ${status}$`));
        expect(await storedObject(bucket, key)).toBeUndefined();
      },
    );
  });
});

/** The environment of the aws CLI and boto3: the issued key id with a wrong secret. */
function clientEnv(): NodeJS.ProcessEnv {
  return isolatedAwsEnv({
    AWS_ACCESS_KEY_ID: KEY.access_key,
    AWS_SECRET_ACCESS_KEY: WRONG_SECRET,
    AWS_DEFAULT_REGION: REGION,
  });
}

/** Prints "<code> <status>" of the ClientError a put_object raises; anything else fails. */
const BOTO3_PUT = [
  'import sys',
  'import boto3, botocore.exceptions',
  'endpoint, bucket, key, path, content_type = sys.argv[1:6]',
  "s3 = boto3.client('s3', endpoint_url=endpoint)",
  'try:',
  "    with open(path, 'rb') as body:",
  '        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)',
  "    print('stored')",
  'except botocore.exceptions.ClientError as err:',
  "    print(err.response['Error']['Code'], err.response['ResponseMetadata']['HTTPStatusCode'])",
].join('\n');

// ---------------------------------------------------------------------------------------------

/** What a raw client saw. */
interface RawOutcome {
  /** Bytes after the head that were handed to the kernel before writing stopped. */
  written: number;
  /** The first socket error (EPIPE, ECONNRESET ...), if any. */
  error?: string;
  /** The first response read. */
  response?: WireResponse;
  /** Whether the gateway closed its side with a FIN. */
  fin: boolean;
}

/**
 * Writes a request head and then its body on a raw socket, each piece only once the one before
 * reached the kernel, without reading in between: as a blocking client (botocore) does. It goes
 * on writing after the gateway's answer and half-close, stops at the first failed write, half-
 * closes when done, and reads whatever the gateway sent until the connection is closed.
 */
async function rawUpload(
  app: TestApp,
  head: string,
  pieces: Iterable<Buffer>,
  pauseMs = 0,
): Promise<RawOutcome> {
  const socket = connect({ port: app.port, host: '127.0.0.1', allowHalfOpen: true });
  const chunks: Buffer[] = [];
  let error: string | undefined;
  let fin = false;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('end', () => (fin = true));
  socket.on('error', (err: NodeJS.ErrnoException) => (error ??= err.code ?? err.message));
  const closed = new Promise((resolve) => socket.once('close', resolve));
  await new Promise((resolve) => socket.once('connect', resolve));
  const write = (data: Buffer) =>
    new Promise<boolean>((resolve) => socket.write(data, (err) => resolve(err == null)));
  let written = 0;
  if (await write(Buffer.from(head, 'latin1'))) {
    for (const piece of pieces) {
      if (socket.destroyed || !(await write(piece))) break;
      written += piece.length;
      if (pauseMs > 0) await sleep(pauseMs);
    }
  }
  if (!socket.destroyed) socket.end();
  await closed;
  return { written, error, response: parseResponse(Buffer.concat(chunks)), fin };
}

/** The first HTTP response in what a raw socket received. */
function parseResponse(raw: Buffer): WireResponse | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const [statusLine, ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const headers: IncomingHttpHeaders = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const body = raw.subarray(end + 4, end + 4 + Number(headers['content-length'] ?? 0));
  return { status: Number(statusLine.split(' ')[1]), headers, body, text: body.toString('utf8') };
}

/** `body` in pieces of 256 KiB. */
function* piecesOf(body: Buffer): Generator<Buffer> {
  for (let offset = 0; offset < body.length; offset += 256 * KiB) {
    yield body.subarray(offset, offset + 256 * KiB);
  }
}

/** One HTTP/1.1 chunk (RFC 9112 §7.1) or aws-chunked chunk without signature: size, data. */
function chunk(data: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]);
}

function headOf(requestLine: string, headers: Record<string, string | number>): string {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  return `${requestLine}\r\nHost: 127.0.0.1\r\n${lines.join('')}\r\n`;
}

/** A SigV4 Authorization header for the issued key whose signature is wrong. */
function badSignature(): Record<string, string> {
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  const scope = `${amzDate.slice(0, 8)}/${REGION}/s3/aws4_request`;
  return {
    'x-amz-date': amzDate,
    'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    authorization:
      `AWS4-HMAC-SHA256 Credential=${KEY.access_key}/${scope}, ` +
      `SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${'0'.repeat(64)}`,
  };
}

/** A raw upload whose answer comes before its body is read, and what must be answered. */
interface EarlyCase {
  name: string;
  app: () => TestApp;
  key: string;
  /** The request line and headers for a body of `length` bytes on the wire. */
  head: (key: string, length: number) => string;
  body: () => Buffer;
  status: number;
  code: string;
}

const BODY_BYTES = 12 * MiB;

function plainPut(prefix: string, headers: Record<string, string> = {}) {
  return (key: string, length: number) =>
    headOf(`PUT /${prefix}/${key} HTTP/1.1`, {
      'Content-Type': 'application/octet-stream',
      ...headers,
      'Content-Length': length,
    });
}

const EARLY: EarlyCase[] = [
  {
    name: 'no JWT',
    app: () => gw,
    key: 'raw/no-jwt.bin',
    head: plainPut('jwt'),
    body: () => randomBytes(BODY_BYTES),
    status: 401,
    code: 'AccessDenied',
  },
  {
    name: 'a bad SigV4 signature',
    app: () => gw,
    key: 'raw/bad-signature.bin',
    head: plainPut('keys', badSignature()),
    body: () => randomBytes(BODY_BYTES),
    status: 403,
    code: 'SignatureDoesNotMatch',
  },
  {
    name: 'a Content-Length over max_object_size',
    app: () => gw,
    key: 'raw/too-large.bin',
    head: plainPut('small'),
    body: () => randomBytes(BODY_BYTES),
    status: 413,
    code: 'EntityTooLarge',
  },
  {
    name: 'a Content-Type the route refuses',
    app: () => gw,
    key: 'raw/refused-type.bin',
    head: plainPut('types', { 'Content-Type': REFUSED_TYPE }),
    body: () => randomBytes(BODY_BYTES),
    status: 415,
    code: 'InvalidArgument',
  },
  {
    name: 'a refused operation (PutObjectTagging)',
    app: () => gw,
    key: 'raw/tagging.bin',
    head: (key, length) =>
      headOf(`PUT /open/${key}?tagging HTTP/1.1`, { 'Content-Length': length }),
    body: () => randomBytes(BODY_BYTES),
    status: 405,
    code: 'MethodNotAllowed',
  },
  {
    name: 'max_concurrent_uploads reached',
    app: () => busy,
    key: 'raw/busy.bin',
    head: plainPut('busy'),
    body: () => randomBytes(BODY_BYTES),
    status: 503,
    code: 'SlowDown',
  },
  {
    name: 'no JWT, with an aws-chunked body',
    app: () => gw,
    key: 'raw/no-jwt-chunked.bin',
    head: plainPut('jwt', {
      'Content-Encoding': 'aws-chunked',
      'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      'x-amz-decoded-content-length': String(BODY_BYTES),
    }),
    body: () =>
      Buffer.concat(
        [...piecesOf(randomBytes(BODY_BYTES))].map(chunk).concat(chunk(Buffer.alloc(0))),
      ),
    status: 401,
    code: 'AccessDenied',
  },
  {
    name: 'an aws-chunked body malformed after its first chunk',
    app: () => gw,
    key: 'raw/malformed-chunked.bin',
    head: plainPut('open', {
      'Content-Encoding': 'aws-chunked',
      'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      'x-amz-decoded-content-length': String(BODY_BYTES),
    }),
    body: () =>
      Buffer.concat([chunk(randomBytes(64 * KiB)), Buffer.from('zz\r\n'), randomBytes(BODY_BYTES)]),
    status: 400,
    code: 'InvalidRequest',
  },
];

describe('a client that writes its whole body before it reads the answer', () => {
  it.each(EARLY)(
    'refused for $name: finishes writing, then reads $status $code and a clean close',
    async ({ app, key, head, body, status, code }) => {
      const bytes = body();

      const outcome = await rawUpload(app(), head(key, bytes.length), piecesOf(bytes));

      expect({
        written: outcome.written,
        error: outcome.error,
        status: outcome.response?.status,
        code: parseS3Error(outcome.response?.text ?? '').code,
        connection: outcome.response?.headers.connection,
        fin: outcome.fin,
      }).toEqual({
        written: bytes.length,
        error: undefined,
        status,
        code,
        connection: 'close',
        fin: true,
      });
      expect(await storedObject(bucket, key)).toBeUndefined();
    },
  );

  it('sending a chunked body that outgrows max_object_size: finishes writing, then reads 413 EntityTooLarge', async () => {
    const key = 'raw/chunked-too-large.bin';
    const framed = Buffer.concat(
      [...piecesOf(randomBytes(BODY_BYTES))].map(chunk).concat(chunk(Buffer.alloc(0))),
    );

    const outcome = await rawUpload(
      gw,
      headOf(`PUT /small/${key} HTTP/1.1`, { 'Transfer-Encoding': 'chunked' }),
      piecesOf(framed),
    );

    expect({
      written: outcome.written,
      error: outcome.error,
      status: outcome.response?.status,
      code: parseS3Error(outcome.response?.text ?? '').code,
      fin: outcome.fin,
    }).toEqual({
      written: framed.length,
      error: undefined,
      status: 413,
      code: 'EntityTooLarge',
      fin: true,
    });
    expect(await storedObject(bucket, key)).toBeUndefined();
    expect(await listMultipartUploads(bucket)).toEqual([]);
  });
});

describe('a client that goes on sending after an early answer', () => {
  /** Endless 256 KiB pieces, `count` of them. */
  function* filler(count: number, size = 256 * KiB): Generator<Buffer> {
    const piece = randomBytes(size);
    for (let i = 0; i < count; i++) yield piece;
  }

  it('is cut off once the gateway has dropped LINGER_MAX_BYTES, having read the answer', async () => {
    const declared = 1024 * MiB;

    const outcome = await rawUpload(
      gw,
      plainPut('jwt')('raw/endless.bin', declared),
      filler(declared / (256 * KiB)),
    );

    expect(outcome.response?.status).toBe(401);
    expect(outcome.error).toMatch(/^(EPIPE|ECONNRESET)$/);
    // What the gateway dropped, plus what the socket buffers on both sides held (tens of MiB
    // on loopback); without the bound, all of the 1 GiB would go through within LINGER_MAX_MS.
    // Pieces count once their write completed: the one the cut fell into does not, so at the
    // least the client saw exactly LINGER_MAX_BYTES go (it did once in CI).
    expect(outcome.written).toBeGreaterThanOrEqual(LINGER_MAX_BYTES);
    expect(outcome.written).toBeLessThan(LINGER_MAX_BYTES + 112 * MiB);
    expect(await storedObject(bucket, 'raw/endless.bin')).toBeUndefined();
  });

  it('is cut off after LINGER_MAX_MS when it sends slowly, having read the answer', async () => {
    // 1 KiB every 100 ms: 100 s for the declared MiB, were it not cut off.
    const outcome = await rawUpload(
      gw,
      plainPut('jwt')('raw/trickle.bin', MiB),
      filler(1024, KiB),
      100,
    );

    expect(outcome.response?.status).toBe(401);
    expect(outcome.written).toBeLessThan(MiB);
    expect(await storedObject(bucket, 'raw/trickle.bin')).toBeUndefined();
  });
});
