/**
 * Signing keys from a JWKS URL (`auth.jwt.jwks_url`), held in memory and looked up by `kid`.
 *
 * - The whole key set is cached; after `jwks_cache_ttl_seconds` it is refreshed in the
 *   background while requests keep using the cached keys, so no request waits for a refetch.
 * - A `kid` that is not in the set triggers one refresh, at most once per
 *   `unknownKidIntervalMs`: that picks up a rotation without a restart, while tokens with
 *   made-up `kid`s cannot make the gateway hammer the identity provider.
 * - Concurrent refreshes are shared; a failed refresh keeps the last good keys.
 * @see https://www.rfc-editor.org/rfc/rfc7517#section-5 (JWK Set)
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { inPoolScope } from '../../common/keep-alive';
import { JwtRefusal } from './jwt-refusal';

/** One verification key of a JWK Set. */
export interface JwksKey {
  kid?: string;
  /** The `alg` the set pins the key to, if it says. */
  alg?: string;
  key: KeyObject;
}

/** Fetches and parses the key set; rejects when it cannot. */
export type JwksFetcher = (signal: AbortSignal) => Promise<JwksKey[]>;

/** Timing of a {@link JwksKeyStore}. */
export interface JwksKeyStoreOptions {
  /** How long a fetched set is used before a background refresh. */
  ttlMs: number;
  /** Least time between two refreshes caused by unknown `kid`s. */
  unknownKidIntervalMs?: number;
  /** Least time between attempts after a failed fetch. */
  retryIntervalMs?: number;
  /** Told about every failed fetch (to log it); the store itself never throws it at callers. */
  onError?: (err: unknown) => void;
  now?: () => number;
}

/** Largest JWK Set document accepted. */
const MAX_JWKS_BYTES = 1024 * 1024;
/** Below this, a TTL would turn every request into a background fetch. */
const MIN_TTL_MS = 1000;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The verification keys of a JWK Set document: public RSA and EC keys meant for signatures.
 * Keys for encryption, private keys and keys Node cannot import are skipped.
 */
export function parseJwks(document: unknown): JwksKey[] {
  if (!isObject(document) || !Array.isArray(document.keys)) {
    throw new Error('not a JWK Set: no "keys" list');
  }
  const keys: JwksKey[] = [];
  for (const jwk of document.keys as unknown[]) {
    if (!isObject(jwk)) continue;
    if (jwk.use !== undefined && jwk.use !== 'sig') continue;
    if (jwk.kty !== 'RSA' && jwk.kty !== 'EC') continue;
    // A published private key is a broken identity provider, not something to verify with.
    if (jwk.d !== undefined) continue;
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    } catch {
      continue;
    }
    keys.push({
      ...(typeof jwk.kid === 'string' && jwk.kid !== '' ? { kid: jwk.kid } : {}),
      ...(typeof jwk.alg === 'string' && jwk.alg !== '' ? { alg: jwk.alg } : {}),
      key,
    });
  }
  if (keys.length === 0) throw new Error('the JWK Set holds no usable signing key');
  return keys;
}

async function readCapped(res: Response, limit: number): Promise<string> {
  if (res.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new Error(`the JWK Set is larger than ${limit} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A fetcher for `url`: GET with a timeout, a size cap and no redirects. */
export function httpJwksFetcher(url: string, timeoutMs: number): JwksFetcher {
  return async (signal) => {
    const res = await fetch(url, {
      headers: { accept: 'application/jwk-set+json, application/json' },
      redirect: 'error',
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
    });
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`HTTP ${res.status} from the JWKS URL`);
    }
    return parseJwks(JSON.parse(await readCapped(res, MAX_JWKS_BYTES)) as unknown);
  };
}

/** A cached JWK Set with rate-limited refreshes; see the file header. */
export class JwksKeyStore {
  private keys: JwksKey[] | undefined;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private lastFailed = false;
  private unknownKidRefreshAt = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<void> | undefined;
  private readonly aborter = new AbortController();
  private readonly ttlMs: number;
  private readonly unknownKidIntervalMs: number;
  private readonly retryIntervalMs: number;
  private readonly now: () => number;

  constructor(
    private readonly fetchKeys: JwksFetcher,
    private readonly options: JwksKeyStoreOptions,
  ) {
    this.ttlMs = Math.max(options.ttlMs, MIN_TTL_MS);
    this.unknownKidIntervalMs = options.unknownKidIntervalMs ?? 10_000;
    this.retryIntervalMs = options.retryIntervalMs ?? 1000;
    this.now = options.now ?? Date.now;
  }

  /** The key for a token's `kid`; throws a JwtRefusal when there is none. */
  async keyFor(kid: string | undefined): Promise<JwksKey> {
    let refreshedNow = false;
    if (this.keys === undefined) {
      // Nothing cached yet (the start-up fetch failed or is still running): this request waits.
      if (this.inFlight === undefined && !this.retryDue()) {
        throw new JwtRefusal('signing keys unavailable');
      }
      await this.refresh().catch(() => undefined);
      refreshedNow = true;
      if (this.keys === undefined) throw new JwtRefusal('signing keys unavailable');
    } else if (this.backgroundRefreshDue()) {
      void this.refresh().catch(() => undefined);
    }

    const found = this.find(kid);
    if (found !== undefined) return found;
    if (kid === undefined) throw new JwtRefusal('token has no key id');

    if (this.inFlight !== undefined) {
      await this.inFlight.catch(() => undefined);
    } else if (
      !refreshedNow &&
      this.now() - this.unknownKidRefreshAt >= this.unknownKidIntervalMs
    ) {
      this.unknownKidRefreshAt = this.now();
      await this.refresh().catch(() => undefined);
    }
    const rotated = this.find(kid);
    if (rotated !== undefined) return rotated;
    throw new JwtRefusal('unknown key id');
  }

  /**
   * Fetches the set now (shared with any fetch already running). The fetch serves every request
   * that waits on it, so it runs in none's context: its pooled connection keeps no request alive,
   * and a failure is logged without the ids of whichever request happened to start it.
   */
  refresh(): Promise<void> {
    this.inFlight ??= inPoolScope(() => this.fetch()).finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** Starts the first fetch without waiting for it (at start-up). */
  warm(): void {
    void this.refresh().catch(() => undefined);
  }

  /** Abandons any fetch in flight (at shutdown). */
  close(): void {
    this.aborter.abort();
  }

  private async fetch(): Promise<void> {
    this.attemptedAt = this.now();
    try {
      this.keys = await this.fetchKeys(this.aborter.signal);
      this.fetchedAt = this.now();
      this.lastFailed = false;
    } catch (err) {
      this.lastFailed = true;
      this.options.onError?.(err);
      throw err;
    }
  }

  private retryDue(): boolean {
    return this.now() - this.attemptedAt >= this.retryIntervalMs;
  }

  private backgroundRefreshDue(): boolean {
    if (this.inFlight !== undefined) return false;
    return this.lastFailed ? this.retryDue() : this.now() - this.fetchedAt >= this.ttlMs;
  }

  private find(kid: string | undefined): JwksKey | undefined {
    const keys = this.keys ?? [];
    if (kid !== undefined) return keys.find((k) => k.kid === kid);
    // Without a kid the choice is only unambiguous when the set holds one key.
    return keys.length === 1 ? keys[0] : undefined;
  }
}
