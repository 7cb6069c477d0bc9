/**
 * The span exporter as a readiness detail. A dead collector must never take the gateway out of
 * rotation, so this check is always up; `exporter: degraded` tells the operator instead.
 */
import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { tracingStatus } from '../observability/tracing/tracing-status';

/** Reports tracing as `{ status: 'up', exporter: 'ok' | 'degraded' | 'disabled', breaker }`. */
@Injectable()
export class TracingHealthIndicator {
  constructor(
    @Inject(HealthIndicatorService) private readonly indicators: HealthIndicatorService,
  ) {}

  check(): HealthIndicatorResult {
    return this.indicators.check('tracing').up(tracingStatus());
  }
}
