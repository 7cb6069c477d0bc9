import { formatAddress, parseAddress, serverSchema } from './server.schema';

describe('parseAddress', () => {
  it.each([
    ['0.0.0.0:8080', '0.0.0.0', 8080],
    ['[::]:8080', '::', 8080],
    ['[::1]:1', '::1', 1],
    ['localhost:65535', 'localhost', 65535],
  ])('splits %p', (address, host, port) => {
    expect(parseAddress(address)).toEqual({ host, port });
  });

  it.each(['8080', ':8080', '0.0.0.0:0', '0.0.0.0:65536', '::1:8080', '[nope]:80', 'a_b:80'])(
    'refuses %p',
    (address) => {
      expect(() => parseAddress(address)).toThrow();
    },
  );

  it('brackets IPv6 hosts when formatting', () => {
    expect(formatAddress('::', 9000)).toBe('[::]:9000');
    expect(formatAddress('127.0.0.1', '80')).toBe('127.0.0.1:80');
  });
});

describe('serverSchema', () => {
  it('fills every default from an empty section', () => {
    expect(serverSchema.parse({})).toEqual({
      address: '0.0.0.0:8080',
      zero_copy: { enabled: true, pipe_buffer_size: 1048576, min_body_bytes: 262144 },
      limits: {
        max_header_bytes: 16384,
        max_key_bytes: 1024,
        max_url_bytes: 8192,
        idle_timeout_seconds: 60,
        part_buffer_bytes: 512 * 1024 * 1024,
      },
      shutdown_grace_seconds: 30,
      workers: 1,
      janitor: { enabled: false, interval_seconds: 3600, max_age_seconds: 86400 },
    });
  });

  it('accepts workers as auto or a positive integer, numbers from env strings', () => {
    expect(serverSchema.parse({ workers: 'auto' }).workers).toBe('auto');
    expect(serverSchema.parse({ workers: '4' }).workers).toBe(4);
    expect(serverSchema.safeParse({ workers: 0 }).success).toBe(false);
  });

  it('leaves the rate limit off unless configured', () => {
    expect(serverSchema.parse({}).limits.rate_limit).toBeUndefined();
  });

  it('reads a rate limit, numbers from env strings, burst defaulting to one second of requests', () => {
    expect(
      serverSchema.parse({ limits: { rate_limit: { requests_per_second: '2.5', burst: '10' } } })
        .limits.rate_limit,
    ).toEqual({ requests_per_second: 2.5, burst: 10 });
    expect(
      serverSchema.parse({ limits: { rate_limit: { requests_per_second: 2.5 } } }).limits
        .rate_limit,
    ).toEqual({ requests_per_second: 2.5, burst: 3 });
    expect(
      serverSchema.parse({ limits: { rate_limit: { requests_per_second: 0.2 } } }).limits
        .rate_limit,
    ).toEqual({ requests_per_second: 0.2, burst: 1 });
  });

  it.each([
    ['a zero rate', { requests_per_second: 0 }],
    ['a negative rate', { requests_per_second: -1 }],
    ['no rate at all', { burst: 5 }],
    ['a zero burst', { requests_per_second: 1, burst: 0 }],
    ['a fractional burst', { requests_per_second: 1, burst: 1.5 }],
    ['an unknown key', { requests_per_second: 1, per_route: true }],
  ])('refuses a rate limit with %s', (_label, rateLimit) => {
    expect(serverSchema.safeParse({ limits: { rate_limit: rateLimit } }).success).toBe(false);
  });

  it('refuses a short upload_id_secret and a key limit above 1024', () => {
    expect(serverSchema.safeParse({ upload_id_secret: 'short' }).success).toBe(false);
    expect(serverSchema.safeParse({ limits: { max_key_bytes: 1025 } }).success).toBe(false);
  });
});
