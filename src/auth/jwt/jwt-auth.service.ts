/**
 * JWT authentication for routes with `auth.jwt`. (Being completed: until then every bearer
 * token is refused, so a JWT route is closed rather than open.)
 */
import { Injectable } from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';
import { S3Error } from '@mizuchi/s3-protocol';
import type { RouteConfig } from '../../config/config.schema';
import type { Principal } from '../principal';

/** The parts of a request JWT authentication reads. */
export interface JwtRequest {
  headers: IncomingHttpHeaders;
  /** Raw request URL (path and query), for query-parameter token sources. */
  url: string;
}

/** Builds the 401 answer for a missing or invalid bearer token. */
export function invalidToken(message: string, cause?: unknown): S3Error {
  return new S3Error('AccessDenied', message, {
    status: 401,
    headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
    cause,
  });
}

/** Verifies JWTs per route. */
@Injectable()
export class JwtAuthService {
  /** Returns the principal of a valid token, or throws 401 AccessDenied. */
  authenticate(_req: JwtRequest, _route: RouteConfig): Promise<Principal> {
    return Promise.reject(invalidToken('JWT verification is not available in this build.'));
  }
}
