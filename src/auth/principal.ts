/** Who made a request, as authentication established it; read by authz, metrics and tracing. */

/** How a principal was authenticated. */
export type AuthMethod = 'jwt' | 'sigv4' | 'custom' | 'anonymous';

/** The authenticated caller of one request. */
export interface Principal {
  /** Stable identifier: the JWT subject claim, the SigV4 key's configured subject, or 'anonymous'. */
  subject: string;
  method: AuthMethod;
  /** Verified JWT claims; empty for SigV4 and anonymous callers. Never logged. */
  claims: Record<string, unknown>;
}

/** The principal of routes without authentication. */
export const ANONYMOUS: Principal = Object.freeze({
  subject: 'anonymous',
  method: 'anonymous',
  claims: Object.freeze({}),
});
