/**
 * Caches authorization decisions (LRU with TTL) keyed by a hash of the whole input, so repeated
 * parts of one upload cost one policy call. Denials are kept for a shorter time than grants, so a
 * fresh grant takes effect quickly.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { AuthzDecision, AuthzInput } from './authz-provider';

/** Cache settings of one route. */
export interface DecisionCacheOptions {
  ttlSeconds: number;
  maxEntries: number;
}

/** Stable JSON: object keys sorted, so equal inputs hash alike. */
function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stable(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The cache key of an input for a route: a SHA-256, so claims never sit in memory twice. */
export function decisionKey(route: string, input: AuthzInput): string {
  return createHash('sha256').update(route).update('\n').update(stable(input)).digest('hex');
}

/** An LRU of decisions with separate lifetimes for grants and denials. */
export class DecisionCache {
  private readonly cache: LRUCache<string, AuthzDecision> | undefined;
  private readonly ttlMs: number;

  constructor(options: DecisionCacheOptions) {
    this.ttlMs = options.ttlSeconds * 1000;
    this.cache =
      this.ttlMs > 0 ? new LRUCache({ max: options.maxEntries, ttl: this.ttlMs }) : undefined;
  }

  get(key: string): AuthzDecision | undefined {
    return this.cache?.get(key);
  }

  set(key: string, decision: AuthzDecision): void {
    // A denial lives a sixth as long (at least a second): a new grant should not wait long.
    const ttl = decision.allow ? this.ttlMs : Math.max(1000, Math.floor(this.ttlMs / 6));
    this.cache?.set(key, decision, { ttl });
  }
}
