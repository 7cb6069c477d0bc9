/**
 * Browser uploads (issue 9): CORS per route. A preflight is answered without credentials, only
 * for listed origins, upload methods and upload headers; an allowed cross-origin upload still
 * needs its token and lands in Ceph with ETag and x-amz-request-id readable by the page; a route
 * without `cors` sends no CORS header, and nothing else is relaxed (reads stay refused).
 */
import { sign } from 'jsonwebtoken';
import { closeDirectS3, createTestBucket, destroyTestBucket, storedObject } from './helpers/ceph';
import { cephRoute, createTestApp, type TestApp } from './helpers/create-test-app';
import { expectOk, expectS3Error, md5Hex, send, type WireResponse } from './helpers/wire';

const SECRET = 'cors-e2e-secret-that-is-long-enough-for-hs256';
const PAGE = 'https://app.example.test';
const token = () => sign({ sub: 'browser-user' }, SECRET, { algorithm: 'HS256', expiresIn: 60 });

const CORS_HEADERS = [
  'access-control-allow-origin',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-expose-headers',
  'access-control-max-age',
];

function corsHeadersOf(res: WireResponse): Record<string, string | string[] | undefined> {
  return Object.fromEntries(
    CORS_HEADERS.filter((name) => res.headers[name] !== undefined).map((name) => [
      name,
      res.headers[name],
    ]),
  );
}

describe('CORS for browser uploads', () => {
  let bucket: string;
  let gw: TestApp;

  beforeAll(async () => {
    bucket = await createTestBucket('cors');
    const jwt = { algorithms: ['HS256'], secret: SECRET };
    gw = await createTestApp({
      buckets: [
        cephRoute('web', bucket, {
          auth: { enabled: true, jwt },
          cors: { allowed_origins: [PAGE, 'https://other.example.test/'], max_age_seconds: 120 },
        }),
        cephRoute('open', bucket, { cors: { allowed_origins: ['*'] } }),
        cephRoute('plain', bucket, { auth: { enabled: true, jwt } }),
      ],
    });
  });

  afterAll(async () => {
    await gw?.close();
    if (bucket !== undefined) await destroyTestBucket(bucket);
    closeDirectS3();
  });

  const preflight = (path: string, origin: string, method: string, headers?: string) =>
    send(gw.url, {
      method: 'OPTIONS',
      path,
      headers: {
        origin,
        'access-control-request-method': method,
        ...(headers !== undefined ? { 'access-control-request-headers': headers } : {}),
      },
    });

  it('answers a preflight from a listed origin without credentials', async () => {
    const res = await preflight(
      '/web/photos/cat.jpg',
      PAGE,
      'PUT',
      'authorization, content-type, x-amz-date, amz-sdk-invocation-id',
    );
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
    expect(corsHeadersOf(res)).toEqual({
      'access-control-allow-origin': PAGE,
      'access-control-allow-methods': 'PUT, POST',
      'access-control-allow-headers':
        'authorization, content-type, x-amz-date, amz-sdk-invocation-id',
      'access-control-expose-headers': 'ETag, x-amz-request-id',
      'access-control-max-age': '120',
    });
    expect(res.headers.vary).toMatch(/Origin/);
  });

  it('matches a listed origin written with a trailing slash, and POST for multipart', async () => {
    const res = await preflight('/web/big.bin?uploads', 'https://other.example.test', 'POST');
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe('https://other.example.test');
  });

  it.each([
    ['an origin that is not listed', '/web/a.txt', 'https://evil.example.test', 'PUT', undefined],
    ['a read method', '/web/a.txt', PAGE, 'GET', undefined],
    ['a delete', '/web/a.txt', PAGE, 'DELETE', undefined],
    ['a header no upload sends', '/web/a.txt', PAGE, 'PUT', 'x-http-method-override'],
    ['a route without cors', '/plain/a.txt', PAGE, 'PUT', undefined],
  ])(
    'refuses a preflight with %s: 403 AccessForbidden, no CORS headers',
    async (_label, path, origin, method, headers) => {
      const res = await preflight(path, origin, method, headers);
      expectS3Error(res, 403, 'AccessForbidden');
      expect(corsHeadersOf(res)).toEqual({});
    },
  );

  it('lets a listed origin upload with its token and read ETag and x-amz-request-id', async () => {
    const body = Buffer.from('uploaded from a browser page');
    const res = await send(gw.url, {
      method: 'PUT',
      path: '/web/browser/hello.txt',
      headers: { origin: PAGE, authorization: `Bearer ${token()}`, 'content-type': 'text/plain' },
      body,
    });
    expectOk(res);
    expect(res.headers.etag).toBe(`"${md5Hex(body)}"`);
    expect(corsHeadersOf(res)).toEqual({
      'access-control-allow-origin': PAGE,
      'access-control-expose-headers': 'ETag, x-amz-request-id',
    });
    const stored = await storedObject(bucket, 'browser/hello.txt');
    expect({ md5: stored?.md5, type: stored?.contentType }).toEqual({
      md5: md5Hex(body),
      type: 'text/plain',
    });
  });

  it('still needs the token from a listed origin, and the error is readable by the page', async () => {
    const res = await send(gw.url, {
      method: 'PUT',
      path: '/web/browser/no-token.txt',
      headers: { origin: PAGE },
      body: 'no token',
    });
    expectS3Error(res, 401, 'AccessDenied');
    expect(res.headers['access-control-allow-origin']).toBe(PAGE);
    expect(await storedObject(bucket, 'browser/no-token.txt')).toBeUndefined();
  });

  it('keeps reads refused for a listed origin', async () => {
    const res = await send(gw.url, {
      method: 'GET',
      path: '/web/browser/hello.txt',
      headers: { origin: PAGE, authorization: `Bearer ${token()}` },
    });
    expectS3Error(res, 405, 'MethodNotAllowed');
  });

  it("answers '*' on a route open to every origin", async () => {
    const res = await send(gw.url, {
      method: 'PUT',
      path: '/open/star.txt',
      headers: { origin: 'https://anywhere.example.test' },
      body: 'star',
    });
    expectOk(res);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect((await storedObject(bucket, 'star.txt'))?.md5).toBe(md5Hex('star'));
  });

  it('sends no CORS header to an unlisted origin or on a route without cors', async () => {
    const unlisted = await send(gw.url, {
      method: 'PUT',
      path: '/web/browser/unlisted.txt',
      headers: { origin: 'https://evil.example.test', authorization: `Bearer ${token()}` },
      body: 'unlisted',
    });
    // The upload itself is not CORS's business (a non-browser client sends Origin freely).
    expectOk(unlisted);
    expect(corsHeadersOf(unlisted)).toEqual({});
    const plain = await send(gw.url, {
      method: 'PUT',
      path: '/plain/browser/plain.txt',
      headers: { origin: PAGE, authorization: `Bearer ${token()}` },
      body: 'plain',
    });
    expectOk(plain);
    expect(corsHeadersOf(plain)).toEqual({});
  });
});
