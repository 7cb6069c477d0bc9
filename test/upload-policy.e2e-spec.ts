/**
 * Per-route upload policy end to end (issue 5): `max_object_size` (413 EntityTooLarge for a
 * declared length, for a chunked body of unknown length while it streams, for a single part, and
 * for a multipart Complete whose parts add up to too much), `allowed_content_types` (415 with an
 * S3 code) and `key_template` (`{sub}/{key}` places each SigV4 principal's uploads under its own
 * prefix). Every refusal is checked in Ceph: nothing is stored, no multipart upload is left.
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import {
  closeDirectS3,
  createTestBucket,
  destroyTestBucket,
  listKeys,
  listMultipartUploads,
  storedObject,
} from './helpers/ceph';
import { parseConfig } from '../src/config/load-config';
import { cephRoute, createTestApp, type TestApp } from './helpers/create-test-app';
import {
  expectOk,
  expectS3Error,
  md5Hex,
  parseS3Error,
  send,
  type WireResponse,
} from './helpers/wire';

const MiB = 1024 * 1024;
const LIMIT = 6 * MiB;
const REGION = 'us-east-1';
const ALICE = {
  access_key: 'MIZUCHIPOLICYALICE01',
  secret_key: 'policy-e2e-secret-alice-0123456789',
  subject: 'alice',
};
const BOB = {
  access_key: 'MIZUCHIPOLICYBOB0002',
  secret_key: 'policy-e2e-secret-bob-0123456789ab',
  subject: 'bob',
};

/**
 * PUTs `chunks` with `Transfer-Encoding: chunked` (no length anywhere), writing as the server
 * reads; resolves with the response, whether it comes after the whole body or before.
 */
function putChunked(
  baseUrl: string,
  path: string,
  chunks: readonly Buffer[],
  headers: Record<string, string> = {},
): Promise<WireResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: 'PUT',
        path,
        agent: false,
        headers: {
          'transfer-encoding': 'chunked',
          'content-type': 'application/octet-stream',
          ...headers,
        },
      },
      (res) => {
        answered = true;
        const body: Buffer[] = [];
        res.on('data', (chunk: Buffer) => body.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const all = Buffer.concat(body);
          // The body may still be half-written when the gateway refuses early.
          req.destroy();
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: all,
            text: all.toString('utf8'),
          });
        });
      },
    );
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const write = async () => {
      for (const chunk of chunks) {
        if (answered || req.destroyed) return;
        if (!req.write(chunk)) {
          await new Promise<void>((done) => {
            req.once('drain', done);
            req.once('close', done);
          });
        }
      }
      if (!answered && !req.destroyed) req.end();
    };
    write().catch(reject);
  });
}

function pieces(total: number, size = MiB): Buffer[] {
  const out: Buffer[] = [];
  for (let offset = 0; offset < total; offset += size) {
    out.push(randomBytes(Math.min(size, total - offset)));
  }
  return out;
}

function uploadIdOf(xml: string): string {
  const match = /<UploadId>([^<]+)<\/UploadId>/.exec(xml);
  if (match === null) throw new Error(`no UploadId in ${xml}`);
  return match[1];
}

describe('upload policy', () => {
  let gw: TestApp;
  let bucket: string;

  beforeAll(async () => {
    bucket = await createTestBucket('upload-policy');
    gw = await createTestApp({
      buckets: [
        cephRoute('limited', bucket, {
          upload: { max_object_size: LIMIT, part_size: '5MiB' },
        }),
        cephRoute('typed', bucket, {
          upload: { allowed_content_types: ['image/*', 'application/pdf'] },
        }),
        cephRoute('per-user', bucket, {
          auth: { enabled: true, sigv4: { region: REGION, credentials: [ALICE, BOB] } },
          upload: { key_template: '{sub}/{key}' },
        }),
      ],
    });
  });

  afterAll(async () => {
    await gw?.close();
    if (bucket !== undefined) await destroyTestBucket(bucket);
    closeDirectS3();
  });

  async function expectStored(key: string, body: Buffer, contentType?: string): Promise<void> {
    const stored = await storedObject(bucket, key);
    expect(stored && { md5: stored.md5, size: stored.size }).toEqual({
      md5: md5Hex(body),
      size: body.length,
    });
    if (contentType !== undefined) expect(stored?.contentType).toBe(contentType);
  }

  async function expectNothingLeft(key: string): Promise<void> {
    expect(await storedObject(bucket, key)).toBeUndefined();
    expect((await listMultipartUploads(bucket)).filter((u) => u.key === key)).toEqual([]);
  }

  describe('max_object_size', () => {
    it('stores a body of exactly max_object_size bytes', async () => {
      const body = randomBytes(LIMIT);
      const res = await send(gw.url, { method: 'PUT', path: '/limited/size/exact.bin', body });
      expectOk(res);
      await expectStored('size/exact.bin', body);
    });

    it('refuses a declared Content-Length one byte over with 413 EntityTooLarge', async () => {
      const res = await send(gw.url, {
        method: 'PUT',
        path: '/limited/size/declared.bin',
        body: randomBytes(LIMIT + 1),
      });
      expectS3Error(res, 413, 'EntityTooLarge');
      await expectNothingLeft('size/declared.bin');
    });

    it('stores a chunked body of unknown length under the limit', async () => {
      const chunks = pieces(LIMIT - 1000);
      const res = await putChunked(gw.url, '/limited/size/chunked-ok.bin', chunks);
      expectOk(res);
      await expectStored('size/chunked-ok.bin', Buffer.concat(chunks));
    });

    it('refuses a chunked body of unknown length once it streams past the limit, leaving nothing', async () => {
      const res = await putChunked(gw.url, '/limited/size/chunked.bin', pieces(LIMIT + 2 * MiB));
      expect(res.status).toBe(413);
      expect(parseS3Error(res.text).code).toBe('EntityTooLarge');
      await expectNothingLeft('size/chunked.bin');
    });

    it('refuses a single part larger than the limit with 413', async () => {
      const path = '/limited/size/big-part.bin';
      const created = await send(gw.url, { method: 'POST', path: `${path}?uploads` });
      expect(created.status).toBe(200);
      const uploadId = encodeURIComponent(uploadIdOf(created.text));
      const part = await send(gw.url, {
        method: 'PUT',
        path: `${path}?partNumber=1&uploadId=${uploadId}`,
        body: randomBytes(LIMIT + 1),
      });
      expectS3Error(part, 413, 'EntityTooLarge');
      const aborted = await send(gw.url, {
        method: 'DELETE',
        path: `${path}?uploadId=${uploadId}`,
      });
      expect(aborted.status).toBe(204);
      await expectNothingLeft('size/big-part.bin');
    });

    it('refuses a multipart Complete whose parts add up to more than the limit, storing nothing', async () => {
      const path = '/limited/size/assembled.bin';
      const created = await send(gw.url, { method: 'POST', path: `${path}?uploads` });
      expect(created.status).toBe(200);
      const uploadId = encodeURIComponent(uploadIdOf(created.text));
      const etags: string[] = [];
      // Each part is within the limit; together they are 7 MiB.
      for (const [i, part] of [randomBytes(5 * MiB), randomBytes(2 * MiB)].entries()) {
        const res = await send(gw.url, {
          method: 'PUT',
          path: `${path}?partNumber=${i + 1}&uploadId=${uploadId}`,
          body: part,
        });
        expect(res.status).toBe(200);
        etags.push(String(res.headers.etag));
      }
      const completed = await send(gw.url, {
        method: 'POST',
        path: `${path}?uploadId=${uploadId}`,
        body:
          '<CompleteMultipartUpload>' +
          etags
            .map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${etag}</ETag></Part>`)
            .join('') +
          '</CompleteMultipartUpload>',
      });
      expectS3Error(completed, 413, 'EntityTooLarge');
      expect(await storedObject(bucket, 'size/assembled.bin')).toBeUndefined();
      const aborted = await send(gw.url, {
        method: 'DELETE',
        path: `${path}?uploadId=${uploadId}`,
      });
      expect(aborted.status).toBe(204);
      await expectNothingLeft('size/assembled.bin');
    });
  });

  describe('allowed_content_types', () => {
    it.each([
      ['image/png', 'types/a.png'],
      ['image/svg+xml; charset=utf-8', 'types/b.svg'],
      ['application/pdf', 'types/c.pdf'],
      ['IMAGE/JPEG', 'types/d.jpg'],
    ])('stores an upload of type %s', async (type, key) => {
      const body = randomBytes(2048);
      const res = await send(gw.url, {
        method: 'PUT',
        path: `/typed/${key}`,
        headers: { 'content-type': type },
        body,
      });
      expectOk(res);
      await expectStored(key, body, type);
    });

    it.each([
      ['text/plain', 'types/x.txt'],
      ['imagery/png', 'types/y.png'],
      ['application/pdfx', 'types/z.pdf'],
    ])('refuses type %s with 415 and stores nothing', async (type, key) => {
      const res = await send(gw.url, {
        method: 'PUT',
        path: `/typed/${key}`,
        headers: { 'content-type': type },
        body: randomBytes(2048),
      });
      const error = expectS3Error(res, 415, 'InvalidArgument');
      expect(error.message).toContain('image/*');
      await expectNothingLeft(key);
    });

    it('refuses an upload without a Content-Type (application/octet-stream) with 415', async () => {
      const res = await send(gw.url, {
        method: 'PUT',
        path: '/typed/types/untyped.bin',
        body: randomBytes(2048),
      });
      expectS3Error(res, 415, 'InvalidArgument');
      await expectNothingLeft('types/untyped.bin');
    });

    it('refuses to start a multipart upload of a wrong type, leaving no upload behind', async () => {
      const res = await send(gw.url, {
        method: 'POST',
        path: '/typed/types/multipart.txt?uploads',
        headers: { 'content-type': 'text/plain' },
      });
      expectS3Error(res, 415, 'InvalidArgument');
      await expectNothingLeft('types/multipart.txt');
    });
  });

  describe('key_template {sub}/{key}', () => {
    const clientFor = (key: typeof ALICE) =>
      new S3Client({
        endpoint: gw.url,
        forcePathStyle: true,
        region: REGION,
        credentials: { accessKeyId: key.access_key, secretAccessKey: key.secret_key },
      });

    it("stores each principal's upload of the same key under its own prefix", async () => {
      const alice = clientFor(ALICE);
      const bob = clientFor(BOB);
      try {
        const fromAlice = randomBytes(10_000);
        const fromBob = randomBytes(20_000);
        await alice.send(
          new PutObjectCommand({ Bucket: 'per-user', Key: 'report.txt', Body: fromAlice }),
        );
        await bob.send(
          new PutObjectCommand({ Bucket: 'per-user', Key: 'report.txt', Body: fromBob }),
        );
        await expectStored('alice/report.txt', fromAlice);
        await expectStored('bob/report.txt', fromBob);
        expect(await storedObject(bucket, 'report.txt')).toBeUndefined();
      } finally {
        alice.destroy();
        bob.destroy();
      }
    });

    it('places a multipart upload under the prefix too, and answers with the client key', async () => {
      const alice = clientFor(ALICE);
      try {
        const created = await alice.send(
          new CreateMultipartUploadCommand({ Bucket: 'per-user', Key: 'media/clip.bin' }),
        );
        expect(created.Key).toBe('media/clip.bin');
        const parts = [randomBytes(5 * MiB), randomBytes(4321)];
        const etags: string[] = [];
        for (const [i, part] of parts.entries()) {
          const out = await alice.send(
            new UploadPartCommand({
              Bucket: 'per-user',
              Key: 'media/clip.bin',
              UploadId: created.UploadId,
              PartNumber: i + 1,
              Body: part,
            }),
          );
          etags.push(out.ETag ?? '');
        }
        await alice.send(
          new CompleteMultipartUploadCommand({
            Bucket: 'per-user',
            Key: 'media/clip.bin',
            UploadId: created.UploadId,
            MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
          }),
        );
        await expectStored('alice/media/clip.bin', Buffer.concat(parts));
        expect((await listKeys(bucket)).filter((k) => k.endsWith('clip.bin'))).toEqual([
          'alice/media/clip.bin',
        ]);
      } finally {
        alice.destroy();
      }
    });

    it('refuses a template with an unknown placeholder at start-up, naming the field', () => {
      // '{subject}' is not a placeholder ('{sub}' is): taken literally, it would put every
      // principal's uploads under one prefix named '{subject}'.
      expect(() =>
        parseConfig(
          {
            buckets: [cephRoute('typo', bucket, { upload: { key_template: '{subject}/{key}' } })],
          },
          {},
        ),
      ).toThrow(/buckets\[0\]\.upload\.key_template/);
    });
  });
});
