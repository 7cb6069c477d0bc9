/**
 * Creating and configuring the Nest application, shared by main.ts and the tests so that tests
 * exercise exactly what production runs.
 */
import { ConsoleLogger, type LoggerService, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule, type AppOptions } from './app.module';
import { requestIdMiddleware } from './common/request-id.middleware';
import { requestMetrics } from './observability/request-metrics.middleware';
import type { AppConfig } from './config/config.schema';
import { assertEnforceable } from './config/enforceable';

const LEVELS: Record<AppConfig['logging']['level'], LogLevel[]> = {
  error: ['fatal', 'error'],
  warn: ['fatal', 'error', 'warn'],
  info: ['fatal', 'error', 'warn', 'log'],
  debug: ['fatal', 'error', 'warn', 'log', 'debug'],
  verbose: ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'],
};

/** The logger that the config asks for. */
export function createLogger(config: AppConfig): LoggerService {
  return new ConsoleLogger({
    json: config.logging.format === 'json',
    logLevels: LEVELS[config.logging.level],
    colors: config.logging.format === 'pretty' && process.stdout.isTTY,
  });
}

/** Applies the gateway's HTTP settings to a created app; main.ts and tests both call it. */
export function configureApp(app: NestExpressApplication, config: AppConfig): void {
  app.disable('x-powered-by');
  // The gateway sets S3 ETags itself; Express must not invent weak ones for error bodies.
  app.disable('etag');
  app.use(requestIdMiddleware);
  app.use(requestMetrics(['/health', config.metrics.path]));
  const server = app.getHttpServer();
  // Large uploads legitimately take longer than Node's 5-minute whole-request default; an idle
  // timeout is what catches stalled clients instead.
  server.requestTimeout = 0;
  server.timeout = config.server.limits.idle_timeout_seconds * 1000;
  server.keepAliveTimeout = 5000;
}

/** Creates the app for a config; the body is never parsed or buffered by Nest. */
export async function createApp(
  config: AppConfig,
  logger: LoggerService | false = createLogger(config),
  options: AppOptions = {},
): Promise<NestExpressApplication> {
  assertEnforceable(
    config,
    undefined,
    Object.keys(options.authzProviders ?? {}),
    Object.keys(options.authenticators ?? {}),
  );
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, options), {
    bodyParser: false,
    logger,
  });
  configureApp(app, config);
  return app;
}
