/** A Terminus indicator per route: is that route's backend reachable right now? */
import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { StorageRegistry } from '../storage/storage.registry';

/** How long one backend probe may take before the route counts as down. */
export const BACKEND_PROBE_TIMEOUT_MS = 3000;

/** Probes the backend behind each route. */
@Injectable()
export class BackendHealthIndicator {
  constructor(
    @Inject(HealthIndicatorService) private readonly indicators: HealthIndicatorService,
    @Inject(StorageRegistry) private readonly storage: StorageRegistry,
  ) {}

  /** One check function per route, keyed `route:<name>`, for HealthCheckService.check. */
  checks(): Array<() => Promise<HealthIndicatorResult>> {
    return [...this.storage.entries()].map(([name, storage]) => async () => {
      const session = this.indicators.check(`route:${name}`);
      const health = await storage.health(AbortSignal.timeout(BACKEND_PROBE_TIMEOUT_MS));
      // The probes need no auth, so they name routes and error codes only, never backend
      // endpoints, bucket names or paths.
      return health.up ? session.up() : session.down({ reason: health.detail ?? 'unreachable' });
    });
  }
}
