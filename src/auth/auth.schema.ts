/**
 * A route's `auth` section: JWT and SigV4 settings. Owns the shape, defaults and the checks that
 * can be made before start-up (key source, algorithm allowlist, credentials); it never loads keys.
 */
import { z } from 'zod';
import { bool, evenWithErrors, httpUrl, int, isRecord, nonEmptyString } from '../config/scalars';

/** JWT algorithms that may appear in `jwt.algorithms`; `none` is deliberately absent. */
export const JWT_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
] as const;

/** One allowed JWT signing algorithm. */
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

const jwtAlgorithmSchema = z.enum(JWT_ALGORITHMS, {
  error: (issue) =>
    typeof issue.input === 'string' && issue.input.toLowerCase() === 'none'
      ? "'none' is never accepted: unsigned tokens would authenticate anyone"
      : `must be one of: ${JWT_ALGORITHMS.join(', ')}`,
});

const stringOrList = z.union([nonEmptyString(), z.array(nonEmptyString()).min(1)], {
  error: 'must be a string or a non-empty list of strings',
});

const headerName = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[!#$%&'*+.^_`|~0-9a-z-]+$/, { error: 'must be a valid HTTP header name' });

/** Where a JWT may be found, tried in the listed order. */
export const tokenSourceSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('bearer') }).strict(),
  z.object({ type: z.literal('header'), name: headerName }).strict(),
  z.object({ type: z.literal('query'), name: nonEmptyString() }).strict(),
]);

const claimScalar = z.union([z.string(), z.number(), z.boolean()], {
  error: 'must be a string, number or boolean',
});

/** A rule that a verified token's claim must satisfy. */
export const claimRuleSchema = z
  .object({
    claim: nonEmptyString(),
    operator: z.enum(['equals', 'in', 'contains']).default('equals'),
    value: z.union([claimScalar, z.array(claimScalar).min(1)], {
      error: 'must be a string, number, boolean or a non-empty list of them',
    }),
  })
  .strict()
  .superRefine((rule, ctx) => {
    if (rule.operator === 'in' && !Array.isArray(rule.value)) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: "operator 'in' needs a list" });
    }
    if (rule.operator !== 'in' && Array.isArray(rule.value)) {
      ctx.addIssue({
        code: 'custom',
        path: ['value'],
        message: `operator '${rule.operator}' needs a single value (use 'in' for a list)`,
      });
    }
  });

const KEY_SOURCES = ['secret', 'public_key_file', 'jwks_url'] as const;

/** Schema of `auth.jwt`. */
export const jwtSchema = z
  .object({
    algorithms: z.array(jwtAlgorithmSchema).min(1, { error: 'must list at least one algorithm' }),
    secret: z
      .string()
      .min(32, { error: 'must be at least 32 characters (RFC 7518 §3.2 key size for HS256)' })
      .optional(),
    public_key_file: nonEmptyString().optional(),
    jwks_url: httpUrl().optional(),
    jwks_cache_ttl_seconds: int({ min: 0 }).default(600),
    issuer: stringOrList.optional(),
    audience: stringOrList.optional(),
    leeway_seconds: int({ min: 0, max: 300 }).default(30),
    token_sources: z
      .array(tokenSourceSchema)
      .min(1)
      .default([{ type: 'bearer' }]),
    claims: z.array(claimRuleSchema).default([]),
  })
  .strict()
  .superRefine((jwt, ctx) => {
    const given = KEY_SOURCES.filter((key) => jwt[key] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          given.length === 0
            ? 'needs exactly one key source: secret, public_key_file or jwks_url'
            : `key sources are exclusive, but ${given.join(' and ')} are all set`,
      });
      return;
    }
    if (!Array.isArray(jwt.algorithms)) return;
    // A secret and a public key must never share an allowlist: that is the HS/RS confusion attack.
    const symmetric = given[0] === 'secret';
    jwt.algorithms.forEach((algorithm, index) => {
      const known = (JWT_ALGORITHMS as readonly unknown[]).includes(algorithm);
      if (!known || algorithm.startsWith('HS') === symmetric) return;
      ctx.addIssue({
        code: 'custom',
        path: ['algorithms', index],
        message: symmetric
          ? `${algorithm} needs a public key, but this route verifies with a shared secret`
          : `${algorithm} needs a shared secret, but this route verifies with ${given[0]}`,
      });
    });
  }, evenWithErrors);

/** One SigV4 access key and the principal it authenticates as. */
export const sigv4CredentialSchema = z
  .object({
    access_key: z.string().regex(/^[A-Za-z0-9_+=.@-]{3,128}$/, {
      error: "must be 3-128 characters with no '/' or whitespace",
    }),
    secret_key: z.string().min(8, { error: 'must be at least 8 characters' }),
    subject: nonEmptyString(),
  })
  .strict();

/** Schema of `auth.sigv4`. */
export const sigv4Schema = z
  .object({
    region: nonEmptyString().default('us-east-1'),
    credentials: z
      .array(sigv4CredentialSchema)
      .min(1, { error: 'must list at least one credential' })
      .superRefine((credentials, ctx) => {
        const seen = new Set<string>();
        credentials.forEach((credential, index) => {
          if (seen.has(credential.access_key)) {
            ctx.addIssue({
              code: 'custom',
              path: [index, 'access_key'],
              message: `duplicate access key '${credential.access_key}'`,
            });
          }
          seen.add(credential.access_key);
        });
      }),
    max_clock_skew_seconds: int({ min: 1, max: 3600 }).default(900),
    replay_protection: bool().default(true),
    replay_store: z
      .discriminatedUnion('type', [
        z.object({ type: z.literal('memory') }).strict(),
        z
          .object({
            type: z.literal('redis'),
            url: z
              .string()
              .regex(/^rediss?:\/\//, { error: 'must be a redis:// or rediss:// URL' }),
            key_prefix: z.string().default('mizuchi:replay:'),
          })
          .strict(),
      ])
      .default({ type: 'memory' }),
  })
  .strict();

/** Schema of a route's `auth` section; disabled routes are anonymous. */
export const authSchema = z
  .object({
    enabled: bool().default(false),
    jwt: jwtSchema.optional(),
    sigv4: sigv4Schema.optional(),
    custom: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9_.-]+$/, { error: 'must be the name of a registered authenticator' })
      .optional(),
    options: z.record(z.string(), z.unknown()).default({}),
  })
  .strict()
  .superRefine((auth, ctx) => {
    if (
      auth.enabled === true &&
      !isRecord(auth.jwt) &&
      !isRecord(auth.sigv4) &&
      auth.custom === undefined
    ) {
      ctx.addIssue({
        code: 'custom',
        message: 'auth is enabled but none of jwt, sigv4 or custom is configured',
      });
    }
  }, evenWithErrors);

/** The validated `auth` section of a route. */
export type AuthConfig = z.output<typeof authSchema>;
/** The validated `auth.jwt` section. */
export type JwtConfig = z.output<typeof jwtSchema>;
/** The validated `auth.sigv4` section. */
export type SigV4Config = z.output<typeof sigv4Schema>;
/** One JWT token source. */
export type TokenSource = z.output<typeof tokenSourceSchema>;
/** One JWT claim rule. */
export type ClaimRule = z.output<typeof claimRuleSchema>;
