/**
 * Resolves the route, classifies the operation and validates the key of every S3 request, before
 * authentication and before any byte reaches a backend. Unknown prefixes get 404 NoSuchBucket,
 * refused operations 405 MethodNotAllowed, bad keys 400.
 */
import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import {
  S3Error,
  classifyOperation,
  decodeKey,
  parseQuery,
  splitRawUrl,
  validateKey,
} from '@mizuchi/s3-protocol';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig, RouteConfig } from '../config/config.schema';
import type { GatewayRequest, S3RequestContext } from '../common/request-context';
import { ANONYMOUS } from '../auth/principal';
import { RouteResolver } from './route-resolver';
import { nameServerSpan } from '../observability/tracing/spans';

/** The query parameters a route reads JWTs from; they carry credentials, not sub-resources. */
function tokenQueryParams(route: RouteConfig): ReadonlySet<string> | undefined {
  const sources = route.auth.jwt?.token_sources ?? [];
  const names = sources.flatMap((s) => (s.type === 'query' ? [s.name] : []));
  return names.length > 0 ? new Set(names) : undefined;
}

/** Attaches the S3RequestContext to the request, or refuses it. */
@Injectable()
export class S3RequestGuard implements CanActivate {
  private readonly resolver: RouteResolver;
  private readonly maxKeyBytes: number;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.resolver = new RouteResolver(config.buckets);
    this.maxKeyBytes = config.server.limits.max_key_bytes;
  }

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<GatewayRequest>();
    req.s3 = this.describe(req.method, req.originalUrl, req.headers);
    nameServerSpan(req.method, req.s3, req.requestId);
    return true;
  }

  /** Works out route, operation and key from the raw request line and headers. */
  describe(method: string, rawUrl: string, headers: GatewayRequest['headers']): S3RequestContext {
    const { rawPath, rawQuery } = splitRawUrl(rawUrl);
    const match = this.resolver.resolve(rawPath);
    if (match === undefined) {
      throw new S3Error('NoSuchBucket', 'No upload route is configured for this path.');
    }
    if (match.keyed && match.rawKey === '' && (method === 'PUT' || method === 'POST')) {
      throw new S3Error(
        'InvalidRequest',
        'An object key is required: the path names only a bucket.',
      );
    }
    const query = parseQuery(rawQuery);
    const operation = classifyOperation({
      method,
      hasKey: match.rawKey !== '',
      query,
      headerNames: new Set(Object.keys(headers)),
      neutralParams: tokenQueryParams(match.route),
    });
    let key = '';
    if (operation !== 'HeadBucket') {
      key = decodeKey(match.rawKey);
      validateKey(key, this.maxKeyBytes);
    }
    return {
      route: match.route,
      principal: ANONYMOUS,
      operation,
      key,
      query: Object.fromEntries(query),
    };
  }
}
