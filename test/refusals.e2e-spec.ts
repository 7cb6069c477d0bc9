/**
 * What the gateway refuses (DESIGN.md §1): everything that is not an upload, unknown buckets,
 * invalid keys and bodies of unknown length. The route's S3 endpoint is a sentinel server that
 * records every request it receives, so each case also proves that the backend was never asked.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { createTestApp, type TestApp } from './helpers/create-test-app';
import {
  REQUEST_ID,
  expectOk,
  expectS3Error,
  md5Hex,
  rawExchange,
  send,
  startRecordingBackend,
  type RecordingBackend,
  type WireResponse,
} from './helpers/wire';

let gw: TestApp;
let sentinel: RecordingBackend;

beforeAll(async () => {
  sentinel = await startRecordingBackend();
  gw = await createTestApp({
    buckets: [
      {
        name: 'uploads',
        path_prefix: '/uploads',
        s3: {
          bucket: 'sentinel-bucket',
          endpoint: sentinel.url,
          region: 'us-east-1',
          access_key: 'SENTINELACCESSKEY',
          secret_key: 'sentinel-secret-key',
        },
      },
    ],
  });
});

beforeEach(() => sentinel.reset());

afterAll(async () => {
  await gw?.close();
  await sentinel?.close();
});

interface Refused {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

const DELETE_XML =
  '<Delete><Object><Key>photo.jpg</Key></Object><Object><Key>doc.pdf</Key></Object></Delete>';
const TAGGING_XML = '<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>';
const SELECT_XML =
  '<SelectObjectContentRequest><Expression>SELECT * FROM S3Object</Expression>' +
  '<ExpressionType>SQL</ExpressionType></SelectObjectContentRequest>';
const RESTORE_XML = '<RestoreRequest><Days>1</Days></RestoreRequest>';

const REFUSED: Array<[string, Refused]> = [
  ['GetObject', { method: 'GET', path: '/uploads/photo.jpg' }],
  [
    'a ranged GetObject',
    { method: 'GET', path: '/uploads/photo.jpg', headers: { range: 'bytes=0-9' } },
  ],
  ['ListObjects (GET on the bucket)', { method: 'GET', path: '/uploads' }],
  ['ListObjects (GET on the bucket with a slash)', { method: 'GET', path: '/uploads/' }],
  ['ListObjectsV2', { method: 'GET', path: '/uploads?list-type=2&prefix=a' }],
  ['ListObjectVersions', { method: 'GET', path: '/uploads?versions' }],
  ['ListMultipartUploads (GET ?uploads)', { method: 'GET', path: '/uploads?uploads' }],
  ['DeleteObject', { method: 'DELETE', path: '/uploads/photo.jpg' }],
  ['DeleteBucket', { method: 'DELETE', path: '/uploads' }],
  [
    'DeleteObjects (POST ?delete)',
    {
      method: 'POST',
      path: '/uploads?delete',
      headers: { 'content-type': 'application/xml' },
      body: DELETE_XML,
    },
  ],
  [
    'CopyObject (PUT with x-amz-copy-source)',
    {
      method: 'PUT',
      path: '/uploads/copy.jpg',
      headers: { 'x-amz-copy-source': '/uploads/photo.jpg' },
    },
  ],
  [
    'UploadPartCopy (a part with x-amz-copy-source)',
    {
      method: 'PUT',
      path: '/uploads/copy.jpg?partNumber=1&uploadId=abc',
      headers: { 'x-amz-copy-source': '/uploads/photo.jpg' },
    },
  ],
  [
    'PutObjectAcl (PUT ?acl)',
    { method: 'PUT', path: '/uploads/photo.jpg?acl', headers: { 'x-amz-acl': 'public-read' } },
  ],
  ['GetObjectAcl (GET ?acl)', { method: 'GET', path: '/uploads/photo.jpg?acl' }],
  ['PutBucketAcl (PUT ?acl on the bucket)', { method: 'PUT', path: '/uploads?acl', body: '' }],
  [
    'PutObjectTagging (PUT ?tagging)',
    { method: 'PUT', path: '/uploads/photo.jpg?tagging', body: TAGGING_XML },
  ],
  ['GetObjectTagging (GET ?tagging)', { method: 'GET', path: '/uploads/photo.jpg?tagging' }],
  [
    'PutBucketPolicy (PUT ?policy)',
    { method: 'PUT', path: '/uploads?policy', body: '{"Statement":[]}' },
  ],
  ['GetBucketPolicy (GET ?policy)', { method: 'GET', path: '/uploads?policy' }],
  ['GET ?select', { method: 'GET', path: '/uploads/data.csv?select' }],
  [
    'SelectObjectContent (POST ?select&select-type=2)',
    { method: 'POST', path: '/uploads/data.csv?select&select-type=2', body: SELECT_XML },
  ],
  [
    'RestoreObject (POST ?restore)',
    { method: 'POST', path: '/uploads/photo.jpg?restore', body: RESTORE_XML },
  ],
  ['GetObjectTorrent (GET ?torrent)', { method: 'GET', path: '/uploads/photo.jpg?torrent' }],
  ['CreateBucket (PUT on the bucket)', { method: 'PUT', path: '/uploads', body: '' }],
  [
    'CreateBucket with a location constraint',
    {
      method: 'PUT',
      path: '/uploads',
      body: '<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>',
    },
  ],
];

function sendRefused(req: Refused): Promise<WireResponse> {
  return send(gw.url, { method: req.method, path: req.path, headers: req.headers, body: req.body });
}

describe('refused operations', () => {
  it.each(REFUSED)(
    'refuses %s with 405 MethodNotAllowed saying the gateway is upload-only, and never calls the backend',
    async (_operation, req) => {
      const res = await sendRefused(req);

      const error = expectS3Error(res, 405, 'MethodNotAllowed');
      expect(error.message).toMatch(/upload-only/i);
      expect(error.resource).toBe(req.path.split('?')[0]);
      expect(sentinel.requests).toEqual([]);
    },
  );

  it('refuses HeadObject with 405 and an S3 error head, and never calls the backend', async () => {
    const res = await send(gw.url, { method: 'HEAD', path: '/uploads/photo.jpg' });

    // A HEAD response has no body: status and headers are all the client gets.
    expect(res.status).toBe(405);
    expect(res.headers['content-type']).toMatch(/^application\/xml\b/);
    expect(res.headers['x-amz-request-id']).toMatch(REQUEST_ID);
    expect(res.body.length).toBe(0);
    expect(sentinel.requests).toEqual([]);
  });
});

describe('HeadBucket', () => {
  it.each(['/uploads', '/uploads/'])(
    'answers HEAD %s with 200 for a configured route without asking the backend',
    async (path) => {
      const res = await send(gw.url, { method: 'HEAD', path });

      expect(res.status).toBe(200);
      expect(res.headers['x-amz-request-id']).toMatch(REQUEST_ID);
      expect(sentinel.requests).toEqual([]);
    },
  );
});

describe('unknown buckets', () => {
  it.each([
    ['a prefix that no route has', '/nope/x'],
    ['a prefix that only starts like a route (/uploads2 vs /uploads)', '/uploads2/x'],
    ['a prefix glued to a route name (/uploads-old)', '/uploads-old/x'],
  ])(
    'refuses a PUT under %s with 404 NoSuchBucket and never calls a backend',
    async (_label, path) => {
      const res = await send(gw.url, { method: 'PUT', path, body: 'payload' });

      expectS3Error(res, 404, 'NoSuchBucket');
      expect(sentinel.requests).toEqual([]);
    },
  );
});

describe('invalid keys', () => {
  it.each([
    ['an empty key (PUT /uploads/)', '/uploads/', 'InvalidRequest'],
    ['a key of 1025 ASCII bytes', `/uploads/${'k'.repeat(1025)}`, 'KeyTooLongError'],
    [
      'a key of 513 characters but 1026 UTF-8 bytes',
      `/uploads/${encodeURIComponent('ß'.repeat(513))}`,
      'KeyTooLongError',
    ],
    ['a NUL byte (%00)', '/uploads/a%00b.txt', 'InvalidArgument'],
    ['a line feed (%0A)', '/uploads/a%0Ab.txt', 'InvalidArgument'],
    ['a carriage return (%0D)', '/uploads/a%0Db.txt', 'InvalidArgument'],
    ['DEL (%7F)', '/uploads/a%7Fb.txt', 'InvalidArgument'],
    ['a ".." segment', '/uploads/a/../b.txt', 'InvalidArgument'],
    ['a leading ".." segment', '/uploads/../etc/passwd', 'InvalidArgument'],
    ['a percent-encoded ".." segment (%2e%2e)', '/uploads/a/%2e%2e/b.txt', 'InvalidArgument'],
    ['a "." segment', '/uploads/a/./b.txt', 'InvalidArgument'],
    ['a byte that is not UTF-8 (%ff)', '/uploads/a%ffb.txt', 'InvalidURI'],
    ['a truncated UTF-8 sequence (%E0%A4)', '/uploads/a%E0%A4.txt', 'InvalidURI'],
    ['a malformed percent-escape (%zz)', '/uploads/a%zzb.txt', 'InvalidURI'],
  ])('refuses %s with 400 and never calls the backend', async (_label, path, code) => {
    const res = await send(gw.url, { method: 'PUT', path, body: 'payload' });

    expectS3Error(res, 400, code);
    expect(sentinel.requests).toEqual([]);
  });
});

describe('bodies without a length', () => {
  it('refuses a PUT that declares neither Content-Length nor chunked framing with 411 MissingContentLength and never calls the backend', async () => {
    // Written on a raw socket: an HTTP client library would add a Content-Length of its own.
    const res = await rawExchange(
      gw.url,
      `PUT /uploads/no-length.txt HTTP/1.1\r\nHost: ${new URL(gw.url).host}`,
    );

    expectS3Error(res, 411, 'MissingContentLength');
    expect(sentinel.requests).toEqual([]);
  });
});

describe('the sentinel backend', () => {
  function upstreamKeyOf(headers: IncomingHttpHeaders, url: string): string {
    expect(headers.host).toBe(new URL(sentinel.url).host);
    return decodeURIComponent(url.replace(/^\/sentinel-bucket\//, '').split('?')[0]);
  }

  it('does receive a valid PutObject on the same route, so its silence above means something', async () => {
    const body = Buffer.from('this upload is allowed\n');

    const res = await send(gw.url, { method: 'PUT', path: '/uploads/allowed.txt', body });

    expectOk(res);
    expect(res.headers.etag).toBe(`"${md5Hex(body)}"`);
    expect(sentinel.requests).toHaveLength(1);
    const [received] = sentinel.requests;
    expect(received).toMatchObject({ method: 'PUT', size: body.length, md5: md5Hex(body) });
    expect(upstreamKeyOf(received.headers, received.url)).toBe('allowed.txt');
  });

  it('receives a key of exactly 1024 UTF-8 bytes', async () => {
    const key = `${'ß'.repeat(511)}ab`;
    expect(Buffer.byteLength(key)).toBe(1024);
    const body = Buffer.from('longest key');

    const res = await send(gw.url, {
      method: 'PUT',
      path: `/uploads/${encodeURIComponent(key)}`,
      body,
    });

    expectOk(res);
    expect(sentinel.requests).toHaveLength(1);
    expect(sentinel.requests[0].md5).toBe(md5Hex(body));
    expect(upstreamKeyOf(sentinel.requests[0].headers, sentinel.requests[0].url)).toBe(key);
  });

  it('has received nothing but those two uploads during the whole file', () => {
    // Catches a backend call that a refusal might have fired after its response was sent.
    expect(sentinel.total()).toBe(2);
  });
});
