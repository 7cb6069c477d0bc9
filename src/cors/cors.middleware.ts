/**
 * CORS for browser uploads, per route (`cors: { allowed_origins, max_age_seconds }`), before any
 * guard runs, so that a preflight needs no credentials:
 * - a preflight (OPTIONS with Origin and Access-Control-Request-Method) to a route with `cors`
 *   is answered 200 when the origin is listed, the method is one an upload uses (PUT, POST) and
 *   every requested header is one an S3 upload sends; otherwise 403 AccessForbidden, as S3 does;
 * - any other request from a listed origin gets Access-Control-Allow-Origin and exposes only
 *   ETag and x-amz-request-id (multipart uploads in a browser need the parts' ETags);
 * - nothing else changes: the request still passes authentication, authorization and the
 *   upload-only contract, and a route without `cors` sends no CORS header at all.
 */
import type { NextFunction, Request, Response } from 'express';
import { S3Error, renderErrorXml, splitRawUrl } from '@mizuchi/s3-protocol';
import type { GatewayRequest } from '../common/request-context';
import type { RouteConfig } from '../config/config.schema';
import type { CorsConfig } from '../routing/routing.schema';
import { RouteResolver } from '../routing/route-resolver';

/** Methods a browser upload uses: PutObject and UploadPart, and POST for multipart. */
export const CORS_METHODS = ['PUT', 'POST'] as const;

/** Response headers a browser script may read. */
export const EXPOSED_HEADERS = ['ETag', 'x-amz-request-id'] as const;

/** Request headers an S3 upload sends that a preflight may ask for, besides x-amz-* and amz-sdk-*. */
const UPLOAD_HEADERS = new Set([
  'authorization',
  'cache-control',
  'content-disposition',
  'content-encoding',
  'content-language',
  'content-md5',
  'content-type',
  'expires',
]);

/** Whether a preflight may ask for request header `name` (lower case). */
export function isUploadHeader(name: string): boolean {
  return UPLOAD_HEADERS.has(name) || name.startsWith('x-amz-') || name.startsWith('amz-sdk-');
}

/** The Access-Control-Allow-Origin value for `origin` under `cors`, or undefined if not listed. */
export function allowedOrigin(cors: CorsConfig, origin: string): string | undefined {
  const listed = cors.allowed_origins.map((o) => o.replace(/\/$/, ''));
  if (listed.includes(origin)) return origin;
  return listed.includes('*') ? '*' : undefined;
}

/** The header names of an Access-Control-Request-Headers value, lower case. */
export function requestedHeaders(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
}

const NOT_ENABLED = 'CORSResponse: CORS is not enabled for this route.';
const NOT_ALLOWED =
  'CORSResponse: This CORS request is not allowed. The origin, the method or a requested header ' +
  "is not allowed by the route's CORS configuration.";

/** Express middleware answering preflights and marking allowed cross-origin requests. */
export function corsMiddleware(routes: readonly RouteConfig[]) {
  const resolver = new RouteResolver(routes);
  return (req: Request, res: Response, next: NextFunction): void => {
    const origin = req.headers.origin;
    if (origin === undefined) {
      next();
      return;
    }
    const cors = resolver.resolve(splitRawUrl(req.url).rawPath)?.route.cors;
    const method = req.headers['access-control-request-method'];
    if (req.method === 'OPTIONS' && method !== undefined) {
      preflight(req, res, cors, origin, method);
      return;
    }
    const allowed = cors !== undefined ? allowedOrigin(cors, origin) : undefined;
    if (allowed !== undefined) {
      res.setHeader('Access-Control-Allow-Origin', allowed);
      res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS.join(', '));
      res.vary('Origin');
    }
    next();
  };
}

function preflight(
  req: Request,
  res: Response,
  cors: CorsConfig | undefined,
  origin: string,
  method: string,
): void {
  // The answer depends on these, so caches must key on them.
  res.vary('Origin');
  res.vary('Access-Control-Request-Method');
  res.vary('Access-Control-Request-Headers');
  req.resume();
  if (cors === undefined) {
    refuse(req, res, NOT_ENABLED);
    return;
  }
  const allowed = allowedOrigin(cors, origin);
  const headers = requestedHeaders(req.headers['access-control-request-headers']);
  if (
    allowed === undefined ||
    !(CORS_METHODS as readonly string[]).includes(method.trim()) ||
    !headers.every(isUploadHeader)
  ) {
    refuse(req, res, NOT_ALLOWED);
    return;
  }
  res.setHeader('Access-Control-Allow-Origin', allowed);
  res.setHeader('Access-Control-Allow-Methods', CORS_METHODS.join(', '));
  if (headers.length > 0) res.setHeader('Access-Control-Allow-Headers', headers.join(', '));
  res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS.join(', '));
  res.setHeader('Access-Control-Max-Age', String(cors.max_age_seconds));
  res.status(200).setHeader('Content-Length', '0');
  res.end();
}

function refuse(req: Request, res: Response, message: string): void {
  const error = new S3Error('AccessForbidden', message);
  res
    .status(error.status)
    .type('application/xml')
    .send(
      renderErrorXml({
        code: error.code,
        message: error.message,
        resource: req.path,
        requestId: (req as Partial<GatewayRequest>).requestId ?? '',
      }),
    );
}
