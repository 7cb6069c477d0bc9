/**
 * The per-principal request rate limit (`server.limits.rate_limit`): a token bucket for each
 * principal of this process, off unless configured.
 */
import { performance } from 'node:perf_hooks';
import { Inject, Injectable } from '@nestjs/common';
import { KeyedRateLimiter, type TakeResult } from '@mizuchi/rate-limit';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';

/** Principals tracked at once; past it the least recently seen one starts over with a full bucket. */
export const MAX_TRACKED_PRINCIPALS = 10_000;

const ALLOWED: TakeResult = Object.freeze({ allowed: true, retryAfterSeconds: 0 });

/** Takes a token for a principal, when a rate limit is configured. */
@Injectable()
export class RequestRateLimiter {
  private readonly limiter: KeyedRateLimiter | undefined;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    const settings = config.server.limits.rate_limit;
    this.limiter =
      settings === undefined
        ? undefined
        : new KeyedRateLimiter({
            ratePerSecond: settings.requests_per_second,
            burst: settings.burst,
            maxKeys: MAX_TRACKED_PRINCIPALS,
          });
  }

  /** Whether a rate limit is configured at all. */
  get enabled(): boolean {
    return this.limiter !== undefined;
  }

  /** Principals that hold a bucket now. */
  get tracked(): number {
    return this.limiter?.size ?? 0;
  }

  /** Takes one token from `principal`'s bucket; always allowed when no limit is configured. */
  take(principal: string): TakeResult {
    // A monotonic clock: a wall-clock step must not refill or drain every bucket.
    return this.limiter?.take(principal, performance.now()) ?? ALLOWED;
  }
}
