/** The per-request state that middleware and guards attach for the layers after them. */
import type { Request } from 'express';
import type { S3Operation } from '@mizuchi/s3-protocol';
import type { RouteConfig } from '../config/config.schema';

/** What routing and classification learned about an S3 request. */
export interface S3RequestContext {
  route: RouteConfig;
  /** Who is asking: the authenticated subject, or 'anonymous' on routes without auth. */
  principal: string;
  operation: S3Operation;
  /** The decoded, validated object key; '' for bucket-level operations. */
  key: string;
  /** Decoded query parameters by name (last one wins). */
  query: Record<string, string>;
}

/** An Express request as the gateway sees it. */
export interface GatewayRequest extends Request {
  requestId: string;
  s3?: S3RequestContext;
}
