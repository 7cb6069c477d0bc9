/**
 * A custom authenticator: callers present `x-api-key`, and the route's `auth.options.keys` maps
 * each accepted key to the subject it authenticates as. Register it when embedding the gateway:
 *
 *   createApp(config, logger, { authenticators: { 'api-key': ApiKeyAuthenticator } })
 *
 * and select it per route:
 *
 *   auth: { enabled: true, custom: api-key, options: { keys: { '${PARTNER_KEY}': partner-a } } }
 */
import { timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { S3Error } from '@mizuchi/s3-protocol';
import { type AuthenticationRequest, Authenticator } from '../../src/auth/authenticator';
import type { Principal } from '../../src/auth/principal';
import type { RouteConfig } from '../../src/config/config.schema';

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Authenticates requests by a static API key per subject. */
@Injectable()
export class ApiKeyAuthenticator extends Authenticator {
  authenticate(req: AuthenticationRequest, route: RouteConfig): Promise<Principal> {
    const presented = req.headers['x-api-key'];
    const keys = (route.auth.options.keys ?? {}) as Record<string, string>;
    if (typeof presented === 'string') {
      for (const [key, subject] of Object.entries(keys)) {
        if (sameSecret(key, presented)) {
          return Promise.resolve({ subject, method: 'custom', claims: {} });
        }
      }
    }
    return Promise.reject(new S3Error('AccessDenied', 'A valid x-api-key header is required.'));
  }
}
