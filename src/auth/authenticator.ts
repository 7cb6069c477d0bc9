/**
 * The extension point for custom authentication: subclass Authenticator, register the class
 * under a name, and select it per route with `auth.custom: <name>` (settings in `auth.options`):
 *
 *   createApp(config, logger, { authenticators: { 'api-key': ApiKeyAuthenticator } })
 *
 * The gateway calls it for every request of the route that is not SigV4-signed, after routing
 * and before authorization; what it returns binds upload ids and feeds the policy engine.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { RouteConfig } from '../config/config.schema';
import type { Principal } from './principal';

/** What an authenticator may read of a request; the body is never available. */
export interface AuthenticationRequest {
  method: string;
  /** Raw path and query as received. */
  url: string;
  headers: IncomingHttpHeaders;
  clientIp: string | undefined;
}

/** Authenticates the requests of routes that name it in `auth.custom`. */
export abstract class Authenticator {
  /**
   * Returns the principal, or throws an S3Error (e.g. 403 AccessDenied) to refuse. Other errors
   * become 500 InternalError.
   */
  abstract authenticate(req: AuthenticationRequest, route: RouteConfig): Promise<Principal>;
}

/** Registered authenticators by name. */
export const AUTHENTICATORS = Symbol('AUTHENTICATORS');
