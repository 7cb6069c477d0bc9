/**
 * Start-up checks the schema cannot make. A route's authz provider must be built in or registered. A JWT route's key file must be readable and fit its
 * algorithms, so a bad key stops start-up instead of refusing every token. State that one
 * process cannot share with others (the in-memory SigV4 replay store) is refused with
 * `server.workers` above 1, instead of silently protecting each worker alone.
 */
import { jwtKeyProblems } from '../auth/jwt/jwt-keys';
import { workerCount } from '../cluster/workers';
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
  const workers = workerCount(config.server.workers);
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
    const sigv4 = route.auth.sigv4;
    if (
      workers > 1 &&
      route.auth.enabled &&
      sigv4?.replay_protection === true &&
      sigv4.replay_store.type === 'memory'
    ) {
      problems.push(
        `buckets[${index}].auth.sigv4.replay_store: the in-memory replay store is per process, so ` +
          `with server.workers: ${config.server.workers} (${workers} processes) a replayed ` +
          'request that lands on another worker would not be stopped; configure the Redis ' +
          'replay store (replay_store: { type: redis, url: "redis://..." }) or set server.workers: 1',
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
