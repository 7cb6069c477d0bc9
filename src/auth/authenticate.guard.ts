/**
 * Authenticates every S3 request of a route that enables `auth`, after routing and before
 * authorization. It picks the method per request: a SigV4 Authorization header or presigned
 * query selects SigV4 (when the route issues keys); anything else goes to the route's custom
 * authenticator if it names one, else to JWT. Routes without auth stay anonymous.
 */
import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { S3Error, splitRawUrl } from '@mizuchi/s3-protocol';
import { hasSigV4, type SigV4Request } from '@mizuchi/sigv4';
import {
  clientAddress,
  type GatewayRequest,
  type S3RequestContext,
} from '../common/request-context';
import { metrics } from '../observability/metrics';
import { ATTR, subjectAttributes, withSpan } from '../observability/tracing/spans';
import { AUTHENTICATORS, type Authenticator } from './authenticator';
import { JwtAuthService } from './jwt/jwt-auth.service';
import { ReplayStores } from './replay-store';
import { SigV4AuthService } from './sigv4-auth.service';

/** Sets `req.s3.principal`, or refuses the request with 401/403. */
@Injectable()
export class AuthenticateGuard implements CanActivate {
  constructor(
    @Inject(SigV4AuthService) private readonly sigv4: SigV4AuthService,
    @Inject(JwtAuthService) private readonly jwt: JwtAuthService,
    @Inject(ReplayStores) private readonly replays: ReplayStores,
    @Inject(AUTHENTICATORS) private readonly authenticators: Map<string, Authenticator>,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<GatewayRequest>();
    const s3 = req.s3;
    if (s3 === undefined) throw new Error('S3RequestGuard must run before AuthenticateGuard');
    const auth = s3.route.auth;
    if (!auth.enabled) return true;
    const method = attemptedMethod(req, s3);
    return withSpan(`auth.${method}`, { [ATTR.authMethod]: method }, async (span) => {
      try {
        await this.authenticate(req, s3);
      } catch (err) {
        metrics().authAttempts.inc({ method, result: 'failure' });
        span.setAttribute(ATTR.authResult, 'failure');
        throw err;
      }
      metrics().authAttempts.inc({ method: s3.principal.method, result: 'success' });
      span.setAttributes({
        [ATTR.authResult]: 'success',
        ...subjectAttributes(s3.principal.subject),
      });
      return true;
    });
  }

  private async authenticate(req: GatewayRequest, s3: S3RequestContext): Promise<boolean> {
    const auth = s3.route.auth;
    const wire = toSigV4Request(req);
    if (auth.sigv4 !== undefined && hasSigV4(wire)) {
      await this.authenticateSigV4(s3, wire, auth.sigv4);
      return true;
    }
    if (auth.custom !== undefined) {
      const authenticator = this.authenticators.get(auth.custom);
      if (authenticator === undefined) throw new Error(`no authenticator named ${auth.custom}`);
      s3.principal = await authenticator.authenticate(
        {
          method: req.method,
          url: req.originalUrl,
          headers: req.headers,
          clientIp: clientAddress(req),
        },
        s3.route,
      );
      return true;
    }
    if (auth.jwt !== undefined) {
      s3.principal = await this.jwt.authenticate(
        { headers: req.headers, url: req.originalUrl },
        s3.route,
      );
      return true;
    }
    throw new S3Error('AccessDenied', 'This route requires a SigV4-signed request.', {
      status: 403,
    });
  }

  private async authenticateSigV4(
    s3: S3RequestContext,
    wire: SigV4Request,
    cfg: NonNullable<S3RequestContext['route']['auth']['sigv4']>,
  ): Promise<void> {
    const result = this.sigv4.authenticate(wire, cfg, s3.route.name);
    s3.principal = result.principal;
    s3.chunkVerifier = result.chunkVerifier;
    if (cfg.replay_protection && s3.operation !== 'HeadBucket' && s3.operation !== 'ListParts') {
      const key = `${s3.route.name}:${result.verified.claim.signature}`;
      const store = this.replays.for(cfg.replay_store);
      const until = result.verified.validUntil;
      if (!(await store.claim(key, until).catch(replayStoreDown))) {
        throw new S3Error('AccessDenied', 'This signed request has already been used.', {
          status: 403,
        });
      }
      s3.replay = { store, key, until };
    }
  }
}

/** The method a refused request tried, for the attempts metric. */
function attemptedMethod(req: GatewayRequest, s3: S3RequestContext): string {
  const auth = s3.route.auth;
  if (auth.sigv4 !== undefined && hasSigV4(toSigV4Request(req))) return 'sigv4';
  if (auth.custom !== undefined) return 'custom';
  return auth.jwt !== undefined ? 'jwt' : 'none';
}

/** A replay store that cannot answer fails closed: a replay must never slip through. */
function replayStoreDown(cause: unknown): never {
  throw new S3Error('ServiceUnavailable', 'Replay protection is unavailable; retry later.', {
    cause,
    headers: { 'Retry-After': '1' },
  });
}

/** The request as SigV4 sees it: method, raw path and query exactly as they arrived. */
export function toSigV4Request(req: GatewayRequest): SigV4Request {
  return {
    method: req.method,
    ...splitRawUrl(req.originalUrl),
    // Distinct values, so a header sent twice canonicalises as SigV4 says (joined by ',').
    headers: req.headersDistinct,
  };
}
