/**
 * A route's `authz` section: which policy engine decides, how it fails, and the OPA / OpenFGA /
 * custom-provider settings. Owns the shape and defaults only; providers are wired elsewhere.
 */
import { z } from 'zod';
import { bool, evenWithErrors, httpUrl, int, isRecord, nonEmptyString } from '../config/scalars';

/** Provider names that have a built-in settings section. */
export const BUILT_IN_AUTHZ_PROVIDERS = ['opa', 'openfga'] as const;

/** Schema of `authz.opa`: `POST {url}/v1/data/{policy_path}`. */
export const opaSchema = z
  .object({
    url: httpUrl(),
    policy_path: z
      .string()
      .trim()
      .transform((path) => path.replace(/^\/+|\/+$/g, ''))
      .pipe(
        z.string().regex(/^[A-Za-z0-9_]+(?:\/[A-Za-z0-9_]+)*$/, {
          error: "must be a slash-separated rule path such as 'mizuchi/upload/allow'",
        }),
      ),
    timeout_ms: int({ min: 1, max: 60000 }).default(1000),
    cache_ttl_seconds: int({ min: 0 }).default(30),
    cache_max_entries: int({ min: 1 }).default(10000),
  })
  .strict();

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** Schema of `authz.openfga`: a check of `user:<claim>` `<relation>` `file:<bucket>/<key>`. */
export const openFgaSchema = z
  .object({
    url: httpUrl(),
    store_id: z
      .string()
      .regex(ULID, { error: 'must be an OpenFGA store id (a 26-character ULID)' }),
    model_id: z
      .string()
      .regex(ULID, { error: 'must be an OpenFGA authorization model id (a 26-character ULID)' })
      .optional(),
    api_token: nonEmptyString().optional(),
    relation: nonEmptyString().default('editor'),
    user_claim: nonEmptyString().default('sub'),
    timeout_ms: int({ min: 1, max: 60000 }).default(1000),
    cache_ttl_seconds: int({ min: 0 }).default(30),
    cache_max_entries: int({ min: 1 }).default(10000),
  })
  .strict();

/** Schema of a route's `authz` section; disabled routes allow every authenticated upload. */
export const authzSchema = z
  .object({
    enabled: bool().default(false),
    provider: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9_.-]+$/, {
        error: "must be 'opa', 'openfga' or the name of a registered custom provider",
      })
      .optional(),
    fail_mode: z.enum(['closed', 'open']).default('closed'),
    opa: opaSchema.optional(),
    openfga: openFgaSchema.optional(),
    options: z.record(z.string(), z.unknown()).default({}),
  })
  .strict()
  .superRefine((authz, ctx) => {
    if (authz.enabled !== true) return;
    if (authz.provider === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['provider'],
        message: "required when authz is enabled ('opa', 'openfga' or a custom provider name)",
      });
      return;
    }
    for (const builtIn of BUILT_IN_AUTHZ_PROVIDERS) {
      if (authz.provider === builtIn && !isRecord(authz[builtIn])) {
        ctx.addIssue({
          code: 'custom',
          path: [builtIn],
          message: `required when provider is '${builtIn}'`,
        });
      }
    }
  }, evenWithErrors);

/** The validated `authz` section of a route. */
export type AuthzConfig = z.output<typeof authzSchema>;
/** The validated `authz.opa` section. */
export type OpaConfig = z.output<typeof opaSchema>;
/** The validated `authz.openfga` section. */
export type OpenFgaConfig = z.output<typeof openFgaSchema>;
