/**
 * PutObject end to end: bytes go through the gateway into a real backend (the Ceph RADOS Gateway
 * and the filesystem backend), and every case reads back what landed there, bypassing the
 * gateway, to compare it with what the client sent.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { checksumBase64 } from '@mizuchi/s3-protocol';
import { encodeAwsChunked } from '@mizuchi/s3-protocol/aws-chunked.testing';
import {
  closeDirectS3,
  createTestBucket,
  destroyTestBucket,
  directS3,
  listKeys,
  storedObject,
} from './helpers/ceph';
import { cephRoute, createTestApp, filesystemRoute, type TestApp } from './helpers/create-test-app';
import { nothingStored, storedFile, storedKeys, tempFiles } from './helpers/filesystem-backend';
import {
  REQUEST_ID,
  expectOk,
  expectS3Error,
  md5Base64,
  md5Hex,
  send,
  sha256Hex,
  type WireResponse,
} from './helpers/wire';

const KiB = 1024;
const MiB = 1024 * KiB;

/** An object as a backend holds it, whichever backend that is. */
interface Landed {
  md5: string;
  size: number;
  /** ETag as the backend records it, without quotes. */
  etag: string;
  contentType?: string;
  contentEncoding?: string;
  metadata: Record<string, string>;
}

/** One backend behind the gateway, with a way to look at it directly. */
interface Backend {
  name: string;
  /** The gateway route (bucket name on the wire) that leads to it. */
  prefix: string;
  /** Reads an object back from the backend itself; undefined when there is none. */
  landed(key: string): Promise<Landed | undefined>;
  /** True when nothing at all is stored for the key (and, on disk, no temporary file remains). */
  holdsNothing(key: string): Promise<boolean>;
  /** Every key the backend holds. */
  keys(): Promise<string[]>;
}

let gw: TestApp;
let cephBucket: string;
let fsRoot: string;

const ceph: Backend = {
  name: 'the Ceph RADOS Gateway',
  prefix: 'ceph',
  async landed(key) {
    const object = await storedObject(cephBucket, key);
    if (object === undefined) return undefined;
    const head = await directS3().send(new HeadObjectCommand({ Bucket: cephBucket, Key: key }));
    return { ...object, contentEncoding: head.ContentEncoding };
  },
  async holdsNothing(key) {
    return (await storedObject(cephBucket, key)) === undefined;
  },
  keys: () => listKeys(cephBucket),
};

const filesystem: Backend = {
  name: 'the filesystem backend',
  prefix: 'files',
  async landed(key) {
    const file = await storedFile(fsRoot, key);
    if (file === undefined) return undefined;
    const { attributes, etag } = file.sidecar;
    return {
      md5: file.md5,
      size: file.size,
      etag: etag.replace(/^"|"$/g, ''),
      contentType: attributes.contentType,
      contentEncoding: attributes.contentEncoding,
      metadata: attributes.metadata,
    };
  },
  async holdsNothing(key) {
    return (await nothingStored(fsRoot, key)) && (await tempFiles(fsRoot)).length === 0;
  },
  keys: () => storedKeys(fsRoot),
};

/** PUT `body` to `/<prefix>/<rawKey>`; the key goes on the wire exactly as written. */
function put(
  backend: Backend,
  rawKey: string,
  body: Buffer | Readable,
  headers: Record<string, string> = {},
): Promise<WireResponse> {
  return send(gw.url, { method: 'PUT', path: `/${backend.prefix}/${rawKey}`, headers, body });
}

/** `size` random bytes in 1 MiB chunks, generated as they are read, with the MD5 of them all. */
function randomStream(size: number): { stream: Readable; md5: () => string } {
  const hash = createHash('md5');
  function* chunks(): Generator<Buffer> {
    for (let left = size; left > 0; left -= MiB) {
      const chunk = randomBytes(Math.min(MiB, left));
      hash.update(chunk);
      yield chunk;
    }
  }
  return { stream: Readable.from(chunks(), { objectMode: false }), md5: () => hash.digest('hex') };
}

/** The percent-encoded wire form of a key, segment by segment. */
function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

beforeAll(async () => {
  cephBucket = await createTestBucket('put-object');
  fsRoot = mkdtempSync(join(tmpdir(), 'mizuchi-put-object-'));
  gw = await createTestApp({
    buckets: [cephRoute(ceph.prefix, cephBucket), filesystemRoute(filesystem.prefix, fsRoot)],
  });
});

afterAll(async () => {
  await gw?.close();
  await destroyTestBucket(cephBucket);
  closeDirectS3();
  rmSync(fsRoot, { recursive: true, force: true });
});

describe.each([ceph, filesystem])('PutObject into $name', (backend) => {
  describe('stores the exact bytes and answers their MD5 as the ETag', () => {
    it.each([
      ['an empty (0 B) body', 0],
      ['a 1 KiB body', KiB],
      ['a 1 MiB body', MiB],
    ])('for %s', async (_label, size) => {
      const body = randomBytes(size);
      const key = `sizes/${size}.bin`;

      const res = await put(backend, key, body);

      expectOk(res);
      expect(res.headers.etag).toBe(`"${md5Hex(body)}"`);
      expect(await backend.landed(key)).toMatchObject({
        md5: md5Hex(body),
        size,
        etag: md5Hex(body),
      });
    });

    it('for a 40 MiB body streamed from the client', async () => {
      const size = 40 * MiB;
      const source = randomStream(size);
      const key = 'sizes/40MiB.bin';

      const res = await put(backend, key, source.stream, { 'content-length': String(size) });

      expectOk(res);
      const md5 = source.md5();
      expect(res.headers.etag).toBe(`"${md5}"`);
      expect(await backend.landed(key)).toMatchObject({ md5, size, etag: md5 });
    });
  });

  it('keeps the Content-Type and the x-amz-meta-* headers of the object', async () => {
    const body = Buffer.from('{"kind":"invoice","total":42}');

    const res = await put(backend, 'attributes/invoice.json', body, {
      'content-type': 'application/json; charset=utf-8',
      'x-amz-meta-origin': 'scanner-7',
      'x-amz-meta-Customer-Id': 'c-1138',
    });

    expectOk(res);
    expect(await backend.landed('attributes/invoice.json')).toMatchObject({
      md5: md5Hex(body),
      contentType: 'application/json; charset=utf-8',
      metadata: { origin: 'scanner-7', 'customer-id': 'c-1138' },
    });
  });

  describe('Content-MD5', () => {
    it('stores the object when the Content-MD5 matches the body', async () => {
      const body = randomBytes(64 * KiB);

      const res = await put(backend, 'md5/right.bin', body, { 'content-md5': md5Base64(body) });

      expectOk(res);
      expect(res.headers.etag).toBe(`"${md5Hex(body)}"`);
      expect((await backend.landed('md5/right.bin'))?.md5).toBe(md5Hex(body));
    });

    it('refuses a body that does not match its Content-MD5 with 400 BadDigest and stores nothing', async () => {
      const body = randomBytes(64 * KiB);

      const res = await put(backend, 'md5/wrong.bin', body, {
        'content-md5': md5Base64(Buffer.from('some other bytes')),
      });

      expectS3Error(res, 400, 'BadDigest');
      expect(await backend.holdsNothing('md5/wrong.bin')).toBe(true);
    });
  });

  describe('x-amz-content-sha256', () => {
    it('stores the object when the hex SHA-256 matches the body', async () => {
      const body = randomBytes(300 * KiB);

      const res = await put(backend, 'sha256/right.bin', body, {
        'x-amz-content-sha256': sha256Hex(body),
      });

      expectOk(res);
      expect((await backend.landed('sha256/right.bin'))?.md5).toBe(md5Hex(body));
    });

    it('refuses a body whose hex SHA-256 differs with 400 XAmzContentSHA256Mismatch and stores nothing', async () => {
      const body = randomBytes(300 * KiB);

      const res = await put(backend, 'sha256/wrong.bin', body, {
        'x-amz-content-sha256': sha256Hex(Buffer.concat([body, Buffer.from('!')])),
      });

      expectS3Error(res, 400, 'XAmzContentSHA256Mismatch');
      expect(await backend.holdsNothing('sha256/wrong.bin')).toBe(true);
    });
  });

  describe('x-amz-checksum-crc32', () => {
    it('stores the object and echoes the checksum when it matches the body', async () => {
      const body = randomBytes(200 * KiB + 17);
      const crc32 = checksumBase64('CRC32', body);

      const res = await put(backend, 'crc32/right.bin', body, { 'x-amz-checksum-crc32': crc32 });

      expectOk(res);
      expect(res.headers['x-amz-checksum-crc32']).toBe(crc32);
      expect((await backend.landed('crc32/right.bin'))?.md5).toBe(md5Hex(body));
    });

    it('refuses a body that does not match its CRC32 with 400 BadDigest and stores nothing', async () => {
      const body = randomBytes(200 * KiB + 17);

      const res = await put(backend, 'crc32/wrong.bin', body, {
        'x-amz-checksum-crc32': checksumBase64('CRC32', body.subarray(1)),
      });

      expectS3Error(res, 400, 'BadDigest');
      expect(await backend.holdsNothing('crc32/wrong.bin')).toBe(true);
    });
  });

  describe('an aws-chunked body with a trailing checksum (STREAMING-UNSIGNED-PAYLOAD-TRAILER)', () => {
    function trailerHeaders(data: Buffer): Record<string, string> {
      return {
        'content-encoding': 'aws-chunked',
        'content-type': 'application/octet-stream',
        'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        'x-amz-decoded-content-length': String(data.length),
        'x-amz-trailer': 'x-amz-checksum-crc32',
      };
    }

    it('stores the decoded bytes, not the framing, and returns the verified x-amz-checksum-crc32', async () => {
      const data = randomBytes(200 * KiB + 3);
      const framed = encodeAwsChunked(data, { chunkSize: 64 * KiB, trailerChecksum: 'CRC32' });

      const res = await put(backend, 'chunked/good.bin', framed, trailerHeaders(data));

      expectOk(res);
      expect(res.headers['x-amz-checksum-crc32']).toBe(checksumBase64('CRC32', data));
      expect(res.headers.etag).toBe(`"${md5Hex(data)}"`);
      const landed = await backend.landed('chunked/good.bin');
      expect(landed).toMatchObject({ md5: md5Hex(data), size: data.length });
      // aws-chunked describes the transfer, not the object: it is not stored as its encoding.
      expect(landed?.contentEncoding ?? '').not.toMatch(/aws-chunked/i);
    });

    it('refuses a body whose trailing checksum differs with 400 BadDigest and stores nothing', async () => {
      const data = randomBytes(200 * KiB + 3);
      const framed = encodeAwsChunked(data, {
        chunkSize: 64 * KiB,
        trailerChecksum: 'CRC32',
        trailerValue: checksumBase64('CRC32', Buffer.from('not the body')),
      });

      const res = await put(backend, 'chunked/bad.bin', framed, trailerHeaders(data));

      expectS3Error(res, 400, 'BadDigest');
      expect(await backend.holdsNothing('chunked/bad.bin')).toBe(true);
    });
  });

  describe('stores the object under exactly the once-decoded key', () => {
    it.each([
      ['a space (sent as %20)', 'with%20space.txt', 'with space.txt'],
      ['a literal "%20" (sent as %2520)', 'literal%2520twenty.txt', 'literal%20twenty.txt'],
      ['a literal "+" (sent as +)', 'one+two.txt', 'one+two.txt'],
      ['a literal "+" (sent as %2B)', 'three%2Bfour.txt', 'three+four.txt'],
      ['nested folders', 'a/b/c.txt', 'a/b/c.txt'],
      ['Unicode (percent-encoded UTF-8)', encodeKey('日本/ß.txt'), '日本/ß.txt'],
    ])('for a key with %s', async (_label, rawKey, key) => {
      const body = Buffer.from(`the object stored under ${key}\n`);
      const before = new Set(await backend.keys());

      const res = await put(backend, rawKey, body);

      expectOk(res);
      const added = (await backend.keys()).filter((k) => !before.has(k));
      expect(added).toEqual([key]);
      expect((await backend.landed(key))?.md5).toBe(md5Hex(body));
    });
  });

  it('gives every response, success or failure, its own x-amz-request-id', async () => {
    const body = Buffer.from('request ids');

    const ok = await put(backend, 'ids/ok.txt', body);
    const failed = await put(backend, 'ids/failed.txt', body, { 'content-md5': md5Base64('x') });

    expect(ok.status).toBe(200);
    expect(failed.status).toBe(400);
    expect(ok.headers['x-amz-request-id']).toMatch(REQUEST_ID);
    expect(failed.headers['x-amz-request-id']).toMatch(REQUEST_ID);
    expect(failed.headers['x-amz-request-id']).not.toBe(ok.headers['x-amz-request-id']);
  });
});

describe('the filesystem backend', () => {
  it('keeps the attributes in a sidecar named after the SHA-256 of the key, and no temporary file', async () => {
    const body = Buffer.from('sidecar contents\n');

    const res = await put(filesystem, 'sidecar/report.txt', body, {
      'content-type': 'text/plain',
      'x-amz-meta-team': 'ops',
    });

    expectOk(res);
    const file = await storedFile(fsRoot, 'sidecar/report.txt');
    expect(file?.md5).toBe(md5Hex(body));
    expect(file?.sidecar).toMatchObject({
      key: 'sidecar/report.txt',
      size: body.length,
      etag: `"${md5Hex(body)}"`,
      attributes: { contentType: 'text/plain', metadata: { team: 'ops' } },
    });
    expect(await tempFiles(fsRoot)).toEqual([]);
  });

  it.each([
    ['a stored object a folder', 'clash/doc', 'clash/doc/page-1'],
    ['a folder of stored objects a file', 'nest/dir/leaf', 'nest/dir'],
  ])(
    'refuses with 400 a key that would make %s, and leaves no trace of the refused upload',
    async (_label, storedKey, clashingKey) => {
      const first = Buffer.from('stored first\n');
      expectOk(await put(filesystem, storedKey, first));
      const keysBefore = await storedKeys(fsRoot);

      const res = await put(filesystem, clashingKey, Buffer.from('refused\n'), {
        'x-amz-meta-state': 'refused',
      });

      expectS3Error(res, 400, 'InvalidRequest');
      expect(await storedKeys(fsRoot)).toEqual(keysBefore);
      // Neither the object nor its sidecar may exist: a refused upload leaves nothing behind.
      expect(await nothingStored(fsRoot, clashingKey)).toBe(true);
      expect(await tempFiles(fsRoot)).toEqual([]);
      expect((await storedFile(fsRoot, storedKey))?.md5).toBe(md5Hex(first));
    },
  );
});
