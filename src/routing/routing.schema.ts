/**
 * A route (`buckets[]` item): its name and path prefix, its backend (S3 or filesystem), upload
 * tuning, auth, authz and CORS. Owns the per-route shape; uniqueness across routes is checked
 * where the list is composed (config.schema.ts) via {@link findDuplicateRoutes}.
 */
import { z } from 'zod';
import { authSchema } from '../auth/auth.schema';
import { authzSchema } from '../authz/authz.schema';
import {
  bool,
  evenWithErrors,
  GiB,
  httpUrl,
  int,
  isRecord,
  MiB,
  nonEmptyString,
  size,
  TiB,
} from '../config/scalars';

/** Request headers a route may opt in to forwarding to its backend. */
export const FORWARDABLE_HEADERS = [
  'x-amz-storage-class',
  'x-amz-server-side-encryption',
  'x-amz-server-side-encryption-aws-kms-key-id',
  'x-amz-server-side-encryption-context',
  'x-amz-server-side-encryption-bucket-key-enabled',
  'x-amz-tagging',
  'x-amz-acl',
] as const;

/** S3 canned ACLs a route may force on every object. */
export const CANNED_ACLS = [
  'private',
  'public-read',
  'public-read-write',
  'authenticated-read',
  'aws-exec-read',
  'bucket-owner-read',
  'bucket-owner-full-control',
  'log-delivery-write',
] as const;

/** Largest single PUT S3 accepts; also the largest part. */
const MAX_PUT_BYTES = 5 * GiB;
/** Largest object S3 accepts. */
const MAX_OBJECT_BYTES = 5 * TiB;

const SEGMENT = /^[A-Za-z0-9._~-]+$/;

/** Checks a path prefix and returns the reason it is invalid, or undefined when it is valid. */
export function pathPrefixProblem(prefix: string): string | undefined {
  if (!prefix.startsWith('/')) return "must start with '/'";
  if (prefix === '/') return "must name at least one segment ('/' alone would swallow every path)";
  if (prefix.endsWith('/')) return "must not end with '/'";
  for (const segment of prefix.slice(1).split('/')) {
    if (segment === '') return "must not contain empty segments ('//')";
    if (segment === '.' || segment === '..') return "must not contain '.' or '..' segments";
    if (!SEGMENT.test(segment)) {
      return `segment '${segment}' may only use letters, digits and '-', '.', '_', '~'`;
    }
  }
  return undefined;
}

const pathPrefixSchema = z
  .string()
  .trim()
  .superRefine((prefix, ctx) => {
    const problem = pathPrefixProblem(prefix);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** Schema of a route's `s3` backend (AWS, Ceph RGW, MinIO, Swift s3api …). */
export const s3BackendSchema = z
  .object({
    bucket: z.string().regex(/^[A-Za-z0-9._-]{1,255}$/, {
      error: "must be a bucket name (letters, digits, '.', '-', '_')",
    }),
    region: nonEmptyString().default('us-east-1'),
    endpoint: httpUrl().optional(),
    access_key: nonEmptyString().optional(),
    secret_key: nonEmptyString().optional(),
    force_path_style: bool().default(true),
    timeout_seconds: int({ min: 1 }).default(300),
    connect_timeout_seconds: int({ min: 1 }).default(5),
    max_sockets: int({ min: 1, max: 65536 }).default(64),
    max_attempts: int({ min: 1, max: 20 }).default(3),
  })
  .strict()
  .superRefine((s3, ctx) => {
    const hasAccess = s3.access_key !== undefined;
    if (hasAccess !== (s3.secret_key !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [hasAccess ? 'secret_key' : 'access_key'],
        message: `required together with ${hasAccess ? 'access_key' : 'secret_key'} (set both, or neither to use the default credential chain)`,
      });
    }
  }, evenWithErrors);

/** Schema of a route's `filesystem` backend (objects stored under `path`). */
export const filesystemBackendSchema = z.object({ path: nonEmptyString() }).strict();

const contentTypePattern = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^(?:\*\/\*|[a-z0-9!#$&^_.+-]+\/(?:\*|[a-z0-9!#$&^_.+-]+))$/, {
    error: "must be a media type such as 'image/png', 'image/*' or '*/*'",
  });

const forwardableHeader = z.preprocess(
  (value) => (typeof value === 'string' ? value.trim().toLowerCase() : value),
  z.enum(FORWARDABLE_HEADERS, {
    error: `must be one of: ${FORWARDABLE_HEADERS.join(', ')}`,
  }),
);

/** Schema of a route's `upload` section. */
export const uploadSchema = z
  .object({
    multipart_threshold: size({ min: 1, max: MAX_PUT_BYTES }).default(50 * MiB),
    part_size: size({ min: 5 * MiB, max: MAX_PUT_BYTES }).default(16 * MiB),
    concurrent_parts: int({ min: 1, max: 64 }).default(4),
    max_object_size: size({ min: 1, max: MAX_OBJECT_BYTES }).optional(),
    allowed_content_types: z
      .array(contentTypePattern)
      .min(1, { error: 'must list at least one type (omit the key to allow any type)' })
      .optional(),
    key_template: nonEmptyString()
      .refine(
        (t) => (t.match(/\{[^}]*\}/g) ?? []).every((p) => ['{sub}', '{key}', '{date}'].includes(p)),
        {
          error: 'placeholders must be {sub}, {key} or {date}',
        },
      )
      .refine((t) => t.includes('{key}'), { error: 'must contain {key}' })
      .optional(),
    forwarded_headers: z.array(forwardableHeader).default([]),
    force_acl: z
      .enum(CANNED_ACLS, { error: `must be a canned ACL: ${CANNED_ACLS.join(', ')}` })
      .optional(),
  })
  .strict()
  .superRefine((upload, ctx) => {
    if (upload.force_acl !== undefined && upload.forwarded_headers.includes('x-amz-acl')) {
      ctx.addIssue({
        code: 'custom',
        path: ['forwarded_headers'],
        message: 'x-amz-acl cannot be forwarded when force_acl is set (the forced ACL wins)',
      });
    }
  });

const originSchema = z.string().refine(
  (origin) => {
    if (origin === '*') return true;
    try {
      const url = new URL(origin);
      return /^https?:$/.test(url.protocol) && url.origin === origin.replace(/\/$/, '');
    } catch {
      return false;
    }
  },
  { error: "must be '*' or an origin such as 'https://app.example.com' (no path)" },
);

/** Schema of a route's `cors` section; absent means no CORS headers are sent. */
export const corsSchema = z
  .object({
    allowed_origins: z.array(originSchema).min(1, { error: 'must list at least one origin' }),
    max_age_seconds: int({ min: 0, max: 86400 }).default(600),
  })
  .strict();

const routeObjectSchema = z
  .object({
    name: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, {
        error: "must be 1-64 letters, digits, '_', '.' or '-' (it labels logs and metrics)",
      }),
    path_prefix: pathPrefixSchema,
    s3: s3BackendSchema.optional(),
    filesystem: filesystemBackendSchema.optional(),
    upload: uploadSchema.prefault({}),
    auth: authSchema.prefault({}),
    authz: authzSchema.prefault({}),
    cors: corsSchema.optional(),
  })
  .strict()
  .superRefine((route, ctx) => {
    const backends = (['s3', 'filesystem'] as const).filter((key) => route[key] !== undefined);
    if (backends.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          backends.length === 0
            ? "needs a backend: set exactly one of 's3' or 'filesystem'"
            : "'s3' and 'filesystem' are exclusive: a route has exactly one backend",
      });
    }
  }, evenWithErrors);

type RouteFields = Omit<z.output<typeof routeObjectSchema>, 's3' | 'filesystem'>;

/** The validated S3 backend settings of a route. */
export type S3BackendConfig = z.output<typeof s3BackendSchema>;
/** The validated filesystem backend settings of a route. */
export type FilesystemBackendConfig = z.output<typeof filesystemBackendSchema>;
/** The validated `upload` section of a route. */
export type UploadConfig = z.output<typeof uploadSchema>;
/** The validated `cors` section of a route. */
export type CorsConfig = z.output<typeof corsSchema>;

/** A validated route: exactly one of `s3` / `filesystem` is set, and the type narrows on it. */
export type Route =
  | (RouteFields & { s3: S3BackendConfig; filesystem?: undefined })
  | (RouteFields & { s3?: undefined; filesystem: FilesystemBackendConfig });

/** Schema of one `buckets[]` item; the output type is the narrowing union {@link Route}. */
export const routeSchema = routeObjectSchema.transform((route) => route as Route);

/** Finds repeated route names and path prefixes; each finding names the later duplicate's index. */
export function findDuplicateRoutes(
  routes: readonly unknown[],
): { index: number; field: 'name' | 'path_prefix'; message: string }[] {
  const findings: { index: number; field: 'name' | 'path_prefix'; message: string }[] = [];
  for (const field of ['name', 'path_prefix'] as const) {
    const firstIndex = new Map<string, number>();
    routes.forEach((route, index) => {
      const value = isRecord(route) ? route[field] : undefined;
      if (typeof value !== 'string') return;
      const key = value.trim();
      const first = firstIndex.get(key);
      if (first === undefined) {
        firstIndex.set(key, index);
      } else {
        findings.push({
          index,
          field,
          message: `duplicate ${field} '${key}' (already used by buckets[${first}])`,
        });
      }
    });
  }
  return findings;
}
