/** Counts and times every S3 request when its response ends, with bounded labels only. */
import type { NextFunction, Request, Response } from 'express';
import type { GatewayRequest } from '../common/request-context';
import { metrics } from './metrics';

/** Express middleware recording mizuchi_uploads_total and mizuchi_upload_duration_seconds. */
export function requestMetrics(skipPrefixes: readonly string[]) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (skipPrefixes.some((p) => req.path === p || req.path.startsWith(`${p}/`))) {
      next();
      return;
    }
    const started = process.hrtime.bigint();
    res.once('close', () => {
      const s3 = (req as GatewayRequest).s3;
      const bucket = s3?.route.name ?? 'none';
      const operation = s3?.operation ?? 'none';
      const status = res.writableFinished ? String(res.statusCode) : 'aborted';
      metrics().uploads.inc({ bucket, operation, status });
      metrics().duration.observe(
        { bucket, operation },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
    });
    next();
  };
}
