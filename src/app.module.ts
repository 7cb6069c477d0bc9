/** The root module: config plus the feature modules, nothing else. */
import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { S3ExceptionFilter } from './common/s3-exception.filter';
import { ConfigModule } from './config/config.module';
import type { AppConfig } from './config/config.schema';
import { HealthModule } from './health/health.module';
import { StorageModule } from './storage/storage.module';
import { UploadModule } from './upload/upload.module';

@Module({})
export class AppModule {
  /** The application for one validated configuration. */
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      // HealthModule comes before UploadModule so /health/* wins over the S3 catch-all route.
      imports: [ConfigModule.forRoot(config), StorageModule, HealthModule, UploadModule],
      providers: [{ provide: APP_FILTER, useClass: S3ExceptionFilter }],
    };
  }
}
