/**
 * Real S3 clients, with their default settings, uploading through the gateway into a real S3
 * backend (DESIGN.md §3 and §8): the aws CLI, @aws-sdk/client-s3 with lib-storage and the
 * presigner, boto3, and curl with a JWT; anonymously, with SigV4 keys the gateway issued, and
 * with bearer tokens; single PUTs, the clients' own multipart uploads, and PUTs the gateway turns
 * into multipart uploads. Every case reads the object back from the backend itself and compares
 * its MD5 (and ETag) with what the client sent.
 *
 * The backend is the memstore Ceph of `npm test`, or whichever backend MIZUCHI_TEST_S3_JSON names:
 * scripts/conformance.sh runs this file against a bluestore Ceph and against OpenStack Swift.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { FinalizeHandlerArguments, HttpRequest } from '@smithy/types';
import { sign } from 'jsonwebtoken';
import {
  closeDirectS3,
  createTestBucket,
  destroyTestBucket,
  listMultipartUploads,
  storedObject,
} from './helpers/ceph';
import { cephRoute, createTestApp, type TestApp } from './helpers/create-test-app';
import { BodyDigest, MiB, parseCurlResponse, xmlField } from './helpers/landing';
import { isolatedAwsEnv, runOk } from './helpers/processes';

/** Anonymous route with the default upload settings. */
const PREFIX = 'real';
/** Route that only takes requests signed with a key the gateway issued. */
const KEYS = 'real-keys';
/** Route that only takes requests carrying a valid JWT. */
const JWT = 'real-jwt';
/** Anonymous route that turns PUTs above 8 MiB into multipart uploads in parts of 5 MiB. */
const AUTO = 'real-auto';
const AUTO_PART = 5 * MiB;
const REGION = 'us-east-1';

const DUMMY_KEYS = { accessKeyId: 'AKIDMIZUCHITEST0001', secretAccessKey: 'not-a-real-secret' };
const ISSUED_KEY = {
  access_key: 'MIZUCHIREALCLIENTS01',
  secret_key: 'real/clients+Secret=0123456789abcdefghij',
  subject: 'real-clients',
};
const ISSUED_CREDENTIALS = {
  accessKeyId: ISSUED_KEY.access_key,
  secretAccessKey: ISSUED_KEY.secret_key,
};
const JWT_SECRET = 'real-clients-jwt-secret-long-enough-for-hs256';

function md5(data: Buffer | string): string {
  return createHash('md5').update(data).digest('hex');
}

/** S3's wire form of a CRC32: base64 of the big-endian 4-byte value. */
function crc32Base64(data: Buffer | string): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(data));
  return out.toString('base64');
}

/** The ETag S3 gives `body` uploaded in parts of `partSize` (without quotes). */
function multipartEtagOf(body: Buffer, partSize: number): string {
  const digest = new BodyDigest(partSize);
  digest.update(body);
  return digest.finish().multipartEtag;
}

/**
 * Runs `curl -sS -i` with `config` lines (curl's `-K` file syntax) fed on stdin, so that tokens
 * and signed URLs stay off its command line and out of failure messages; returns the final
 * response.
 */
async function curl(config: string[], args: string[] = []) {
  const stdout = await runOk('curl', ['-sS', '-i', '-K', '-', ...args], {
    input: `${config.join('\n')}\n`,
  });
  return parseCurlResponse(stdout);
}

describe('Real S3 clients uploading through the gateway into the S3 backend', () => {
  let bucket: string;
  let gw: TestApp;
  let workDir: string;

  beforeAll(async () => {
    bucket = await createTestBucket('real-clients');
    gw = await createTestApp({
      buckets: [
        cephRoute(PREFIX, bucket),
        cephRoute(KEYS, bucket, {
          auth: { enabled: true, sigv4: { region: REGION, credentials: [ISSUED_KEY] } },
        }),
        cephRoute(JWT, bucket, {
          auth: { enabled: true, jwt: { algorithms: ['HS256'], secret: JWT_SECRET } },
        }),
        cephRoute(AUTO, bucket, { upload: { multipart_threshold: '8MiB', part_size: '5MiB' } }),
      ],
    });
    workDir = mkdtempSync(join(tmpdir(), 'mizuchi-real-clients-'));
  });

  /** Writes fresh random bytes of `size` to a file in the work folder; returns both. */
  function randomFile(name: string, size: number): { file: string; body: Buffer } {
    const body = randomBytes(size);
    const file = join(workDir, name);
    writeFileSync(file, body);
    return { file, body };
  }

  /**
   * Asserts that the backend holds exactly `body` under `key`, with `etag`, and no multipart
   * upload of that key is left over.
   */
  async function expectLanded(key: string, body: Buffer, etag: string): Promise<void> {
    const stored = await storedObject(bucket, key);
    expect(stored && { md5: stored.md5, size: stored.size, etag: stored.etag }).toEqual({
      md5: md5(body),
      size: body.length,
      etag,
    });
    expect((await listMultipartUploads(bucket)).filter((upload) => upload.key === key)).toEqual([]);
  }

  afterAll(async () => {
    await gw?.close();
    if (bucket !== undefined) await destroyTestBucket(bucket);
    closeDirectS3();
    if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  });

  describe('@aws-sdk/client-s3 with default settings', () => {
    let sdk: S3Client;
    /** The headers of the last request the SDK put on the wire, after signing. */
    let lastRequestHeaders: Record<string, string>;

    beforeAll(() => {
      sdk = new S3Client({
        endpoint: gw.url,
        forcePathStyle: true,
        region: 'us-east-1',
        credentials: DUMMY_KEYS,
      });
      // Observe (never change) the request as sent, so each case can prove which encoding the
      // SDK chose by itself.
      sdk.middlewareStack.add(
        (next) => async (args: FinalizeHandlerArguments<object>) => {
          lastRequestHeaders = { ...(args.request as HttpRequest).headers };
          return next(args);
        },
        { step: 'finalizeRequest', priority: 'low', name: 'mizuchiObserveRequest' },
      );
    });

    afterAll(() => sdk?.destroy());

    it('stores a Buffer body byte for byte and reports its ETag and CRC32', async () => {
      const body = randomBytes(1024 * 1024 + 7);
      const out = await sdk.send(
        new PutObjectCommand({
          Bucket: PREFIX,
          Key: 'sdk/buffer.bin',
          Body: body,
          ContentType: 'application/x-buffer',
          Metadata: { origin: 'sdk-buffer', 'run-id': '1' },
        }),
      );

      expect(out.ETag).toBe(`"${md5(body)}"`);
      expect(out.ChecksumCRC32).toBe(crc32Base64(body));
      expect(await storedObject(bucket, 'sdk/buffer.bin')).toEqual({
        md5: md5(body),
        size: body.length,
        contentType: 'application/x-buffer',
        metadata: { origin: 'sdk-buffer', 'run-id': '1' },
        etag: md5(body),
      });
    });

    it('stores a string body byte for byte and reports its ETag and CRC32', async () => {
      const body = 'Mizuchi carries this text, with some multi-byte characters: 水霊 🐉\n'.repeat(
        5000,
      );
      const out = await sdk.send(
        new PutObjectCommand({
          Bucket: PREFIX,
          Key: 'sdk/string.txt',
          Body: body,
          ContentType: 'text/plain; charset=utf-8',
          Metadata: { origin: 'sdk-string' },
        }),
      );

      expect(out.ETag).toBe(`"${md5(body)}"`);
      expect(out.ChecksumCRC32).toBe(crc32Base64(body));
      expect(await storedObject(bucket, 'sdk/string.txt')).toEqual({
        md5: md5(body),
        size: Buffer.byteLength(body),
        contentType: 'text/plain; charset=utf-8',
        metadata: { origin: 'sdk-string' },
        etag: md5(body),
      });
    });

    it('decodes a stream body that the SDK sends as aws-chunked with a CRC32 trailer', async () => {
      const chunks = [
        randomBytes(300 * 1024),
        randomBytes(1),
        randomBytes(1024 * 1024),
        randomBytes(65_537),
      ];
      const whole = Buffer.concat(chunks);
      const out = await sdk.send(
        new PutObjectCommand({
          Bucket: PREFIX,
          Key: 'sdk/stream.bin',
          Body: Readable.from(chunks),
          ContentLength: whole.length,
          ContentType: 'application/x-stream',
          Metadata: { origin: 'sdk-stream' },
        }),
      );

      // The SDK chose the framing on its own; the gateway must have stripped it.
      expect(lastRequestHeaders['content-encoding']).toMatch(/aws-chunked/);
      expect(lastRequestHeaders['x-amz-trailer']).toBe('x-amz-checksum-crc32');
      expect(out.ETag).toBe(`"${md5(whole)}"`);
      expect(out.ChecksumCRC32).toBe(crc32Base64(whole));
      expect(await storedObject(bucket, 'sdk/stream.bin')).toEqual({
        md5: md5(whole),
        size: whole.length,
        contentType: 'application/x-stream',
        metadata: { origin: 'sdk-stream' },
        etag: md5(whole),
      });
    });

    it('stores a 3 MiB lib-storage Upload, sent as a single part, byte for byte', async () => {
      const body = randomBytes(3 * 1024 * 1024);
      const out = await new Upload({
        client: sdk,
        params: { Bucket: PREFIX, Key: 'sdk/lib-storage.bin', Body: body },
      }).done();

      expect(out.ETag).toBe(`"${md5(body)}"`);
      const stored = await storedObject(bucket, 'sdk/lib-storage.bin');
      expect(stored?.md5).toBe(md5(body));
      expect(stored?.size).toBe(body.length);
    });
  });

  describe('the aws CLI', () => {
    const awsArgs = () => ['--endpoint-url', gw.url, '--region', 'us-east-1'];

    it('uploads a 1 MiB file with `aws s3 cp --no-sign-request` byte for byte', async () => {
      const body = randomBytes(1024 * 1024);
      const file = join(workDir, 'cli-unsigned.bin');
      writeFileSync(file, body);

      await runOk(
        'aws',
        ['s3', 'cp', file, `s3://${PREFIX}/cli/unsigned.bin`, ...awsArgs(), '--no-sign-request'],
        { env: isolatedAwsEnv() },
      );

      const stored = await storedObject(bucket, 'cli/unsigned.bin');
      expect(stored?.md5).toBe(md5(body));
      expect(stored?.size).toBe(body.length);
    });

    it('uploads a 1 MiB file with `aws s3 cp` signed with dummy keys byte for byte', async () => {
      const body = randomBytes(1024 * 1024);
      const file = join(workDir, 'cli-signed.bin');
      writeFileSync(file, body);

      await runOk('aws', ['s3', 'cp', file, `s3://${PREFIX}/cli/signed.bin`, ...awsArgs()], {
        env: isolatedAwsEnv({
          AWS_ACCESS_KEY_ID: DUMMY_KEYS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: DUMMY_KEYS.secretAccessKey,
        }),
      });

      const stored = await storedObject(bucket, 'cli/signed.bin');
      expect(stored?.md5).toBe(md5(body));
      expect(stored?.size).toBe(body.length);
    });

    it('keeps the content type and metadata given to `aws s3api put-object`', async () => {
      const body = randomBytes(200_001);
      const file = join(workDir, 'cli-s3api.bin');
      writeFileSync(file, body);

      const stdout = await runOk(
        'aws',
        [
          's3api',
          'put-object',
          '--bucket',
          PREFIX,
          '--key',
          'cli/s3api.csv',
          '--body',
          file,
          '--content-type',
          'text/csv',
          '--metadata',
          'origin=s3api,batch=7',
          ...awsArgs(),
          '--no-sign-request',
        ],
        { env: isolatedAwsEnv() },
      );

      expect((JSON.parse(stdout) as { ETag?: string }).ETag).toBe(`"${md5(body)}"`);
      expect(await storedObject(bucket, 'cli/s3api.csv')).toEqual({
        md5: md5(body),
        size: body.length,
        contentType: 'text/csv',
        metadata: { origin: 's3api', batch: '7' },
        etag: md5(body),
      });
    });
  });

  describe('boto3 with its default config', () => {
    const script = [
      'import json, sys',
      'import boto3',
      'endpoint, bucket, key, path = sys.argv[1:5]',
      's3 = boto3.client(',
      "    's3',",
      '    endpoint_url=endpoint,',
      "    aws_access_key_id='AKIDMIZUCHITEST0001',",
      "    aws_secret_access_key='not-a-real-secret',",
      "    region_name='us-east-1',",
      ')',
      "with open(path, 'rb') as body:",
      "    out = s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={'origin': 'boto3'})",
      "print(json.dumps({'ETag': out['ETag']}))",
    ].join('\n');

    it('stores a put_object of an open file byte for byte', async () => {
      const body = randomBytes(2 * 1024 * 1024 + 3);
      const file = join(workDir, 'boto3.bin');
      writeFileSync(file, body);

      const stdout = await runOk('python3', ['-', gw.url, PREFIX, 'boto3/file.bin', file], {
        env: isolatedAwsEnv(),
        input: script,
      });

      expect((JSON.parse(stdout) as { ETag?: string }).ETag).toBe(`"${md5(body)}"`);
      const stored = await storedObject(bucket, 'boto3/file.bin');
      expect(stored?.md5).toBe(md5(body));
      expect(stored?.size).toBe(body.length);
      expect(stored?.metadata).toEqual({ origin: 'boto3' });
    });
  });
  describe('SigV4 with a key the gateway issued', () => {
    let sdk: S3Client;
    let lastRequestHeaders: Record<string, string>;
    const keyEnv = () =>
      isolatedAwsEnv({
        AWS_ACCESS_KEY_ID: ISSUED_KEY.access_key,
        AWS_SECRET_ACCESS_KEY: ISSUED_KEY.secret_key,
      });

    beforeAll(() => {
      sdk = new S3Client({
        endpoint: gw.url,
        forcePathStyle: true,
        region: REGION,
        credentials: ISSUED_CREDENTIALS,
      });
      sdk.middlewareStack.add(
        (next) => async (args: FinalizeHandlerArguments<object>) => {
          lastRequestHeaders = { ...(args.request as HttpRequest).headers };
          return next(args);
        },
        { step: 'finalizeRequest', priority: 'low', name: 'mizuchiObserveRequest' },
      );
    });

    afterAll(() => sdk?.destroy());

    it('@aws-sdk/client-s3 stores a signed stream PutObject byte for byte', async () => {
      const chunks = [randomBytes(512 * 1024), randomBytes(3), randomBytes(1024 * 1024 + 5)];
      const whole = Buffer.concat(chunks);
      const out = await sdk.send(
        new PutObjectCommand({
          Bucket: KEYS,
          Key: 'keys/sdk-stream.bin',
          Body: Readable.from(chunks),
          ContentLength: whole.length,
        }),
      );

      expect(lastRequestHeaders.authorization).toContain(`Credential=${ISSUED_KEY.access_key}/`);
      expect(lastRequestHeaders['content-encoding']).toMatch(/aws-chunked/);
      expect(out.ETag).toBe(`"${md5(whole)}"`);
      expect(out.ChecksumCRC32).toBe(crc32Base64(whole));
      await expectLanded('keys/sdk-stream.bin', whole, md5(whole));
    });

    it('lib-storage uploads 12 MiB as its own multipart upload of 5 MiB parts, byte for byte', async () => {
      const body = randomBytes(12 * MiB + 321);
      const out = await new Upload({
        client: sdk,
        params: { Bucket: KEYS, Key: 'keys/lib-storage-parts.bin', Body: body },
      }).done();

      const etag = multipartEtagOf(body, 5 * MiB);
      expect(etag).toMatch(/-3$/);
      expect(out.ETag).toBe(`"${etag}"`);
      await expectLanded('keys/lib-storage-parts.bin', body, etag);
    });

    it('refuses a request signed with the wrong secret with 403 SignatureDoesNotMatch, storing nothing', async () => {
      const impostor = new S3Client({
        endpoint: gw.url,
        forcePathStyle: true,
        region: REGION,
        credentials: { ...ISSUED_CREDENTIALS, secretAccessKey: `${ISSUED_KEY.secret_key}x` },
      });
      try {
        const refusal = await impostor
          .send(
            new PutObjectCommand({
              Bucket: KEYS,
              Key: 'keys/impostor.bin',
              Body: randomBytes(4096),
            }),
          )
          .then(
            () => undefined,
            (err: unknown) => err,
          );
        expect(refusal).toBeInstanceOf(S3ServiceException);
        const error = refusal as S3ServiceException;
        expect({ name: error.name, status: error.$metadata.httpStatusCode }).toEqual({
          name: 'SignatureDoesNotMatch',
          status: 403,
        });
      } finally {
        impostor.destroy();
      }
      expect(await storedObject(bucket, 'keys/impostor.bin')).toBeUndefined();
    });

    it('a presigned PUT URL used by curl stores the file byte for byte', async () => {
      const { file, body } = randomFile('presigned.bin', 3 * MiB + 17);
      const url = await getSignedUrl(
        sdk,
        new PutObjectCommand({ Bucket: KEYS, Key: 'keys/presigned (curl).bin' }),
        { expiresIn: 300 },
      );
      expect(new URL(url).searchParams.get('X-Amz-Credential')).toMatch(
        new RegExp(`^${ISSUED_KEY.access_key}/`),
      );

      const res = await curl([`url = "${url}"`], ['-T', file]);

      expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: '' });
      expect(res.headers.etag).toBe(`"${md5(body)}"`);
      await expectLanded('keys/presigned (curl).bin', body, md5(body));
    });

    it('`aws s3 cp` of 20 MiB goes through its own multipart upload of 8 MiB parts, byte for byte', async () => {
      const { file, body } = randomFile('cli-keys-20.bin', 20 * MiB);

      await runOk(
        'aws',
        [
          's3',
          'cp',
          file,
          `s3://${KEYS}/keys/cli-20.bin`,
          '--endpoint-url',
          gw.url,
          // Keeps a failure's message readable: the progress meter would fill it.
          '--only-show-errors',
        ],
        { env: { ...keyEnv(), AWS_DEFAULT_REGION: REGION } },
      );

      const etag = multipartEtagOf(body, 8 * MiB);
      expect(etag).toMatch(/-3$/);
      await expectLanded('keys/cli-20.bin', body, etag);
    });

    it('boto3 upload_file of 12 MiB goes through its own multipart upload of 8 MiB parts, byte for byte', async () => {
      const { file, body } = randomFile('boto3-keys-12.bin', 12 * MiB + 5);
      const script = [
        'import sys',
        'import boto3',
        'endpoint, bucket, key, path = sys.argv[1:5]',
        "s3 = boto3.client('s3', endpoint_url=endpoint, region_name='us-east-1')",
        's3.upload_file(path, bucket, key)',
      ].join('\n');

      await runOk('python3', ['-', gw.url, KEYS, 'keys/boto3-12.bin', file], {
        env: keyEnv(),
        input: script,
      });

      const etag = multipartEtagOf(body, 8 * MiB);
      expect(etag).toMatch(/-2$/);
      await expectLanded('keys/boto3-12.bin', body, etag);
    });
  });

  describe('curl with a JWT', () => {
    const token = () =>
      sign({ sub: 'curl-user' }, JWT_SECRET, { algorithm: 'HS256', expiresIn: 300 });

    it('`curl -T` with a bearer token stores the file byte for byte', async () => {
      const { file, body } = randomFile('jwt.bin', 2 * MiB + 9);

      const res = await curl(
        [`header = "Authorization: Bearer ${token()}"`],
        ['-T', file, `${gw.url}/${JWT}/jwt/curl.bin`],
      );

      expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: '' });
      expect(res.headers.etag).toBe(`"${md5(body)}"`);
      await expectLanded('jwt/curl.bin', body, md5(body));
    });

    it('`curl -T` without a token gets 401 with the Bearer challenge and stores nothing', async () => {
      const { file } = randomFile('jwt-missing.bin', 64 * 1024);

      const res = await curl([], ['-T', file, `${gw.url}/${JWT}/jwt/no-token.bin`]);

      expect({ status: res.status, code: xmlField(res.body, 'Code') }).toEqual({
        status: 401,
        code: 'AccessDenied',
      });
      expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
      expect(await storedObject(bucket, 'jwt/no-token.bin')).toBeUndefined();
    });
  });

  describe('single PUTs above the threshold, stored by the gateway as multipart uploads', () => {
    it('`curl -T` of 21 MiB lands byte for byte, and curl gets the multipart ETag', async () => {
      const { file, body } = randomFile('auto-curl.bin', 21 * MiB);

      const res = await curl([], ['-T', file, `${gw.url}/${AUTO}/auto/curl-21.bin`]);

      const etag = multipartEtagOf(body, AUTO_PART);
      expect(etag).toMatch(/-5$/);
      expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: '' });
      expect(res.headers.etag).toBe(`"${etag}"`);
      await expectLanded('auto/curl-21.bin', body, etag);
    });

    it('a 12 MiB stream PutObject from @aws-sdk/client-s3 (aws-chunked) lands byte for byte', async () => {
      const sdk = new S3Client({
        endpoint: gw.url,
        forcePathStyle: true,
        region: REGION,
        credentials: DUMMY_KEYS,
      });
      const chunks = [randomBytes(7 * MiB), randomBytes(5 * MiB + 99)];
      const whole = Buffer.concat(chunks);
      try {
        const out = await sdk.send(
          new PutObjectCommand({
            Bucket: AUTO,
            Key: 'auto/sdk-12.bin',
            Body: Readable.from(chunks),
            ContentLength: whole.length,
          }),
        );
        const etag = multipartEtagOf(whole, AUTO_PART);
        expect(etag).toMatch(/-3$/);
        expect(out.ETag).toBe(`"${etag}"`);
        await expectLanded('auto/sdk-12.bin', whole, etag);
      } finally {
        sdk.destroy();
      }
    });

    it('`aws s3api put-object` of 12 MiB (one PutObject) lands byte for byte', async () => {
      const { file, body } = randomFile('auto-s3api.bin', 12 * MiB + 1);

      const stdout = await runOk(
        'aws',
        [
          's3api',
          'put-object',
          '--bucket',
          AUTO,
          '--key',
          'auto/s3api-12.bin',
          '--body',
          file,
          '--endpoint-url',
          gw.url,
          '--region',
          REGION,
          '--no-sign-request',
        ],
        { env: isolatedAwsEnv() },
      );

      const etag = multipartEtagOf(body, AUTO_PART);
      expect((JSON.parse(stdout) as { ETag?: string }).ETag).toBe(`"${etag}"`);
      await expectLanded('auto/s3api-12.bin', body, etag);
    });
  });
});
