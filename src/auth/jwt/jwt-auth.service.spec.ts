import { createHmac, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { sign, type SignOptions } from 'jsonwebtoken';
import { S3Error } from '@mizuchi/s3-protocol';
import type { AppConfig, RouteConfig } from '../../config/config.schema';
import { parseConfig } from '../../config/load-config';
import { JwtAuthService, type JwtRequest } from './jwt-auth.service';

const SECRET = 'unit-test-shared-secret-of-at-least-32-chars';
const RSA = generateKeyPairSync('rsa', { modulusLength: 2048 });
const RSA_PUBLIC_PEM = RSA.publicKey.export({ type: 'spki', format: 'pem' }).toString();

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** A compact JWS signed with HMAC-SHA256 under any key bytes, header as given. */
function hmacToken(header: Record<string, unknown>, payload: Record<string, unknown>, key: string) {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

const now = () => Math.floor(Date.now() / 1000);

describe('JwtAuthService', () => {
  let dir: string;
  let config: AppConfig;
  let service: JwtAuthService;
  let warnings: string[];

  const route = (name: string): RouteConfig => {
    const found = config.buckets.find((r) => r.name === name);
    if (found === undefined) throw new Error(`no route ${name}`);
    return found;
  };
  const bearer = (token: string): JwtRequest => ({
    headers: { authorization: `Bearer ${token}` },
    url: '/hs/key',
  });
  const hs = (payload: Record<string, unknown>, options: SignOptions = {}) =>
    sign(payload, SECRET, { algorithm: 'HS256', ...options });

  /** The reason in the 401 message, after checking the 401 shape. */
  async function refusal(promise: Promise<unknown>): Promise<string> {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(S3Error);
    const s3 = err as S3Error;
    expect({ code: s3.code, status: s3.status, headers: s3.headers }).toEqual({
      code: 'AccessDenied',
      status: 401,
      headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
    });
    return s3.message;
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mizuchi-jwt-unit-'));
    writeFileSync(join(dir, 'rsa.pem'), RSA_PUBLIC_PEM);
    const fs = (name: string, jwt: Record<string, unknown>) => ({
      name,
      path_prefix: `/${name}`,
      filesystem: { path: dir },
      auth: { enabled: true, jwt },
    });
    config = parseConfig(
      {
        buckets: [
          fs('hs', {
            algorithms: ['HS256'],
            secret: SECRET,
            issuer: 'https://issuer.test',
            audience: 'mizuchi',
            claims: [{ claim: 'scope', operator: 'contains', value: 'upload' }],
          }),
          fs('rs', { algorithms: ['RS256'], public_key_file: join(dir, 'rsa.pem') }),
          fs('sources', {
            algorithms: ['HS256'],
            secret: SECRET,
            token_sources: [
              { type: 'header', name: 'X-Upload-Token' },
              { type: 'query', name: 'token' },
            ],
          }),
        ],
      },
      {},
    );
    service = new JwtAuthService(config);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  beforeEach(() => {
    warnings = [];
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => {
      warnings.push(String(message));
    });
  });
  afterEach(() => jest.restoreAllMocks());

  const good = { sub: 'alice', iss: 'https://issuer.test', aud: 'mizuchi', scope: 'read upload' };

  it('returns the principal of a valid token, with its claims', async () => {
    const principal = await service.authenticate(bearer(hs(good, { expiresIn: 60 })), route('hs'));
    expect(principal).toMatchObject({ subject: 'alice', method: 'jwt', claims: good });
    expect(warnings).toEqual([]);
  });

  it('verifies RS256 with the public key file', async () => {
    const token = sign({ sub: 'bob' }, RSA.privateKey, { algorithm: 'RS256' });
    await expect(service.authenticate(bearer(token), route('rs'))).resolves.toMatchObject({
      subject: 'bob',
    });
  });

  it.each([
    ['an expired token', () => hs({ ...good, exp: now() - 3600 }), 'token expired'],
    ['a token not valid yet', () => hs({ ...good, nbf: now() + 3600 }), 'token not yet valid'],
    [
      'a bad signature',
      () => sign(good, `${SECRET}-other`, { algorithm: 'HS256' }),
      'bad signature',
    ],
    ['a wrong issuer', () => hs({ ...good, iss: 'https://evil.test' }), 'wrong issuer'],
    ['a wrong audience', () => hs({ ...good, aud: 'someone-else' }), 'wrong audience'],
    ['a failed claim rule', () => hs({ ...good, scope: 'read' }), "claim rule on 'scope' not met"],
    ['no subject', () => hs({ ...good, sub: undefined }), 'token has no subject'],
    ['alg none', () => `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(good)}.`, 'unsigned token'],
    [
      'another algorithm',
      () => sign(good, SECRET, { algorithm: 'HS512' }),
      'algorithm not allowed',
    ],
    ['a malformed token', () => 'not-a-jwt', 'malformed token'],
  ])('refuses %s with 401 and a short reason', async (_what, token, reason) => {
    const message = await refusal(service.authenticate(bearer(token()), route('hs')));
    expect(message).toBe(`The bearer token was refused: ${reason}.`);
    expect(warnings).toEqual([`route hs: JWT refused (${reason})`]);
  });

  it('refuses HS256 signed with the RSA public key as the secret (key confusion)', async () => {
    const token = hmacToken({ alg: 'HS256', typ: 'JWT' }, { sub: 'mallory' }, RSA_PUBLIC_PEM);
    const message = await refusal(service.authenticate(bearer(token), route('rs')));
    expect(message).toBe('The bearer token was refused: algorithm not allowed.');
  });

  it('refuses a request without a token, and Authorization: Basic', async () => {
    const missing = await refusal(service.authenticate({ headers: {}, url: '/hs/k' }, route('hs')));
    expect(missing).toBe('This route requires a bearer token.');
    const basic = await refusal(
      service.authenticate({ headers: { authorization: 'Basic YTpi' }, url: '/hs/k' }, route('hs')),
    );
    expect(basic).toBe('This route requires a bearer token.');
    expect(warnings).toEqual([
      'route hs: JWT refused (missing token)',
      'route hs: JWT refused (missing token)',
    ]);
  });

  it('never logs the token or claim values', async () => {
    const token = hs({ ...good, scope: 'secret-scope-value' });
    await refusal(service.authenticate(bearer(token), route('hs')));
    expect(warnings.join('\n')).not.toContain(token);
    expect(warnings.join('\n')).not.toContain('secret-scope-value');
  });

  it('reads the configured sources only, in order', async () => {
    const alice = sign({ sub: 'alice' }, SECRET, { algorithm: 'HS256' });
    const bob = sign({ sub: 'bob' }, SECRET, { algorithm: 'HS256' });
    const both = {
      headers: { 'x-upload-token': `Bearer ${alice}` },
      url: `/sources/k?token=${bob}`,
    };
    await expect(service.authenticate(both, route('sources'))).resolves.toMatchObject({
      subject: 'alice',
    });
    const query = { headers: {}, url: `/sources/k?token=${bob}` };
    await expect(service.authenticate(query, route('sources'))).resolves.toMatchObject({
      subject: 'bob',
    });
    // The bearer header is not one of this route's sources.
    await refusal(service.authenticate(bearer(alice), route('sources')));
  });

  it('keeps routes apart: a token for one secret does not open another route', async () => {
    const token = sign({ sub: 'alice' }, RSA.privateKey, { algorithm: 'RS256' });
    await refusal(service.authenticate(bearer(token), route('hs')));
  });
});
