/**
 * LimitsModule: the request limits of `server.limits` that need Nest (the URL length on every
 * request, the per-principal rate and the upload concurrency on S3 requests). The limits that
 * Node's HTTP server enforces (head size, head and idle timeouts) live in http-limits.ts and are
 * applied by configureApp. It refuses requests and counts; it never touches a body or backend.
 */
import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { LimitsGuard } from './limits.guard';
import { RequestRateLimiter } from './request-rate-limiter';
import { UploadSlots } from './upload-slots';
import { UrlLengthGuard } from './url-length.guard';

@Global()
@Module({
  providers: [
    UploadSlots,
    RequestRateLimiter,
    LimitsGuard,
    // Global guards run before the controller's, so an over-long URL is never even routed.
    { provide: APP_GUARD, useClass: UrlLengthGuard },
  ],
  exports: [UploadSlots, RequestRateLimiter, LimitsGuard],
})
export class LimitsModule {}
