/**
 * The lean backend client: S3 path encoding and the attribute headers, checked against what the
 * AWS SDK itself puts on the wire for the same PutObject, and CreateMultipartUpload's request,
 * answer and retries against an in-process HTTP server (the e2e suites run it against Ceph).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ObjectAttributes } from '@mizuchi/s3-protocol';
import { EMPTY_SHA256, verifySigV4 } from '@mizuchi/sigv4';
import { s3BackendSchema } from '../routing/routing.schema';
import { attributeHeaders, encodeKeyPath, LeanDataClient } from './lean-data-client';

describe('encodeKeyPath', () => {
  it.each([
    ['plain/key.txt', 'plain/key.txt'],
    ['my folder/my file.jpg', 'my%20folder/my%20file.jpg'],
    ['a+b=c&d.txt', 'a%2Bb%3Dc%26d.txt'],
    ["odd !*'() name", 'odd%20%21%2A%27%28%29%20name'],
    ['résumé/日本.txt', 'r%C3%A9sum%C3%A9/%E6%97%A5%E6%9C%AC.txt'],
    ['unreserved-._~', 'unreserved-._~'],
    ['trailing/', 'trailing/'],
    ['double//slash', 'double//slash'],
  ])('encodes %j as %j', (key, encoded) => {
    expect(encodeKeyPath(key)).toBe(encoded);
  });
});

describe('attributeHeaders', () => {
  it('maps every attribute to the header S3 reads it from', () => {
    const attrs: ObjectAttributes = {
      contentType: 'image/png',
      contentEncoding: 'gzip',
      contentDisposition: 'attachment; filename="a.png"',
      contentLanguage: 'en',
      cacheControl: 'max-age=60',
      expires: 'Wed, 21 Oct 2026 07:28:00 GMT',
      contentMd5: 'XrY7u+Ae7tCTyyK7j1rNww==',
      metadata: { owner: 'alice', 'x-y': 'z' },
      checksum: { algorithm: 'CRC32', value: 'AAAAAA==' },
      optional: { 'x-amz-storage-class': 'STANDARD_IA', 'x-amz-tagging': 'a=b' },
    };
    expect(attributeHeaders(attrs)).toEqual({
      'content-type': 'image/png',
      'content-encoding': 'gzip',
      'content-disposition': 'attachment; filename="a.png"',
      'content-language': 'en',
      'cache-control': 'max-age=60',
      expires: 'Wed, 21 Oct 2026 07:28:00 GMT',
      'content-md5': 'XrY7u+Ae7tCTyyK7j1rNww==',
      'x-amz-meta-owner': 'alice',
      'x-amz-meta-x-y': 'z',
      'x-amz-checksum-crc32': 'AAAAAA==',
      'x-amz-storage-class': 'STANDARD_IA',
      'x-amz-tagging': 'a=b',
    });
  });

  it('leaves out what is absent, and an Expires that is not a date', () => {
    expect(attributeHeaders({ metadata: {}, optional: {}, expires: 'not a date' })).toEqual({});
  });
});

describe('LeanDataClient.createMultipart', () => {
  /** One answer of the fake backend: a status and XML, or `reset` to drop the connection. */
  type Answer = { status: number; xml: string } | 'reset';
  const created = (uploadId: string): Answer => ({
    status: 200,
    xml: `<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`,
  });
  const failed = (status: number, code: string): Answer => ({
    status,
    xml: `<Error><Code>${code}</Code><Message>${code} here</Message></Error>`,
  });

  let server: http.Server;
  let answers: Answer[];
  let seen: Array<{ method?: string; url?: string; headers: http.IncomingHttpHeaders }>;
  const agent = new http.Agent({ keepAlive: true });

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push({ method: req.method, url: req.url, headers: req.headers });
      const answer = answers.shift() ?? failed(500, 'InternalError');
      req.resume();
      if (answer === 'reset') {
        req.socket.destroy();
        return;
      }
      res.writeHead(answer.status, { 'content-type': 'application/xml' }).end(answer.xml);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    agent.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => {
    answers = [];
    seen = [];
  });

  function client(maxAttempts = 3): LeanDataClient {
    const { port } = server.address() as AddressInfo;
    const cfg = s3BackendSchema.parse({
      bucket: 'b',
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      access_key: 'AKIDLEAN',
      secret_key: 'lean-secret',
      force_path_style: true,
      max_attempts: maxAttempts,
    });
    if (!LeanDataClient.supports(cfg)) throw new Error('the lean client should take this config');
    return new LeanDataClient(cfg, agent);
  }

  it('POSTs ?uploads with the object headers, signed, and returns the UploadId decoded', async () => {
    answers = [created('2~id&amp;more')];
    const headers = { 'content-type': 'text/csv', 'x-amz-meta-note': 'scanner 7' };

    await expect(client().createMultipart({ key: 'dir/a b.csv', headers })).resolves.toBe(
      '2~id&more',
    );

    expect(seen).toHaveLength(1);
    const [request] = seen;
    expect({ method: request.method, url: request.url }).toEqual({
      method: 'POST',
      url: '/b/dir/a%20b.csv?uploads=',
    });
    expect(request.headers['content-length']).toBe('0');
    expect(request.headers['x-amz-content-sha256']).toBe(EMPTY_SHA256);
    const verified = verifySigV4(
      {
        method: 'POST',
        rawPath: '/b/dir/a%20b.csv',
        rawQuery: 'uploads=',
        headers: request.headers,
      },
      { secretFor: () => 'lean-secret', region: 'us-east-1', maxSkewSeconds: 900 },
    );
    expect(verified.claim.signedHeaders).toEqual(
      expect.arrayContaining(['content-type', 'host', 'x-amz-meta-note']),
    );
  });

  it('sends a header value byte for byte as it came, UTF-8 included', async () => {
    // A client's UTF-8 metadata, as Node hands it over: one Latin-1 character per byte. The
    // signature over these bytes is checked by a real backend in test/multipart.e2e-spec.ts.
    const note = Buffer.from('café ✓ 日本', 'utf8').toString('latin1');
    answers = [created('id')];
    await client().createMultipart({ key: 'k', headers: { 'x-amz-meta-note': note } });
    const arrived = String(seen[0].headers['x-amz-meta-note']);
    expect(Buffer.from(arrived, 'latin1').toString('utf8')).toBe('café ✓ 日本');
  });

  it('tries again after a 503, a 500 and a reset connection, up to max_attempts', async () => {
    answers = [failed(503, 'SlowDown'), 'reset', created('third-time')];
    await expect(client(3).createMultipart({ key: 'k', headers: {} })).resolves.toBe('third-time');
    expect(seen).toHaveLength(3);

    seen = [];
    answers = [failed(500, 'InternalError'), failed(500, 'InternalError'), created('too late')];
    await expect(client(2).createMultipart({ key: 'k', headers: {} })).rejects.toMatchObject({
      name: 'InternalError',
      $metadata: { httpStatusCode: 500 },
    });
    expect(seen).toHaveLength(2);
  });

  it('does not try again after a 4xx answer', async () => {
    answers = [failed(403, 'AccessDenied'), created('never')];
    await expect(client(5).createMultipart({ key: 'k', headers: {} })).rejects.toMatchObject({
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
    });
    expect(seen).toHaveLength(1);
  });

  it('refuses an answer without an UploadId', async () => {
    answers = [{ status: 200, xml: '<InitiateMultipartUploadResult/>' }];
    await expect(client(1).createMultipart({ key: 'k', headers: {} })).rejects.toThrow(
      /without an UploadId/,
    );
  });
});

describe('LeanDataClient with an IPv6 endpoint', () => {
  it('reaches a backend whose endpoint is an IPv6 literal, with the bracketed Host it signed', async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    const server = http.createServer((req, res) => {
      seen.push(req.headers);
      req.resume();
      res
        .writeHead(200, { 'content-type': 'application/xml' })
        .end(
          '<InitiateMultipartUploadResult><UploadId>v6</UploadId></InitiateMultipartUploadResult>',
        );
    });
    await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
    const agent = new http.Agent({ keepAlive: true });
    try {
      const { port } = server.address() as AddressInfo;
      const cfg = s3BackendSchema.parse({
        bucket: 'b',
        endpoint: `http://[::1]:${port}`,
        region: 'us-east-1',
        access_key: 'AKIDLEAN',
        secret_key: 'lean-secret',
        force_path_style: true,
      });
      if (!LeanDataClient.supports(cfg)) throw new Error('the lean client should take this config');

      await expect(
        new LeanDataClient(cfg, agent).createMultipart({ key: 'k', headers: {} }),
      ).resolves.toBe('v6');

      expect(seen.map((headers) => headers.host)).toEqual([`[::1]:${port}`]);
    } finally {
      agent.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
