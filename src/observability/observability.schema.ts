/**
 * The `metrics`, `tracing` and `logging` sections. Owns their shape and defaults only; the
 * Prometheus registry, the OpenTelemetry SDK and the logger read them at start-up.
 */
import { z } from 'zod';
import { bool, httpUrl, int, nonEmptyString, num, port } from '../config/scalars';

/** Schema of `metrics`: the Prometheus endpoint. */
export const metricsSchema = z
  .object({
    enabled: bool().default(true),
    path: z
      .string()
      .trim()
      .regex(/^\/[A-Za-z0-9._~\-/]*[A-Za-z0-9._~-]$/, {
        error: "must be a path such as '/metrics' (leading '/', no trailing '/')",
      })
      .default('/metrics'),
    port: port().optional(),
  })
  .strict();

/** Schema of `tracing.otlp`; the endpoint defaults to the collector's port for the protocol. */
export const otlpSchema = z
  .object({
    endpoint: httpUrl().optional(),
    protocol: z.enum(['http/protobuf', 'grpc']).default('http/protobuf'),
    timeout_seconds: int({ min: 1, max: 300 }).default(10),
    compression: z.enum(['gzip', 'none']).default('none'),
  })
  .strict()
  .transform((otlp) => ({
    ...otlp,
    endpoint:
      otlp.endpoint ??
      (otlp.protocol === 'grpc' ? 'http://localhost:4317' : 'http://localhost:4318'),
  }));

/** Schema of `tracing.sampling`. */
export const samplingSchema = z
  .object({
    strategy: z.enum(['always', 'never', 'ratio', 'parent_based']).default('parent_based'),
    ratio: num({ min: 0, max: 1 }).default(1),
  })
  .strict();

/** Schema of `tracing.batch`: the bounded export queue. */
export const batchSchema = z
  .object({
    max_queue_size: int({ min: 1 }).default(2048),
    scheduled_delay_millis: int({ min: 1 }).default(5000),
    max_export_batch_size: int({ min: 1 }).default(512),
    export_timeout_millis: int({ min: 1 }).default(30000),
  })
  .strict()
  .superRefine((batch, ctx) => {
    if (batch.max_export_batch_size > batch.max_queue_size) {
      ctx.addIssue({
        code: 'custom',
        path: ['max_export_batch_size'],
        message: `must not exceed max_queue_size (${batch.max_queue_size})`,
      });
    }
  });

/** Schema of `tracing.resilience`: retries and the circuit breaker in front of the collector. */
export const resilienceSchema = z
  .object({
    max_attempts: int({ min: 1, max: 10 }).default(3),
    initial_backoff_millis: int({ min: 1 }).default(200),
    max_backoff_millis: int({ min: 1 }).default(5000),
    failure_threshold: int({ min: 1 }).default(3),
    cooldown_seconds: num({ min: 0.1, max: 3600 }).default(30),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.max_backoff_millis < r.initial_backoff_millis) {
      ctx.addIssue({
        code: 'custom',
        path: ['max_backoff_millis'],
        message: `must not be below initial_backoff_millis (${r.initial_backoff_millis})`,
      });
    }
  });

/** Schema of `tracing`: OpenTelemetry export over OTLP. */
export const tracingSchema = z
  .object({
    enabled: bool().default(false),
    service_name: nonEmptyString().default('mizuchi-uploadr'),
    otlp: otlpSchema.prefault({}),
    sampling: samplingSchema.prefault({}),
    batch: batchSchema.prefault({}),
    resilience: resilienceSchema.prefault({}),
    record_object_keys: bool().default(false),
    fallback: z.enum(['none', 'console']).default('none'),
  })
  .strict();

/** Log levels, most to least severe. */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'verbose'] as const;

/** Schema of `logging`. */
export const loggingSchema = z
  .object({
    level: z.enum(LOG_LEVELS).default('info'),
    format: z.enum(['json', 'pretty']).default('json'),
  })
  .strict();

/** The validated `metrics` section. */
export type MetricsConfig = z.output<typeof metricsSchema>;
/** The validated `tracing` section. */
export type TracingConfig = z.output<typeof tracingSchema>;
/** The validated `logging` section. */
export type LoggingConfig = z.output<typeof loggingSchema>;
/** One log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];
