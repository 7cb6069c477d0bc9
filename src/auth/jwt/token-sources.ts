/**
 * Where a route finds its JWT: `auth.jwt.token_sources`, tried in the configured order. The first
 * source that holds a token wins; a source that is absent (or holds another scheme, such as
 * `Authorization: Basic`) passes to the next one.
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2 (bearer header and URI query forms)
 */
import type { IncomingHttpHeaders } from 'node:http';
import { firstHeader, parseQuery, splitRawUrl } from '@mizuchi/s3-protocol';
import type { TokenSource } from '../auth.schema';

/** The parts of a request JWT authentication reads. */
export interface JwtRequest {
  headers: IncomingHttpHeaders;
  /** Raw request URL (path and query), for query-parameter token sources. */
  url: string;
}

// RFC 6750 §2.1: `Bearer` (any case), one or more spaces, then the b64token.
const BEARER = /^Bearer +(\S+) *$/i;

/** The token of an `Authorization: Bearer <token>` header; other schemes hold none. */
function fromBearer(headers: IncomingHttpHeaders): string | undefined {
  const value = firstHeader(headers, 'authorization');
  return value === undefined ? undefined : BEARER.exec(value.trim())?.[1];
}

/** A custom header's token; a `Bearer ` prefix is optional, so both styles of client work. */
function fromHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = firstHeader(headers, name)?.trim();
  if (value === undefined) return undefined;
  const token = value.replace(/^Bearer +/i, '');
  return token === '' ? undefined : token;
}

/** A query parameter's token, decoded exactly as the operation classifier decodes names. */
function fromQuery(url: string, name: string): string | undefined {
  const { rawQuery } = splitRawUrl(url);
  if (rawQuery === '') return undefined;
  let pairs: Array<[string, string]>;
  try {
    pairs = parseQuery(rawQuery);
  } catch {
    return undefined;
  }
  const value = pairs.find(([key]) => key === name)?.[1];
  return value === undefined || value === '' ? undefined : value;
}

/** The token one source holds, or undefined. */
export function tokenFrom(req: JwtRequest, source: TokenSource): string | undefined {
  switch (source.type) {
    case 'bearer':
      return fromBearer(req.headers);
    case 'header':
      return fromHeader(req.headers, source.name);
    case 'query':
      return fromQuery(req.url, source.name);
  }
}

/** The token of the first configured source that holds one, or undefined. */
export function extractToken(req: JwtRequest, sources: readonly TokenSource[]): string | undefined {
  for (const source of sources) {
    const token = tokenFrom(req, source);
    if (token !== undefined) return token;
  }
  return undefined;
}
