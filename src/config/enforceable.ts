/**
 * Settings this build validates but does not enforce yet. A route that asks for JWT or
 * authorization is refused outright rather than served open: a gateway that silently ignored
 * `authz.enabled: true` would hand the bucket to anyone.
 */
import { ConfigError } from './config-error';
import type { AppConfig } from './config.schema';

/** Throws a ConfigError naming every route that enables a section this build cannot enforce. */
export function assertEnforceable(config: AppConfig, source?: string): void {
  const problems: string[] = [];
  config.buckets.forEach((route, index) => {
    if (route.auth.enabled && route.auth.jwt !== undefined) {
      problems.push(
        `buckets[${index}].auth.jwt: JWT authentication is not part of this build yet; refusing to serve the route open`,
      );
    }
    if (route.authz.enabled) {
      problems.push(
        `buckets[${index}].authz.enabled: authorization is not part of this build yet; refusing to serve the route open`,
      );
    }
  });
  if (problems.length > 0) throw new ConfigError(source, problems);
}
