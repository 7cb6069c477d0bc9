/**
 * Readiness details that never fail the probe. A dead collector or a streaming-only build must
 * never take the gateway out of rotation, so these checks are always up and tell the operator
 * instead: `tracing.exporter: degraded`, `zero_copy.mode: stream` and why.
 */
import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { tracingStatus } from '../observability/tracing/tracing-status';
import { ZeroCopyService } from '../zero-copy/zero-copy.service';

/** The `tracing` and `zero_copy` details of /health/ready. */
@Injectable()
export class DetailsHealthIndicator {
  constructor(
    @Inject(HealthIndicatorService) private readonly indicators: HealthIndicatorService,
    @Inject(ZeroCopyService) private readonly zeroCopyService: ZeroCopyService,
  ) {}

  /** `{ status: 'up', exporter: 'ok' | 'degraded' | 'disabled', breaker }`. */
  tracing(): HealthIndicatorResult {
    return this.indicators.check('tracing').up(tracingStatus());
  }

  /** `{ status: 'up', mode: 'splice' | 'stream', reason }`. */
  zeroCopy(): HealthIndicatorResult {
    return this.indicators.check('zero_copy').up({ ...this.zeroCopyService.status() });
  }
}
