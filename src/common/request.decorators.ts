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

/** A signal that aborts when the client goes away before its response is complete. */
export const ClientAbortSignal = createParamDecorator((_data: unknown, ctx: ExecutionContext) => {
  const res = ctx.switchToHttp().getResponse<Response>();
  const controller = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) {
      controller.abort(
        new S3Error(
          'IncompleteBody',
          'The client closed the connection before the upload finished.',
        ),
      );
    }
  };
  if (res.closed) onClose();
  else res.once('close', onClose);
  return controller.signal;
});
