/**
 * The one place errors become responses. Every S3 path answers S3 XML with the request id; the
 * health endpoints keep Terminus' JSON. Backend and internal details never reach the client.
 */
import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  Logger,
} from '@nestjs/common';
import type { Response } from 'express';
import { S3Error, renderErrorXml } from '@mizuchi/s3-protocol';
import { noteS3ErrorCode } from '../observability/logging/access-log';
import { metrics } from '../observability/metrics';
import { lingerAfterAnswer } from './lingering-close';
import type { GatewayRequest } from './request-context';

/** Converts anything thrown into an S3Error fit to show the client. */
export function toS3Error(err: unknown): S3Error {
  if (err instanceof S3Error) return err;
  // Express decodes the catch-all route parameter before any gateway code runs.
  if (err instanceof URIError || isDecodeFailure(err)) {
    return new S3Error('InvalidURI', "Couldn't parse the specified URI: bad percent-encoding.", {
      cause: err,
    });
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    if (status === 404) return new S3Error('NoSuchBucket');
    if (status === 405) return new S3Error('MethodNotAllowed');
    if (status === 400) return new S3Error('InvalidRequest', err.message);
  }
  return new S3Error('InternalError', undefined, { cause: err });
}

/** Renders every exception as S3 XML (or Terminus JSON on /health). */
@Catch()
export class S3ExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('S3ExceptionFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const req = ctx.getRequest<GatewayRequest>();
    const res = ctx.getResponse<Response>();

    if (res.headersSent) {
      // Half a response cannot be taken back: cut the connection so the client sees a failure.
      this.logger.warn(
        `request ${req.requestId} failed after the response started: ${describe(exception)}`,
      );
      req.socket.destroy();
      return;
    }
    if (exception instanceof HttpException && req.path.startsWith('/health')) {
      res.status(exception.getStatus()).json(exception.getResponse());
      return;
    }

    const error = toS3Error(exception);
    metrics().errors.inc({ code: error.code });
    noteS3ErrorCode(res, error.code);
    // The route, never the path: the path holds the object key.
    const route = req.s3?.route.name ?? '-';
    // The gateway's own throttling (a SlowDown with no backend cause) is no failure, and a flood
    // of it must not flood the log too.
    const throttled = error.code === 'SlowDown' && error.cause === undefined;
    if (error.status >= 500 && !throttled) {
      this.logger.error(
        `request ${req.requestId} ${req.method} ${route}: ${error.code}: ${describe(error.cause ?? exception)}`,
      );
    } else {
      this.logger.debug(`request ${req.requestId} ${req.method} ${route}: ${error.code}`);
    }
    for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
    if (!req.complete) {
      // The body was not read to its end: the connection cannot carry another request. It is
      // closed without a reset once the client has had the answer (see lingering-close.ts).
      res.setHeader('Connection', 'close');
      lingerAfterAnswer(req);
    }
    res
      .status(error.status)
      .type('application/xml')
      .send(
        renderErrorXml({
          code: error.code,
          message: error.message,
          resource: req.path,
          requestId: req.requestId ?? '',
        }),
      );
  }
}

function isDecodeFailure(err: unknown): boolean {
  return (
    err instanceof HttpException &&
    err.getStatus() === 400 &&
    /^Failed to decode param/.test(err.message)
  );
}

function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
