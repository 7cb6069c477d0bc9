/** Provides the UploadIdCodec with the configured secret, or a per-process one with a warning. */
import { randomBytes } from 'node:crypto';
import { Logger, type Provider } from '@nestjs/common';
import { UploadIdCodec } from '@mizuchi/upload-id';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';

export const uploadIdCodecProvider: Provider = {
  provide: UploadIdCodec,
  inject: [APP_CONFIG],
  useFactory: (config: AppConfig) => {
    const secret = config.server.upload_id_secret;
    if (secret !== undefined) return new UploadIdCodec(secret);
    new Logger('UploadIds').warn(
      'server.upload_id_secret is not set: using a random per-process secret, so multipart uploads ' +
        'cannot move between replicas or survive a restart. Set server.upload_id_secret for production (e.g. upload_id_secret: ${MIZUCHI_UPLOAD_ID_SECRET} in the config file; the embedded default config reads MIZUCHI_UPLOAD_ID_SECRET itself).',
    );
    return new UploadIdCodec(randomBytes(32));
  },
};
