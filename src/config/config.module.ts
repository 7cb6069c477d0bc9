/**
 * Config module: owns loading and validating the YAML config (src/config) and provides the result
 * to every other module. It must not know what the sections mean; each module owns its schema.
 */
import { type DynamicModule, Global, Inject, Module } from '@nestjs/common';
import type { AppConfig } from './config.schema';

/** Injection token under which the validated {@link AppConfig} is provided. */
export const APP_CONFIG = Symbol('APP_CONFIG');

/** Parameter decorator injecting the validated {@link AppConfig}. */
export const InjectConfig = (): ParameterDecorator & PropertyDecorator => Inject(APP_CONFIG);

/** Global module providing the already-validated config under {@link APP_CONFIG}. */
@Global()
@Module({})
export class ConfigModule {
  /** Registers `config` (from loadConfigFile or defaultConfig) for the whole application. */
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: ConfigModule,
      global: true,
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
    };
  }
}
