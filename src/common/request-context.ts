/** The per-request state that middleware and guards attach for the layers after them. */
import type { Request } from 'express';
import type { ChunkSignatureVerifier, S3Operation } from '@mizuchi/s3-protocol';
import type { Principal } from '../auth/principal';
import type { ReplayStore } from '../auth/replay-store';
import type { RouteConfig } from '../config/config.schema';

/** What routing and classification learned about an S3 request. */
export interface S3RequestContext {
  route: RouteConfig;
  /** Who is asking; the anonymous principal on routes without auth. */
  principal: Principal;
  /** For signed aws-chunked bodies: verifies each chunk signature in its chain. */
  chunkVerifier?: ChunkSignatureVerifier;
  /** For SigV4 requests with replay protection: the signature to remember once the upload succeeds. */
  replay?: { store: ReplayStore; key: string; until: Date };
  operation: S3Operation;
  /** The decoded, validated object key as the client sent it; '' for bucket-level operations. */
  key: string;
  /** The key in the backend when the route's `key_template` rewrites it; else `key`. */
  storageKey?: string;
  /** Decoded query parameters by name (last one wins). */
  query: Record<string, string>;
}

/** An Express request as the gateway sees it. */
export interface GatewayRequest extends Request {
  requestId: string;
  s3?: S3RequestContext;
}

/**
 * The client's address: the TCP peer, or, behind proxies that `server.trust_proxy` trusts, the
 * address they name in X-Forwarded-For (Express's `req.ip`, set up in configureApp).
 */
export function clientAddress(req: Request): string | undefined {
  return req.ip ?? req.socket.remoteAddress;
}
