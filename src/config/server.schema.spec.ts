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
      trust_proxy: false,
    });
  });

  describe('trust_proxy', () => {
    const parse = (value: unknown) => serverSchema.safeParse({ trust_proxy: value });
    const problems = (value: unknown) =>
      parse(value).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);

    it('takes false, a number of hops, or addresses, CIDRs and range names', () => {
      expect(parse(false).data?.trust_proxy).toBe(false);
      expect(parse(2).data?.trust_proxy).toBe(2);
      const list = ['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1', 'loopback', 'uniquelocal'];
      expect(parse(list).data?.trust_proxy).toEqual(list);
    });

    it('reads environment strings: "false", a number, or a comma-separated list', () => {
      expect(parse('false').data?.trust_proxy).toBe(false);
      expect(parse(' 1 ').data?.trust_proxy).toBe(1);
      expect(parse('10.0.0.0/8, loopback').data?.trust_proxy).toEqual(['10.0.0.0/8', 'loopback']);
    });

    it('refuses true, which would let any client name its own address', () => {
      expect(problems(true)?.[0]).toMatch(/^trust_proxy: .*true is refused/);
      expect(problems('true')?.[0]).toMatch(/^trust_proxy: .*true is refused/);
    });

    it('names each entry that is not an address, a CIDR or a range name', () => {
      expect(problems(['10.0.0.0/33', 'proxy.internal', '::1/129', '10.0.0.1/8/8'])).toEqual([
        "trust_proxy.0: '10.0.0.0/33': the prefix length must be 0-32",
        "trust_proxy.1: 'proxy.internal' is not an IP address, a CIDR such as 10.0.0.0/8, or one of loopback, linklocal, uniquelocal",
        "trust_proxy.2: '::1/129': the prefix length must be 0-128",
        "trust_proxy.3: '10.0.0.1/8/8' is not an IP address, a CIDR such as 10.0.0.0/8, or one of loopback, linklocal, uniquelocal",
      ]);
      expect(parse(0).success).toBe(false);
      expect(parse(33).success).toBe(false);
      expect(parse([]).success).toBe(false);
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
