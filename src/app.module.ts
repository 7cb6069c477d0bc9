/** The root module: config plus the feature modules, nothing else. */
import { type DynamicModule, Module, type Type } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { S3ExceptionFilter } from './common/s3-exception.filter';
import { ConfigModule } from './config/config.module';
import type { AppConfig } from './config/config.schema';
import { AuthModule } from './auth/auth.module';
import type { Authenticator } from './auth/authenticator';
import type { AuthzProvider } from './authz/authz-provider';
import { AuthzModule } from './authz/authz.module';
import { HealthModule } from './health/health.module';
import { LimitsModule } from './limits/limits.module';
import { MetricsModule } from './observability/metrics.module';
import { StorageModule } from './storage/storage.module';
import { UploadModule } from './upload/upload.module';
import { ZeroCopyModule } from './zero-copy/zero-copy.module';

/** Extension points of the app, for embedding it with custom parts. */
export interface AppOptions {
  /** Custom authorization providers by name (selected with `authz.provider: <name>`). */
  authzProviders?: Record<string, Type<AuthzProvider>>;
  /** Custom authenticators by name (selected with `auth.custom: <name>`). */
  authenticators?: Record<string, Type<Authenticator>>;
}

@Module({})
export class AppModule {
  /** The application for one validated configuration. */
  static forRoot(config: AppConfig, options: AppOptions = {}): DynamicModule {
    return {
      module: AppModule,
      // Health and metrics come before UploadModule so their paths win over the S3 catch-all route.
      imports: [
        ConfigModule.forRoot(config),
        StorageModule,
        ZeroCopyModule,
        AuthModule.register({ authenticators: options.authenticators }),
        AuthzModule.register({ providers: options.authzProviders }),
        LimitsModule,
        HealthModule,
        ...MetricsModule.register(config),
        UploadModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: S3ExceptionFilter }],
    };
  }
}
