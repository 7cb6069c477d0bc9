/**
 * Real S3 clients, with their default settings, uploading through the gateway into Ceph
 * (DESIGN.md §3 and §8). Every case reads the object back from Ceph and compares its MD5 with
 * the MD5 of what the client sent.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { FinalizeHandlerArguments, HttpRequest } from '@smithy/types';
import { closeDirectS3, createTestBucket, destroyTestBucket, storedObject } from './helpers/ceph';
import { cephRoute, createTestApp, type TestApp } from './helpers/create-test-app';
import { isolatedAwsEnv, runOk } from './helpers/processes';

const PREFIX = 'real';
const DUMMY_KEYS = { accessKeyId: 'AKIDMIZUCHITEST0001', secretAccessKey: 'not-a-real-secret' };

function md5(data: Buffer | string): string {
  return createHash('md5').update(data).digest('hex');
}

/** S3's wire form of a CRC32: base64 of the big-endian 4-byte value. */
function crc32Base64(data: Buffer | string): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(data));
  return out.toString('base64');
}

describe('Real S3 clients uploading through the gateway into Ceph', () => {
  let bucket: string;
  let gw: TestApp;
  let workDir: string;

  beforeAll(async () => {
    bucket = await createTestBucket('real-clients');
    gw = await createTestApp({ buckets: [cephRoute(PREFIX, bucket)] });
    workDir = mkdtempSync(join(tmpdir(), 'mizuchi-real-clients-'));
  });

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
});
