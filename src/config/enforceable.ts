/**
 * Start-up checks the schema cannot make. A JWT route's key file must be readable and fit its
 * algorithms, so a bad key stops start-up instead of refusing every token.
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
  });
  if (problems.length > 0) throw new ConfigError(source, problems);
}
