/**
 * Runs the route's provider with the decision cache and the fail mode around it: `closed`
 * answers 503 with Retry-After when the engine errs or times out, `open` allows and logs.
 */
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { S3Error } from '@mizuchi/s3-protocol';
import { APP_CONFIG } from '../config/config.module';
import { ConfigError } from '../config/config-error';
import type { AppConfig, RouteConfig } from '../config/config.schema';
import { metrics } from '../observability/metrics';
import type { AuthzDecision, AuthzInput, AuthzProvider } from './authz-provider';
import { DecisionCache, decisionKey } from './decision-cache';
import type { Span } from '@opentelemetry/api';
import { ATTR, withSpan } from '../observability/tracing/spans';

/** The providers by name: the built-ins and every registered custom one. */
export const AUTHZ_PROVIDERS = Symbol('AUTHZ_PROVIDERS');

/** Counters an operator (and later the metrics) can read. */
export interface AuthzCounters {
  allowed: number;
  denied: number;
  failures: number;
  cacheHits: number;
}

/** Decides requests for routes with `authz.enabled`. */
@Injectable()
export class AuthzService implements OnModuleInit {
  private readonly logger = new Logger('Authz');
  private readonly caches = new Map<string, DecisionCache>();
  readonly counters: AuthzCounters = { allowed: 0, denied: 0, failures: 0, cacheHits: 0 };

  constructor(
    @Inject(AUTHZ_PROVIDERS) private readonly providers: Map<string, AuthzProvider>,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Refuses to start when a route names a provider nobody registered. */
  onModuleInit(): void {
    const problems: string[] = [];
    this.config.buckets.forEach((route, index) => {
      const name = route.authz.provider;
      if (route.authz.enabled && name !== undefined && !this.providers.has(name)) {
        problems.push(
          `buckets[${index}].authz.provider: no provider named '${name}' is registered (known: ${this.providerNames().join(', ')})`,
        );
      }
    });
    if (problems.length > 0) throw new ConfigError(undefined, problems);
  }

  /** The names of the providers that routes may select. */
  providerNames(): string[] {
    return [...this.providers.keys()];
  }

  /** The decision for `input` on `route`, after cache and fail mode. */
  async decide(route: RouteConfig, input: AuthzInput): Promise<AuthzDecision> {
    const name = route.authz.provider ?? '';
    const spanName = name === 'opa' || name === 'openfga' ? `authz.${name}` : 'authz.custom';
    return withSpan(spanName, { [ATTR.authzProvider]: name }, async (span) => {
      const decision = await this.decideUntraced(route, name, input, span);
      span.setAttribute(ATTR.authzDecision, decision.allow ? 'allow' : 'deny');
      return decision;
    });
  }

  private async decideUntraced(
    route: RouteConfig,
    name: string,
    input: AuthzInput,
    span: Span,
  ): Promise<AuthzDecision> {
    const provider = this.providers.get(name);
    if (provider === undefined) throw new Error(`no authz provider named ${name}`);
    const cache = this.cacheFor(route);
    const key = decisionKey(route.name, input);
    const cached = cache.get(key);
    span.setAttribute(ATTR.authzCached, cached !== undefined);
    if (cached !== undefined) {
      this.counters.cacheHits += 1;
      metrics().authzDecisions.inc({
        provider: name,
        decision: cached.allow ? 'cached_allow' : 'cached_deny',
      });
      return this.count(cached);
    }
    let decision: AuthzDecision;
    try {
      decision = await provider.decide(input, route);
    } catch (err) {
      this.counters.failures += 1;
      metrics().authzDecisions.inc({ provider: name, decision: 'error' });
      const why = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      if (route.authz.fail_mode === 'open') {
        this.logger.warn(`route ${route.name}: ${name} failed (${why}); fail_mode open allows`);
        return this.count({ allow: true, reason: 'authorization engine unavailable (fail open)' });
      }
      this.logger.warn(`route ${route.name}: ${name} failed (${why}); fail_mode closed refuses`);
      throw new S3Error(
        'ServiceUnavailable',
        'The authorization service is unavailable. Please try again.',
        {
          cause: err,
          headers: { 'Retry-After': '1' },
        },
      );
    }
    cache.set(key, decision);
    metrics().authzDecisions.inc({ provider: name, decision: decision.allow ? 'allow' : 'deny' });
    return this.count(decision);
  }

  private count(decision: AuthzDecision): AuthzDecision {
    if (decision.allow) this.counters.allowed += 1;
    else this.counters.denied += 1;
    return decision;
  }

  private cacheFor(route: RouteConfig): DecisionCache {
    let cache = this.caches.get(route.name);
    if (cache === undefined) {
      const settings = route.authz.opa ?? route.authz.openfga;
      const options = route.authz.options as {
        cache_ttl_seconds?: unknown;
        cache_max_entries?: unknown;
      };
      cache = new DecisionCache({
        ttlSeconds:
          settings?.cache_ttl_seconds ??
          (typeof options.cache_ttl_seconds === 'number' ? options.cache_ttl_seconds : 30),
        maxEntries:
          settings?.cache_max_entries ??
          (typeof options.cache_max_entries === 'number' ? options.cache_max_entries : 10000),
      });
      this.caches.set(route.name, cache);
    }
    return cache;
  }
}
