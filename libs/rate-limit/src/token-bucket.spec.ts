import { KeyedRateLimiter, TokenBucket } from './token-bucket';

/** Takes `n` tokens at `now` and returns how many were allowed. */
function takeMany(bucket: TokenBucket, n: number, now: number): number {
  let allowed = 0;
  for (let i = 0; i < n; i++) if (bucket.take(now).allowed) allowed += 1;
  return allowed;
}

describe('TokenBucket', () => {
  it('starts full: lets `burst` requests through back to back, then refuses', () => {
    const bucket = new TokenBucket({ ratePerSecond: 1, burst: 3 }, 0);
    expect(takeMany(bucket, 3, 0)).toBe(3);
    expect(bucket.take(0)).toEqual({ allowed: false, retryAfterSeconds: 1 });
  });

  it('refills at the configured rate, never above the burst', () => {
    const bucket = new TokenBucket({ ratePerSecond: 2, burst: 4 }, 0);
    expect(takeMany(bucket, 4, 0)).toBe(4);
    expect(takeMany(bucket, 10, 1000)).toBe(2);
    // A long quiet period refills only up to the burst.
    expect(takeMany(bucket, 10, 1_000_000)).toBe(4);
  });

  it('accumulates fractions of a token across calls', () => {
    const bucket = new TokenBucket({ ratePerSecond: 1, burst: 1 }, 0);
    expect(bucket.take(0).allowed).toBe(true);
    expect(bucket.take(400).allowed).toBe(false);
    expect(bucket.take(800).allowed).toBe(false);
    expect(bucket.take(1000).allowed).toBe(true);
  });

  it('says how many whole seconds until the next token, rounded up', () => {
    const bucket = new TokenBucket({ ratePerSecond: 0.1, burst: 1 }, 0);
    expect(bucket.take(0).allowed).toBe(true);
    expect(bucket.take(0)).toEqual({ allowed: false, retryAfterSeconds: 10 });
    expect(bucket.take(2500)).toEqual({ allowed: false, retryAfterSeconds: 8 });
    expect(bucket.take(9990)).toEqual({ allowed: false, retryAfterSeconds: 1 });
  });

  it('never answers a Retry-After below one second', () => {
    const bucket = new TokenBucket({ ratePerSecond: 1000, burst: 1 }, 0);
    expect(bucket.take(0).allowed).toBe(true);
    expect(bucket.take(0)).toEqual({ allowed: false, retryAfterSeconds: 1 });
  });

  it('neither drains nor mints tokens when the clock steps back', () => {
    const bucket = new TokenBucket({ ratePerSecond: 1, burst: 2 }, 10_000);
    expect(takeMany(bucket, 2, 10_000)).toBe(2);
    expect(bucket.take(5_000).allowed).toBe(false);
    // Back at the original time no token has been earned twice.
    expect(bucket.take(10_500).allowed).toBe(false);
    expect(bucket.take(11_000).allowed).toBe(true);
  });

  it('reports full only once it has refilled completely', () => {
    const bucket = new TokenBucket({ ratePerSecond: 1, burst: 2 }, 0);
    expect(bucket.isFull(0)).toBe(true);
    bucket.take(0);
    expect(bucket.isFull(500)).toBe(false);
    expect(bucket.isFull(1000)).toBe(true);
  });

  it.each([
    [{ ratePerSecond: 0, burst: 1 }],
    [{ ratePerSecond: -1, burst: 1 }],
    [{ ratePerSecond: Number.NaN, burst: 1 }],
    [{ ratePerSecond: Number.POSITIVE_INFINITY, burst: 1 }],
    [{ ratePerSecond: 1, burst: 0 }],
    [{ ratePerSecond: 1, burst: 1.5 }],
  ])('refuses the options %p', (options) => {
    expect(() => new TokenBucket(options, 0)).toThrow(RangeError);
  });
});

describe('KeyedRateLimiter', () => {
  it('gives every key a bucket of its own', () => {
    const limiter = new KeyedRateLimiter({ ratePerSecond: 1, burst: 2, maxKeys: 100 });
    expect(limiter.take('alice', 0).allowed).toBe(true);
    expect(limiter.take('alice', 0).allowed).toBe(true);
    expect(limiter.take('alice', 0)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(limiter.take('bob', 0).allowed).toBe(true);
    expect(limiter.take('alice', 0).allowed).toBe(false);
  });

  it('drops buckets once they have refilled, which changes nothing for their keys', () => {
    const limiter = new KeyedRateLimiter({ ratePerSecond: 1, burst: 2, maxKeys: 100 });
    for (const key of ['a', 'b', 'c']) limiter.take(key, 0);
    expect(limiter.size).toBe(3);
    // Two seconds later a, b and c are full again; taking for d evicts them on the way.
    limiter.take('d', 2000);
    expect(limiter.size).toBe(1);
    expect(limiter.take('a', 2000).allowed).toBe(true);
    expect(limiter.take('a', 2000).allowed).toBe(true);
    expect(limiter.take('a', 2000).allowed).toBe(false);
  });

  it('keeps a refused key tracked, so its next request is still refused', () => {
    const limiter = new KeyedRateLimiter({ ratePerSecond: 0.01, burst: 1, maxKeys: 100 });
    expect(limiter.take('flood', 0).allowed).toBe(true);
    for (let i = 0; i < 5; i++) limiter.take(`other-${i}`, 1);
    expect(limiter.take('flood', 2).allowed).toBe(false);
  });

  it('never tracks more than maxKeys keys, dropping the least recently used first', () => {
    const limiter = new KeyedRateLimiter({ ratePerSecond: 0.001, burst: 1, maxKeys: 3 });
    limiter.take('a', 0);
    limiter.take('b', 0);
    limiter.take('c', 0);
    // Using a again makes b the least recently used.
    limiter.take('a', 0);
    limiter.take('d', 0);
    expect(limiter.size).toBe(3);
    // b was dropped, so it starts over with a full bucket; a, c and d are still empty.
    expect(limiter.take('b', 0).allowed).toBe(true);
    expect(limiter.take('d', 0).allowed).toBe(false);
    expect(limiter.size).toBe(3);
  });

  it('stays bounded under a flood of distinct keys', () => {
    const limiter = new KeyedRateLimiter({ ratePerSecond: 1, burst: 5, maxKeys: 50 });
    for (let i = 0; i < 10_000; i++) limiter.take(`ip-${i}`, i);
    expect(limiter.size).toBeLessThanOrEqual(50);
  });

  it('sweeps every full bucket on demand', () => {
    const limiter = new KeyedRateLimiter({ ratePerSecond: 1, burst: 1, maxKeys: 100 });
    limiter.take('a', 0);
    limiter.take('b', 500);
    limiter.take('c', 900);
    expect(limiter.sweep(1600)).toBe(2);
    expect(limiter.size).toBe(1);
    expect(limiter.sweep(2000)).toBe(1);
    expect(limiter.size).toBe(0);
  });

  it('refuses a maxKeys below one', () => {
    expect(() => new KeyedRateLimiter({ ratePerSecond: 1, burst: 1, maxKeys: 0 })).toThrow(
      RangeError,
    );
  });
});
