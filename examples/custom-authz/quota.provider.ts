/**
 * A custom authorization provider: each principal uploads only below its own prefix
 * (`<subject>/…`), only the content types listed in the route's `authz.options.content_types`,
 * and at most `authz.options.max_bytes` per request. The gateway's guard, decision cache and
 * fail mode apply to it as to OPA and OpenFGA.
 *
 * Register it under a name and select that name per route:
 *
 *   createApp(config, logger, { authzProviders: { quota: QuotaProvider } })
 *
 *   buckets:
 *     - name: uploads
 *       path_prefix: /uploads
 *       authz:
 *         enabled: true
 *         provider: quota
 *         options: { content_types: [text/plain, image/png], max_bytes: 10485760 }
 */
import { Injectable } from '@nestjs/common';
import { AuthzProvider, type AuthzDecision, type AuthzInput } from '../../src/authz/authz-provider';
import type { RouteConfig } from '../../src/config/config.schema';

/** The settings this provider reads from `authz.options`. */
export interface QuotaOptions {
  /** Media types a new object may have (compared without parameters); all when absent. */
  contentTypes?: string[];
  /** The largest declared request body; unlimited when absent. */
  maxBytes?: number;
}

/** Operations that name the new object's content type. */
const STARTS_OBJECT = new Set(['s3:PutObject', 's3:CreateMultipartUpload']);

/** Reads and checks `authz.options`; a bad value is an engine failure (the fail mode decides). */
export function quotaOptions(options: Record<string, unknown>): QuotaOptions {
  const { content_types: types, max_bytes: max } = options;
  if (types !== undefined && !(Array.isArray(types) && types.every((t) => typeof t === 'string'))) {
    throw new Error('authz.options.content_types must be a list of media types');
  }
  if (max !== undefined && (typeof max !== 'number' || !Number.isInteger(max) || max < 0)) {
    throw new Error('authz.options.max_bytes must be a whole number of bytes');
  }
  return {
    contentTypes: types?.map((t) => t.toLowerCase()),
    maxBytes: max,
  };
}

/** The decision for one operation; pure, so it is easy to test. */
export function quotaDecision(input: AuthzInput, options: QuotaOptions): AuthzDecision {
  const prefix = `${input.subject}/`;
  if (input.action !== 's3:ListBucket' && !input.key.startsWith(prefix)) {
    return { allow: false, reason: `${input.subject} may only upload below ${prefix}` };
  }
  if (STARTS_OBJECT.has(input.action) && options.contentTypes !== undefined) {
    const type = (input.content_type ?? 'application/octet-stream')
      .split(';')[0]
      .trim()
      .toLowerCase();
    if (!options.contentTypes.includes(type)) {
      return { allow: false, reason: `content type ${type} is not accepted` };
    }
  }
  if (
    options.maxBytes !== undefined &&
    input.content_length !== null &&
    input.content_length > options.maxBytes
  ) {
    return { allow: false, reason: `a request may carry at most ${options.maxBytes} bytes` };
  }
  return { allow: true };
}

/** Prefix, content-type and size quota per principal; see the file header. */
@Injectable()
export class QuotaProvider extends AuthzProvider {
  decide(input: AuthzInput, route: RouteConfig): Promise<AuthzDecision> {
    return Promise.resolve(quotaDecision(input, quotaOptions(route.authz.options)));
  }
}
