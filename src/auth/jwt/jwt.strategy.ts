/**
 * One passport-jwt strategy per route, built with @nestjs/passport's PassportStrategy: passport-jwt
 * (and jsonwebtoken under it) checks signature, algorithm allowlist, exp/nbf with leeway, issuer
 * and audience; `validate` then applies the route's claim rules and makes the Principal.
 */
import type { KeyObject } from 'node:crypto';
import { PassportStrategy } from '@nestjs/passport';
import type passport from 'passport';
import { Strategy, type StrategyOptionsWithoutRequest } from 'passport-jwt';
import type { JwtConfig } from '../auth.schema';
import type { Principal } from '../principal';
import { principalFromPayload } from './claim-rules';
import type { KeySource } from './jwt-keys';
import { extractToken, type JwtRequest } from './token-sources';

/** A passport Authenticator of the gateway's own (not passport's global instance). */
export type Authenticator = InstanceType<typeof passport.Passport>;

/** The passport strategy name of a route. */
export function strategyName(routeName: string): string {
  return `jwt:${routeName}`;
}

// passport-jwt hands the key to jsonwebtoken unchanged, and jsonwebtoken takes a KeyObject (no
// PEM parsing per request); passport-jwt's typings only list string | Buffer.
function asVerificationKey(key: KeyObject): Buffer {
  return key as unknown as Buffer;
}

/** The passport-jwt options of a route: its token sources, keys and verification settings. */
export function strategyOptions(jwt: JwtConfig, keys: KeySource): StrategyOptionsWithoutRequest {
  return {
    jwtFromRequest: (req: JwtRequest) => extractToken(req, jwt.token_sources) ?? null,
    secretOrKeyProvider: (_req: unknown, rawToken: string, done) => {
      keys.keyFor(rawToken).then(
        (key) => done(null, asVerificationKey(key)),
        (err: unknown) => done(err),
      );
    },
    // Always explicit: jsonwebtoken would otherwise derive the list from the key's type.
    algorithms: [...jwt.algorithms],
    issuer: jwt.issuer,
    audience: jwt.audience,
    ignoreExpiration: false,
    jsonWebTokenOptions: { clockTolerance: jwt.leeway_seconds },
  };
}

/**
 * Builds a route's strategy and registers it under {@link strategyName} with `passport`: the
 * gateway's own Authenticator, not passport's global one, so two apps in one process (tests,
 * or a restart in place) never swap each other's routes.
 */
export function createJwtStrategy(
  routeName: string,
  jwt: JwtConfig,
  keys: KeySource,
  passport: Authenticator,
): Strategy {
  class JwtStrategy extends PassportStrategy(Strategy, strategyName(routeName)) {
    constructor() {
      super(strategyOptions(jwt, keys));
    }

    getPassportInstance(): Authenticator {
      return passport;
    }

    validate(payload: unknown): Principal {
      return principalFromPayload(payload, jwt.claims);
    }
  }
  return new JwtStrategy();
}
