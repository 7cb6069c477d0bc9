/**
 * Refuses a request whose target (path and query, as sent) is longer than
 * `server.limits.max_url_bytes`, before any route resolution or query parsing.
 */
import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { S3Error } from '@mizuchi/s3-protocol';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import type { GatewayRequest } from '../common/request-context';

/** 414 InvalidURI for an over-long request target, on every path. */
@Injectable()
export class UrlLengthGuard implements CanActivate {
  private readonly maxBytes: number;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.maxBytes = config.server.limits.max_url_bytes;
  }

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<GatewayRequest>();
    // Node keeps the request target as one character per byte received, so length is bytes.
    const length = req.originalUrl.length;
    if (length > this.maxBytes) {
      // 414 says what HTTP means (RFC 9110 §15.5.15); InvalidURI is the code S3 clients know.
      throw new S3Error(
        'InvalidURI',
        `The request URI is ${length} bytes long; this gateway accepts at most ${this.maxBytes}.`,
        { status: 414 },
      );
    }
    return true;
  }
}
