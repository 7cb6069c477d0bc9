/**
 * The S3 wire surface. One catch-all handler: S3RequestGuard has already classified the request,
 * so the handler only dispatches on the operation and writes the result.
 */
import { All, Controller, Inject, Req, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { ClientGone, type OnClientGone, S3Context } from '../common/request.decorators';
import type { GatewayRequest, S3RequestContext } from '../common/request-context';
import { AuthenticateGuard } from '../auth/authenticate.guard';
import { AuthzGuard } from '../authz/authz.guard';
import { LimitsGuard } from '../limits/limits.guard';
import { S3RequestGuard } from '../routing/s3-request.guard';
import { UploadPolicyGuard } from './upload-policy';
import { type OperationResult, UploadService } from './upload.service';

/** Serves the upload operations of DESIGN.md §1 on every configured route. */
@Controller()
@UseGuards(S3RequestGuard, AuthenticateGuard, LimitsGuard, AuthzGuard, UploadPolicyGuard)
export class ObjectController {
  constructor(@Inject(UploadService) private readonly uploads: UploadService) {}

  @All('{*path}')
  async handle(
    @S3Context() s3: S3RequestContext,
    @Req() req: GatewayRequest,
    @Res() res: Response,
    @ClientGone() onClientGone: OnClientGone,
  ): Promise<void> {
    let result: OperationResult;
    try {
      result = await this.dispatch(s3, req, onClientGone);
    } catch (err) {
      // Only a request that succeeded keeps its signature claimed: a failed attempt may be
      // retried exactly as it was sent.
      if (s3.replay !== undefined)
        await s3.replay.store.release(s3.replay.key).catch(() => undefined);
      throw err;
    }
    send(res, result);
  }

  private dispatch(
    s3: S3RequestContext,
    req: GatewayRequest,
    onClientGone: OnClientGone,
  ): Promise<OperationResult> {
    switch (s3.operation) {
      case 'HeadBucket':
        // Tools probe the bucket before uploading; the route exists, so it answers 200.
        return Promise.resolve({ headers: {} });
      case 'PutObject':
        return this.uploads.putObject(s3, req, req.headers, onClientGone);
      case 'CreateMultipartUpload':
        return this.uploads.createMultipartUpload(s3, req.headers);
      case 'UploadPart':
        return this.uploads.uploadPart(s3, req, req.headers, onClientGone);
      case 'CompleteMultipartUpload':
        return this.uploads.completeMultipartUpload(s3, req);
      case 'AbortMultipartUpload':
        return this.uploads.abortMultipartUpload(s3);
      case 'ListParts':
        return this.uploads.listParts(s3);
    }
  }
}

function send(res: Response, result: OperationResult): void {
  res.status(result.status ?? 200).set(result.headers);
  if (result.xml !== undefined) res.type('application/xml').send(result.xml);
  else res.end();
}
