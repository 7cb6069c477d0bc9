/**
 * Token buckets for request rate limiting. A bucket holds up to `burst` tokens and gains
 * `ratePerSecond` tokens per second; each request takes one, and a request that finds less than
 * one token is refused with the time until one is due. Pure: the caller passes the clock (a
 * monotonic time in milliseconds), so the arithmetic is testable without waiting.
 * @see https://en.wikipedia.org/wiki/Token_bucket
 */

/** How fast a bucket refills and how many requests it lets through at once. */
export interface TokenBucketOptions {
  /** Tokens added per second; may be fractional (0.5 = one request every two seconds). */
  ratePerSecond: number;
  /** Capacity: the most requests allowed back to back after a quiet period. */
  burst: number;
}

/** The outcome of taking a token. */
export interface TakeResult {
  allowed: boolean;
  /** Whole seconds until a token is due (at least 1) when refused; 0 when allowed. */
  retryAfterSeconds: number;
}

function checkOptions({ ratePerSecond, burst }: TokenBucketOptions): void {
  if (!(Number.isFinite(ratePerSecond) && ratePerSecond > 0)) {
    throw new RangeError(`ratePerSecond must be a positive number, got ${ratePerSecond}`);
  }
  if (!(Number.isInteger(burst) && burst >= 1)) {
    throw new RangeError(`burst must be an integer of at least 1, got ${burst}`);
  }
}

/** One token bucket; it starts full. */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly options: TokenBucketOptions,
    nowMs: number,
  ) {
    checkOptions(options);
    this.tokens = options.burst;
    this.updatedAt = nowMs;
  }

  /** Takes one token if there is one. */
  take(nowMs: number): TakeResult {
    this.refill(nowMs);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { allowed: true, retryAfterSeconds: 0 };
    }
    const seconds = (1 - this.tokens) / this.options.ratePerSecond;
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(seconds)) };
  }

  /** True once the bucket has refilled completely: it then behaves exactly like a new one. */
  isFull(nowMs: number): boolean {
    this.refill(nowMs);
    return this.tokens >= this.options.burst;
  }

  private refill(nowMs: number): void {
    // A clock that steps back must not drain the bucket (or mint tokens when it steps forward again).
    const elapsed = Math.max(0, nowMs - this.updatedAt);
    this.tokens = Math.min(
      this.options.burst,
      this.tokens + (elapsed / 1000) * this.options.ratePerSecond,
    );
    this.updatedAt = Math.max(this.updatedAt, nowMs);
  }
}

/** Options of a KeyedRateLimiter. */
export interface KeyedRateLimiterOptions extends TokenBucketOptions {
  /** The most keys tracked at once; past it the least recently used bucket is dropped. */
  maxKeys: number;
}

/**
 * A token bucket per key (a principal, a client address), in a map bounded two ways: a bucket
 * that has refilled completely is dropped (a new one would be identical), and past `maxKeys` the
 * least recently used bucket goes even if it is not full, so a flood of distinct keys costs
 * memory in proportion to `maxKeys`, never to the flood.
 */
export class KeyedRateLimiter {
  // A Map iterates in insertion order; re-inserting on every use keeps it least recently used first.
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly options: KeyedRateLimiterOptions;

  constructor(options: KeyedRateLimiterOptions) {
    checkOptions(options);
    if (!(Number.isInteger(options.maxKeys) && options.maxKeys >= 1)) {
      throw new RangeError(`maxKeys must be an integer of at least 1, got ${options.maxKeys}`);
    }
    this.options = { ...options };
  }

  /** How many keys hold a bucket now. */
  get size(): number {
    return this.buckets.size;
  }

  /** Takes one token from `key`'s bucket, creating a full one for a key not seen (or dropped). */
  take(key: string, nowMs: number): TakeResult {
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.options, nowMs);
    } else {
      this.buckets.delete(key);
    }
    this.buckets.set(key, bucket);
    const result = bucket.take(nowMs);
    this.evict(nowMs);
    return result;
  }

  /** Drops every bucket that has refilled completely; returns how many went. */
  sweep(nowMs: number): number {
    let dropped = 0;
    for (const [key, bucket] of this.buckets) {
      if (bucket.isFull(nowMs)) {
        this.buckets.delete(key);
        dropped += 1;
      }
    }
    return dropped;
  }

  /**
   * Drops full buckets from the least recently used end until it meets one that is not, which
   * keeps the cost per take constant; then enforces the key cap.
   */
  private evict(nowMs: number): void {
    for (const [key, bucket] of this.buckets) {
      if (!bucket.isFull(nowMs)) break;
      this.buckets.delete(key);
    }
    while (this.buckets.size > this.options.maxKeys) {
      const oldest = this.buckets.keys().next();
      if (oldest.done === true) break;
      this.buckets.delete(oldest.value);
    }
  }
}
