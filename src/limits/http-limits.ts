/**
 * Limits enforced by Node's HTTP server itself, before a request reaches Express: the size of the
 * request head, the time a client may take to send it, and how long a connection may stay idle.
 * Node answers its own refusals with a bare status line; here they become S3 XML errors.
 */
import { STATUS_CODES, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { Logger } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { type S3ErrorCode, S3_ERRORS, renderErrorXml } from '@mizuchi/s3-protocol';
import { newRequestId } from '../common/request-id.middleware';
import type { ServerConfig } from '../config/server.schema';
import { metrics } from '../observability/metrics';

/** The validated `server.limits` section. */
export type LimitsConfig = ServerConfig['limits'];

/** Options of node:http's Server that @types/node only declares for createServer. */
type TunableServer = Server & { maxHeaderSize?: number; connectionsCheckingInterval: number };

/** How a parse failure of Node's HTTP server is answered. */
interface Refusal {
  status: number;
  code: S3ErrorCode;
  message?: string;
}

/**
 * Node's client error codes and the S3 errors they become. The status is the HTTP one that says
 * exactly what went wrong (RFC 6585 §5 for 431), the code the one from AWS's table: AWS answers
 * both with 400, and S3 clients act on the code.
 */
function refusalFor(code: string | undefined): Refusal | undefined {
  if (code === 'HPE_HEADER_OVERFLOW') return { status: 431, code: 'RequestHeaderSectionTooLarge' };
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return {
      status: 408,
      code: 'RequestTimeout',
      message: 'The request head was not received within the timeout period.',
    };
  }
  if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') {
    return { status: 413, code: 'InvalidRequest', message: 'A chunk extension is too large.' };
  }
  if (code?.startsWith('HPE_') === true) {
    return { status: 400, code: 'InvalidRequest', message: 'The request is not valid HTTP/1.1.' };
  }
  // Socket errors (ECONNRESET, EPIPE, ...): nobody is left to answer.
  return undefined;
}

/**
 * Applies `server.limits` to the HTTP server; call it before `listen`, since Node reads the
 * header limit per connection and the checking interval when it starts listening.
 */
export function applyHttpLimits(server: Server, limits: LimitsConfig): void {
  const tunable = server as TunableServer;
  const idleMs = limits.idle_timeout_seconds * 1000;
  // Counts the request line too, so an over-long URL beyond it is refused here as well.
  tunable.maxHeaderSize = limits.max_header_bytes;
  // A 1 GiB upload may take long; only a request head has a deadline. A stalled body is caught
  // by the idle timeout instead (see clientIdleTimeout).
  tunable.requestTimeout = 0;
  tunable.headersTimeout = idleMs;
  tunable.timeout = idleMs;
  // Node checks head deadlines on this interval (30 s by default), so it bounds their precision.
  tunable.connectionsCheckingInterval = Math.min(5000, Math.max(100, Math.floor(idleMs / 4)));
  const answered = new WeakSet<Socket>();
  const logger = new Logger('Limits');
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // A parser that has failed fails again on every later byte; answer once.
    if (answered.has(socket)) return;
    answered.add(socket);
    const refusal = refusalFor(err.code);
    if (refusal === undefined || !socket.writable || responseStarted(socket)) {
      socket.destroy();
      return;
    }
    metrics().errors.inc({ code: refusal.code });
    logger.debug(`refused a request: ${err.code ?? 'unknown'} -> ${refusal.code}`);
    socket.end(errorResponse(refusal), () => socket.destroy());
  });
}

/** True once a response on this connection has sent its head: it cannot be replaced any more. */
function responseStarted(socket: Socket): boolean {
  // Node's own clientError fallback makes the same check on the same (undocumented) field.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  return inFlight?.headersSent === true;
}

/** A complete HTTP/1.1 response carrying the S3 error document; the connection closes after it. */
function errorResponse({ status, code, message }: Refusal): string {
  const requestId = newRequestId();
  const body = renderErrorXml({
    code,
    message: message ?? S3_ERRORS[code].message,
    // The request line may not even have been read, so there is no resource to name.
    resource: '',
    requestId,
  });
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
    'Content-Type: application/xml\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    `x-amz-request-id: ${requestId}\r\n` +
    `x-amz-id-2: ${requestId}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}

/**
 * Express middleware that makes the socket idle timeout mean "the client stopped sending". Node
 * destroys a connection on which nothing moved for `server.timeout`; that is right when the
 * gateway waits for body bytes that do not come, but wrong when the gateway itself is the one
 * not reading (backpressure from a slow backend or a spent part budget) or is still working on
 * a complete request (a long CompleteMultipartUpload): then the deadline starts over, and the
 * backend's own timeouts bound the wait.
 */
export function clientIdleTimeout(idleMs: number) {
  return (req: Request, res: Response, next: NextFunction): void => {
    // Node emits 'timeout' on the response in flight; with a listener it leaves the socket to us.
    const onTimeout = () => {
      const socket = req.socket;
      if (socket.destroyed) return;
      const gatewayBusy = req.complete || req.readableLength > 0 || socket.isPaused();
      if (gatewayBusy) {
        socket.setTimeout(idleMs);
        return;
      }
      // Cutting the connection aborts the upload, which then leaves nothing in the backend.
      socket.destroy();
    };
    res.on('timeout', onTimeout);
    res.once('close', () => res.off('timeout', onTimeout));
    next();
  };
}
