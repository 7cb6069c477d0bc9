/**
 * Creating and configuring the Nest application, shared by main.ts and the tests so that tests
 * exercise exactly what production runs.
 */
import type { LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Logger } from 'pino';
import { AppModule, type AppOptions } from './app.module';
import { GatewayExpressAdapter } from './common/express-adapter';
import { requestIdMiddleware } from './common/request-id.middleware';
import { corsMiddleware } from './cors/cors.middleware';
import { accessLog } from './observability/logging/access-log';
import { serverSpan } from './observability/tracing/server-span';
import { GatewayLogger } from './observability/logging/gateway-logger';
import { createRootLogger } from './observability/logging/root-logger';
import { requestMetrics } from './observability/request-metrics.middleware';
import type { AppConfig } from './config/config.schema';
import { assertEnforceable } from './config/enforceable';
import { applyHttpLimits, clientIdleTimeout } from './limits/http-limits';

/** The logger that the config asks for: pino, JSON or pretty, on standard output. */
export function createLogger(config: AppConfig): LoggerService {
  return new GatewayLogger(createRootLogger(config.logging));
}

/**
 * Applies the gateway's HTTP settings to a created app; createApp calls it. With `log`, every
 * request gets an access line and a request-scoped logger; without, nothing is logged.
 */
export function configureApp(app: NestExpressApplication, config: AppConfig, log?: Logger): void {
  app.disable('x-powered-by');
  // The gateway sets S3 ETags itself; Express must not invent weak ones for error bodies.
  app.disable('etag');
  // Who may name the client in X-Forwarded-For (req.ip): no one unless configured.
  app.set('trust proxy', config.server.trust_proxy);
  const quiet = ['/health', config.metrics.path];
  app.use(requestIdMiddleware);
  // First of the rest, so that access lines and every span of the request belong to its trace.
  app.use(serverSpan(quiet));
  if (log !== undefined) app.use(accessLog(log, quiet));
  app.use(requestMetrics(quiet));
  // Before every guard: a CORS preflight carries no credentials.
  app.use(corsMiddleware(config.buckets));
  app.use(clientIdleTimeout(config.server.limits.idle_timeout_seconds * 1000));
  const server = app.getHttpServer();
  applyHttpLimits(server, config.server.limits);
  server.keepAliveTimeout = 5000;
}

/**
 * Creates the app for a config; the body is never parsed or buffered by Nest. `logger` false
 * logs nothing at all; a LoggerService other than createLogger's gets Nest's lines, while access
 * lines still go to a pino logger built from the config.
 */
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
  const app = await NestFactory.create<NestExpressApplication>(
    AppModule.forRoot(config, options),
    new GatewayExpressAdapter(),
    { bodyParser: false, logger },
  );
  configureApp(app, config, accessLogger(logger, config));
  return app;
}

/** Where access lines go: createLogger's pino root, else one built from the config, or nowhere. */
function accessLogger(logger: LoggerService | false, config: AppConfig): Logger | undefined {
  if (logger === false) return undefined;
  return logger instanceof GatewayLogger ? logger.root : createRootLogger(config.logging);
}
