/**
 * Starts OpenTelemetry before Nest loads, so the http instrumentation patches the backend clients
 * in time (the server span is the gateway's own, server-span.ts). main.ts calls startTracing()
 * right after reading the config and only then imports the app. Spans flow: instrumentation or
 * gateway code -> LeanTracerProvider (sampler from the config) -> BoundedBatchProcessor, which
 * encodes each sampled span as it ends, through the privacy filter (otlp-protobuf.ts), into a
 * bounded queue -> ResilientExporter (retries, breaker, fallback) -> OTLP over http/protobuf or
 * gRPC.
 */
import { propagation, SpanKind, trace } from '@opentelemetry/api';
import { hrTimeToMilliseconds, W3CTraceContextPropagator } from '@opentelemetry/core';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  type ReadableSpan,
  type Sampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import {
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
  ATTR_TELEMETRY_SDK_LANGUAGE,
} from '@opentelemetry/semantic-conventions';
import { metrics } from '../metrics';
import type { TracingConfig } from '../observability.schema';
import { type BatchExporter, BoundedBatchProcessor } from './bounded-batch-processor';
import { LeanContextManager } from './lean-context';
import { LeanTracerProvider } from './lean-tracer';
import { OtlpGrpcExporter } from './otlp-grpc-exporter';
import { context } from './otel-api';
import { OtlpHttpExporter } from './otlp-http-exporter';
import { type EncodedSpan, encodeResource, SpanEncoder } from './otlp-protobuf';
import { ResilientExporter } from './resilient-exporter';
import { privateCopy } from './span-privacy';
import { setTracingStatusSource } from './tracing-status';

/** Where tracing writes its own messages: rate-limited export failures and fallback spans. */
export type TracingLog = (level: 'log' | 'warn', message: string) => void;

/** A running tracer. */
export interface TracingHandle {
  /** Routes tracing's messages to the app's logger once it exists. */
  setLog(log: TracingLog): void;
  /** Exports what is queued, then stops. */
  shutdown(): Promise<void>;
}

/** Settings beyond the config section. */
export interface TracingOptions {
  serviceVersion?: string;
  log?: TracingLog;
}

/** At most one export-failure line per this many milliseconds. */
export const FAILURE_LOG_INTERVAL_MS = 60_000;

/** The sampler a `tracing.sampling` section asks for. */
export function samplerFor(sampling: TracingConfig['sampling']): Sampler {
  switch (sampling.strategy) {
    case 'always':
      return new AlwaysOnSampler();
    case 'never':
      return new AlwaysOffSampler();
    case 'ratio':
      return new TraceIdRatioBasedSampler(sampling.ratio);
    case 'parent_based':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(sampling.ratio) });
  }
}

/** One line of the console fallback: the filtered span, never its raw attributes. */
export function describeSpan(span: ReadableSpan): string {
  const ctx = span.spanContext();
  return `span ${JSON.stringify({
    name: span.name,
    kind: SpanKind[span.kind],
    trace_id: ctx.traceId,
    span_id: ctx.spanId,
    parent_span_id: span.parentSpanContext?.spanId,
    duration_ms: Math.round(hrTimeToMilliseconds(span.duration) * 1000) / 1000,
    status: span.status.code,
    attributes: span.attributes,
  })}`;
}

function exporterFor(config: TracingConfig, resource: Buffer): BatchExporter<EncodedSpan> {
  const options = {
    endpoint: config.otlp.endpoint,
    timeoutMs: config.otlp.timeout_seconds * 1000,
    compression: config.otlp.compression,
    resource,
  };
  return config.otlp.protocol === 'grpc'
    ? new OtlpGrpcExporter(options)
    : new OtlpHttpExporter(options);
}

/** Starts tracing for `config`, or returns undefined when `tracing.enabled` is false. */
export function startTracing(
  config: TracingConfig,
  options: TracingOptions,
): TracingHandle | undefined {
  if (!config.enabled) return undefined;
  let log: TracingLog = options.log ?? (() => undefined);
  let lastFailureLog = -Infinity;
  let failuresSinceLog = 0;
  const m = metrics();

  const resourceAttributes = {
    [ATTR_SERVICE_NAME]: config.service_name,
    ...(options.serviceVersion !== undefined
      ? { [ATTR_SERVICE_VERSION]: options.serviceVersion }
      : {}),
    [ATTR_TELEMETRY_SDK_LANGUAGE]: 'nodejs',
  };
  const exporter = new ResilientExporter(exporterFor(config, encodeResource(resourceAttributes)), {
    maxAttempts: config.resilience.max_attempts,
    initialBackoffMs: config.resilience.initial_backoff_millis,
    maxBackoffMs: config.resilience.max_backoff_millis,
    failureThreshold: config.resilience.failure_threshold,
    cooldownMs: config.resilience.cooldown_seconds * 1000,
    fallback:
      config.fallback === 'console'
        ? (spans) => spans.forEach((span) => log('log', span.line ?? 'span (undescribed)'))
        : undefined,
    onAttemptFailed: (error) => {
      m.tracingExportFailures.inc();
      failuresSinceLog += 1;
      const now = Date.now();
      if (now - lastFailureLog >= FAILURE_LOG_INTERVAL_MS) {
        log(
          'warn',
          `span export to ${config.otlp.endpoint} failed (${failuresSinceLog} failure(s) since ` +
            `the last report): ${error.message}`,
        );
        lastFailureLog = now;
        failuresSinceLog = 0;
      }
    },
    onDropped: (count, reason) => m.tracingSpansDropped.inc({ reason }, count),
    onBreakerChange: (state) => {
      m.tracingBreakerOpen.set(state === 'open' ? 1 : 0);
      if (state === 'open') {
        log(
          'warn',
          `span export suspended for ${config.resilience.cooldown_seconds} s after repeated ` +
            `failures${config.fallback === 'console' ? '; spans go to the log meanwhile' : ''}`,
        );
      } else if (state === 'closed') {
        log('log', 'span export resumed');
      }
    },
  });
  m.tracingBreakerOpen.set(0);
  const privacy = { recordObjectKeys: config.record_object_keys };
  const encoder = new SpanEncoder(
    privacy,
    // Only the console fallback needs a line per span; others skip building it.
    config.fallback === 'console' ? (span) => describeSpan(privateCopy(span, privacy)) : undefined,
  );
  const processor = new BoundedBatchProcessor(exporter, {
    maxQueueSize: config.batch.max_queue_size,
    maxExportBatchSize: config.batch.max_export_batch_size,
    scheduledDelayMs: config.batch.scheduled_delay_millis,
    exportTimeoutMs: config.batch.export_timeout_millis,
    prepare: (span) => encoder.encode(span),
    onQueueFull: (count) => m.tracingSpansDropped.inc({ reason: 'queue_full' }, count),
  });

  const provider = new LeanTracerProvider({
    resource: resourceFromAttributes(resourceAttributes),
    sampler: samplerFor(config.sampling),
    processor,
  });
  // W3C trace context only: a client's `baggage` header is untrusted and must not travel on to
  // backends or policy engines. Context flows through AsyncLocalStorage.
  context.setGlobalContextManager(new LeanContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  const unregister = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        // The server span is the gateway's own (server-span.ts): leaner, and only what may leave.
        disableIncomingRequestInstrumentation: true,
        // Background calls (JWKS refresh, janitor, readiness probes) start no traces of their own.
        requireParentforOutgoingSpans: true,
      }),
    ],
  });
  setTracingStatusSource({
    exporterHealth: () => (exporter.degraded ? 'degraded' : 'ok'),
    breakerState: () => exporter.state,
  });

  return {
    setLog(next) {
      log = next;
    },
    async shutdown() {
      unregister();
      setTracingStatusSource(undefined);
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}
