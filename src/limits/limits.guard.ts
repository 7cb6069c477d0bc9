/**
 * Admission limits of an S3 request, after authentication (the rate limit counts per principal)
 * and before authorization, so that a throttled caller costs no policy-engine call: the
 * per-principal request rate, then the number of bodies in transfer. Both refuse with
 * 503 SlowDown and Retry-After, which S3 clients back off and retry on.
 */
import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Response } from 'express';
import { S3Error, type S3Operation } from '@mizuchi/s3-protocol';
import {
  clientAddress,
  type GatewayRequest,
  type S3RequestContext,
} from '../common/request-context';
import { RequestRateLimiter } from './request-rate-limiter';
import { UploadSlots } from './upload-slots';

/** The operations that transfer an object body, and so count against max_concurrent_uploads. */
export const BODY_OPERATIONS: ReadonlySet<S3Operation> = new Set(['PutObject', 'UploadPart']);

/** Who a request is counted against: the authenticated subject, else the client address. */
export function rateLimitKey(s3: S3RequestContext, req: GatewayRequest): string {
  const { method, subject } = s3.principal;
  if (method === 'anonymous') return `ip:${clientAddress(req) ?? 'unknown'}`;
  return `${method}:${subject}`;
}

/** Refuses a request over the rate or concurrency limit; holds an upload slot until it ends. */
@Injectable()
export class LimitsGuard implements CanActivate {
  constructor(
    @Inject(RequestRateLimiter) private readonly rate: RequestRateLimiter,
    @Inject(UploadSlots) private readonly slots: UploadSlots,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    const req = http.getRequest<GatewayRequest>();
    const s3 = req.s3;
    if (s3 === undefined) throw new Error('S3RequestGuard must run before LimitsGuard');

    if (this.rate.enabled) {
      const { allowed, retryAfterSeconds } = this.rate.take(rateLimitKey(s3, req));
      if (!allowed) {
        throw new S3Error('SlowDown', 'Please reduce your request rate.', {
          headers: { 'Retry-After': String(retryAfterSeconds) },
        });
      }
    }

    if (BODY_OPERATIONS.has(s3.operation)) {
      const release = this.slots.tryAcquire();
      if (release === undefined) {
        throw new S3Error(
          'SlowDown',
          'The gateway is serving as many uploads as it is configured for; retry shortly.',
          // Slots free up as uploads end, which cannot be predicted: retry soon, with backoff.
          { headers: { 'Retry-After': '1' } },
        );
      }
      // 'close' comes for every response: completed, refused, or cut off by the client.
      const res = http.getResponse<Response>();
      if (res.closed) release();
      else res.once('close', release);
    }
    return true;
  }
}
