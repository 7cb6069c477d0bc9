/** Nest's LoggerService over a pino root logger, through nestjs-pino's Logger. */
import type { LoggerService } from '@nestjs/common';
import { Logger as NestPinoLogger, PinoLogger } from 'nestjs-pino';
import type { Logger } from 'pino';
import { requestStore } from './access-log';

/**
 * nestjs-pino's PinoLogger, except that outside a request it writes to this root instead of the
 * one process-wide logger nestjs-pino keeps, so each app (tests start many) logs as configured.
 */
class RootedPinoLogger extends PinoLogger {
  constructor(private readonly root: Logger) {
    super({ pinoHttp: { logger: root } });
  }

  /** Inside a request the request's child logger (with `request_id`), else the root. */
  override get logger(): Logger {
    return requestStore()?.logger ?? this.root;
  }
}

/**
 * The gateway's logger: every `new Logger(Context)` in src/ comes out here as a pino line with
 * `context`, plus `request_id` inside a request and `trace_id`/`span_id` under an active span.
 */
export class GatewayLogger extends NestPinoLogger implements LoggerService {
  constructor(readonly root: Logger) {
    super(new RootedPinoLogger(root), {});
  }
}
