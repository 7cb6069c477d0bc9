/**
 * UploadModule: the S3 upload operations. It owns body transfer and the nothing-half-written
 * rule; routing, auth and storage are injected, never re-implemented here.
 */
import { Module } from '@nestjs/common';
import { RoutingModule } from '../routing/routing.module';
import { InFlightUploads } from './in-flight-uploads';
import { JanitorService } from './janitor.service';
import { ObjectController } from './object.controller';
import { uploadIdCodecProvider } from './upload-id.provider';
import { UploadPolicyGuard } from './upload-policy';
import { UploadService } from './upload.service';

@Module({
  imports: [RoutingModule],
  controllers: [ObjectController],
  providers: [
    UploadService,
    InFlightUploads,
    JanitorService,
    UploadPolicyGuard,
    uploadIdCodecProvider,
  ],
  exports: [InFlightUploads],
})
export class UploadModule {}
