/**
 * Start-up checks the schema cannot make. A route that asks for authorization is refused outright
 * rather than served open, because this build cannot enforce it yet: a gateway that silently
 * ignored `authz.enabled: true` would hand the bucket to anyone. A JWT route's key file must be
 * readable and fit its algorithms, so a bad key stops start-up instead of refusing every token.
 */
import { jwtKeyProblems } from '../auth/jwt/jwt-keys';
import { ConfigError } from './config-error';
import type { AppConfig } from './config.schema';

/** Throws a ConfigError naming every route that cannot be served as configured. */
export function assertEnforceable(config: AppConfig, source?: string): void {
  const problems: string[] = [];
  config.buckets.forEach((route, index) => {
    if (route.auth.enabled && route.auth.jwt !== undefined) {
      for (const { field, message } of jwtKeyProblems(route.auth.jwt)) {
        problems.push(`buckets[${index}].auth.jwt.${field}: ${message}`);
      }
    }
    if (route.authz.enabled) {
      problems.push(
        `buckets[${index}].authz.enabled: authorization is not part of this build yet; refusing to serve the route open`,
      );
    }
  });
  if (problems.length > 0) throw new ConfigError(source, problems);
}
