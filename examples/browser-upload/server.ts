#!/usr/bin/env node
/**
 * The browser upload example's web server (node:http only). It serves the upload page and,
 * standing in for your own backend, two small JSON endpoints:
 *
 * - `GET /config.json`: where the page uploads to, `{ gatewayUrl, route }`. The page never takes
 *   the gateway from its own URL, so a link cannot send a user's token to another host.
 * - `POST /token`: a short-lived HS256 JWT for a fixed demo user, signed with the secret the
 *   gateway route verifies. A real backend mints it only for a signed-in user (see README.md).
 *
 *   EXAMPLE_JWT_SECRET=… npx ts-node -T examples/browser-upload/server.ts
 *
 * Environment: EXAMPLE_JWT_SECRET (required, the same as in gateway.yaml), GATEWAY_URL
 * (default http://127.0.0.1:8080), UPLOAD_ROUTE (default browser), HOST (default 127.0.0.1),
 * PORT (default 3000). Tokens and the secret are never printed.
 */
import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/** `iss` of the tokens this server mints; gateway.yaml requires it. */
export const TOKEN_ISSUER = 'mizuchi-browser-upload-example';

/** `aud` of the tokens this server mints; gateway.yaml requires it. */
export const TOKEN_AUDIENCE = 'mizuchi-uploadr';

/** The gateway rejects shorter HS256 secrets (RFC 7518 §3.2), so this server does too. */
const MIN_SECRET_LENGTH = 32;

/** How the example server is started. */
export interface ExampleServerOptions {
  /** Base URL of the gateway as the browser reaches it, e.g. http://127.0.0.1:8080. */
  gatewayUrl: string;
  /** The gateway route's path prefix, with or without slashes, e.g. `browser`. */
  route: string;
  /** HS256 secret shared with the gateway route (`auth.jwt.secret`). */
  jwtSecret: string;
  /** `sub` of the minted tokens. Default `demo-user`. */
  subject?: string;
  /** Lifetime of a minted token. Default 300 seconds. */
  tokenTtlSeconds?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 3000; 0 picks a free port. */
  port?: number;
}

/** A running example server. */
export interface ExampleServer {
  /** Base URL of the page, e.g. http://127.0.0.1:3000; its origin is what the gateway allows. */
  url: string;
  close(): Promise<void>;
}

/**
 * A compact-serialized HS256 JWT (RFC 7519 §7.1; JWS HMAC SHA-256, RFC 7518 §3.2) carrying
 * `claims`. Kept to node:crypto so the example has no dependency; any JWT library does the same.
 */
export function signHs256Jwt(claims: Record<string, unknown>, secret: string): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
  const signature = createHmac('sha256', secret).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

/** Starts the example server and resolves once it listens. */
export async function startExampleServer(options: ExampleServerOptions): Promise<ExampleServer> {
  if (options.jwtSecret.length < MIN_SECRET_LENGTH) {
    throw new Error(`the JWT secret must be at least ${MIN_SECRET_LENGTH} characters`);
  }
  const pageConfig = JSON.stringify({
    gatewayUrl: options.gatewayUrl.replace(/\/+$/, ''),
    route: options.route.replace(/^\/+|\/+$/g, ''),
  });
  const subject = options.subject ?? 'demo-user';
  const ttl = options.tokenTtlSeconds ?? 300;

  const mintToken = (): string => {
    const now = Math.floor(Date.now() / 1000);
    return signHs256Jwt(
      { sub: subject, iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, iat: now, exp: now + ttl },
      options.jwtSecret,
    );
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/' || path === '/index.html') {
      if (!allowMethod(req, res, 'GET')) return;
      const html = await readFile(join(__dirname, 'index.html'));
      reply(res, 200, 'text/html; charset=utf-8', html);
    } else if (path === '/config.json') {
      if (!allowMethod(req, res, 'GET')) return;
      reply(res, 200, 'application/json', pageConfig);
    } else if (path === '/token') {
      // POST, so that no cache, prefetch or <img src> ever obtains a token.
      if (!allowMethod(req, res, 'POST')) return;
      reply(res, 200, 'application/json', JSON.stringify({ token: mintToken(), expires_in: ttl }));
    } else {
      reply(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    }
  };

  const server = createServer((req, res) => {
    // The page sends no body; draining keeps the connection reusable if a client does.
    req.resume();
    handle(req, res).catch(() => {
      if (!res.headersSent) reply(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 3000, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, family, port } = server.address() as AddressInfo;
  const host = family === 'IPv6' ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // A browser keeps idle connections open; do not wait for it to drop them.
        server.closeAllConnections();
      }),
  };
}

function allowMethod(req: IncomingMessage, res: ServerResponse, method: string): boolean {
  if (req.method === method || (method === 'GET' && req.method === 'HEAD')) return true;
  res.setHeader('Allow', method === 'GET' ? 'GET, HEAD' : method);
  reply(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
  return false;
}

function reply(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    // Tokens and config must not be cached; the page is tiny, so neither is it.
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

async function main(): Promise<void> {
  const jwtSecret = process.env.EXAMPLE_JWT_SECRET;
  if (jwtSecret === undefined || jwtSecret === '') {
    throw new Error(
      'set EXAMPLE_JWT_SECRET to the secret the gateway route verifies (see gateway.yaml)',
    );
  }
  const gatewayUrl = process.env.GATEWAY_URL || 'http://127.0.0.1:8080';
  const route = process.env.UPLOAD_ROUTE || 'browser';
  const server = await startExampleServer({
    gatewayUrl,
    route,
    jwtSecret,
    host: process.env.HOST || '127.0.0.1',
    port: Number(process.env.PORT || 3000),
  });
  process.stdout.write(
    `upload page: ${server.url}/ (uploads go to ${gatewayUrl}/${route}/; allow the origin ` +
      `${server.url} in the route's cors.allowed_origins)\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
