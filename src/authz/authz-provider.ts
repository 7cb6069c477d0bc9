/**
 * The one authorization interface. A provider answers whether a principal may perform one
 * upload operation; the guard around it owns caching, fail modes and error answers, so every
 * provider (OPA, OpenFGA or a user's own) gets them alike.
 */
import type { AuthMethod } from '../auth/principal';
import type { RouteConfig } from '../config/config.schema';

/** The document a policy decides on (DESIGN.md §5). */
export interface AuthzInput {
  subject: string;
  auth_method: AuthMethod;
  claims: Record<string, unknown>;
  /** The S3 action, e.g. `s3:PutObject`. */
  action: string;
  /** The bucket as the client names it (the route's prefix without its leading slash). */
  bucket: string;
  key: string;
  path: string;
  method: string;
  content_length: number | null;
  content_type: string | null;
  client_ip: string | null;
}

/** A provider's answer. */
export interface AuthzDecision {
  allow: boolean;
  reason?: string;
}

/** Decides uploads; subclass it and register the class under a name to add a provider. */
export abstract class AuthzProvider {
  /**
   * Decides one operation. Throw (or reject) when the engine cannot answer: the route's
   * `fail_mode` then decides. `route.authz.options` holds a custom provider's settings.
   */
  abstract decide(input: AuthzInput, route: RouteConfig): Promise<AuthzDecision>;
}
