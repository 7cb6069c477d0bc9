/**
 * The S3 wire surface. One catch-all handler: S3RequestGuard has already classified the request,
 * so the handler only dispatches on the operation and writes the resulting headers.
 */
import { All, Controller, Inject, Req, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { S3Error } from '@mizuchi/s3-protocol';
import { ClientAbortSignal, S3Context } from '../common/request.decorators';
import type { GatewayRequest, S3RequestContext } from '../common/request-context';
import { S3RequestGuard } from '../routing/s3-request.guard';
import { UploadService } from './upload.service';

/** Serves the upload operations of DESIGN.md §1 on every configured route. */
@Controller()
@UseGuards(S3RequestGuard)
export class ObjectController {
  constructor(@Inject(UploadService) private readonly uploads: UploadService) {}

  @All('{*path}')
  async handle(
    @S3Context() s3: S3RequestContext,
    @Req() req: GatewayRequest,
    @Res({ passthrough: true }) res: Response,
    @ClientAbortSignal() clientSignal: AbortSignal,
  ): Promise<void> {
    switch (s3.operation) {
      case 'HeadBucket':
        // Tools probe the bucket before uploading; the route exists, so it answers 200.
        return;
      case 'PutObject':
        res.set(await this.uploads.putObject(s3, req, req.headers, clientSignal));
        return;
      case 'CreateMultipartUpload':
      case 'UploadPart':
      case 'CompleteMultipartUpload':
      case 'AbortMultipartUpload':
      case 'ListParts':
        throw new S3Error(
          'NotImplemented',
          `${s3.operation} is not available in this release: use a single PutObject of up to 5 GiB.`,
        );
    }
  }
}
