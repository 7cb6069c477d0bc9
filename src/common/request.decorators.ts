/** Parameter decorators that hand controllers parsed request facts instead of Express objects. */
import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Response } from 'express';
import { S3Error } from '@mizuchi/s3-protocol';
import type { GatewayRequest } from './request-context';

/** The S3RequestContext that S3RequestGuard attached. */
export const S3Context = createParamDecorator((_data: unknown, ctx: ExecutionContext) => {
  const req = ctx.switchToHttp().getRequest<GatewayRequest>();
  if (req.s3 === undefined) throw new Error('S3RequestGuard did not run for this handler');
  return req.s3;
});

/**
 * Subscribes `listener` to the client going away before its response is complete; it gets the
 * error to abort the upload with. Returns the function that unsubscribes.
 */
export type OnClientGone = (listener: (reason: S3Error) => void) => () => void;

/**
 * The request's OnClientGone. A subscription rather than an AbortSignal of its own: the upload
 * already has one controller (InFlightUploads), and on Node 20 every AbortController costs
 * several microseconds (its signal gets a hidden class of its own).
 */
export const ClientGone = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): OnClientGone => {
    const res = ctx.switchToHttp().getResponse<Response>();
    return (listener) => {
      const onClose = () => {
        if (!res.writableFinished) {
          listener(
            new S3Error(
              'IncompleteBody',
              'The client closed the connection before the upload finished.',
            ),
          );
        }
      };
      if (res.closed) {
        onClose();
        return () => undefined;
      }
      res.once('close', onClose);
      return () => res.off('close', onClose);
    };
  },
);
