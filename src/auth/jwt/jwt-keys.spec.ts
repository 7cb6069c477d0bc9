import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jwtSchema } from '../auth.schema';
import { jwtKeyProblems, keyMismatch, loadPublicKeyFile, tokenHeader } from './jwt-keys';
import { JwtRefusal } from './jwt-refusal';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const pem = (key: import('node:crypto').KeyObject) =>
  key.type === 'private'
    ? key.export({ type: 'pkcs8', format: 'pem' }).toString()
    : key.export({ type: 'spki', format: 'pem' }).toString();

describe('keyMismatch', () => {
  it('accepts keys that fit the algorithm', () => {
    expect(keyMismatch('RS256', rsa.publicKey)).toBeUndefined();
    expect(keyMismatch('PS512', rsa.publicKey)).toBeUndefined();
    expect(keyMismatch('ES256', p256.publicKey)).toBeUndefined();
    expect(keyMismatch('ES384', p384.publicKey)).toBeUndefined();
  });

  it('names what does not fit', () => {
    expect(keyMismatch('RS256', p256.publicKey)).toBe('RS256 needs an RSA key, not ec key');
    expect(keyMismatch('ES256', p384.publicKey)).toBe(
      'ES256 needs an EC key on prime256v1, not ec key on secp384r1',
    );
    expect(keyMismatch('HS256', rsa.publicKey)).toBe(
      'HS256 needs a shared secret, not a public key',
    );
  });
});

describe('loadPublicKeyFile / jwtKeyProblems', () => {
  let dir: string;
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mizuchi-jwt-keys-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads a PEM public key that fits every algorithm', () => {
    const loaded = loadPublicKeyFile(file('rsa.pem', pem(rsa.publicKey)), ['RS256', 'PS256']);
    expect(loaded.problems).toEqual([]);
    expect(loaded.key?.asymmetricKeyType).toBe('rsa');
  });

  it('reports a missing file, a private key, junk and a key that does not fit', () => {
    const missing = join(dir, 'missing.pem');
    expect(loadPublicKeyFile(missing, ['RS256']).problems).toEqual([
      { field: 'public_key_file', message: `cannot read ${missing} (ENOENT)` },
    ]);
    const priv = file('private.pem', pem(rsa.privateKey));
    expect(loadPublicKeyFile(priv, ['RS256']).problems).toEqual([
      {
        field: 'public_key_file',
        message: `${priv} holds a private key; give the gateway only the public key`,
      },
    ]);
    const junk = file('junk.pem', 'hello');
    expect(loadPublicKeyFile(junk, ['RS256']).problems[0].message).toMatch(/not a PEM public key/);
    const ec = file('ec.pem', pem(p256.publicKey));
    expect(loadPublicKeyFile(ec, ['ES256', 'RS256'])).toEqual({
      problems: [
        { field: 'algorithms[1]', message: `RS256 needs an RSA key, not ec key (from ${ec})` },
      ],
    });
  });

  it('only looks at key files', () => {
    const secret = jwtSchema.parse({ algorithms: ['HS256'], secret: 'x'.repeat(32) });
    expect(jwtKeyProblems(secret)).toEqual([]);
    const jwks = jwtSchema.parse({ algorithms: ['ES256'], jwks_url: 'http://127.0.0.1:1/jwks' });
    expect(jwtKeyProblems(jwks)).toEqual([]);
  });
});

describe('tokenHeader', () => {
  const token = (header: unknown) =>
    `${Buffer.from(JSON.stringify(header)).toString('base64url')}.e30.sig`;

  it('reads alg and kid', () => {
    expect(tokenHeader(token({ alg: 'ES256', kid: 'k' }))).toEqual({ alg: 'ES256', kid: 'k' });
    expect(tokenHeader(token({ alg: 'ES256' }))).toEqual({ alg: 'ES256' });
  });

  it('refuses anything that is not a compact JWS header', () => {
    for (const raw of [
      'abc',
      'a.b',
      '!!!.e30.x',
      token([1]),
      token({ kid: 'k' }),
      token({ alg: 'ES256', kid: 7 }),
    ]) {
      expect(() => tokenHeader(raw)).toThrow(new JwtRefusal('malformed token'));
    }
  });
});
