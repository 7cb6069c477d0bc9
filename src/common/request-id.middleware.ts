/**
 * Gives every request an S3-style request id, echoed as `x-amz-request-id` (and `x-amz-id-2`)
 * so clients, logs and spans can name the same request.
 */
import { randomBytes } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { GatewayRequest } from './request-context';

/** A 16-character upper-case hex id, the shape S3 uses. */
export function newRequestId(): string {
  return randomBytes(8).toString('hex').toUpperCase();
}

/** Express middleware that assigns the request id before anything else runs. */
export function requestIdMiddleware(req: Request, res: Response, next: NextFunction): void {
  const id = newRequestId();
  (req as GatewayRequest).requestId = id;
  res.setHeader('x-amz-request-id', id);
  res.setHeader('x-amz-id-2', id);
  next();
}
