/**
 * SigV4 authentication with keys the gateway issues (DESIGN.md §5, issue 4), end to end: real
 * clients configured with a gateway key upload through the in-process gateway into Ceph, and
 * every refusal is an S3 XML 403 that leaves nothing behind. Replay protection, retries of
 * failed attempts, signed aws-chunked bodies and the binding of upload ids to the principal are
 * exercised on the wire.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import {
  request as httpRequest,
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
} from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { SignatureV4 } from '@smithy/signature-v4';
import type { FinalizeHandlerArguments, HttpRequest, QueryParameterBag } from '@smithy/types';
import { checksumBase64 } from '@mizuchi/s3-protocol';
import { encodeAwsChunked } from '@mizuchi/s3-protocol/aws-chunked.testing';
import {
  EMPTY_SHA256,
  canonicalRequest,
  credentialScope,
  sign as hmacHex,
  signingKey,
  stringToSign,
  type SigV4Claim,
} from '@mizuchi/sigv4';
import {
  closeDirectS3,
  createTestBucket,
  destroyTestBucket,
  listKeys,
  listMultipartUploads,
  storedObject,
} from './helpers/ceph';
import { cephRoute, createTestApp, type TestApp } from './helpers/create-test-app';
import { isolatedAwsEnv, runOk, runProcess } from './helpers/processes';
import { Sha256, sdkEncode } from '../libs/testing/smithy-signing';

const PREFIX = 'signed';
/** The same bucket and keys, with auto-multipart from 8 MiB on in parts of 5 MiB. */
const SMALL_PREFIX = 'signed-small';
const MiB = 1024 * 1024;
const REGION = 'us-east-1';

/** Two keys issued by the gateway, each authenticating its own principal. */
const KEY_A = {
  access_key: 'MIZUCHIE2EKEYA0000001',
  secret_key: 'e2e/secret+A=0123456789abcdefghijklmnopq',
  subject: 'alice',
};
const KEY_B = {
  access_key: 'MIZUCHIE2EKEYB0000002',
  secret_key: 'e2e-secret-B-0123456789abcdefghijklmnopq',
  subject: 'bob',
};
/** A rotated key of the same principal as KEY_A. */
const KEY_A2 = {
  access_key: 'MIZUCHIE2EKEYA0000003',
  secret_key: 'e2e-secret-A2-0123456789abcdefghijklmnop',
  subject: 'alice',
};
type IssuedKey = typeof KEY_A;

function md5(data: Buffer | string): string {
  return createHash('md5').update(data).digest('hex');
}

function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP client, so that a request goes on the wire exactly as signed (or tampered)

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

interface RawRequest {
  method: string;
  /** The request target: path and query, sent exactly as given. */
  target: string;
  headers: Record<string, string>;
  body?: Buffer;
}

/** Sends one request on a fresh connection and reads the whole response. */
function sendRaw(baseUrl: string, req: RawRequest): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    let answered = false;
    const outgoing = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: req.method,
        path: req.target,
        headers: req.headers,
        agent: false,
      },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    // A server that answers before it has read the whole body may reset the connection.
    outgoing.on('error', (err) => {
      if (!answered) reject(err);
    });
    outgoing.end(req.body);
  });
}

/**
 * Starts a request whose body the caller writes (and ends) on `outgoing`; `arrived` resolves when
 * the gateway's HTTP server has received the request head, recognised by the unsigned
 * `x-test-attempt` header, which must be set.
 */
function openRequest(
  baseUrl: string,
  req: RawRequest,
): { outgoing: ClientRequest; arrived: Promise<IncomingMessage>; response: Promise<RawResponse> } {
  const marker = req.headers['x-test-attempt'];
  if (marker === undefined) throw new Error('openRequest needs an x-test-attempt header');
  const server = gatewayServer;
  if (server === undefined) throw new Error('the gateway is not running');
  const arrived = new Promise<IncomingMessage>((resolve) => {
    const onRequest = (incoming: IncomingMessage) => {
      if (incoming.headers['x-test-attempt'] !== marker) return;
      server.off('request', onRequest);
      resolve(incoming);
    };
    server.on('request', onRequest);
  });
  const url = new URL(baseUrl);
  let outgoing!: ClientRequest;
  const response = new Promise<RawResponse>((resolve, reject) => {
    outgoing = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: req.method,
        path: req.target,
        headers: req.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    outgoing.on('error', reject);
  });
  return { outgoing, arrived, response };
}

/** The gateway's HTTP server, for {@link openRequest} to see requests arrive. */
let gatewayServer: Server | undefined;

/** Polls until `condition` holds; the jest timeout bounds the wait, nothing here is timed. */
async function eventually(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** Asserts an S3 XML error document with the given status and code. */
function expectS3Error(res: RawResponse, status: number, code: string): void {
  const found = /<Code>([^<]*)<\/Code>/.exec(res.text)?.[1];
  expect({ status: res.status, code: found }).toEqual({ status, code });
  expect(res.headers['content-type']).toMatch(/^application\/xml\b/);
  expect(res.text).toMatch(/^<\?xml[^>]*>\s*<Error>/);
}

// ---------------------------------------------------------------------------------------------
// Signing with @smithy/signature-v4, the signer of the AWS SDK for JavaScript

function objectPath(key: string, prefix = PREFIX): string {
  return `/${prefix}/${key.split('/').map(sdkEncode).join('/')}`;
}

function queryString(query: QueryParameterBag): string {
  return Object.entries(query)
    .flatMap(([name, value]) =>
      (Array.isArray(value) ? value : [value]).map((v) =>
        v === null ? sdkEncode(name) : `${sdkEncode(name)}=${sdkEncode(v)}`,
      ),
    )
    .join('&');
}

interface ToSign {
  method: string;
  key: string;
  query?: QueryParameterBag;
  headers?: Record<string, string>;
  body?: Buffer;
  /** Sign with this method instead (to tamper with the method on the wire). */
  signMethod?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  signingDate?: Date;
}

describe('SigV4 with gateway-issued keys, through the gateway into Ceph', () => {
  let bucket: string;
  let gw: TestApp;
  let workDir: string;
  let host: string;

  const keyCredentials = (key: IssuedKey) => ({
    accessKeyId: key.access_key,
    secretAccessKey: key.secret_key,
  });

  /** Signs a request in the header form and returns it ready for {@link sendRaw}. */
  async function signRaw(req: ToSign): Promise<RawRequest> {
    const signer = new SignatureV4({
      credentials: req.credentials ?? keyCredentials(KEY_A),
      region: REGION,
      service: 's3',
      sha256: Sha256,
      uriEscapePath: false,
    });
    const body = req.body ?? Buffer.alloc(0);
    const unsigned: HttpRequest = {
      method: req.signMethod ?? req.method,
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: gw.port,
      path: objectPath(req.key),
      query: req.query ?? {},
      headers: { host, 'content-length': String(body.length), ...(req.headers ?? {}) },
      body,
    };
    const signed = await signer.sign(unsigned, { signingDate: req.signingDate ?? new Date() });
    const query = queryString(req.query ?? {});
    return {
      method: req.method,
      target: query === '' ? signed.path : `${signed.path}?${query}`,
      headers: signed.headers,
      body,
    };
  }

  function sdkClient(credentials: { accessKeyId: string; secretAccessKey: string }): S3Client {
    return new S3Client({ endpoint: gw.url, forcePathStyle: true, region: REGION, credentials });
  }

  beforeAll(async () => {
    bucket = await createTestBucket('sigv4-auth');
    gw = await createTestApp({
      buckets: [
        cephRoute(PREFIX, bucket, {
          auth: { enabled: true, sigv4: { region: REGION, credentials: [KEY_A, KEY_B, KEY_A2] } },
        }),
        cephRoute(SMALL_PREFIX, bucket, {
          auth: { enabled: true, sigv4: { region: REGION, credentials: [KEY_A, KEY_B, KEY_A2] } },
          upload: { multipart_threshold: '8MiB', part_size: '5MiB' },
        }),
      ],
    });
    host = `127.0.0.1:${gw.port}`;
    gatewayServer = gw.app.getHttpServer();
    workDir = mkdtempSync(join(tmpdir(), 'mizuchi-sigv4-'));
  });

  afterAll(async () => {
    await gw?.close();
    if (bucket !== undefined) await destroyTestBucket(bucket);
    closeDirectS3();
    if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  });

  // -------------------------------------------------------------------------------------------

  describe('the aws CLI configured with a gateway key', () => {
    const cliEnv = (key: IssuedKey) =>
      isolatedAwsEnv({
        AWS_ACCESS_KEY_ID: key.access_key,
        AWS_SECRET_ACCESS_KEY: key.secret_key,
        AWS_DEFAULT_REGION: REGION,
      });

    it.each([
      ['1 MiB (one PutObject)', 1024 * 1024, 'cli/one-mib.bin'],
      ['20 MiB (its own multipart upload)', 20 * 1024 * 1024, 'cli/twenty-mib.bin'],
    ])('uploads %s with `aws s3 cp`', async (_what, size, key) => {
      const body = randomBytes(size);
      const file = join(workDir, key.replace('/', '-'));
      writeFileSync(file, body);

      await runOk('aws', ['s3', 'cp', file, `s3://${PREFIX}/${key}`, '--endpoint-url', gw.url], {
        env: cliEnv(KEY_A),
      });

      const stored = await storedObject(bucket, key);
      expect(stored?.md5).toBe(md5(body));
      expect(stored?.size).toBe(size);
      // Above the CLI's 8 MiB multipart threshold the object was assembled from parts.
      expect(stored?.etag).toMatch(size > 8 * MiB ? /-3$/ : /^[0-9a-f]{32}$/);
    });

    it('is refused with a wrong secret, and stores nothing', async () => {
      const file = join(workDir, 'cli-wrong-secret.bin');
      writeFileSync(file, randomBytes(1024));
      const outcome = await runProcess(
        'aws',
        ['s3', 'cp', file, `s3://${PREFIX}/cli/wrong-secret.bin`, '--endpoint-url', gw.url],
        { env: cliEnv({ ...KEY_A, secret_key: 'not-the-secret-at-all' }) },
      );
      expect(outcome.code).not.toBe(0);
      expect(outcome.stderr).toMatch(/SignatureDoesNotMatch/);
      expect(await storedObject(bucket, 'cli/wrong-secret.bin')).toBeUndefined();
    });
  });

  // -------------------------------------------------------------------------------------------

  describe('@aws-sdk/client-s3 and lib-storage with default settings', () => {
    let sdk: S3Client;
    let lastHeaders: Record<string, string> = {};

    beforeAll(() => {
      sdk = sdkClient(keyCredentials(KEY_A));
      // Observes (never changes) the signed request, to show which encoding the SDK chose.
      sdk.middlewareStack.add(
        (next) => async (args: FinalizeHandlerArguments<object>) => {
          lastHeaders = { ...(args.request as HttpRequest).headers };
          return next(args);
        },
        { step: 'finalizeRequest', priority: 'low', name: 'mizuchiObserveSignedRequest' },
      );
    });

    afterAll(() => sdk?.destroy());

    it('stores metadata with a no-break space and an accent, signed by the SDK as it sends them', async () => {
      const body = randomBytes(777);
      // botocore would collapse U+00A0 like a space when signing; this SDK keeps it.
      const note = 'caf\u00e9\u00a0au\u00a0\u00a0lait';
      const out = await sdk.send(
        new PutObjectCommand({
          Bucket: PREFIX,
          Key: 'sdk/nbsp.bin',
          Body: body,
          Metadata: { note },
        }),
      );
      expect(out.ETag).toBe(`"${md5(body)}"`);
      const stored = await storedObject(bucket, 'sdk/nbsp.bin');
      expect(stored?.md5).toBe(md5(body));
      // Stored as the latin-1 bytes sent. Ceph hands them back as an RFC 2047 encoded word,
      // which the SDK passes on undecoded.
      const returned = stored?.metadata.note ?? '';
      const word = /^=\?UTF-8\?Q\?(.*)\?=$/.exec(returned);
      const bytes =
        word === null
          ? Buffer.from(returned, 'latin1')
          : Buffer.from(
              word[1].replace(/=([0-9A-F]{2})/g, (_m, hex: string) =>
                String.fromCharCode(parseInt(hex, 16)),
              ),
              'latin1',
            );
      expect(bytes.equals(Buffer.from(note, 'latin1'))).toBe(true);
    });

    it('stores a PutObject of a Buffer', async () => {
      const body = randomBytes(1024 * 1024 + 11);
      const out = await sdk.send(
        new PutObjectCommand({ Bucket: PREFIX, Key: 'sdk/buffer.bin', Body: body }),
      );
      expect(lastHeaders.authorization).toMatch(
        new RegExp(`^AWS4-HMAC-SHA256 Credential=${KEY_A.access_key}/`),
      );
      expect(out.ETag).toBe(`"${md5(body)}"`);
      const stored = await storedObject(bucket, 'sdk/buffer.bin');
      expect(stored?.md5).toBe(md5(body));
      expect(stored?.size).toBe(body.length);
    });

    it('stores a PutObject of a Readable, sent as aws-chunked with a trailer', async () => {
      const chunks = [randomBytes(200 * 1024), randomBytes(1), randomBytes(700 * 1024)];
      const whole = Buffer.concat(chunks);
      const out = await sdk.send(
        new PutObjectCommand({
          Bucket: PREFIX,
          Key: 'sdk/readable.bin',
          Body: Readable.from(chunks),
          ContentLength: whole.length,
        }),
      );
      expect(lastHeaders['content-encoding']).toMatch(/aws-chunked/);
      expect(lastHeaders['x-amz-trailer']).toMatch(/^x-amz-checksum-/);
      expect(lastHeaders['x-amz-content-sha256']).toMatch(/^STREAMING-.*-TRAILER$/);
      expect(out.ETag).toBe(`"${md5(whole)}"`);
      const stored = await storedObject(bucket, 'sdk/readable.bin');
      expect(stored?.md5).toBe(md5(whole));
      expect(stored?.size).toBe(whole.length);
    });

    it('stores a 12 MiB lib-storage Upload (multipart) byte for byte', async () => {
      const body = randomBytes(12 * 1024 * 1024);
      await new Upload({
        client: sdk,
        params: { Bucket: PREFIX, Key: 'sdk/lib-storage.bin', Body: body },
      }).done();
      const stored = await storedObject(bucket, 'sdk/lib-storage.bin');
      expect(stored?.md5).toBe(md5(body));
      expect(stored?.size).toBe(body.length);
      // Three parts (5 + 5 + 2 MiB) were completed into one object.
      expect(stored?.etag).toMatch(/-3$/);
    });

    it.each([
      ['spaces', 'keys/my folder/my holiday photo.jpg'],
      ['plus signs and equals', 'keys/a+b=c+d.txt'],
      ['Unicode', 'keys/résumé/日本語 ファイル/🐉.txt'],
      ["!*'()", "keys/odd !*'() name.txt"],
      ['reserved punctuation', 'keys/semi;colon,comma&amp$dollar@at:colon.txt'],
      ['a literal percent', 'keys/100% sure.txt'],
    ])('stores a PutObject of a key with %s under that key', async (_what, key) => {
      const body = Buffer.from(`the object called ${key}\n`);
      await sdk.send(new PutObjectCommand({ Bucket: PREFIX, Key: key, Body: body }));
      expect((await storedObject(bucket, key))?.md5).toBe(md5(body));
    });

    it("stores a lib-storage multipart Upload of a key with spaces, Unicode and !*'()", async () => {
      const key = "keys/multipart (1) – ünïcödé!*'.bin";
      const body = randomBytes(11 * MiB);
      await new Upload({ client: sdk, params: { Bucket: PREFIX, Key: key, Body: body } }).done();
      const stored = await storedObject(bucket, key);
      expect(stored?.md5).toBe(md5(body));
      expect(stored?.etag).toMatch(/-3$/);
    });

    it('lets the SDK on a machine whose clock is 20 minutes slow correct its skew and upload', async () => {
      // The gateway runs in this process, so the slow clock lives in a child process: the SDK
      // there signs with its own time, gets 403 RequestTimeTooSkewed with the gateway's Date
      // header, corrects its clock offset and retries.
      const script = [
        "const { S3Client, PutObjectCommand } = require('@aws-sdk/client-s3');",
        'const RealDate = Date;',
        'const offset = -20 * 60 * 1000;',
        'global.Date = class extends RealDate {',
        '  constructor(...args) { if (args.length === 0) super(RealDate.now() + offset); else super(...args); }',
        '  static now() { return RealDate.now() + offset; }',
        '};',
        'const [endpoint, bucket, key, accessKeyId, secretAccessKey] = process.argv.slice(1);',
        "const sdk = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId, secretAccessKey } });",
        "sdk.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'written from a slow clock' }))",
        '  .then((out) => { console.log(JSON.stringify({ attempts: out.$metadata.attempts, offset: sdk.config.systemClockOffset })); sdk.destroy(); })',
        '  .catch((err) => { console.error(err); process.exit(1); });',
      ].join('\n');
      const stdout = await runOk(
        process.execPath,
        ['-e', script, gw.url, PREFIX, 'sdk/slow-clock.txt', KEY_A.access_key, KEY_A.secret_key],
        { cwd: join(__dirname, '..'), env: isolatedAwsEnv() },
      );
      const outcome = JSON.parse(stdout) as { attempts: number; offset: number };
      // One refused attempt, then the corrected one; the offset now makes up the 20 minutes.
      expect(outcome.attempts).toBe(2);
      expect(Math.round(outcome.offset / 60_000)).toBe(20);
      expect((await storedObject(bucket, 'sdk/slow-clock.txt'))?.md5).toBe(
        md5('written from a slow clock'),
      );
    });

    it('authenticates the second key as well', async () => {
      const other = sdkClient(keyCredentials(KEY_B));
      try {
        const body = randomBytes(4096);
        await other.send(
          new PutObjectCommand({ Bucket: PREFIX, Key: 'sdk/key-b.bin', Body: body }),
        );
        expect((await storedObject(bucket, 'sdk/key-b.bin'))?.md5).toBe(md5(body));
      } finally {
        other.destroy();
      }
    });

    it('is refused with a wrong secret (SignatureDoesNotMatch) or an unknown key (InvalidAccessKeyId)', async () => {
      const wrongSecret = sdkClient({ ...keyCredentials(KEY_A), secretAccessKey: 'wrong-secret' });
      const unknownKey = sdkClient({ accessKeyId: 'AKIDNOTISSUED0000000', secretAccessKey: 'x' });
      try {
        await expect(
          wrongSecret.send(
            new PutObjectCommand({ Bucket: PREFIX, Key: 'sdk/wrong.bin', Body: 'x' }),
          ),
        ).rejects.toMatchObject({
          name: 'SignatureDoesNotMatch',
          $metadata: { httpStatusCode: 403 },
        });
        await expect(
          unknownKey.send(
            new PutObjectCommand({ Bucket: PREFIX, Key: 'sdk/unknown.bin', Body: 'x' }),
          ),
        ).rejects.toMatchObject({ name: 'InvalidAccessKeyId', $metadata: { httpStatusCode: 403 } });
      } finally {
        wrongSecret.destroy();
        unknownKey.destroy();
      }
      expect(await storedObject(bucket, 'sdk/wrong.bin')).toBeUndefined();
      expect(await storedObject(bucket, 'sdk/unknown.bin')).toBeUndefined();
    });
  });

  // -------------------------------------------------------------------------------------------

  describe('boto3 configured with a gateway key', () => {
    const script = [
      'import json, sys',
      'import boto3',
      'endpoint, bucket, key, path = sys.argv[1:5]',
      "s3 = boto3.client('s3', endpoint_url=endpoint)",
      "with open(path, 'rb') as body:",
      '    out = s3.put_object(Bucket=bucket, Key=key, Body=body)',
      "print(json.dumps({'ETag': out['ETag']}))",
    ].join('\n');

    it('stores a signed put_object byte for byte', async () => {
      const body = randomBytes(2 * 1024 * 1024 + 5);
      const file = join(workDir, 'boto3.bin');
      writeFileSync(file, body);
      const stdout = await runOk('python3', ['-', gw.url, PREFIX, 'boto3/file.bin', file], {
        env: isolatedAwsEnv({
          AWS_ACCESS_KEY_ID: KEY_B.access_key,
          AWS_SECRET_ACCESS_KEY: KEY_B.secret_key,
          AWS_DEFAULT_REGION: REGION,
        }),
        input: script,
      });
      expect((JSON.parse(stdout) as { ETag?: string }).ETag).toBe(`"${md5(body)}"`);
      const stored = await storedObject(bucket, 'boto3/file.bin');
      expect(stored?.md5).toBe(md5(body));
      expect(stored?.size).toBe(body.length);
    });
  });

  // -------------------------------------------------------------------------------------------

  describe('presigned PUT (@aws-sdk/s3-request-presigner)', () => {
    let sdk: S3Client;

    beforeAll(() => {
      sdk = sdkClient(keyCredentials(KEY_A));
    });
    afterAll(() => sdk?.destroy());

    const presign = (key: string, expiresIn: number) =>
      getSignedUrl(sdk, new PutObjectCommand({ Bucket: PREFIX, Key: key }), { expiresIn });

    it('stores a body PUT with fetch to a presigned URL', async () => {
      const body = randomBytes(300 * 1024);
      const url = await presign('presigned/with space & (parens).bin', 600);
      expect(url).toContain('X-Amz-Signature=');
      const res = await fetch(url, { method: 'PUT', body });
      expect({ status: res.status, text: await res.text() }).toEqual({ status: 200, text: '' });
      const stored = await storedObject(bucket, 'presigned/with space & (parens).bin');
      expect(stored?.md5).toBe(md5(body));
      expect(stored?.size).toBe(body.length);
    });

    it('uploads a part with fetch to a presigned UploadPart URL', async () => {
      const Key = 'presigned/parts of (a) file.bin';
      const { UploadId } = await sdk.send(
        new CreateMultipartUploadCommand({ Bucket: PREFIX, Key }),
      );
      const parts = [randomBytes(5 * MiB), randomBytes(123_456)];
      const etags: string[] = [];
      for (const [index, part] of parts.entries()) {
        const url = await getSignedUrl(
          sdk,
          new UploadPartCommand({ Bucket: PREFIX, Key, UploadId, PartNumber: index + 1 }),
          { expiresIn: 600 },
        );
        expect(url).toMatch(/[?&]uploadId=/);
        const res = await fetch(url, { method: 'PUT', body: part });
        expect({ status: res.status, text: await res.text() }).toEqual({ status: 200, text: '' });
        etags.push(res.headers.get('etag') ?? '');
      }
      expect(etags).toEqual(parts.map((part) => `"${md5(part)}"`));
      await sdk.send(
        new CompleteMultipartUploadCommand({
          Bucket: PREFIX,
          Key,
          UploadId,
          MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        }),
      );
      const stored = await storedObject(bucket, Key);
      expect(stored?.md5).toBe(md5(Buffer.concat(parts)));
      expect(stored?.etag).toMatch(/-2$/);
    });

    it('refuses a presigned URL whose query was tampered with (SignatureDoesNotMatch)', async () => {
      const url = new URL(await presign('presigned/tampered-query.bin', 600));
      url.searchParams.set('X-Amz-Expires', '601');
      const res = await fetch(url, { method: 'PUT', body: Buffer.from('x') });
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
      expect(await storedObject(bucket, 'presigned/tampered-query.bin')).toBeUndefined();
    });

    it('works until it expires, then is refused with 403 AccessDenied', async () => {
      const early = randomBytes(1000);
      const usedInTime = await presign('presigned/in-time.bin', 2);
      const usedLate = await presign('presigned/too-late.bin', 2);

      const ok = await fetch(usedInTime, { method: 'PUT', body: early });
      expect({ status: ok.status, text: await ok.text() }).toEqual({ status: 200, text: '' });

      await new Promise((resolve) => setTimeout(resolve, 3000));
      const late = await fetch(usedLate, { method: 'PUT', body: randomBytes(1000) });
      const text = await late.text();
      expect({ status: late.status, code: /<Code>([^<]*)<\/Code>/.exec(text)?.[1] }).toEqual({
        status: 403,
        code: 'AccessDenied',
      });
      expect(late.headers.get('content-type')).toMatch(/^application\/xml\b/);
      expect(/<Message>([^<]*)<\/Message>/.exec(text)?.[1]).toMatch(/expired/i);

      expect((await storedObject(bucket, 'presigned/in-time.bin'))?.md5).toBe(md5(early));
      expect(await storedObject(bucket, 'presigned/too-late.bin')).toBeUndefined();
    });
  });

  // -------------------------------------------------------------------------------------------

  describe('refusals: S3 XML 403, nothing stored', () => {
    const body = Buffer.from('this body must never be stored\n');

    async function expectRefused(req: RawRequest, code: string, key: string) {
      const res = await sendRaw(gw.url, req);
      expectS3Error(res, 403, code);
      expect(await storedObject(bucket, key)).toBeUndefined();
    }

    it('accepts the untampered request that the cases below alter', async () => {
      const req = await signRaw({
        method: 'PUT',
        key: 'refused/control.txt',
        query: { 'x-id': 'PutObject' },
        headers: { 'content-type': 'text/plain', 'x-amz-meta-owner': 'alice' },
        body,
      });
      const res = await sendRaw(gw.url, req);
      expect({ status: res.status, text: res.text }).toEqual({ status: 200, text: '' });
      expect((await storedObject(bucket, 'refused/control.txt'))?.md5).toBe(md5(body));
    });

    it('refuses a wrong secret with SignatureDoesNotMatch', async () => {
      const req = await signRaw({
        method: 'PUT',
        key: 'refused/wrong-secret.txt',
        body,
        credentials: { ...keyCredentials(KEY_A), secretAccessKey: `${KEY_A.secret_key}x` },
      });
      await expectRefused(req, 'SignatureDoesNotMatch', 'refused/wrong-secret.txt');
    });

    it("refuses key A's id signed with key B's secret with SignatureDoesNotMatch", async () => {
      const req = await signRaw({
        method: 'PUT',
        key: 'refused/crossed.txt',
        body,
        credentials: { accessKeyId: KEY_A.access_key, secretAccessKey: KEY_B.secret_key },
      });
      await expectRefused(req, 'SignatureDoesNotMatch', 'refused/crossed.txt');
    });

    it('refuses an unknown access key with InvalidAccessKeyId', async () => {
      const req = await signRaw({
        method: 'PUT',
        key: 'refused/unknown-key.txt',
        body,
        credentials: { accessKeyId: 'AKIDNOTISSUED0000000', secretAccessKey: KEY_A.secret_key },
      });
      await expectRefused(req, 'InvalidAccessKeyId', 'refused/unknown-key.txt');
    });

    it('refuses a tampered method with SignatureDoesNotMatch', async () => {
      // Signed as a POST, sent as the PUT (PutObject) it never authorised.
      const req = await signRaw({
        method: 'PUT',
        signMethod: 'POST',
        key: 'refused/method.txt',
        body,
      });
      await expectRefused(req, 'SignatureDoesNotMatch', 'refused/method.txt');
    });

    it('refuses a tampered path with SignatureDoesNotMatch', async () => {
      const req = await signRaw({ method: 'PUT', key: 'refused/path-signed.txt', body });
      req.target = req.target.replace('path-signed', 'path-sent');
      await expectRefused(req, 'SignatureDoesNotMatch', 'refused/path-sent.txt');
      expect(await storedObject(bucket, 'refused/path-signed.txt')).toBeUndefined();
    });

    it('refuses a tampered query with SignatureDoesNotMatch', async () => {
      const req = await signRaw({
        method: 'PUT',
        key: 'refused/query.txt',
        query: { 'x-id': 'PutObject' },
        body,
      });
      req.target = req.target.replace('x-id=PutObject', 'x-id=Other');
      await expectRefused(req, 'SignatureDoesNotMatch', 'refused/query.txt');
    });

    it('refuses a tampered UploadPart partNumber with SignatureDoesNotMatch, adding no part', async () => {
      const sdk = sdkClient(keyCredentials(KEY_A));
      try {
        const { UploadId } = await sdk.send(
          new CreateMultipartUploadCommand({ Bucket: PREFIX, Key: 'refused/part.bin' }),
        );
        const req = await signRaw({
          method: 'PUT',
          key: 'refused/part.bin',
          query: { partNumber: '1', uploadId: UploadId ?? '' },
          body,
        });
        req.target = req.target.replace('partNumber=1', 'partNumber=2');
        expectS3Error(await sendRaw(gw.url, req), 403, 'SignatureDoesNotMatch');
        const parts = await sdk.send(
          new ListPartsCommand({ Bucket: PREFIX, Key: 'refused/part.bin', UploadId }),
        );
        expect(parts.Parts ?? []).toEqual([]);
        await sdk.send(
          new AbortMultipartUploadCommand({ Bucket: PREFIX, Key: 'refused/part.bin', UploadId }),
        );
      } finally {
        sdk.destroy();
      }
    });

    it.each([
      ['x-amz-meta-owner', 'mallory'],
      ['content-type', 'text/html'],
    ])('refuses a tampered signed header (%s) with SignatureDoesNotMatch', async (name, value) => {
      const key = `refused/header-${name}.txt`;
      const req = await signRaw({
        method: 'PUT',
        key,
        headers: { 'content-type': 'text/plain', 'x-amz-meta-owner': 'alice' },
        body,
      });
      expect(req.headers.authorization).toContain(name);
      req.headers[name] = value;
      await expectRefused(req, 'SignatureDoesNotMatch', key);
    });

    it.each([
      ['20 minutes behind', -20],
      ['20 minutes ahead', 20],
    ])('refuses an x-amz-date %s with RequestTimeTooSkewed', async (_what, minutes) => {
      const key = `refused/skew${minutes}.txt`;
      const req = await signRaw({
        method: 'PUT',
        key,
        body,
        signingDate: new Date(Date.now() + minutes * 60_000),
      });
      await expectRefused(req, 'RequestTimeTooSkewed', key);
    });

    it('refuses an unsigned request with AccessDenied', async () => {
      await expectRefused(
        {
          method: 'PUT',
          target: objectPath('refused/anonymous.txt'),
          headers: { host, 'content-length': String(body.length) },
          body,
        },
        'AccessDenied',
        'refused/anonymous.txt',
      );
    });

    it('refuses a malformed Authorization header with AuthorizationHeaderMalformed', async () => {
      const req = await signRaw({ method: 'PUT', key: 'refused/malformed.txt', body });
      req.headers.authorization = req.headers.authorization.replace(
        /Credential=([^/]+)\/\d{8}\//,
        'Credential=$1/',
      );
      await expectRefused(req, 'AuthorizationHeaderMalformed', 'refused/malformed.txt');
    });

    it('refuses a signature for another region with AuthorizationHeaderMalformed', async () => {
      const signer = new SignatureV4({
        credentials: keyCredentials(KEY_A),
        region: 'eu-west-1',
        service: 's3',
        sha256: Sha256,
        uriEscapePath: false,
      });
      const signed = await signer.sign({
        method: 'PUT',
        protocol: 'http:',
        hostname: '127.0.0.1',
        path: objectPath('refused/region.txt'),
        query: {},
        headers: { host, 'content-length': String(body.length) },
        body,
      });
      await expectRefused(
        { method: 'PUT', target: signed.path, headers: signed.headers, body },
        'AuthorizationHeaderMalformed',
        'refused/region.txt',
      );
    });

    it('left no object behind for any refused request', async () => {
      const keys = (await listKeys(bucket)).filter((key) => key.startsWith('refused/'));
      expect(keys).toEqual(['refused/control.txt']);
    });
  });

  // -------------------------------------------------------------------------------------------

  describe('replay protection', () => {
    it('refuses a header-signed PUT replayed after it succeeded, even with another body', async () => {
      const first = Buffer.from('the one upload this signature allows\n');
      const req = await signRaw({
        method: 'PUT',
        key: 'replay/header.txt',
        // The payload is not signed, so only replay protection stops a swapped body.
        headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
        body: first,
      });
      const ok = await sendRaw(gw.url, req);
      expect({ status: ok.status, text: ok.text }).toEqual({ status: 200, text: '' });

      const replayed = await sendRaw(gw.url, { ...req, body: Buffer.from(first).fill('X') });
      expectS3Error(replayed, 403, 'AccessDenied');
      const again = await sendRaw(gw.url, req);
      expectS3Error(again, 403, 'AccessDenied');

      expect((await storedObject(bucket, 'replay/header.txt'))?.md5).toBe(md5(first));
    });

    it('refuses a presigned URL used a second time', async () => {
      const sdk = sdkClient(keyCredentials(KEY_B));
      try {
        const url = await getSignedUrl(
          sdk,
          new PutObjectCommand({ Bucket: PREFIX, Key: 'replay/presigned.bin' }),
          { expiresIn: 600 },
        );
        const first = randomBytes(2048);
        const ok = await fetch(url, { method: 'PUT', body: first });
        expect({ status: ok.status, text: await ok.text() }).toEqual({ status: 200, text: '' });

        const replayed = await fetch(url, { method: 'PUT', body: randomBytes(2048) });
        const text = await replayed.text();
        expect(replayed.status).toBe(403);
        expect(text).toContain('<Code>AccessDenied</Code>');
        expect((await storedObject(bucket, 'replay/presigned.bin'))?.md5).toBe(md5(first));
      } finally {
        sdk.destroy();
      }
    });

    it('refuses a replay sent while the original upload is still in flight', async () => {
      // Replay protection must hold for a signature in use, not only for one that has finished:
      // otherwise a copy raced alongside the original (here with another body, as the payload
      // is unsigned) completes an upload too, and the last one to finish wins.
      const original = Buffer.alloc(256 * 1024, 'o');
      const req = await signRaw({
        method: 'PUT',
        key: 'replay/in-flight.bin',
        headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
        body: original,
      });
      const first = openRequest(gw.url, {
        ...req,
        headers: { ...req.headers, 'x-test-attempt': 'first' },
      });
      first.outgoing.write(original.subarray(0, 1024));
      await first.arrived;

      const replayed = await sendRaw(gw.url, { ...req, body: Buffer.alloc(original.length, 'r') });
      first.outgoing.end(original.subarray(1024));
      const completed = await first.response;

      expect({ status: completed.status, text: completed.text }).toEqual({ status: 200, text: '' });
      expectS3Error(replayed, 403, 'AccessDenied');
      expect((await storedObject(bucket, 'replay/in-flight.bin'))?.md5).toBe(md5(original));
    });

    it('lets a signed attempt that failed on its body be retried with the same signature', async () => {
      const good = randomBytes(64 * 1024);
      const bad = Buffer.from(good);
      bad[1000] ^= 0xff;
      const req = await signRaw({ method: 'PUT', key: 'replay/retry-digest.bin', body: good });
      expect(req.headers['x-amz-content-sha256']).toBe(sha256Hex(good));

      const failed = await sendRaw(gw.url, { ...req, body: bad });
      expectS3Error(failed, 400, 'XAmzContentSHA256Mismatch');
      expect(await storedObject(bucket, 'replay/retry-digest.bin')).toBeUndefined();

      const retried = await sendRaw(gw.url, req);
      expect({ status: retried.status, text: retried.text }).toEqual({ status: 200, text: '' });
      expect((await storedObject(bucket, 'replay/retry-digest.bin'))?.md5).toBe(md5(good));

      // Now that it succeeded, the same signature is spent.
      expectS3Error(await sendRaw(gw.url, req), 403, 'AccessDenied');
    });

    it('lets a signed attempt aborted mid-body be retried with the same signature', async () => {
      const body = randomBytes(1024 * 1024);
      const req = await signRaw({ method: 'PUT', key: 'replay/retry-abort.bin', body });

      const attempt = openRequest(gw.url, {
        ...req,
        headers: { ...req.headers, 'x-test-attempt': 'aborted' },
      });
      attempt.response.catch(() => undefined);
      attempt.outgoing.write(body.subarray(0, body.length / 2));
      const incoming = await attempt.arrived;
      // The gateway has the request and half its body: cut the connection, and wait until the
      // gateway has seen it go.
      const closed = new Promise((resolve) => incoming.once('close', resolve));
      attempt.outgoing.destroy();
      await closed;

      const retried = await sendRaw(gw.url, req);
      expect({ status: retried.status, text: retried.text }).toEqual({ status: 200, text: '' });
      const stored = await storedObject(bucket, 'replay/retry-abort.bin');
      expect(stored?.md5).toBe(md5(body));
      expect(stored?.size).toBe(body.length);
    });
  });

  // -------------------------------------------------------------------------------------------

  describe('STREAMING-AWS4-HMAC-SHA256-PAYLOAD bodies', () => {
    /**
     * A signed aws-chunked PUT: the seed signature computed with libs/sigv4, and each chunk
     * signature chained from it. `alter(index, signature)` may change the signature of a chunk
     * (index 0-based, the final empty chunk included) or of the trailer (index -1).
     */
    function streamingPut(
      key: string,
      data: Buffer,
      opts: {
        trailer?: boolean;
        alter?: (index: number, signature: string) => string;
        prefix?: string;
      } = {},
    ): RawRequest {
      const path = objectPath(key, opts.prefix);
      const mode = opts.trailer
        ? 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'
        : 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
      const alter = opts.alter ?? ((_index: number, signature: string) => signature);
      const amzDate = new Date()
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d{3}/, '');
      const framing = {
        chunkSize: 64 * 1024,
        trailerChecksum: opts.trailer ? ('CRC32' as const) : undefined,
      };
      // Signatures are always 64 hex digits, so a dummy encoding gives the framed length.
      const encodedLength = encodeAwsChunked(data, { ...framing, signed: true }).length;
      const headers: Record<string, string> = {
        host,
        'content-encoding': 'aws-chunked',
        'content-length': String(encodedLength),
        'x-amz-content-sha256': mode,
        'x-amz-date': amzDate,
        'x-amz-decoded-content-length': String(data.length),
        ...(opts.trailer ? { 'x-amz-trailer': 'x-amz-checksum-crc32' } : {}),
      };
      const claim: SigV4Claim = {
        form: 'header',
        accessKeyId: KEY_A.access_key,
        scopeDate: amzDate.slice(0, 8),
        region: REGION,
        service: 's3',
        signedHeaders: Object.keys(headers).sort(),
        signature: '',
        amzDate,
        payloadHash: mode,
      };
      const wire = { method: 'PUT', rawPath: path, rawQuery: '', headers };
      const key256 = signingKey(KEY_A.secret_key, claim.scopeDate, REGION, 's3');
      const seed = hmacHex(key256, stringToSign(claim, canonicalRequest(wire, claim)));
      const scope = credentialScope(claim);

      let previous = seed;
      const chunkSignature = (hash: string) => {
        previous = hmacHex(
          key256,
          ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, previous, EMPTY_SHA256, hash].join('\n'),
        );
        return previous;
      };
      const trailerText = `x-amz-checksum-crc32:${checksumBase64('CRC32', data)}\n`;
      const trailerSignature = () =>
        hmacHex(
          key256,
          ['AWS4-HMAC-SHA256-TRAILER', amzDate, scope, previous, sha256Hex(trailerText)].join('\n'),
        );

      // The chain is computed from the correct signatures; the wire may carry altered ones.
      const correct: string[] = [];
      encodeAwsChunked(data, {
        ...framing,
        signed: true,
        sign: (hash) => {
          const signature = chunkSignature(hash);
          correct.push(signature);
          return signature;
        },
      });
      const body = encodeAwsChunked(data, {
        ...framing,
        signed: true,
        sign: (_hash, index) => alter(index, correct[index]),
        trailerSignature: opts.trailer ? alter(-1, trailerSignature()) : undefined,
      });
      expect(body.length).toBe(encodedLength);

      return {
        method: 'PUT',
        target: path,
        headers: {
          ...headers,
          authorization:
            `AWS4-HMAC-SHA256 Credential=${KEY_A.access_key}/${scope}, ` +
            `SignedHeaders=${claim.signedHeaders.join(';')}, Signature=${seed}`,
        },
        body,
      };
    }

    /** Changes the last hex digit of a signature. */
    const flip = (signature: string) => signature.replace(/.$/, (c) => (c === '0' ? '1' : '0'));
    const data = () => randomBytes(3 * 64 * 1024 + 4321);

    it('refuses a body whose second chunk signature was altered, storing nothing', async () => {
      const req = streamingPut('streaming/altered.bin', data(), {
        alter: (index, signature) => (index === 1 ? flip(signature) : signature),
      });
      expectS3Error(await sendRaw(gw.url, req), 403, 'SignatureDoesNotMatch');
      expect(await storedObject(bucket, 'streaming/altered.bin')).toBeUndefined();
    });

    it('refuses a body whose chunk signatures were swapped, storing nothing', async () => {
      let first = '';
      const req = streamingPut('streaming/swapped.bin', data(), {
        alter: (index, signature) => {
          if (index === 0) first = signature;
          return index === 1 ? first : signature;
        },
      });
      expectS3Error(await sendRaw(gw.url, req), 403, 'SignatureDoesNotMatch');
      expect(await storedObject(bucket, 'streaming/swapped.bin')).toBeUndefined();
    });

    it('refuses a body whose final (empty) chunk signature was altered, storing nothing', async () => {
      const payload = data();
      const req = streamingPut('streaming/final.bin', payload, {
        alter: (index, signature) => (index === 4 ? flip(signature) : signature),
      });
      expectS3Error(await sendRaw(gw.url, req), 403, 'SignatureDoesNotMatch');
      expect(await storedObject(bucket, 'streaming/final.bin')).toBeUndefined();
    });

    it('stores the decoded bytes of a body whose chunk signatures are all correct', async () => {
      const payload = data();
      const res = await sendRaw(gw.url, streamingPut('streaming/correct.bin', payload));
      expect({ status: res.status, text: res.text }).toEqual({ status: 200, text: '' });
      const stored = await storedObject(bucket, 'streaming/correct.bin');
      expect(stored?.md5).toBe(md5(payload));
      expect(stored?.size).toBe(payload.length);
    });

    it('refuses a -TRAILER body whose trailer signature was altered, storing nothing', async () => {
      const req = streamingPut('streaming/trailer-altered.bin', data(), {
        trailer: true,
        alter: (index, signature) => (index === -1 ? flip(signature) : signature),
      });
      expectS3Error(await sendRaw(gw.url, req), 403, 'SignatureDoesNotMatch');
      expect(await storedObject(bucket, 'streaming/trailer-altered.bin')).toBeUndefined();
    });

    it('stores a -TRAILER body with correct chunk and trailer signatures', async () => {
      const payload = data();
      const res = await sendRaw(
        gw.url,
        streamingPut('streaming/trailer-correct.bin', payload, { trailer: true }),
      );
      expect({ status: res.status, text: res.text }).toEqual({ status: 200, text: '' });
      expect(res.headers['x-amz-checksum-crc32']).toBe(checksumBase64('CRC32', payload));
      const stored = await storedObject(bucket, 'streaming/trailer-correct.bin');
      expect(stored?.md5).toBe(md5(payload));
      expect(stored?.size).toBe(payload.length);
    });

    describe('above the auto-multipart threshold', () => {
      const large = () => randomBytes(12 * MiB + 777);

      it('aborts the backend multipart upload at a chunk altered after the first part, storing nothing', async () => {
        // Chunk 150 starts at 9.375 MiB: the first 5 MiB part has gone to the backend by then.
        const req = streamingPut('streaming/large-altered.bin', large(), {
          prefix: SMALL_PREFIX,
          alter: (index, signature) => (index === 150 ? flip(signature) : signature),
        });
        expectS3Error(await sendRaw(gw.url, req), 403, 'SignatureDoesNotMatch');
        expect(await storedObject(bucket, 'streaming/large-altered.bin')).toBeUndefined();
        await eventually(async () =>
          (await listMultipartUploads(bucket)).every(
            (upload) => upload.key !== 'streaming/large-altered.bin',
          ),
        );
      });

      it('stores the decoded bytes of a correctly signed body as a multipart object', async () => {
        const payload = large();
        const res = await sendRaw(
          gw.url,
          streamingPut('streaming/large-correct.bin', payload, { prefix: SMALL_PREFIX }),
        );
        expect({ status: res.status, text: res.text }).toEqual({ status: 200, text: '' });
        const stored = await storedObject(bucket, 'streaming/large-correct.bin');
        expect(stored?.md5).toBe(md5(payload));
        expect(stored?.size).toBe(payload.length);
        expect(stored?.etag).toMatch(/-3$/);
      });
    });
  });

  // -------------------------------------------------------------------------------------------

  describe('multipart upload ids are bound to the principal', () => {
    let alice: S3Client;
    let bob: S3Client;

    beforeAll(() => {
      alice = sdkClient(keyCredentials(KEY_A));
      bob = sdkClient(keyCredentials(KEY_B));
    });
    afterAll(() => {
      alice?.destroy();
      bob?.destroy();
    });

    it("refuses key B every operation on key A's upload id with 404 NoSuchUpload", async () => {
      const Key = 'bound/alice.bin';
      const { UploadId } = await alice.send(
        new CreateMultipartUploadCommand({ Bucket: PREFIX, Key }),
      );
      expect(UploadId).toBeTruthy();
      const noSuchUpload = { name: 'NoSuchUpload', $metadata: { httpStatusCode: 404 } };

      await expect(
        bob.send(
          new UploadPartCommand({
            Bucket: PREFIX,
            Key,
            UploadId,
            PartNumber: 1,
            Body: randomBytes(1024),
          }),
        ),
      ).rejects.toMatchObject(noSuchUpload);
      await expect(
        bob.send(new ListPartsCommand({ Bucket: PREFIX, Key, UploadId })),
      ).rejects.toMatchObject(noSuchUpload);
      await expect(
        bob.send(
          new CompleteMultipartUploadCommand({
            Bucket: PREFIX,
            Key,
            UploadId,
            MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"0"' }] },
          }),
        ),
      ).rejects.toMatchObject(noSuchUpload);
      await expect(
        bob.send(new AbortMultipartUploadCommand({ Bucket: PREFIX, Key, UploadId })),
      ).rejects.toMatchObject(noSuchUpload);

      // Alice's upload is untouched and completes with her key.
      const part = randomBytes(64 * 1024);
      const { ETag } = await alice.send(
        new UploadPartCommand({ Bucket: PREFIX, Key, UploadId, PartNumber: 1, Body: part }),
      );
      const listed = await alice.send(new ListPartsCommand({ Bucket: PREFIX, Key, UploadId }));
      expect(listed.Parts?.map((p) => p.PartNumber)).toEqual([1]);
      await alice.send(
        new CompleteMultipartUploadCommand({
          Bucket: PREFIX,
          Key,
          UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] },
        }),
      );
      expect((await storedObject(bucket, Key))?.md5).toBe(md5(part));
    });

    it("lets another key of the same subject (a rotated key) continue the subject's upload", async () => {
      const rotated = sdkClient(keyCredentials(KEY_A2));
      try {
        const Key = 'bound/rotated.bin';
        const { UploadId } = await alice.send(
          new CreateMultipartUploadCommand({ Bucket: PREFIX, Key }),
        );
        const part = randomBytes(32 * 1024);
        const { ETag } = await rotated.send(
          new UploadPartCommand({ Bucket: PREFIX, Key, UploadId, PartNumber: 1, Body: part }),
        );
        await rotated.send(
          new CompleteMultipartUploadCommand({
            Bucket: PREFIX,
            Key,
            UploadId,
            MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] },
          }),
        );
        expect((await storedObject(bucket, Key))?.md5).toBe(md5(part));
      } finally {
        rotated.destroy();
      }
    });
  });
});
