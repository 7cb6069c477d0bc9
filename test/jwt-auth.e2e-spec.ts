/**
 * JWT authentication end to end: tokens go through the in-process gateway to routes backed by the
 * Ceph RADOS Gateway. Accepted uploads are read back from Ceph and compared by MD5; refused ones
 * must be 401 with `WWW-Authenticate: Bearer error="invalid_token"`, S3 XML, and nothing stored.
 * Keys: an HS256 secret, an RS256 PEM file in a temporary folder, and ES256 keys served as a
 * JWK Set by an in-process HTTP server.
 */
import {
  createHmac,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
  type JsonWebKey,
} from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { sign, type SignOptions } from 'jsonwebtoken';
import { closeDirectS3, createTestBucket, destroyTestBucket, storedObject } from './helpers/ceph';
import { cephRoute, createTestApp, type TestApp } from './helpers/create-test-app';
import {
  eventually,
  expectOk,
  expectS3Error,
  md5Hex,
  send,
  type WireResponse,
} from './helpers/wire';

const SECRET = 'e2e-shared-secret-that-is-long-enough-for-hs256';
const ISSUER = 'https://issuer.mizuchi.test';
const AUDIENCE = 'mizuchi-uploadr';
const SIGV4_KEY = {
  access_key: 'JWTANDSIGV4KEY',
  secret_key: 'jwt-and-sigv4-secret-key',
  subject: 'sigv4-uploader',
};

const RSA = generateKeyPairSync('rsa', { modulusLength: 2048 });
const RSA_PUBLIC_PEM = RSA.publicKey.export({ type: 'spki', format: 'pem' }).toString();

/** An EC P-256 key pair with the kid it is published under. */
interface EcKey {
  kid: string;
  privateKey: KeyObject;
  jwk: JsonWebKey;
}

function ecKey(kid: string): EcKey {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    kid,
    privateKey,
    jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' },
  };
}

/** A JWK Set server: each path serves the keys currently set for it, and counts its fetches. */
interface JwksServer {
  url: string;
  publish(path: string, keys: EcKey[]): void;
  fetches(path: string): number;
  close(): Promise<void>;
}

async function startJwksServer(): Promise<JwksServer> {
  const sets = new Map<string, EcKey[]>();
  const counts = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '';
    counts.set(path, (counts.get(path) ?? 0) + 1);
    const keys = sets.get(path);
    if (keys === undefined) {
      res.writeHead(404).end();
      return;
    }
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ keys: keys.map((k) => k.jwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    publish: (path, keys) => sets.set(path, keys),
    fetches: (path) => counts.get(path) ?? 0,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** The claims every token for the `jwt-hs` route needs. */
const GOOD = { sub: 'alice', iss: ISSUER, aud: AUDIENCE, scope: 'read upload' };

function hs256(payload: Record<string, unknown>, options: SignOptions = {}): string {
  return sign(payload, SECRET, { algorithm: 'HS256', ...options });
}

function es256(key: EcKey, payload: Record<string, unknown> = { sub: 'erin' }): string {
  return sign(payload, key.privateKey, { algorithm: 'ES256', keyid: key.kid });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('JWT authentication', () => {
  let gw: TestApp;
  let bucket: string;
  let jwks: JwksServer;
  let dir: string;
  const es1 = ecKey('es-1');
  const rotateOld = ecKey('rotate-old');
  const rotateNew = ecKey('rotate-new');

  const jwtRoute = (prefix: string, jwt: Record<string, unknown>, extra = {}) =>
    cephRoute(prefix, bucket, { auth: { enabled: true, jwt, ...extra } });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mizuchi-jwt-e2e-'));
    const publicKeyFile = join(dir, 'rsa.pub.pem');
    writeFileSync(publicKeyFile, RSA_PUBLIC_PEM);
    jwks = await startJwksServer();
    jwks.publish('/es.json', [es1]);
    jwks.publish('/rotate.json', [rotateOld]);
    bucket = await createTestBucket('jwt-auth');
    gw = await createTestApp({
      buckets: [
        jwtRoute('jwt-hs', {
          algorithms: ['HS256'],
          secret: SECRET,
          issuer: ISSUER,
          audience: AUDIENCE,
          claims: [{ claim: 'scope', operator: 'contains', value: 'upload' }],
        }),
        jwtRoute('jwt-rs', { algorithms: ['RS256'], public_key_file: publicKeyFile }),
        jwtRoute('jwt-es', { algorithms: ['ES256'], jwks_url: `${jwks.url}/es.json` }),
        jwtRoute('jwt-rotate', { algorithms: ['ES256'], jwks_url: `${jwks.url}/rotate.json` }),
        jwtRoute('jwt-short', { algorithms: ['HS256'], secret: SECRET, leeway_seconds: 0 }),
        jwtRoute('jwt-sources', {
          algorithms: ['HS256'],
          secret: SECRET,
          token_sources: [
            { type: 'header', name: 'X-Upload-Token' },
            { type: 'query', name: 'access_token' },
          ],
        }),
        jwtRoute(
          'jwt-sigv4',
          { algorithms: ['HS256'], secret: SECRET },
          { sigv4: { credentials: [SIGV4_KEY] } },
        ),
      ],
    });
  });

  afterAll(async () => {
    await gw?.close();
    await jwks?.close();
    if (bucket !== undefined) await destroyTestBucket(bucket);
    closeDirectS3();
    rmSync(dir, { recursive: true, force: true });
  });

  /** PUTs fresh random bytes to `/<prefix>/<key>`; returns the response and the bytes. */
  async function put(
    prefix: string,
    key: string,
    headers: Record<string, string> = {},
    query = '',
  ): Promise<{ res: WireResponse; body: Buffer }> {
    const body = randomBytes(64 * 1024 + 17);
    const res = await send(gw.url, {
      method: 'PUT',
      path: `/${prefix}/${key}${query}`,
      headers: { 'content-type': 'application/octet-stream', ...headers },
      body,
    });
    return { res, body };
  }

  async function expectStored(key: string, body: Buffer): Promise<void> {
    const stored = await storedObject(bucket, key);
    expect(stored && { md5: stored.md5, size: stored.size }).toEqual({
      md5: md5Hex(body),
      size: body.length,
    });
  }

  /** 401 AccessDenied as S3 XML with the Bearer challenge; returns the message. */
  function expectInvalidToken(res: WireResponse): string {
    const error = expectS3Error(res, 401, 'AccessDenied');
    expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
    return error.message ?? '';
  }

  async function expectNothingStored(key: string): Promise<void> {
    expect(await storedObject(bucket, key)).toBeUndefined();
  }

  it('uploads with a valid HS256 token and stores the exact bytes', async () => {
    const { res, body } = await put('jwt-hs', 'hs256.bin', bearer(hs256(GOOD, { expiresIn: 60 })));
    expectOk(res);
    await expectStored('hs256.bin', body);
  });

  it('uploads through the AWS SDK with the bearer middleware of docs/AUTH.md', async () => {
    const token = hs256(GOOD, { expiresIn: 60 });
    const s3 = new S3Client({
      endpoint: gw.url,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: 'jwt', secretAccessKey: 'jwt' },
    });
    s3.middlewareStack.add(
      (next) => (args) => {
        (args.request as { headers: Record<string, string> }).headers.authorization =
          `Bearer ${token}`;
        return next(args);
      },
      { step: 'finalizeRequest', name: 'bearerToken', priority: 'low' },
    );
    try {
      const body = randomBytes(70_000);
      await s3.send(new PutObjectCommand({ Bucket: 'jwt-hs', Key: 'sdk-bearer.bin', Body: body }));
      await expectStored('sdk-bearer.bin', body);
    } finally {
      s3.destroy();
    }
  });

  it('uploads with an RS256 token verified against the PEM public key file', async () => {
    const token = sign({ sub: 'rita' }, RSA.privateKey, { algorithm: 'RS256', expiresIn: 60 });
    const { res, body } = await put('jwt-rs', 'rs256.bin', bearer(token));
    expectOk(res);
    await expectStored('rs256.bin', body);
  });

  it('uploads with ES256 tokens verified by a JWKS key, fetching the key set once', async () => {
    for (const name of ['es256-a.bin', 'es256-b.bin', 'es256-c.bin']) {
      const { res, body } = await put('jwt-es', name, bearer(es256(es1)));
      expectOk(res);
      await expectStored(name, body);
    }
    expect(jwks.fetches('/es.json')).toBe(1);
  });

  describe('refuses with 401 invalid_token and stores nothing', () => {
    const cases: Array<[string, () => Record<string, string>]> = [
      ['an expired token', () => bearer(hs256({ ...GOOD, exp: nowSeconds() - 3600 }))],
      ['a token that is not valid yet', () => bearer(hs256({ ...GOOD, nbf: nowSeconds() + 3600 }))],
      [
        'a token with a bad signature',
        () => bearer(sign(GOOD, `${SECRET}-but-not-quite`, { algorithm: 'HS256' })),
      ],
      ['a token from the wrong issuer', () => bearer(hs256({ ...GOOD, iss: 'https://evil.test' }))],
      ['a token for another audience', () => bearer(hs256({ ...GOOD, aud: 'another-service' }))],
      ['a token failing a claim rule', () => bearer(hs256({ ...GOOD, scope: 'read' }))],
      [
        "an unsigned token with alg 'none'",
        () => bearer(`${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(GOOD)}.`),
      ],
      ['a malformed token', () => bearer('this.is-not-a.jwt')],
      ['a request without any token', () => ({})],
      ['Authorization: Basic', () => ({ authorization: 'Basic YWxpY2U6c2VjcmV0' })],
    ];

    it.each(cases)('%s', async (what, headers) => {
      const key = `refused/${what.replace(/[^a-z0-9]+/gi, '-')}.bin`;
      const { res } = await put('jwt-hs', key, headers());
      expectInvalidToken(res);
      await expectNothingStored(key);
    });

    it('an HS256 token signed with the RSA public key as the HMAC secret', async () => {
      const input = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url({ sub: 'mallory' })}`;
      const forged = `${input}.${createHmac('sha256', RSA_PUBLIC_PEM).update(input).digest('base64url')}`;
      const { res } = await put('jwt-rs', 'refused/hs-rs-confusion.bin', bearer(forged));
      expect(expectInvalidToken(res)).toMatch(/algorithm not allowed/);
      await expectNothingStored('refused/hs-rs-confusion.bin');
    });
  });

  it('picks up a key rotation at the JWKS server without a restart', async () => {
    const before = await put('jwt-rotate', 'rotate-before.bin', bearer(es256(rotateOld)));
    expectOk(before.res);
    await expectStored('rotate-before.bin', before.body);

    jwks.publish('/rotate.json', [rotateNew]);
    const after = await put('jwt-rotate', 'rotate-after.bin', bearer(es256(rotateNew)));
    expectOk(after.res);
    await expectStored('rotate-after.bin', after.body);

    // The retired key left the set with the refresh, so its tokens no longer verify.
    const retired = await put('jwt-rotate', 'rotate-retired.bin', bearer(es256(rotateOld)));
    expectInvalidToken(retired.res);
    await expectNothingStored('rotate-retired.bin');
  });

  it('accepts a token with a 2 s lifetime, then refuses it once it has expired', async () => {
    const exp = nowSeconds() + 2;
    const token = hs256({ sub: 'brief', exp });
    const first = await put('jwt-short', 'short-lived.bin', bearer(token));
    expectOk(first.res);
    await expectStored('short-lived.bin', first.body);

    // Wait for the clock the gateway reads (this process's) to pass exp; nothing is timed.
    await eventually(() => nowSeconds() >= exp);
    const late = await put('jwt-short', 'short-lived-late.bin', bearer(token));
    expect(expectInvalidToken(late.res)).toMatch(/expired/);
    await expectNothingStored('short-lived-late.bin');
  });

  it('reads the token from a custom header, with or without a Bearer prefix', async () => {
    const token = hs256({ sub: 'hector' });
    const prefixed = await put('jwt-sources', 'header-prefixed.bin', {
      'X-Upload-Token': `Bearer ${token}`,
    });
    expectOk(prefixed.res);
    await expectStored('header-prefixed.bin', prefixed.body);
    const bare = await put('jwt-sources', 'header-bare.bin', { 'X-Upload-Token': token });
    expectOk(bare.res);
    await expectStored('header-bare.bin', bare.body);
  });

  it('reads the token from the configured query parameter', async () => {
    const token = hs256({ sub: 'quinn' });
    const { res, body } = await put('jwt-sources', 'query.bin', {}, `?access_token=${token}`);
    expectOk(res);
    await expectStored('query.bin', body);
  });

  it('ignores a bearer header on a route whose sources do not list it', async () => {
    const { res } = await put('jwt-sources', 'not-a-source.bin', bearer(hs256({ sub: 'x' })));
    expectInvalidToken(res);
    await expectNothingStored('not-a-source.bin');
  });

  it('still accepts a bearer token on a route that also issues SigV4 keys', async () => {
    const jwt = await put('jwt-sigv4', 'both-bearer.bin', bearer(hs256({ sub: 'bea' })));
    expectOk(jwt.res);
    await expectStored('both-bearer.bin', jwt.body);

    const sdk = new S3Client({
      endpoint: gw.url,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: SIGV4_KEY.access_key, secretAccessKey: SIGV4_KEY.secret_key },
    });
    try {
      const body = randomBytes(4096);
      await sdk.send(
        new PutObjectCommand({ Bucket: 'jwt-sigv4', Key: 'both-sigv4.bin', Body: body }),
      );
      await expectStored('both-sigv4.bin', body);
    } finally {
      sdk.destroy();
    }

    const anonymous = await put('jwt-sigv4', 'both-anonymous.bin');
    expectInvalidToken(anonymous.res);
    await expectNothingStored('both-anonymous.bin');
  });
});
