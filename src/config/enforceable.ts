/**
 * Start-up checks the schema cannot make. A route's authz provider must be built in or registered. A JWT route's key file must be readable and fit its
 * algorithms, so a bad key stops start-up instead of refusing every token.
 */
import { jwtKeyProblems } from '../auth/jwt/jwt-keys';
import { ConfigError } from './config-error';
import type { AppConfig } from './config.schema';

/** Throws a ConfigError naming every route that cannot be served as configured. */
export function assertEnforceable(
  config: AppConfig,
  source?: string,
  customAuthzProviders: readonly string[] = [],
  customAuthenticators: readonly string[] = [],
): void {
  const problems: string[] = [];
  const known = ['opa', 'openfga', ...customAuthzProviders];
  config.buckets.forEach((route, index) => {
    const custom = route.auth.custom;
    if (route.auth.enabled && custom !== undefined && !customAuthenticators.includes(custom)) {
      problems.push(
        `buckets[${index}].auth.custom: no authenticator named '${custom}' is registered` +
          (customAuthenticators.length > 0 ? ` (known: ${customAuthenticators.join(', ')})` : ''),
      );
    }
    const provider = route.authz.provider;
    if (route.authz.enabled && provider !== undefined && !known.includes(provider)) {
      problems.push(
        `buckets[${index}].authz.provider: no provider named '${provider}' is registered (known: ${known.join(', ')})`,
      );
    }
    if (route.auth.enabled && route.auth.jwt !== undefined) {
      for (const { field, message } of jwtKeyProblems(route.auth.jwt)) {
        problems.push(`buckets[${index}].auth.jwt.${field}: ${message}`);
      }
    }
  });
  if (problems.length > 0) throw new ConfigError(source, problems);
}
