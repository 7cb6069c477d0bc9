/**
 * Hostile input end to end (issue 8), against the in-process gateway and the Ceph test backend,
 * which is always read directly to see what really happened:
 * - every operation DESIGN.md §1 refuses, under every way a client can authenticate (none, a
 *   JWT, SigV4 in the Authorization header, a presigned URL), is 405 MethodNotAllowed, and the
 *   buckets, objects, tags and ACLs behind the routes are exactly as they were;
 * - method-override headers and parameters never turn one operation into another;
 * - path traversal in every spelling stays inside its route and its key, on Ceph and on disk;
 * - CR/LF smuggled into header values or upload ids reaches no backend;
 * - CompleteMultipartUpload bodies that are oversized, pathological, or carry DTDs and
 *   external entities are refused without expansion, without fetching anything, and without
 *   harming the upload they name;
 * - an upload id works only on the route (bucket) it was issued on;
 * - a body that fails only at its very end (junk after an aws-chunked body, a wrong digest of
 *   an empty body) leaves no object behind.
 * refusals.e2e-spec.ts covers the anonymous refusals against a recording stand-in backend, and
 * sigv4-auth.e2e-spec.ts tampered signatures and upload ids bound to principals; this file does
 * not repeat them.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  GetObjectAclCommand,
  GetObjectTaggingCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type Grant,
} from '@aws-sdk/client-s3';
import { encodeAwsChunked } from '@mizuchi/s3-protocol/aws-chunked.testing';
import { SignatureV4 } from '@smithy/signature-v4';
import type { HttpRequest } from '@smithy/types';
import { sign as signJwt } from 'jsonwebtoken';
import {
  closeDirectS3,
  createTestBucket,
  destroyTestBucket,
  directS3,
  listKeys,
  listMultipartUploads,
  storedObject,
} from './helpers/ceph';
import { cephRoute, createTestApp, filesystemRoute, type TestApp } from './helpers/create-test-app';
import { storedFile, storedKeys } from './helpers/filesystem-backend';
import { xmlField } from './helpers/landing';
import {
  REQUEST_ID,
  expectOk,
  expectS3Error,
  md5Hex,
  parseS3Error,
  send,
  sha256Hex,
  type WireResponse,
} from './helpers/wire';
import { Sha256, sdkEncode } from '../libs/testing/smithy-signing';

const REGION = 'us-east-1';
const JWT_SECRET = 'security-e2e-shared-secret-long-enough-for-hs256';
const KEY = {
  access_key: 'MIZUCHISECURITYKEY01',
  secret_key: 'security/e2e+secret=0123456789abcdef',
  subject: 'mallory',
};
const VICTIM = 'victim.txt';
const VICTIM_TAGS = [{ Key: 'owner', Value: 'seed' }];

let gw: TestApp;
/** Behind `/open` (anonymous) and `/locked` (JWT and SigV4): separate buckets, so crossing shows. */
let openBucket: string;
let lockedBucket: string;
/** The filesystem route's root, inside a parent folder that must stay empty otherwise. */
let fsParent: string;
let fsRoot: string;
const victims: Record<string, Buffer> = {};
const victimAcls: Record<string, Grant[]> = {};

// ---------------------------------------------------------------------------------------------
// Clients: anonymous, JWT, SigV4 header form, presigned URL

/** A request before authentication is added: path under the route, decoded query. */
interface Plain {
  method: string;
  /** '' for the bucket itself, else `/key`. */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
}

function wireQuery(query: Record<string, string | string[] | null>): string {
  return Object.entries(query)
    .flatMap(([name, value]) =>
      (Array.isArray(value) ? value : [value]).map((v) =>
        v === null || v === '' ? sdkEncode(name) : `${sdkEncode(name)}=${sdkEncode(v)}`,
      ),
    )
    .join('&');
}

function target(path: string, query: string): string {
  return query === '' ? path : `${path}?${query}`;
}

const signer = () =>
  new SignatureV4({
    credentials: { accessKeyId: KEY.access_key, secretAccessKey: KEY.secret_key },
    region: REGION,
    service: 's3',
    sha256: Sha256,
    uriEscapePath: false,
  });

function unsignedRequest(prefix: string, req: Plain, payloadHash: string): HttpRequest {
  return {
    method: req.method,
    protocol: 'http:',
    hostname: '127.0.0.1',
    port: gw.port,
    path: `/${prefix}${req.path}`,
    query: { ...(req.query ?? {}) },
    headers: {
      host: `127.0.0.1:${gw.port}`,
      'x-amz-content-sha256': payloadHash,
      ...(req.headers ?? {}),
    },
  };
}

type AuthMethod = (prefix: string, req: Plain) => Promise<WireResponse>;

const bearer = () =>
  signJwt({ sub: 'mallory', scope: 'upload' }, JWT_SECRET, {
    algorithm: 'HS256',
    expiresIn: 300,
  });

/** The ways a client can present itself; each sends `req` to `/<prefix><path>`. */
const AUTH: Record<string, AuthMethod> = {
  none: (prefix, req) =>
    send(gw.url, {
      method: req.method,
      path: target(`/${prefix}${req.path}`, wireQuery(req.query ?? {})),
      headers: req.headers,
      body: req.body,
    }),
  'a valid JWT': (prefix, req) =>
    send(gw.url, {
      method: req.method,
      path: target(`/${prefix}${req.path}`, wireQuery(req.query ?? {})),
      headers: { ...req.headers, authorization: `Bearer ${bearer()}` },
      body: req.body,
    }),
  'SigV4 in the Authorization header': async (prefix, req) => {
    const signed = await signer().sign(unsignedRequest(prefix, req, sha256Hex(req.body ?? '')), {
      signingDate: new Date(),
    });
    return send(gw.url, {
      method: req.method,
      path: target(signed.path, wireQuery(signed.query ?? {})),
      headers: signed.headers,
      body: req.body,
    });
  },
  'a presigned URL': async (prefix, req) => {
    // As @aws-sdk/s3-request-presigner does: the payload of a presigned URL is not signed, and
    // x-amz-* headers (a copy source, an ACL) are hoisted into the query.
    const signed = await signer().presign(unsignedRequest(prefix, req, 'UNSIGNED-PAYLOAD'), {
      signingDate: new Date(),
      expiresIn: 300,
    });
    return send(gw.url, {
      method: req.method,
      path: target(signed.path, wireQuery(signed.query ?? {})),
      headers: signed.headers,
      body: req.body,
    });
  },
};

// ---------------------------------------------------------------------------------------------
// Backend state, read from Ceph directly

async function tagsOf(bucket: string, key: string) {
  const out = await directS3().send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
  return out.TagSet ?? [];
}

async function grantsOf(bucket: string, key: string): Promise<Grant[]> {
  const out = await directS3().send(new GetObjectAclCommand({ Bucket: bucket, Key: key }));
  return out.Grants ?? [];
}

async function expectVictimIntact(bucket: string): Promise<void> {
  const stored = await storedObject(bucket, VICTIM);
  expect(stored && { md5: stored.md5, size: stored.size }).toEqual({
    md5: md5Hex(victims[bucket]),
    size: victims[bucket].length,
  });
  expect(await tagsOf(bucket, VICTIM)).toEqual(VICTIM_TAGS);
  expect(await grantsOf(bucket, VICTIM)).toEqual(victimAcls[bucket]);
}

beforeAll(async () => {
  openBucket = await createTestBucket('security-open');
  lockedBucket = await createTestBucket('security-locked');
  for (const bucket of [openBucket, lockedBucket]) {
    victims[bucket] = randomBytes(4096);
    await directS3().send(
      new PutObjectCommand({ Bucket: bucket, Key: VICTIM, Body: victims[bucket] }),
    );
    await directS3().send(
      new PutObjectTaggingCommand({
        Bucket: bucket,
        Key: VICTIM,
        Tagging: { TagSet: VICTIM_TAGS },
      }),
    );
    victimAcls[bucket] = await grantsOf(bucket, VICTIM);
  }
  fsParent = mkdtempSync(join(tmpdir(), 'mizuchi-security-'));
  fsRoot = join(fsParent, 'objects');
  mkdirSync(fsRoot);
  gw = await createTestApp({
    buckets: [
      cephRoute('open', openBucket),
      cephRoute('locked', lockedBucket, {
        auth: {
          enabled: true,
          jwt: { algorithms: ['HS256'], secret: JWT_SECRET },
          sigv4: { region: REGION, credentials: [KEY] },
        },
      }),
      filesystemRoute('fs', fsRoot),
    ],
  });
});

afterAll(async () => {
  await gw?.close();
  for (const bucket of [openBucket, lockedBucket]) {
    if (bucket !== undefined) await destroyTestBucket(bucket);
  }
  closeDirectS3();
  if (fsParent !== undefined) rmSync(fsParent, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

/** Every kind of request DESIGN.md §1 refuses; `{bucket}` in a header is the backend bucket. */
const REFUSED: Array<[string, Plain]> = [
  ['GetObject', { method: 'GET', path: `/${VICTIM}` }],
  ['a ranged GetObject', { method: 'GET', path: `/${VICTIM}`, headers: { range: 'bytes=0-9' } }],
  ['GetObject of a version', { method: 'GET', path: `/${VICTIM}`, query: { versionId: 'null' } }],
  ['HeadObject', { method: 'HEAD', path: `/${VICTIM}` }],
  [
    'GetObjectAttributes',
    {
      method: 'GET',
      path: `/${VICTIM}`,
      query: { attributes: '' },
      headers: { 'x-amz-object-attributes': 'ETag' },
    },
  ],
  ['DeleteObject', { method: 'DELETE', path: `/${VICTIM}` }],
  ['ListObjects', { method: 'GET', path: '' }],
  ['ListObjectsV2', { method: 'GET', path: '', query: { 'list-type': '2', prefix: 'v' } }],
  ['ListObjectVersions', { method: 'GET', path: '', query: { versions: '' } }],
  ['ListMultipartUploads', { method: 'GET', path: '', query: { uploads: '' } }],
  ['GetBucketLocation', { method: 'GET', path: '', query: { location: '' } }],
  [
    'DeleteObjects',
    {
      method: 'POST',
      path: '',
      query: { delete: '' },
      headers: { 'content-type': 'application/xml' },
      body: `<Delete><Object><Key>${VICTIM}</Key></Object></Delete>`,
    },
  ],
  ['DeleteBucket', { method: 'DELETE', path: '' }],
  ['CreateBucket', { method: 'PUT', path: '' }],
  [
    'CopyObject',
    { method: 'PUT', path: '/copied.txt', headers: { 'x-amz-copy-source': `{bucket}/${VICTIM}` } },
  ],
  [
    'UploadPartCopy',
    {
      method: 'PUT',
      path: '/copied.txt',
      query: { partNumber: '1', uploadId: 'any' },
      headers: { 'x-amz-copy-source': `{bucket}/${VICTIM}` },
    },
  ],
  [
    'PutObjectAcl',
    {
      method: 'PUT',
      path: `/${VICTIM}`,
      query: { acl: '' },
      headers: { 'x-amz-acl': 'public-read' },
    },
  ],
  ['GetObjectAcl', { method: 'GET', path: `/${VICTIM}`, query: { acl: '' } }],
  [
    'PutBucketAcl',
    { method: 'PUT', path: '', query: { acl: '' }, headers: { 'x-amz-acl': 'public-read-write' } },
  ],
  [
    'PutObjectTagging',
    {
      method: 'PUT',
      path: `/${VICTIM}`,
      query: { tagging: '' },
      body: '<Tagging><TagSet><Tag><Key>owner</Key><Value>mallory</Value></Tag></TagSet></Tagging>',
    },
  ],
  ['DeleteObjectTagging', { method: 'DELETE', path: `/${VICTIM}`, query: { tagging: '' } }],
  ['GetObjectTagging', { method: 'GET', path: `/${VICTIM}`, query: { tagging: '' } }],
  [
    'PutBucketPolicy',
    {
      method: 'PUT',
      path: '',
      query: { policy: '' },
      body: '{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}]}',
    },
  ],
  ['DeleteBucketPolicy', { method: 'DELETE', path: '', query: { policy: '' } }],
  [
    'PutBucketLifecycleConfiguration',
    {
      method: 'PUT',
      path: '',
      query: { lifecycle: '' },
      body: '<LifecycleConfiguration><Rule><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>',
    },
  ],
  ['PutBucketVersioning', { method: 'PUT', path: '', query: { versioning: '' } }],
  ['PutBucketCors', { method: 'PUT', path: '', query: { cors: '' } }],
  [
    'SelectObjectContent',
    {
      method: 'POST',
      path: `/${VICTIM}`,
      query: { select: '', 'select-type': '2' },
      body: '<SelectObjectContentRequest><Expression>SELECT * FROM S3Object</Expression></SelectObjectContentRequest>',
    },
  ],
  [
    'RestoreObject',
    {
      method: 'POST',
      path: `/${VICTIM}`,
      query: { restore: '' },
      body: '<RestoreRequest><Days>1</Days></RestoreRequest>',
    },
  ],
  ['GetObjectTorrent', { method: 'GET', path: `/${VICTIM}`, query: { torrent: '' } }],
  ['PutObjectRetention', { method: 'PUT', path: `/${VICTIM}`, query: { retention: '' } }],
  ['PutObjectLegalHold', { method: 'PUT', path: `/${VICTIM}`, query: { 'legal-hold': '' } }],
  [
    'a PUT naming an uploadId without a partNumber',
    {
      method: 'PUT',
      path: `/${VICTIM}`,
      query: { uploadId: 'any' },
      body: 'overwrite',
    },
  ],
  [
    'a browser POST upload to the bucket',
    {
      method: 'POST',
      path: '',
      headers: { 'content-type': 'multipart/form-data; boundary=x' },
      body: '--x\r\nContent-Disposition: form-data; name="key"\r\n\r\nvictim.txt\r\n--x--\r\n',
    },
  ],
  [
    'a POST to a key without ?uploads or ?uploadId',
    {
      method: 'POST',
      path: `/${VICTIM}`,
      body: 'overwrite',
    },
  ],
  ['PATCH', { method: 'PATCH', path: `/${VICTIM}`, body: 'overwrite' }],
  ['OPTIONS', { method: 'OPTIONS', path: `/${VICTIM}` }],
  ['TRACE', { method: 'TRACE', path: `/${VICTIM}` }],
];

/** The auth methods, each with the route it is used on. */
const CLIENTS: Array<[string, string, AuthMethod]> = [
  ['anonymous on an anonymous route', 'open', AUTH.none],
  ['without credentials on an authenticated route', 'locked', AUTH.none],
  ['with a valid JWT', 'locked', AUTH['a valid JWT']],
  [
    'signed with SigV4 in the Authorization header',
    'locked',
    AUTH['SigV4 in the Authorization header'],
  ],
  ['through a presigned URL', 'locked', AUTH['a presigned URL']],
];

const bucketOf = (prefix: string) => (prefix === 'open' ? openBucket : lockedBucket);

function withBucket(req: Plain, bucket: string): Plain {
  const headers = Object.fromEntries(
    Object.entries(req.headers ?? {}).map(([n, v]) => [n, v.replace('{bucket}', bucket)]),
  );
  return { ...req, headers };
}

describe('refused operations under every way of authenticating', () => {
  const controlKey = (label: string) => `control-${label.replace(/\W+/g, '-')}.txt`;
  const authenticating = CLIENTS.filter(([label]) => !label.startsWith('without'));

  it.each(authenticating)(
    'accepts a PutObject %s, so the refusals below are not authentication failures',
    async (label, prefix, auth) => {
      const body = randomBytes(1024).toString('hex');
      const res = await auth(prefix, { method: 'PUT', path: `/${controlKey(label)}`, body });
      expectOk(res);
      expect((await storedObject(bucketOf(prefix), controlKey(label)))?.md5).toBe(md5Hex(body));
    },
  );

  it('refuses a PutObject without credentials on the authenticated route with 401', async () => {
    // So a 405 there shows that refused operations are turned away before authentication.
    const res = await AUTH.none('locked', {
      method: 'PUT',
      path: '/no-credentials.txt',
      body: 'x',
    });
    expectS3Error(res, 401, 'AccessDenied');
  });

  const matrix = CLIENTS.flatMap(([client, prefix, auth]) =>
    REFUSED.map(([operation, req]) => [operation, client, prefix, auth, req] as const),
  );

  it.each(matrix)(
    'refuses %s %s with 405 MethodNotAllowed',
    async (_operation, _client, prefix, auth, req) => {
      const res = await auth(prefix, withBucket(req, bucketOf(prefix)));
      if (req.method === 'HEAD') {
        // A HEAD answer has no body: the status and headers are all a client gets.
        expect(res.status).toBe(405);
        expect(res.headers['x-amz-request-id']).toMatch(REQUEST_ID);
        expect(res.body.length).toBe(0);
        return;
      }
      const error = expectS3Error(res, 405, 'MethodNotAllowed');
      expect(error.message).toMatch(/upload-only/);
    },
  );

  it('left both buckets exactly as they were: keys, bytes, tags, ACLs, no uploads', async () => {
    for (const [prefix, bucket] of [
      ['open', openBucket],
      ['locked', lockedBucket],
    ] as const) {
      const controls = authenticating
        .filter(([, p]) => p === prefix)
        .map(([label]) => controlKey(label));
      expect(await listKeys(bucket)).toEqual([...controls, VICTIM].sort());
      await expectVictimIntact(bucket);
      expect(await listMultipartUploads(bucket)).toEqual([]);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('method override', () => {
  const OVERRIDES = {
    'x-http-method-override': 'DELETE',
    'x-http-method': 'DELETE',
    'x-method-override': 'DELETE',
  };

  it('stores a PUT that asks to be treated as a DELETE, and deletes nothing', async () => {
    const body = randomBytes(2048);
    const res = await send(gw.url, {
      method: 'PUT',
      path: '/open/override/put.bin',
      headers: OVERRIDES,
      body,
    });
    expectOk(res);
    expect((await storedObject(openBucket, 'override/put.bin'))?.md5).toBe(md5Hex(body));
    await expectVictimIntact(openBucket);
  });

  it.each([
    ['a GET that asks to be a PUT', 'GET', { 'x-http-method-override': 'PUT' }],
    ['a DELETE that asks to be a PUT', 'DELETE', { 'x-http-method-override': 'PUT' }],
    ['a HEAD that asks to be a POST', 'HEAD', { 'x-http-method': 'POST' }],
  ])('still refuses %s', async (_label, method, headers) => {
    const res = await send(gw.url, { method, path: `/open/${VICTIM}`, headers });
    expect(res.status).toBe(405);
    await expectVictimIntact(openBucket);
  });

  it.each(['_method=DELETE', '_method=GET', 'method=DELETE'])(
    'refuses a PUT with ?%s as an unknown sub-resource, storing and deleting nothing',
    async (query) => {
      const res = await send(gw.url, {
        method: 'PUT',
        path: `/open/${VICTIM}?${query}`,
        body: 'overwritten',
      });
      expectS3Error(res, 405, 'MethodNotAllowed');
      await expectVictimIntact(openBucket);
    },
  );
});

// ---------------------------------------------------------------------------------------------

/**
 * Writes a request byte for byte on a fresh socket (no HTTP client checks or rewrites it) and
 * reads until the server closes. `status` is 0 when the server closed without answering.
 */
async function rawRequest(head: string, body = Buffer.alloc(0)): Promise<WireResponse> {
  const url = new URL(gw.url);
  const socket = connect(Number(url.port), url.hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', (err: NodeJS.ErrnoException) =>
      // A server that refuses the head may reset the connection while the body is in flight.
      err.code === 'ECONNRESET' || err.code === 'EPIPE' ? resolve() : reject(err),
    );
    socket.once('close', () => resolve());
    socket.write(
      Buffer.concat([
        Buffer.from(
          `${head}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
          'latin1',
        ),
        body,
      ]),
    );
  });
  const raw = Buffer.concat(chunks);
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) return { status: 0, headers: {}, body: raw, text: raw.toString('latin1') };
  const [statusLine, ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = raw.subarray(end + 4);
  return { status: Number(statusLine.split(' ')[1]), headers, body: rest, text: rest.toString() };
}

describe('path traversal', () => {
  /** Keys that traversal attempts may legitimately create: literal names, never a climb. */
  const literal: Record<'open' | 'fs', string[]> = { open: [], fs: [] };

  type Outcome = { refused: string } | { storedAs: string };
  const refused = (code: string): Outcome => ({ refused: code });
  const storedAs = (key: string): Outcome => ({ storedAs: key });

  // [what, raw key after `/<route>/`, outcome on Ceph, outcome on the filesystem backend]
  const CASES: Array<[string, string, Outcome, Outcome]> = [
    ['../', '../locked/evil.txt', refused('InvalidArgument'), refused('InvalidArgument')],
    ['%2e%2e/', '%2e%2e/locked/evil.txt', refused('InvalidArgument'), refused('InvalidArgument')],
    [
      '%2E%2E%2F (slashes encoded too)',
      '%2E%2E%2Flocked%2Fevil.txt',
      refused('InvalidArgument'),
      refused('InvalidArgument'),
    ],
    ['..%2f', '..%2flocked%2fevil.txt', refused('InvalidArgument'), refused('InvalidArgument')],
    [
      'a climb out of a subfolder',
      'a/..%2f..%2f..%2fevil.txt',
      refused('InvalidArgument'),
      refused('InvalidArgument'),
    ],
    ['.%2e/', '.%2e/evil.txt', refused('InvalidArgument'), refused('InvalidArgument')],
    ['a trailing ..', 'a/%2e%2e', refused('InvalidArgument'), refused('InvalidArgument')],
    [
      '%2e/ (a dot segment)',
      '%2e/evil.txt',
      refused('InvalidArgument'),
      refused('InvalidArgument'),
    ],
    [
      'overlong UTF-8 dots (%c0%ae)',
      '%c0%ae%c0%ae/evil.txt',
      refused('InvalidURI'),
      refused('InvalidURI'),
    ],
    [
      'double encoding (%252e%252e%252f), decoded once into a literal name',
      '%252e%252e%252fevil.txt',
      storedAs('%2e%2e%2fevil.txt'),
      storedAs('%2e%2e%2fevil.txt'),
    ],
    [
      'backslashes, a literal character of an S3 key',
      '..\\..\\evil.txt',
      storedAs('..\\..\\evil.txt'),
      refused('InvalidArgument'),
    ],
    [
      'encoded backslashes (%5c)',
      '%5c..%5c..%5cevil.txt',
      storedAs('\\..\\..\\evil.txt'),
      refused('InvalidArgument'),
    ],
    [
      'an absolute path (a key starting with /)',
      '%2fetc%2fevil.txt',
      storedAs('/etc/evil.txt'),
      refused('InvalidArgument'),
    ],
  ];

  const routes = [
    ['Ceph', 'open', 2],
    ['the filesystem backend', 'fs', 3],
  ] as const;

  it.each(
    routes.flatMap(([backend, prefix, column]) =>
      CASES.map((c) => [c[0], backend, prefix, c[1], c[column]] as const),
    ),
  )(
    'handles %s on %s without leaving the key',
    async (_what, _backend, prefix, rawKey, outcome) => {
      const body = randomBytes(512);
      const res = await send(gw.url, { method: 'PUT', path: `/${prefix}/${rawKey}`, body });
      if ('refused' in outcome) {
        expectS3Error(res, 400, outcome.refused);
        return;
      }
      expectOk(res);
      literal[prefix].push(outcome.storedAs);
      const stored =
        prefix === 'open'
          ? await storedObject(openBucket, outcome.storedAs)
          : await storedFile(fsRoot, outcome.storedAs);
      expect(stored?.md5).toBe(md5Hex(body));
    },
  );

  it.each([
    ['from the anonymous route into the authenticated one', '/open/../locked/evil.txt', 400],
    ['from the authenticated route into the anonymous one', '/locked/../open/evil.txt', 400],
    ['with an encoded climb before the route', '/%2e%2e/open/evil.txt', 404],
    ['with an encoded slash in the route name', '/open%2f..%2flocked/evil.txt', 404],
    ['through a ./ before the route', '/./locked/evil.txt', 404],
    ['through a doubled slash before the route', '//locked/evil.txt', 404],
  ])('refuses a climb %s, before authentication', async (_what, path, status) => {
    const res = await send(gw.url, { method: 'PUT', path, body: 'evil' });
    expectS3Error(res, status, status === 404 ? 'NoSuchBucket' : 'InvalidArgument');
  });

  it.each([
    ['naming another host', 'http://evil.example/locked/evil.txt'],
    ['climbing after the host', `http://127.0.0.1/open/../locked/evil.txt`],
  ])(
    'refuses an absolute-form request target %s with 404 NoSuchBucket, routing by its raw text',
    async (_what, url) => {
      const res = await rawRequest(`PUT ${url} HTTP/1.1\r\nHost: 127.0.0.1`, Buffer.from('evil'));
      expectS3Error(res, 404, 'NoSuchBucket');
    },
  );

  it('wrote nothing outside the literal keys above, in either bucket or on disk', async () => {
    const lockedKeys = await listKeys(lockedBucket);
    expect(lockedKeys.filter((key) => key.includes('evil'))).toEqual([]);
    const openKeys = await listKeys(openBucket);
    expect(openKeys.filter((key) => key.includes('evil')).sort()).toEqual([...literal.open].sort());
    expect(readdirSync(fsParent)).toEqual(['objects']);
    expect(await storedKeys(fsRoot)).toEqual([...literal.fs].sort());
  });
});

describe('header injection', () => {
  // Node's HTTP parser turns these away before any handler runs; the gateway still answers
  // them in S3 XML. Written on a raw socket, since HTTP clients refuse to send them at all.
  it.each([
    ['a bare CR in a metadata value', 'x-amz-meta-note: safe\rX-Amz-Meta-Injected: yes'],
    ['a bare LF in a metadata value', 'x-amz-meta-note: safe\nX-Amz-Meta-Injected: yes'],
    ['an obsolete line folding', 'x-amz-meta-note: safe\r\n X-Amz-Meta-Injected: yes'],
    ['a NUL in a metadata value', 'x-amz-meta-note: safe\0X-Amz-Meta-Injected: yes'],
    ['a bare CR in Content-Type', 'Content-Type: text/plain\rX-Amz-Meta-Injected: yes'],
    ['a DEL in a metadata value', 'x-amz-meta-note: safe\x7fevil'],
  ])('refuses %s with 400 InvalidRequest, storing nothing', async (label, header) => {
    const key = `inject/${label.replace(/\W+/g, '-')}.txt`;
    const res = await rawRequest(
      `PUT /open/${key} HTTP/1.1\r\nHost: 127.0.0.1\r\n${header}`,
      Buffer.from('body'),
    );
    expectS3Error(res, 400, 'InvalidRequest');
    expect(await storedObject(openBucket, key)).toBeUndefined();
  });

  it('forwards a percent-encoded CRLF in a metadata value as the literal text it is', async () => {
    const value = 'safe%0D%0AX-Amz-Meta-Injected:%20yes';
    const res = await send(gw.url, {
      method: 'PUT',
      path: '/open/inject/encoded-crlf.txt',
      headers: { 'x-amz-meta-note': value },
      body: 'body',
    });
    expectOk(res);
    expect((await storedObject(openBucket, 'inject/encoded-crlf.txt'))?.metadata).toEqual({
      note: value,
    });
  });

  it.each([
    ['a metadata value', 'x-amz-meta-note'],
    ['Content-Disposition', 'content-disposition'],
  ])('refuses a tab inside %s with 400 InvalidArgument, storing nothing', async (_label, name) => {
    // Legal HTTP, but SigV4 implementations canonicalise a tab differently (Ceph's 403
    // SignatureDoesNotMatch to the gateway's re-signed request was answered 502).
    const key = `inject/tab-${name}.txt`;
    const res = await send(gw.url, {
      method: 'PUT',
      path: `/open/${key}`,
      headers: { [name]: 'left\tright' },
      body: 'body',
    });
    expectS3Error(res, 400, 'InvalidArgument');
    expect(res.text).toContain(name);
    expect(await storedObject(openBucket, key)).toBeUndefined();
  });

  it('forwards runs of spaces inside a metadata value', async () => {
    const res = await send(gw.url, {
      method: 'PUT',
      path: '/open/inject/spaces.txt',
      headers: { 'x-amz-meta-note': 'a  b   c' },
      body: 'body',
    });
    expectOk(res);
    expect((await storedObject(openBucket, 'inject/spaces.txt'))?.metadata).toEqual({
      note: 'a  b   c',
    });
  });

  it('answers an upload id carrying an encoded CRLF with 404 NoSuchUpload', async () => {
    const res = await send(gw.url, {
      method: 'PUT',
      path: '/open/inject/part.bin?partNumber=1&uploadId=m1.x%0D%0AX-Amz-Meta-Injected:%20yes.y',
      body: 'part',
    });
    expectS3Error(res, 404, 'NoSuchUpload');
    expect(await listMultipartUploads(openBucket)).toEqual([]);
    expect(await storedObject(openBucket, 'inject/part.bin')).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------

async function createUpload(prefix: string, key: string, auth = AUTH.none): Promise<string> {
  const res = await auth(prefix, { method: 'POST', path: `/${key}`, query: { uploads: '' } });
  expect(res.status).toBe(200);
  const id = xmlField(res.text, 'UploadId');
  if (id === undefined) throw new Error(`no UploadId in ${res.text}`);
  return id;
}

function uploadPart(prefix: string, key: string, id: string, body: Buffer) {
  return send(gw.url, {
    method: 'PUT',
    path: `/${prefix}/${key}?partNumber=1&uploadId=${encodeURIComponent(id)}`,
    body,
  });
}

function complete(prefix: string, key: string, id: string, xml: string | Buffer) {
  return send(gw.url, {
    method: 'POST',
    path: `/${prefix}/${key}?uploadId=${encodeURIComponent(id)}`,
    headers: { 'content-type': 'application/xml' },
    body: xml,
  });
}

function completeXml(etag: string, head = '', inPart = ''): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>${head}<CompleteMultipartUpload>` +
    `<Part><PartNumber>1</PartNumber><ETag>${etag}</ETag>${inPart}</Part>` +
    '</CompleteMultipartUpload>'
  );
}

/** A tiny HTTP server that counts the requests it receives (an XXE canary). */
async function startCanary(): Promise<{ url: string; hits: () => number; close(): Promise<void> }> {
  let hits = 0;
  const server: Server = createServer((_req, res) => {
    hits++;
    res.writeHead(200, { 'content-type': 'application/xml-dtd' }).end('<!ENTITY x "leaked">');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits: () => hits,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

describe('hostile CompleteMultipartUpload bodies', () => {
  const key = 'complete/target.bin';
  const part = randomBytes(64 * 1024);
  let id: string;
  let etag: string;
  let canary: Awaited<ReturnType<typeof startCanary>>;

  beforeAll(async () => {
    canary = await startCanary();
    id = await createUpload('open', key);
    const res = await uploadPart('open', key, id, part);
    expectOk(res);
    etag = String(res.headers.etag);
    expect(etag).toBe(`"${md5Hex(part)}"`);
  });

  afterAll(() => canary?.close());

  /** After a refusal: no object, the upload still pending, the gateway still serving. */
  async function expectUploadUntouched(): Promise<void> {
    expect(await storedObject(openBucket, key)).toBeUndefined();
    expect((await listMultipartUploads(openBucket)).map((u) => u.key)).toEqual([key]);
    expect((await send(gw.url, { method: 'HEAD', path: '/open' })).status).toBe(200);
  }

  it('refuses a body over the 1 MiB cap with a 400 S3 error', async () => {
    const valid = completeXml(etag);
    const padding = ' '.repeat(1024 * 1024 + 1 - valid.length);
    const body = valid.replace('<Part>', `${padding}<Part>`);
    expect(Buffer.byteLength(body)).toBe(1024 * 1024 + 1);
    const res = await complete('open', key, id, body);
    // S3 has two codes that fit; either is an answer, a crash or a hang is not.
    const code = parseS3Error(res.text).code ?? '';
    expect(['MalformedXML', 'EntityTooLarge']).toContain(code);
    expect(expectS3Error(res, 400, code).message).toMatch(/limit|large/i);
    await expectUploadUntouched();
  });

  it('refuses 1 MiB of whitespace inside an unclosed tag at once (no regex backtracking)', async () => {
    // This shape once kept the parser busy for minutes, blocking every other request; the
    // test would then run into its timeout.
    const body = `<CompleteMultipartUpload${' '.repeat(1024 * 1024 - 100)}`;
    expectS3Error(await complete('open', key, id, body), 400, 'MalformedXML');
    await expectUploadUntouched();
  });

  it.each([
    [
      'an internal entity that would expand to the real ETag',
      () => completeXml('&e;', `<!DOCTYPE CompleteMultipartUpload [<!ENTITY e '${etag}'>]>`),
    ],
    [
      'a billion-laughs expansion',
      () =>
        completeXml(
          '&l5;',
          '<!DOCTYPE CompleteMultipartUpload [<!ENTITY l0 "lol">' +
            [1, 2, 3, 4, 5].map((n) => `<!ENTITY l${n} "${`&l${n - 1};`.repeat(10)}">`).join('') +
            ']>',
        ),
    ],
    [
      'an external DTD',
      () => completeXml(etag, `<!DOCTYPE CompleteMultipartUpload SYSTEM "${canary.url}/evil.dtd">`),
    ],
    [
      'an external entity',
      () =>
        completeXml(
          '&x;',
          `<!DOCTYPE CompleteMultipartUpload [<!ENTITY x SYSTEM "${canary.url}/entity">]>`,
        ),
    ],
    [
      'a parameter entity loading a remote DTD',
      () =>
        completeXml(
          etag,
          `<!DOCTYPE CompleteMultipartUpload [<!ENTITY % remote SYSTEM "${canary.url}/p.dtd"> %remote;]>`,
        ),
    ],
    [
      'a file entity',
      () => completeXml('&x;', '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'),
    ],
    [
      'an XInclude',
      () =>
        completeXml(
          etag,
          '',
          `<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="${canary.url}/inc"/>`,
        ),
    ],
    [
      'a stylesheet processing instruction',
      () => completeXml(etag, `<?xml-stylesheet href="${canary.url}/s.xsl"?>`),
    ],
  ])('refuses %s with 400 MalformedXML, expanding and fetching nothing', async (_what, xml) => {
    const res = await complete('open', key, id, xml());
    expectS3Error(res, 400, 'MalformedXML');
    expect(res.text).not.toMatch(/lol|leaked|root:/);
    expect(canary.hits()).toBe(0);
    await expectUploadUntouched();
  });

  it('still completes the upload afterwards with a plain body', async () => {
    const res = await complete('open', key, id, completeXml(etag));
    expect(res.status).toBe(200);
    expect((await storedObject(openBucket, key))?.md5).toBe(md5Hex(part));
    expect(await listMultipartUploads(openBucket)).toEqual([]);
    expect(canary.hits()).toBe(0);
  });
});

describe('upload ids bound to their route', () => {
  it('answers 404 NoSuchUpload when an id from one route is used on another, for every operation', async () => {
    const key = 'bound/object.bin';
    const anonymous = await createUpload('open', key);
    const mallorys = await createUpload('locked', key, AUTH['a valid JWT']);
    const part = randomBytes(1024);
    const tries: Array<[string, string, string]> = [
      ['an anonymous id on the filesystem route', 'fs', anonymous],
      ["an authenticated user's id on the anonymous route", 'open', mallorys],
    ];
    for (const [what, prefix, id] of tries) {
      const q = `uploadId=${encodeURIComponent(id)}`;
      const replies = {
        UploadPart: await uploadPart(prefix, key, id, part),
        ListParts: await send(gw.url, { method: 'GET', path: `/${prefix}/${key}?${q}` }),
        CompleteMultipartUpload: await complete(prefix, key, id, completeXml(`"${md5Hex(part)}"`)),
        AbortMultipartUpload: await send(gw.url, {
          method: 'DELETE',
          path: `/${prefix}/${key}?${q}`,
        }),
      };
      for (const [operation, res] of Object.entries(replies)) {
        expect({ what, operation, status: res.status, code: xmlField(res.text, 'Code') }).toEqual({
          what,
          operation,
          status: 404,
          code: 'NoSuchUpload',
        });
      }
    }
    // Both uploads are still there, untouched, for their owners to abort.
    expect((await listMultipartUploads(openBucket)).map((u) => u.key)).toEqual([key]);
    expect((await listMultipartUploads(lockedBucket)).map((u) => u.key)).toEqual([key]);
    expect(await storedFile(fsRoot, key)).toBeUndefined();
    const abort = (prefix: string, id: string, auth: AuthMethod) =>
      auth(prefix, { method: 'DELETE', path: `/${key}`, query: { uploadId: id } });
    expect((await abort('open', anonymous, AUTH.none)).status).toBe(204);
    expect((await abort('locked', mallorys, AUTH['a valid JWT'])).status).toBe(204);
    expect(await listMultipartUploads(openBucket)).toEqual([]);
    expect(await listMultipartUploads(lockedBucket)).toEqual([]);
  });
});

describe('bodies rejected at their very end', () => {
  /** An unsigned aws-chunked PUT with a CRC32 trailer, written exactly as given. */
  function chunkedPut(
    key: string,
    framed: Buffer | Readable,
    decodedLength: number,
    contentLength?: number,
  ) {
    return send(gw.url, {
      method: 'PUT',
      path: `/open/${key}`,
      headers: {
        ...(contentLength !== undefined ? { 'content-length': String(contentLength) } : {}),
        'content-encoding': 'aws-chunked',
        'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        'x-amz-trailer': 'x-amz-checksum-crc32',
        'x-amz-decoded-content-length': String(decodedLength),
      },
      body: framed,
    });
  }

  it.each([
    ['in the same packet', false],
    ['after a pause, once the body could have reached the backend', true],
  ])(
    'stores nothing when bytes follow a complete, correctly checksummed body, %s',
    async (_label, pause) => {
      const key = `chunked/trailing-junk-${pause ? 'late' : 'early'}.bin`;
      const data = randomBytes(3000);
      const framed = encodeAwsChunked(data, { chunkSize: 1024, trailerChecksum: 'CRC32' });
      const junk = Buffer.from('trailing junk');
      async function* body() {
        yield framed;
        // The pause only gives a faulty gateway the chance to commit early; a correct one
        // refuses either way, so nothing here depends on how long it lasts.
        if (pause) await new Promise((resolve) => setTimeout(resolve, 300));
        yield junk;
      }
      const res = await chunkedPut(
        key,
        Readable.from(body()),
        data.length,
        framed.length + junk.length,
      );
      expectS3Error(res, 400, 'InvalidRequest');
      expect(await storedObject(openBucket, key)).toBeUndefined();
    },
  );

  it('stores no empty object when the trailer checksum of a 0-byte body is wrong', async () => {
    // With nothing to hold back, only waiting for the verdict keeps the backend from storing.
    const framed = encodeAwsChunked(Buffer.alloc(0), {
      trailerChecksum: 'CRC32',
      trailerValue: 'AAAAAQ==',
    });
    const res = await chunkedPut('chunked/empty-bad-crc.bin', framed, 0);
    expectS3Error(res, 400, 'BadDigest');
    expect(await storedObject(openBucket, 'chunked/empty-bad-crc.bin')).toBeUndefined();
  });

  it('stores no empty object when x-amz-content-sha256 names other bytes than the empty body', async () => {
    const res = await send(gw.url, {
      method: 'PUT',
      path: '/open/chunked/empty-bad-sha.bin',
      headers: { 'x-amz-content-sha256': sha256Hex('not empty') },
      body: Buffer.alloc(0),
    });
    expectS3Error(res, 400, 'XAmzContentSHA256Mismatch');
    expect(await storedObject(openBucket, 'chunked/empty-bad-sha.bin')).toBeUndefined();
  });

  it('stores the same body without the junk, so the refusal above is about the junk', async () => {
    const data = randomBytes(3000);
    const framed = encodeAwsChunked(data, { chunkSize: 1024, trailerChecksum: 'CRC32' });
    expectOk(await chunkedPut('chunked/clean.bin', framed, data.length));
    expect((await storedObject(openBucket, 'chunked/clean.bin'))?.md5).toBe(md5Hex(data));
  });
});
