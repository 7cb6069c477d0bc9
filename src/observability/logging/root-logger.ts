/**
 * Logging owns how a line is shaped and what can never appear in it: the pino root logger
 * (levels, JSON or pretty output, trace ids, serializers, redaction), the Nest LoggerService over
 * it, and the one access line per request. It never decides what other modules log.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isSpanContextValid } from '@opentelemetry/api';
import { type DestinationStream, type Level, type Logger, pino } from 'pino';
import { prettyFactory } from 'pino-pretty';
import type { GatewayRequest } from '../../common/request-context';
import type { LoggingConfig, LogLevel } from '../observability.schema';
import { activeSpan } from '../tracing/otel-api';

/** The pino level of each configured level; Nest's `verbose` is pino's `trace`. */
export const PINO_LEVELS: Readonly<Record<LogLevel, Level>> = {
  error: 'error',
  warn: 'warn',
  info: 'info',
  debug: 'debug',
  verbose: 'trace',
};

/**
 * Names whose values are credentials wherever they turn up: request headers, query parameters,
 * properties of errors (SDK errors carry requests and responses), config fragments.
 */
export const SECRET_FIELDS: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-amz-security-token',
  'x-amz-signature',
  'x-amz-credential',
  'X-Amz-Security-Token',
  'X-Amz-Signature',
  'X-Amz-Credential',
  'token',
  'access_token',
  'id_token',
  'refresh_token',
  'api_token',
  'apiKey',
  'secret',
  'secret_key',
  'secretAccessKey',
  'sessionToken',
  'client_secret',
  'upload_id_secret',
  'password',
];

/**
 * Where in a line those fields are looked for: at the top, in request headers and query
 * parameters, and in errors down to `err.$response.headers`. Named places, not `*.token`: a
 * leading wildcard makes pino walk every line and costs tens of microseconds per line.
 */
const SECRET_PLACES = [
  '',
  'req.headers',
  'req.query',
  'headers',
  'query',
  'err',
  'err.*',
  'err.*.*',
];

/** pino `redact` paths: every secret field in every secret place. */
export const REDACT_PATHS: readonly string[] = SECRET_FIELDS.flatMap((name) =>
  SECRET_PLACES.map((place) => redactPath(place, name)),
);

/** `place.name`, or `place["x-amz-signature"]` for names that are not identifiers. */
function redactPath(place: string, name: string): string {
  if (!/^[A-Za-z_$][\w$]*$/.test(name)) return `${place}[${JSON.stringify(name)}]`;
  return place === '' ? name : `${place}.${name}`;
}

/** The only request fields a line may show: never the URL (key, query) or a header. */
export interface SafeRequest {
  id?: string;
  method?: string;
  route?: string;
  operation?: string;
}

/** pino serializer for `req`. */
export function serializeRequest(req: IncomingMessage): SafeRequest {
  const { requestId, s3 } = req as Partial<GatewayRequest>;
  return { id: requestId, method: req.method, route: s3?.route.name, operation: s3?.operation };
}

/** pino serializer for `res`: the status only, never a header (Set-Cookie, Location ...). */
export function serializeResponse(res: ServerResponse): { statusCode: number } {
  return { statusCode: res.statusCode };
}

/** pino mixin: the active OpenTelemetry span's ids, so logs and traces join on `trace_id`. */
export function traceFields(): { trace_id?: string; span_id?: string } {
  const span = activeSpan()?.spanContext();
  // A fresh object each time: pino merges the line into what the mixin returns.
  return span !== undefined && isSpanContextValid(span)
    ? { trace_id: span.traceId, span_id: span.spanId }
    : {};
}

let stdout: DestinationStream | undefined;

/**
 * Standard output, written synchronously: lines stay in order with what main.ts writes to
 * process.stdout itself, and nothing is lost when the process exits.
 */
function stdoutSink(): DestinationStream {
  return (stdout ??= pino.destination({ dest: 1, sync: true }));
}

/** pino-pretty run in process as a plain stream (no worker thread), writing to `sink`. */
function prettySink(sink: DestinationStream, colorize: boolean): DestinationStream {
  const prettify = prettyFactory({
    colorize,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,context',
    messageFormat: '{if context}[{context}] {end}{msg}',
    // Fields on the line itself; errors still print their stack below.
    singleLine: true,
  });
  return { write: (line: string) => sink.write(prettify(line)) };
}

/**
 * The root logger for the `logging` section. Lines go to standard output unless `sink` is given
 * (tests capture them there); colours only when pretty output goes to a terminal.
 */
export function createRootLogger(config: LoggingConfig, sink?: DestinationStream): Logger {
  const common = {
    level: PINO_LEVELS[config.level],
    mixin: traceFields,
    serializers: { req: serializeRequest, res: serializeResponse, err: pino.stdSerializers.err },
    redact: { paths: [...REDACT_PATHS], censor: '[Redacted]' },
  };
  if (config.format === 'pretty') {
    const colorize = sink === undefined && process.stdout.isTTY === true;
    return pino(common, prettySink(sink ?? stdoutSink(), colorize));
  }
  return pino(
    {
      ...common,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    sink ?? stdoutSink(),
  );
}
