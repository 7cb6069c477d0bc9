/**
 * The key a route verifies tokens with: its HMAC secret, the public key in `public_key_file`
 * (read once, at start-up), or the JWKS key named by the token's `kid`. Also the start-up check
 * that a key file is readable and fits the route's algorithms.
 */
import { createPrivateKey, createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { JwtAlgorithm, JwtConfig } from '../auth.schema';
import { httpJwksFetcher, JwksKeyStore } from './jwks-key-store';
import { JwtRefusal } from './jwt-refusal';

/** Where a route's verification key comes from. */
export interface KeySource {
  /** The key to verify `rawToken` with; a JwtRefusal when there is none. */
  keyFor(rawToken: string): Promise<KeyObject>;
  /** Starts loading keys ahead of the first request. */
  warm(): void;
  /** Releases anything in flight. */
  close(): void;
}

/** How long a JWKS fetch may take. */
const JWKS_TIMEOUT_MS = 5000;

const EC_CURVES: Partial<Record<JwtAlgorithm, string>> = {
  ES256: 'prime256v1',
  ES384: 'secp384r1',
  ES512: 'secp521r1',
};

/** Why `key` cannot verify `algorithm`, or undefined when it can. */
export function keyMismatch(algorithm: JwtAlgorithm, key: KeyObject): string | undefined {
  const type = key.asymmetricKeyType;
  if (algorithm.startsWith('RS')) {
    return type === 'rsa' ? undefined : `${algorithm} needs an RSA key, not ${type} key`;
  }
  if (algorithm.startsWith('PS')) {
    return type === 'rsa' || type === 'rsa-pss'
      ? undefined
      : `${algorithm} needs an RSA key, not ${type} key`;
  }
  if (algorithm.startsWith('ES')) {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    return type === 'ec' && curve === EC_CURVES[algorithm]
      ? undefined
      : `${algorithm} needs an EC key on ${EC_CURVES[algorithm]}, not ${type} key${curve ? ` on ${curve}` : ''}`;
  }
  return `${algorithm} needs a shared secret, not a public key`;
}

/**
 * Reads and checks a PEM public key (or certificate) for `algorithms`. Returns the key, or the
 * problems to report, each with the field it concerns (relative to `auth.jwt`).
 */
export function loadPublicKeyFile(
  file: string,
  algorithms: readonly JwtAlgorithm[],
): { key?: KeyObject; problems: Array<{ field: string; message: string }> } {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    return { problems: [{ field: 'public_key_file', message: `cannot read ${file} (${code})` }] };
  }
  try {
    createPrivateKey(pem);
    return {
      problems: [
        {
          field: 'public_key_file',
          message: `${file} holds a private key; give the gateway only the public key`,
        },
      ],
    };
  } catch {
    // Not a private key: as it should be.
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    return {
      problems: [
        { field: 'public_key_file', message: `${file} is not a PEM public key or certificate` },
      ],
    };
  }
  const problems = algorithms.flatMap((algorithm, index) => {
    const mismatch = keyMismatch(algorithm, key);
    return mismatch === undefined
      ? []
      : [{ field: `algorithms[${index}]`, message: `${mismatch} (from ${file})` }];
  });
  return problems.length > 0 ? { problems } : { key, problems };
}

/** Start-up problems of a route's `auth.jwt` that the schema cannot see (key files). */
export function jwtKeyProblems(jwt: JwtConfig): Array<{ field: string; message: string }> {
  if (jwt.public_key_file === undefined) return [];
  return loadPublicKeyFile(jwt.public_key_file, jwt.algorithms).problems;
}

/** The decoded protected header of a compact JWS, or a JwtRefusal. */
export function tokenHeader(rawToken: string): { alg: string; kid?: string } {
  const parts = rawToken.split('.');
  let header: unknown;
  try {
    if (parts.length !== 3) throw new Error('not three parts');
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
  } catch {
    throw new JwtRefusal('malformed token');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new JwtRefusal('malformed token');
  }
  const { alg, kid } = header as Record<string, unknown>;
  if (typeof alg !== 'string') throw new JwtRefusal('malformed token');
  if (kid !== undefined && typeof kid !== 'string') throw new JwtRefusal('malformed token');
  return kid === undefined ? { alg } : { alg, kid };
}

function fixed(key: KeyObject): KeySource {
  return { keyFor: () => Promise.resolve(key), warm: () => undefined, close: () => undefined };
}

/** The key source of a validated `auth.jwt` section. Throws if a key file went bad since start-up. */
export function createKeySource(
  jwt: JwtConfig,
  hooks: { onJwksError?: (err: unknown) => void } = {},
): KeySource {
  if (jwt.secret !== undefined) return fixed(createSecretKey(Buffer.from(jwt.secret, 'utf8')));
  if (jwt.public_key_file !== undefined) {
    const { key, problems } = loadPublicKeyFile(jwt.public_key_file, jwt.algorithms);
    if (key === undefined) throw new Error(problems.map((p) => p.message).join('; '));
    return fixed(key);
  }
  if (jwt.jwks_url === undefined) throw new Error('auth.jwt has no key source');
  const store = new JwksKeyStore(httpJwksFetcher(jwt.jwks_url, JWKS_TIMEOUT_MS), {
    ttlMs: jwt.jwks_cache_ttl_seconds * 1000,
    onError: hooks.onJwksError,
  });
  const allowed: readonly string[] = jwt.algorithms;
  return {
    async keyFor(rawToken) {
      const { alg, kid } = tokenHeader(rawToken);
      // Checked before the lookup, so junk tokens never cost a JWKS refresh.
      if (!allowed.includes(alg)) throw new JwtRefusal('algorithm not allowed');
      const found = await store.keyFor(kid);
      if (found.alg !== undefined && found.alg !== alg) {
        throw new JwtRefusal('key is pinned to another algorithm');
      }
      return found.key;
    },
    warm: () => store.warm(),
    close: () => store.close(),
  };
}
