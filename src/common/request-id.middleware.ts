/**
 * Gives every request an S3-style request id, echoed as `x-amz-request-id` (and `x-amz-id-2`)
 * so clients, logs and spans can name the same request.
 */
import { randomBytes } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { GatewayRequest } from './request-context';

const ID_BYTES = 8;
/** Random bytes for 512 ids: one call to the system's generator instead of one per request. */
let pool = Buffer.alloc(0);
let offset = 0;

/** A 16-character upper-case hex id, the shape S3 uses. */
export function newRequestId(): string {
  if (offset + ID_BYTES > pool.length) {
    pool = randomBytes(512 * ID_BYTES);
    offset = 0;
  }
  const id = pool.toString('hex', offset, offset + ID_BYTES).toUpperCase();
  offset += ID_BYTES;
  return id;
}

/** Express middleware that assigns the request id before anything else runs. */
export function requestIdMiddleware(req: Request, res: Response, next: NextFunction): void {
  const id = newRequestId();
  (req as GatewayRequest).requestId = id;
  res.setHeader('x-amz-request-id', id);
  res.setHeader('x-amz-id-2', id);
  next();
}
