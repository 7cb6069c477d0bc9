/**
 * Multipart uploads end to end (DESIGN.md §1, §3, §8): client-driven multipart on the raw wire,
 * bound upload ids, the errors of CompleteMultipartUpload, and real clients with their default
 * settings (@aws-sdk/client-s3, lib-storage, the presigner, the aws CLI). Every case runs against
 * the Ceph RADOS Gateway and the filesystem backend, and reads back what landed there directly.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { closeDirectS3, createTestBucket, destroyTestBucket, directS3 } from './helpers/ceph';
import { cephRoute, createTestApp, filesystemRoute, type TestApp } from './helpers/create-test-app';
import {
  BodyDigest,
  type BackendView,
  KiB,
  MiB,
  cephView,
  filesystemView,
  md5Hex,
  multipartEtag,
  randomChunks,
  xmlBlocks,
  xmlField,
} from './helpers/landing';
import { isolatedAwsEnv, runOk } from './helpers/processes';

const CEPH = 'mp-ceph';
const FS = 'mp-fs';
const DUMMY_KEYS = { accessKeyId: 'AKIDMIZUCHITEST0001', secretAccessKey: 'not-a-real-secret' };

const BACKENDS = [
  { name: 'the Ceph RADOS Gateway', prefix: CEPH },
  { name: 'the filesystem backend', prefix: FS },
];

let gw: TestApp;
let bucket: string;
let fsRoot: string;
let workDir: string;
const views: Record<string, BackendView> = {};

beforeAll(async () => {
  bucket = await createTestBucket('multipart');
  workDir = mkdtempSync(join(tmpdir(), 'mizuchi-multipart-'));
  fsRoot = mkdtempSync(join(tmpdir(), 'mizuchi-multipart-fs-'));
  gw = await createTestApp({ buckets: [cephRoute(CEPH, bucket), filesystemRoute(FS, fsRoot)] });
  const fsRouteConfig = gw.config.buckets.find((route) => route.path_prefix === `/${FS}`);
  if (fsRouteConfig?.filesystem === undefined) throw new Error('no filesystem route configured');
  views[CEPH] = cephView(bucket);
  views[FS] = filesystemView(fsRouteConfig.filesystem.path);
});

afterAll(async () => {
  await gw?.close();
  if (fsRoot !== undefined) rmSync(fsRoot, { recursive: true, force: true });
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  // Memstore Ceph holds objects in RAM: the bucket goes, with everything in it.
  if (bucket !== undefined) await destroyTestBucket(bucket);
  closeDirectS3();
});

/** A response read to its end. */
interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

async function call(
  method: string,
  path: string,
  body?: Buffer | string,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const res = await fetch(`${gw.url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : new Uint8Array(body),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** Asserts an S3 XML error with this status and code (both shown together on failure). */
function expectError(reply: Reply, status: number, code: string): void {
  expect({ status: reply.status, code: xmlField(reply.text, 'Code') }).toEqual({ status, code });
  expect(reply.headers.get('content-type')).toMatch(/^application\/xml\b/);
}

/** Asserts a 2xx answer, showing the error document otherwise. */
function expectStatus(reply: Reply, status: number): void {
  expect({ status: reply.status, body: reply.status === status ? '' : reply.text }).toEqual({
    status,
    body: '',
  });
}

const q = encodeURIComponent;

/** CreateMultipartUpload on the raw wire; returns the reply and the UploadId it carries. */
async function createUpload(prefix: string, key: string): Promise<{ reply: Reply; id: string }> {
  const reply = await call('POST', `/${prefix}/${key}?uploads`);
  expect({ status: reply.status, text: reply.text }).toEqual({
    status: 200,
    text: expect.stringContaining('<InitiateMultipartUploadResult') as unknown,
  });
  const id = xmlField(reply.text, 'UploadId');
  if (id === undefined || id === '') throw new Error(`no UploadId in ${reply.text}`);
  return { reply, id };
}

function uploadPart(prefix: string, key: string, id: string, partNumber: number, body: Buffer) {
  return call('PUT', `/${prefix}/${key}?partNumber=${partNumber}&uploadId=${q(id)}`, body);
}

function completeXml(parts: ReadonlyArray<{ partNumber: number; etag: string }>): string {
  return (
    '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    parts
      .map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>${p.etag}</ETag></Part>`)
      .join('') +
    '</CompleteMultipartUpload>'
  );
}

function complete(prefix: string, key: string, id: string, xml: string) {
  return call('POST', `/${prefix}/${key}?uploadId=${q(id)}`, xml, {
    'content-type': 'application/xml',
  });
}

function abort(prefix: string, key: string, id: string) {
  return call('DELETE', `/${prefix}/${key}?uploadId=${q(id)}`);
}

function listParts(prefix: string, key: string, id: string) {
  return call('GET', `/${prefix}/${key}?uploadId=${q(id)}`);
}

/** The parts a ListPartsResult names, with ETags unquoted. */
function partsOf(xml: string): Array<{ partNumber: number; etag: string; size: number }> {
  return xmlBlocks(xml, 'Part').map((part) => ({
    partNumber: Number(xmlField(part, 'PartNumber')),
    etag: (xmlField(part, 'ETag') ?? '').replace(/^"|"$/g, ''),
    size: Number(xmlField(part, 'Size')),
  }));
}

/** Uploads `body` as part `partNumber` and returns its ETag, asserting it is the part's MD5. */
async function storePart(
  prefix: string,
  key: string,
  id: string,
  partNumber: number,
  body: Buffer,
): Promise<string> {
  const reply = await uploadPart(prefix, key, id, partNumber, body);
  expectStatus(reply, 200);
  expect(reply.headers.get('etag')).toBe(`"${md5Hex(body)}"`);
  return `"${md5Hex(body)}"`;
}

describe.each(BACKENDS)('client-driven multipart on the raw wire into $name', ({ prefix }) => {
  const view = () => views[prefix];

  it('creates, uploads three parts, lists them and completes with the S3 multipart ETag', async () => {
    const key = 'raw/three-parts.bin';
    const before = await view().pendingUploads();
    const { reply: created, id } = await createUpload(prefix, key);

    expect(created.headers.get('content-type')).toMatch(/^application\/xml\b/);
    expect(xmlField(created.text, 'Bucket')).toBe(prefix);
    expect(xmlField(created.text, 'Key')).toBe(key);
    // The id is the gateway's own: the backend's upload id is not handed out as it is.
    const started = (await view().pendingUploads()).filter(
      (u) => !before.some((b) => b.uploadId === u.uploadId),
    );
    expect(started.map((u) => u.key)).toEqual([key]);
    expect(id).not.toBe(started[0].uploadId);
    expect(id).not.toContain(started[0].uploadId);

    const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(123 * KiB + 7)];
    const etags: string[] = [];
    for (const [index, part] of parts.entries()) {
      etags.push(await storePart(prefix, key, id, index + 1, part));
    }

    const listed = await listParts(prefix, key, id);
    expectStatus(listed, 200);
    expect(xmlField(listed.text, 'Bucket')).toBe(prefix);
    expect(xmlField(listed.text, 'Key')).toBe(key);
    expect(xmlField(listed.text, 'UploadId')).toBe(id);
    expect(partsOf(listed.text)).toEqual(
      parts.map((part, index) => ({
        partNumber: index + 1,
        etag: md5Hex(part),
        size: part.length,
      })),
    );

    const done = await complete(
      prefix,
      key,
      id,
      completeXml(etags.map((etag, index) => ({ partNumber: index + 1, etag }))),
    );
    expectStatus(done, 200);
    expect(done.text).toContain('<CompleteMultipartUploadResult');
    expect(xmlField(done.text, 'Bucket')).toBe(prefix);
    expect(xmlField(done.text, 'Key')).toBe(key);
    const expectedEtag = multipartEtag(parts);
    expect(expectedEtag).toMatch(/-3$/);
    expect(xmlField(done.text, 'ETag')).toBe(`"${expectedEtag}"`);

    const whole = Buffer.concat(parts);
    expect(await view().stored(key)).toEqual({
      md5: md5Hex(whole),
      size: whole.length,
      etag: expectedEtag,
    });
    expect(await view().pendingUploads()).toEqual([]);
  });

  it('aborts an upload with 204 and leaves no multipart upload and no object behind', async () => {
    const key = 'raw/aborted.bin';
    const { id } = await createUpload(prefix, key);
    await storePart(prefix, key, id, 1, randomBytes(5 * MiB));
    await storePart(prefix, key, id, 2, randomBytes(KiB));
    expect((await view().pendingUploads()).map((u) => u.key)).toEqual([key]);

    const aborted = await abort(prefix, key, id);
    expect({ status: aborted.status, body: aborted.text }).toEqual({ status: 204, body: '' });

    expect(await view().pendingUploads()).toEqual([]);
    expect(await view().stored(key)).toBeUndefined();
  });

  it('answers 404 NoSuchUpload to UploadPart, ListParts, Complete and Abort of an upload already aborted', async () => {
    const key = 'raw/aborted-then-used.bin';
    const { id } = await createUpload(prefix, key);
    const etag = await storePart(prefix, key, id, 1, randomBytes(KiB));
    expect((await abort(prefix, key, id)).status).toBe(204);

    // The id is still authentic, but the backend no longer knows the upload: S3 says NoSuchUpload
    // (an SDK that resumes an upload must learn that it is gone, not that the gateway failed).
    const outcomes = {
      UploadPart: await uploadPart(prefix, key, id, 2, randomBytes(KiB)),
      ListParts: await listParts(prefix, key, id),
      CompleteMultipartUpload: await complete(
        prefix,
        key,
        id,
        completeXml([{ partNumber: 1, etag }]),
      ),
      AbortMultipartUpload: await abort(prefix, key, id),
    };
    expect(
      Object.fromEntries(
        Object.entries(outcomes).map(([operation, reply]) => [
          operation,
          `${reply.status} ${xmlField(reply.text, 'Code')}`,
        ]),
      ),
    ).toEqual({
      UploadPart: '404 NoSuchUpload',
      ListParts: '404 NoSuchUpload',
      CompleteMultipartUpload: '404 NoSuchUpload',
      AbortMultipartUpload: '404 NoSuchUpload',
    });
    expect(await view().pendingUploads()).toEqual([]);
    expect(await view().stored(key)).toBeUndefined();
  });
});

describe('object attributes of a multipart upload into the Ceph RADOS Gateway', () => {
  // Header values travel as bytes: a client's UTF-8 arrives in Node as one Latin-1 character
  // per byte, and must reach the backend as the same bytes, signed over those bytes.
  const utf8OnTheWire = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
  // Ceph answers a stored value with the bytes it received. Swift's s3api (the conformance
  // run) keeps each received byte as a character and answers non-ASCII values RFC 2047
  // encoded: base64 of those characters in UTF-8, which decodes back to the same string.
  const asReceived = (value: string | undefined) => {
    const encoded = /^=\?UTF-8\?B\?([A-Za-z0-9+/=]*)\?=$/i.exec(value ?? '');
    return encoded === null ? value : Buffer.from(encoded[1], 'base64').toString('utf8');
  };

  it.each([
    ['ASCII metadata', 'raw/attributes-ascii.bin', 'scanner-7'],
    ['UTF-8 metadata', 'raw/attributes-utf8.bin', utf8OnTheWire('café ✓ 日本')],
  ])(
    'keeps the Content-Type and the x-amz-meta-* headers given to CreateMultipartUpload (%s)',
    async (_name, key, note) => {
      const created = await call('POST', `/${CEPH}/${key}?uploads`, undefined, {
        'content-type': 'text/csv',
        'x-amz-meta-note': note,
      });
      expectStatus(created, 200);
      const id = xmlField(created.text, 'UploadId') ?? '';
      const part = randomBytes(64 * KiB);
      const etag = await storePart(CEPH, key, id, 1, part);
      expectStatus(await complete(CEPH, key, id, completeXml([{ partNumber: 1, etag }])), 200);

      const head = await directS3().send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      expect({ type: head.ContentType, note: asReceived(head.Metadata?.note) }).toEqual({
        type: 'text/csv',
        note,
      });
      expect(await views[CEPH].stored(key)).toEqual({
        md5: md5Hex(part),
        size: part.length,
        etag: multipartEtag([part]),
      });
      expect(await views[CEPH].pendingUploads()).toEqual([]);
    },
  );
});

describe.each(BACKENDS)('bound upload ids on $name', ({ prefix }) => {
  const view = () => views[prefix];

  it('answers 404 NoSuchUpload to ids the caller was not given, and the real upload is unaffected', async () => {
    const key = 'bound/real.bin';
    const otherKey = 'bound/other.bin';
    const { id } = await createUpload(prefix, key);
    const { id: otherId } = await createUpload(prefix, otherKey);
    const backendId = (await view().pendingUploads()).find((u) => u.key === key)?.uploadId;
    expect(backendId).toBeDefined();

    // The real id with its MAC replaced: same backend upload, forged binding.
    const [version, encodedBackendId, tag] = id.split('.');
    expect(tag).toBeDefined();
    const forgedTag = randomBytes(16).toString('base64url');
    const forged = `${version}.${encodedBackendId}.${forgedTag}`;
    const badIds: Array<[string, string]> = [
      ['a forged id', forged],
      ['an id issued for another key', otherId],
      ['a random string', randomBytes(24).toString('hex')],
      ["the backend's own upload id", backendId ?? ''],
    ];

    const planted = randomBytes(KiB);
    const plantedXml = completeXml([{ partNumber: 1, etag: `"${md5Hex(planted)}"` }]);
    for (const [what, badId] of badIds) {
      const outcomes = {
        UploadPart: await uploadPart(prefix, key, badId, 1, planted),
        CompleteMultipartUpload: await complete(prefix, key, badId, plantedXml),
        AbortMultipartUpload: await abort(prefix, key, badId),
        ListParts: await listParts(prefix, key, badId),
      };
      for (const [operation, reply] of Object.entries(outcomes)) {
        expect({
          what,
          operation,
          status: reply.status,
          code: xmlField(reply.text, 'Code'),
        }).toEqual({ what, operation, status: 404, code: 'NoSuchUpload' });
      }
    }
    expect(await view().stored(key)).toBeUndefined();

    // Nothing the forged requests sent reached the real upload, and it still completes.
    const untouched = await listParts(prefix, key, id);
    expectStatus(untouched, 200);
    expect(partsOf(untouched.text)).toEqual([]);
    const body = randomBytes(300 * KiB);
    const etag = await storePart(prefix, key, id, 1, body);
    expectStatus(await complete(prefix, key, id, completeXml([{ partNumber: 1, etag }])), 200);
    expect(await view().stored(key)).toEqual({
      md5: md5Hex(body),
      size: body.length,
      etag: multipartEtag([body]),
    });

    // The upload of the other key was not touched by its id being used on this key.
    expectStatus(await listParts(prefix, otherKey, otherId), 200);
    expect((await abort(prefix, otherKey, otherId)).status).toBe(204);
    expect(await view().pendingUploads()).toEqual([]);
  });
});

describe.each(BACKENDS)('CompleteMultipartUpload errors on $name', ({ prefix }) => {
  const view = () => views[prefix];

  /** Starts an upload with the given parts stored; returns its id and the parts' ETags. */
  async function uploadWith(key: string, parts: Buffer[]) {
    const { id } = await createUpload(prefix, key);
    const etags: string[] = [];
    for (const [index, part] of parts.entries()) {
      etags.push(await storePart(prefix, key, id, index + 1, part));
    }
    return { id, etags };
  }

  /** Aborts the upload the failed Complete left, and checks that nothing at all remains. */
  async function expectNothingLeft(key: string, id: string) {
    expect(await view().stored(key)).toBeUndefined();
    expect((await abort(prefix, key, id)).status).toBe(204);
    expect(await view().pendingUploads()).toEqual([]);
    expect(await view().stored(key)).toBeUndefined();
  }

  it('refuses a part ETag that was not uploaded with 400 InvalidPart', async () => {
    const key = 'complete/wrong-etag.bin';
    const { id, etags } = await uploadWith(key, [randomBytes(5 * MiB), randomBytes(KiB)]);
    const reply = await complete(
      prefix,
      key,
      id,
      completeXml([
        { partNumber: 1, etag: etags[0] },
        { partNumber: 2, etag: `"${md5Hex('not the part that was uploaded')}"` },
      ]),
    );
    expectError(reply, 400, 'InvalidPart');
    await expectNothingLeft(key, id);
  });

  it('refuses descending part numbers with 400 InvalidPartOrder', async () => {
    const key = 'complete/descending.bin';
    const { id, etags } = await uploadWith(key, [randomBytes(5 * MiB), randomBytes(5 * MiB)]);
    const reply = await complete(
      prefix,
      key,
      id,
      completeXml([
        { partNumber: 2, etag: etags[1] },
        { partNumber: 1, etag: etags[0] },
      ]),
    );
    expectError(reply, 400, 'InvalidPartOrder');
    await expectNothingLeft(key, id);
  });

  it('refuses a first part under 5 MiB that is not the last with 400 EntityTooSmall', async () => {
    const key = 'complete/too-small.bin';
    const { id, etags } = await uploadWith(key, [randomBytes(5 * MiB - 1), randomBytes(KiB)]);
    const reply = await complete(
      prefix,
      key,
      id,
      completeXml(etags.map((etag, index) => ({ partNumber: index + 1, etag }))),
    );
    expectError(reply, 400, 'EntityTooSmall');
    await expectNothingLeft(key, id);
  });

  it.each([
    ['an unclosed element', '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>'],
    ['text that is not XML', 'parts: 1, 2, 3'],
    [
      'a <!DOCTYPE with an external entity',
      '<?xml version="1.0"?><!DOCTYPE CompleteMultipartUpload [<!ENTITY etag SYSTEM ' +
        '"file:///etc/passwd">]><CompleteMultipartUpload><Part><PartNumber>1</PartNumber>' +
        '<ETag>&etag;</ETag></Part></CompleteMultipartUpload>',
    ],
    [
      'a <!DOCTYPE with nested entities',
      '<!DOCTYPE lol [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>' +
        '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&b;</ETag></Part>' +
        '</CompleteMultipartUpload>',
    ],
  ])('refuses %s with 400 MalformedXML', async (_what, xml) => {
    const key = 'complete/malformed.bin';
    const { id } = await uploadWith(key, [randomBytes(KiB)]);
    expectError(await complete(prefix, key, id, xml), 400, 'MalformedXML');
    await expectNothingLeft(key, id);
  });
});

describe.each(BACKENDS)('@aws-sdk/client-s3 with default settings into $name', ({ prefix }) => {
  const view = () => views[prefix];
  let sdk: S3Client;

  beforeAll(() => {
    sdk = new S3Client({
      endpoint: gw.url,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: DUMMY_KEYS,
    });
  });

  afterAll(() => sdk?.destroy());

  it.each([
    ['1 KiB', KiB],
    ['20 MiB', 20 * MiB],
  ])('PutObject of a %s Buffer stores it byte for byte', async (_size, size) => {
    const key = `sdk/put-${size}.bin`;
    const body = randomBytes(size);
    const out = await sdk.send(new PutObjectCommand({ Bucket: prefix, Key: key, Body: body }));
    expect(out.ETag).toBe(`"${md5Hex(body)}"`);
    expect(await view().stored(key)).toEqual({ md5: md5Hex(body), size, etag: md5Hex(body) });
  });

  it('lib-storage Upload of 120 MiB from a Readable goes multipart and lands byte for byte', async () => {
    const key = 'sdk/lib-storage-120.bin';
    // lib-storage's default part size is 5 MiB: the ETag says how the body was cut.
    const digest = new BodyDigest(5 * MiB);
    const out = await new Upload({
      client: sdk,
      params: { Bucket: prefix, Key: key, Body: Readable.from(randomChunks(120 * MiB, digest)) },
    }).done();
    const sent = digest.finish();

    expect(sent.parts).toBe(24);
    expect(out.ETag).toBe(`"${sent.multipartEtag}"`);
    expect(await view().stored(key)).toEqual({
      md5: sent.md5,
      size: 120 * MiB,
      etag: sent.multipartEtag,
    });
    expect(await view().pendingUploads()).toEqual([]);
  }, 300_000);

  it('a presigned PUT used with plain fetch stores the body byte for byte', async () => {
    const key = 'sdk/presigned.bin';
    const body = randomBytes(3 * MiB + 11);
    const url = await getSignedUrl(sdk, new PutObjectCommand({ Bucket: prefix, Key: key }), {
      expiresIn: 300,
    });
    expect(url.startsWith(`${gw.url}/${prefix}/`)).toBe(true);
    expect(new URL(url).searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);

    const res = await fetch(url, { method: 'PUT', body: new Uint8Array(body) });
    expect({ status: res.status, body: await res.text() }).toEqual({ status: 200, body: '' });
    expect(res.headers.get('etag')).toBe(`"${md5Hex(body)}"`);
    expect(await view().stored(key)).toEqual({
      md5: md5Hex(body),
      size: body.length,
      etag: md5Hex(body),
    });
  });
});

describe.each(BACKENDS)('the aws CLI into $name', ({ prefix }) => {
  const view = () => views[prefix];
  const awsArgs = () => ['--endpoint-url', gw.url, '--region', 'us-east-1'];
  const env = () =>
    isolatedAwsEnv({
      AWS_ACCESS_KEY_ID: DUMMY_KEYS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: DUMMY_KEYS.secretAccessKey,
    });

  it('`aws s3 cp` of 1 MiB stores it byte for byte', async () => {
    const body = randomBytes(MiB);
    const file = join(workDir, `${prefix}-cp-1.bin`);
    writeFileSync(file, body);
    await runOk('aws', ['s3', 'cp', file, `s3://${prefix}/cli/cp-1.bin`, ...awsArgs()], {
      env: env(),
    });
    expect(await view().stored('cli/cp-1.bin')).toEqual({
      md5: md5Hex(body),
      size: body.length,
      etag: md5Hex(body),
    });
  });

  it('`aws s3 cp` of 120 MiB goes through its own multipart and lands byte for byte', async () => {
    const file = join(workDir, `${prefix}-cp-120.bin`);
    // The CLI cuts parts of 8 MiB (multipart_chunksize) above its 8 MiB threshold.
    const digest = new BodyDigest(8 * MiB);
    await pipeline(Readable.from(randomChunks(120 * MiB, digest)), createWriteStream(file));
    const sent = digest.finish();

    await runOk('aws', ['s3', 'cp', file, `s3://${prefix}/cli/cp-120.bin`, ...awsArgs()], {
      env: env(),
    });
    rmSync(file);

    expect(sent.parts).toBe(15);
    expect(await view().stored('cli/cp-120.bin')).toEqual({
      md5: sent.md5,
      size: 120 * MiB,
      etag: sent.multipartEtag,
    });
    expect(await view().pendingUploads()).toEqual([]);
  }, 300_000);

  it('`aws s3api put-object` stores the body byte for byte and returns its ETag', async () => {
    const body = randomBytes(2 * MiB + 5);
    const file = join(workDir, `${prefix}-s3api.bin`);
    writeFileSync(file, body);
    const stdout = await runOk(
      'aws',
      [
        's3api',
        'put-object',
        '--bucket',
        prefix,
        '--key',
        'cli/s3api.bin',
        '--body',
        file,
        ...awsArgs(),
      ],
      { env: env() },
    );
    expect((JSON.parse(stdout) as { ETag?: string }).ETag).toBe(`"${md5Hex(body)}"`);
    expect(await view().stored('cli/s3api.bin')).toEqual({
      md5: md5Hex(body),
      size: body.length,
      etag: md5Hex(body),
    });
  });
});
