/**
 * The `server` section: listen address, zero-copy tuning, request limits, shutdown and the
 * upload-id secret. Owns only the shape and defaults; the HTTP server applies them.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { bool, int, KiB, MiB, num, size } from './scalars';

/** Default listen address when none is configured. */
export const DEFAULT_ADDRESS = '0.0.0.0:8080';

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Splits `host:port` (IPv6 as `[::1]:8080`) into its parts; throws with a reason when invalid. */
export function parseAddress(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address.trim());
  if (!match) {
    throw new Error(`'${address}' is not host:port (write IPv6 hosts in brackets, e.g. [::]:8080)`);
  }
  const [, ipv6, name, portText] = match;
  const port = Number(portText);
  if (port < 1 || port > 65535) {
    throw new Error(`port ${portText} is outside 1-65535`);
  }
  if (ipv6 !== undefined) {
    if (isIP(ipv6) !== 6) throw new Error(`'${ipv6}' is not an IPv6 address`);
    return { host: ipv6, port };
  }
  if (isIP(name) !== 4 && !HOSTNAME.test(name)) {
    throw new Error(`'${name}' is not a valid host name or IPv4 address`);
  }
  return { host: name, port };
}

/** Joins a host and port into an address string, bracketing IPv6 hosts. */
export function formatAddress(host: string, port: number | string): string {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  return `${isIP(bare) === 6 ? `[${bare}]` : bare}:${port}`;
}

const addressSchema = z
  .string({ error: 'must be a "host:port" string, e.g. "0.0.0.0:8080"' })
  .trim()
  .superRefine((value, ctx) => {
    try {
      parseAddress(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
    }
  });

/** Schema of `server.zero_copy`. */
export const zeroCopySchema = z
  .object({
    enabled: bool().default(true),
    pipe_buffer_size: size({ min: 4 * KiB, max: 64 * MiB }).default(MiB),
    min_body_bytes: size().default(256 * KiB),
  })
  .strict();

/**
 * Schema of `server.limits.rate_limit`: a token bucket per principal (authenticated subject, or
 * client address on anonymous routes). `burst` defaults to one second's worth of requests.
 */
export const rateLimitSchema = z
  .object({
    requests_per_second: num({ min: 0.001, max: 1_000_000 }),
    burst: int({ min: 1, max: 1_000_000 }).optional(),
  })
  .strict()
  .transform(({ requests_per_second, burst }) => ({
    requests_per_second,
    burst: burst ?? Math.max(1, Math.ceil(requests_per_second)),
  }));

/** Schema of `server.limits`. */
export const limitsSchema = z
  .object({
    max_header_bytes: int({ min: 1024, max: MiB }).default(16384),
    max_key_bytes: int({ min: 1, max: 1024 }).default(1024),
    max_url_bytes: int({ min: 256, max: MiB }).default(8192),
    max_concurrent_uploads: int({ min: 1 }).optional(),
    idle_timeout_seconds: int({ min: 1 }).default(60),
    part_buffer_bytes: size({ min: 5 * MiB }).default(512 * MiB),
    rate_limit: rateLimitSchema.optional(),
  })
  .strict();

const workersSchema = z.preprocess(
  (value) => (typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value),
  z.union([z.literal('auto'), z.int().positive()], {
    error: "must be a positive integer or 'auto'",
  }),
);

/** Schema of `server.janitor`: the sweeper of stale multipart uploads. */
export const janitorSchema = z
  .object({
    enabled: bool().default(false),
    interval_seconds: int({ min: 10 }).default(3600),
    max_age_seconds: int({ min: 60 }).default(86400),
  })
  .strict();

/** The named address ranges that `server.trust_proxy` accepts besides addresses and CIDRs. */
export const TRUST_PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'] as const;

/** Why `entry` is not an address, CIDR or range name that trust_proxy accepts, or undefined. */
export function trustedProxyProblem(entry: string): string | undefined {
  if ((TRUST_PROXY_NAMES as readonly string[]).includes(entry)) return undefined;
  const [address, bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) {
    return `'${entry}' is not an IP address, a CIDR such as 10.0.0.0/8, or one of ${TRUST_PROXY_NAMES.join(', ')}`;
  }
  if (bits !== undefined) {
    const max = family === 4 ? 32 : 128;
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) {
      return `'${entry}': the prefix length must be 0-${max}`;
    }
  }
  return undefined;
}

/**
 * Schema of `server.trust_proxy`: which proxies in front of the gateway may say, in
 * X-Forwarded-For, who the client is. `false` (no one: the client is the TCP peer), a number of
 * proxy hops, or the proxies' addresses and CIDRs. `true` is refused: it would let any client
 * name its own address.
 */
const trustProxySchema = z.preprocess(
  // From an environment variable (`${MIZUCHI_TRUST_PROXY}`): "false", "2" or "10.0.0.0/8,::1".
  (value) => {
    if (typeof value !== 'string') return value;
    const text = value.trim();
    if (text === 'false') return false;
    if (/^\d+$/.test(text)) return Number(text);
    return text === '' || text === 'true' ? value : text.split(',');
  },
  z.union(
    [
      z.literal(false),
      z.int().min(1).max(32),
      z
        .array(z.string().trim())
        .min(1)
        .superRefine((entries, ctx) => {
          entries.forEach((entry, index) => {
            const problem = trustedProxyProblem(entry);
            if (problem !== undefined)
              ctx.addIssue({ code: 'custom', message: problem, path: [index] });
          });
        }),
    ],
    {
      error:
        'must be false, a number of proxy hops (1-32), or a list of proxy addresses and CIDRs ' +
        '(true is refused: any client could then name its own address)',
    },
  ),
);

/** Schema of the `server` section. */
export const serverSchema = z
  .object({
    address: addressSchema.default(DEFAULT_ADDRESS),
    zero_copy: zeroCopySchema.prefault({}),
    limits: limitsSchema.prefault({}),
    shutdown_grace_seconds: int({ min: 0 }).default(30),
    upload_id_secret: z
      .string()
      .min(32, { error: 'must be at least 32 characters (use a random secret)' })
      .optional(),
    workers: workersSchema.default(1),
    janitor: janitorSchema.prefault({}),
    trust_proxy: trustProxySchema.default(false),
  })
  .strict();

/** The validated `server` section. */
export type ServerConfig = z.output<typeof serverSchema>;
