/**
 * One access line per request, written when the response ends or the client goes away, and the
 * request-scoped logger that every other line of the request goes through.
 */
import { createContextKey } from '@opentelemetry/api';
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { NextFunction, Request, Response } from 'express';
import { Store, storage } from 'nestjs-pino/storage';
import type { Logger } from 'pino';
import type { GatewayRequest } from '../../common/request-context';
import { newRequestId } from '../../common/request-id.middleware';
import { context } from '../tracing/otel-api';
import { tracingActive } from '../tracing/tracing-status';

/** `context` of access lines, to tell them from what the modules log. */
export const ACCESS_CONTEXT = 'AccessLog';

const ERROR_CODE_LOCAL = 's3ErrorCode';
const BODY_BYTES = Symbol('bodyBytesReceived');

type CountedRequest = IncomingMessage & { [BODY_BYTES]?: number };

/** Where a traced request keeps its logger store: in its OpenTelemetry context. */
const STORE_KEY = createContextKey('mizuchi.logger-store');

/**
 * The request's logger store. While tracing runs it lives in the request's OpenTelemetry
 * context, which already flows through AsyncLocalStorage; a second AsyncLocalStorage (nestjs-pino's)
 * would add its own work to every promise the request makes. Untraced, it is nestjs-pino's.
 */
export function requestStore(): Store | undefined {
  return (context.active().getValue(STORE_KEY) as Store | undefined) ?? storage.getStore();
}

/** Records the S3 error code a response carries, for its access line. */
export function noteS3ErrorCode(res: Response, code: string): void {
  res.locals[ERROR_CODE_LOCAL] = code;
}

/** The fields of one access line. Never the key, the query string or a header value. */
export interface AccessLine {
  context: typeof ACCESS_CONTEXT;
  method: string;
  /** The route's name; absent when no route matched. */
  route?: string;
  operation?: string;
  /** For the health and metrics endpoints, which prefix was asked. */
  probe?: string;
  /** The status sent, or 'aborted' when the response never completed. */
  status: number | 'aborted';
  bytes_received: number;
  duration_ms: number;
  /** The S3 error code of an error response. */
  error_code?: string;
}

/** The prefix of `path` among `prefixes` (exact or followed by '/'), if any. */
export function probePrefix(path: string, prefixes: readonly string[]): string | undefined {
  return prefixes.find((p) => path === p || path.startsWith(`${p}/`));
}

/** Builds the access line of a finished (or abandoned) request. */
export function accessLine(
  req: CountedRequest & Pick<Partial<GatewayRequest>, 's3'>,
  res: Pick<Response, 'statusCode' | 'writableFinished' | 'locals'>,
  durationMs: number,
  probe?: string,
): AccessLine {
  const errorCode: unknown = res.locals?.[ERROR_CODE_LOCAL];
  return {
    context: ACCESS_CONTEXT,
    method: req.method ?? '',
    route: req.s3?.route.name,
    operation: req.s3?.operation,
    probe,
    status: res.writableFinished ? res.statusCode : 'aborted',
    bytes_received: req[BODY_BYTES] ?? 0,
    duration_ms: durationMs,
    error_code: typeof errorCode === 'string' ? errorCode : undefined,
  };
}

/**
 * Counts the body bytes of `req` as they come off the connection. The HTTP parser hands every
 * body chunk to push(); counting there sees each byte without reading the stream, so whoever
 * consumes the body, and its backpressure, are untouched.
 */
export function countBodyBytes(req: CountedRequest): void {
  // Bytes the parser already buffered before this ran (the first packet often carries some).
  req[BODY_BYTES] = req.readableLength;
  const push = req.push.bind(req);
  req.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (chunk !== null && chunk !== undefined) {
      req[BODY_BYTES] = (req[BODY_BYTES] ?? 0) + (chunk as Buffer).length;
    }
    return push(chunk, encoding);
  };
}

/** Counts body bytes that went past Node (spliced by the kernel), so the access line has them. */
export function addBodyBytes(req: IncomingMessage, bytes: number): void {
  const counted = req as CountedRequest;
  if (counted[BODY_BYTES] !== undefined) counted[BODY_BYTES] += bytes;
}

/**
 * A store of nestjs-pino's shape whose request-scoped logger is made on first use: most requests
 * log nothing but their access line, and a pino child costs more than the rest of the line. The
 * accessors live on the class, so every store shares one hidden class (an accessor defined on
 * each instance would give each its own).
 */
class LazyStore implements Store {
  responseLogger?: Logger;
  private child?: Logger;

  constructor(
    private readonly root: Logger,
    private readonly requestId: string,
  ) {}

  get logger(): Logger {
    return (this.child ??= this.root.child({ request_id: this.requestId }));
  }

  set logger(logger: Logger) {
    this.child = logger;
  }
}

/**
 * Express middleware: runs the rest of the request with a logger bound to the gateway's request
 * id (set by requestIdMiddleware, which must run first) and logs the access line when the
 * response is done or the client went away. Requests under `quietPrefixes` (probes, scrapes) log
 * at debug. A level that hides the line skips building it.
 */
export function accessLog(root: Logger, quietPrefixes: readonly string[]) {
  return (req: Request, res: Response, next: NextFunction): void => {
    countBodyBytes(req);
    const started = performance.now();
    const requestId = (req as Partial<GatewayRequest>).requestId ?? newRequestId();
    const store = new LazyStore(root, requestId);
    // 'close' comes from the socket, outside the request's trace context: bring it along.
    const traced = context.active();
    res.on('close', () => {
      const probe = probePrefix(req.path, quietPrefixes);
      const level = probe === undefined ? 'info' : 'debug';
      if (!root.isLevelEnabled(level)) return;
      const duration = Math.round(performance.now() - started);
      context.with(traced, () =>
        store.logger[level](
          accessLine(req, res, duration, probe),
          res.writableFinished ? 'request completed' : 'request aborted',
        ),
      );
    });
    if (tracingActive()) context.with(traced.setValue(STORE_KEY, store), next);
    else storage.run(store, next);
  };
}
