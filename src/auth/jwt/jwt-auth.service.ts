/**
 * JWT authentication for routes with `auth.jwt`. Each route gets its own passport-jwt strategy
 * (jwt.strategy.ts) at start-up; AuthenticateGuard's call runs it through passport. Refusals are
 * 401 with `WWW-Authenticate: Bearer error="invalid_token"`, and one log line naming the route and
 * the reason, never the token or a claim's value.
 */
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import passport from 'passport';
import { S3Error } from '@mizuchi/s3-protocol';
import { APP_CONFIG } from '../../config/config.module';
import type { AppConfig, RouteConfig } from '../../config/config.schema';
import type { Principal } from '../principal';
import { createKeySource, type KeySource } from './jwt-keys';
import { JwtRefusal, refusalReason } from './jwt-refusal';
import { createJwtStrategy, strategyName } from './jwt.strategy';
import type { JwtRequest } from './token-sources';

export type { JwtRequest } from './token-sources';

/** Builds the 401 answer for a missing or invalid bearer token. */
export function invalidToken(message: string, cause?: unknown): S3Error {
  return new S3Error('AccessDenied', message, {
    status: 401,
    headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
    cause,
  });
}

/** What passport's authenticate() hands back to a custom callback. */
type PassportOutcome = { err: unknown; user: unknown; info: unknown };

/** Verifies JWTs per route. */
@Injectable()
export class JwtAuthService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('JwtAuth');
  private readonly passport = new passport.Passport();
  private readonly keys = new Map<string, KeySource>();

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    for (const route of config.buckets) {
      const jwt = route.auth.jwt;
      if (!route.auth.enabled || jwt === undefined) continue;
      const keys = createKeySource(jwt, {
        onJwksError: (err) =>
          this.logger.warn(`route ${route.name}: JWKS fetch failed (${describe(err)})`),
      });
      createJwtStrategy(route.name, jwt, keys, this.passport);
      this.keys.set(route.name, keys);
    }
  }

  onApplicationBootstrap(): void {
    for (const keys of this.keys.values()) keys.warm();
  }

  onApplicationShutdown(): void {
    for (const keys of this.keys.values()) keys.close();
  }

  /** Returns the principal of a valid token, or throws 401 AccessDenied. */
  async authenticate(req: JwtRequest, route: RouteConfig): Promise<Principal> {
    if (!this.keys.has(route.name)) {
      throw this.refuse(route, 'route does not accept tokens');
    }
    const { err, user, info } = await this.runStrategy(strategyName(route.name), req);
    if (err instanceof JwtRefusal) throw this.refuse(route, err.reason, err);
    // Anything else that errored is a bug or an outage, not the caller's fault: let it be a 500.
    if (err !== null && err !== undefined) throw asError(err);
    if (user === false || user === null || user === undefined) {
      throw this.refuse(route, refusalReason(info), info);
    }
    return user as Principal;
  }

  /** Runs the route's strategy through passport, on a copy of the request it may decorate. */
  private runStrategy(name: string, req: JwtRequest): Promise<PassportOutcome> {
    return new Promise((resolve, reject) => {
      const middleware = this.passport.authenticate(
        name,
        { session: false },
        (err: unknown, user: unknown, info: unknown) => resolve({ err, user, info }),
      ) as (req: object, res: object, next: (err?: unknown) => void) => void;
      middleware({ headers: req.headers, url: req.url }, {}, (err?: unknown) =>
        reject(
          err === undefined
            ? new Error(`passport strategy ${name} neither succeeded nor failed`)
            : asError(err),
        ),
      );
    });
  }

  private refuse(route: RouteConfig, reason: string, cause?: unknown): S3Error {
    this.logger.warn(`route ${route.name}: JWT refused (${reason})`);
    return invalidToken(
      reason === 'missing token'
        ? 'This route requires a bearer token.'
        : `The bearer token was refused: ${reason}.`,
      cause,
    );
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
