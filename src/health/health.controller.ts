/** Liveness and readiness probes; they need no authentication and never touch uploads. */
import { Controller, Get, Inject } from '@nestjs/common';
import { HealthCheck, HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import { BackendHealthIndicator } from './backend.health';
import { DetailsHealthIndicator } from './details.health';

@Controller('health')
export class HealthController {
  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(BackendHealthIndicator) private readonly backends: BackendHealthIndicator,
    @Inject(DetailsHealthIndicator) private readonly details: DetailsHealthIndicator,
  ) {}

  /** The process is up and its event loop answers. */
  @Get('live')
  @HealthCheck()
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  /**
   * Every route's backend answers; 503 names the routes that do not. The span exporter is a
   * detail only (degraded or not), never a reason to fail.
   */
  @Get('ready')
  @HealthCheck()
  ready(): Promise<HealthCheckResult> {
    return this.health.check([
      ...this.backends.checks(),
      () => this.details.tracing(),
      () => this.details.zeroCopy(),
    ]);
  }
}
