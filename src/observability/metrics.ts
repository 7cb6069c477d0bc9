/**
 * The gateway's Prometheus metrics (DESIGN.md §6), on prom-client's default registry, which
 * @willsoto/nestjs-prometheus serves. Labels stay bounded: route names, operations, statuses,
 * methods and error codes, never a key, a subject or an address. Under `server.workers` the
 * primary sums each metric across workers (prom-client's default aggregator) unless it names
 * another.
 */
import { Counter, Gauge, Histogram, register, type Metric } from 'prom-client';

function once<T extends Metric>(name: string, create: () => T): T {
  // One process may host several apps (tests, or a worker restarting its app): reuse the metric.
  return (register.getSingleMetric(name) as T | undefined) ?? create();
}

const DURATION_BUCKETS = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800];

/** Every metric the gateway records. */
export class GatewayMetrics {
  readonly uploads = once(
    'mizuchi_uploads_total',
    () =>
      new Counter({
        name: 'mizuchi_uploads_total',
        help: 'S3 requests answered, by route, operation and HTTP status.',
        labelNames: ['bucket', 'operation', 'status'],
      }),
  );
  readonly uploadBytes = once(
    'mizuchi_upload_bytes_total',
    () =>
      new Counter({
        name: 'mizuchi_upload_bytes_total',
        help: 'Body bytes of successful uploads (PutObject and UploadPart), by route.',
        labelNames: ['bucket'],
      }),
  );
  readonly duration = once(
    'mizuchi_upload_duration_seconds',
    () =>
      new Histogram({
        name: 'mizuchi_upload_duration_seconds',
        help: 'Time to answer an S3 request, by route and operation.',
        labelNames: ['bucket', 'operation'],
        buckets: DURATION_BUCKETS,
      }),
  );
  readonly inFlight = once(
    'mizuchi_uploads_in_flight',
    () =>
      new Gauge({
        name: 'mizuchi_uploads_in_flight',
        help: 'Request bodies being transferred now.',
      }),
  );
  readonly bytesInFlight = once(
    'mizuchi_upload_bytes_in_flight',
    () =>
      new Gauge({
        name: 'mizuchi_upload_bytes_in_flight',
        help: 'Bytes received from clients by uploads that have not finished yet.',
      }),
  );
  readonly parts = once(
    'mizuchi_multipart_parts_total',
    () =>
      new Counter({
        name: 'mizuchi_multipart_parts_total',
        help: 'Parts stored, by client UploadPart and by auto-multipart.',
        labelNames: ['bucket', 'source'],
      }),
  );
  readonly authAttempts = once(
    'mizuchi_auth_attempts_total',
    () =>
      new Counter({
        name: 'mizuchi_auth_attempts_total',
        help: 'Authentication attempts, by method and result.',
        labelNames: ['method', 'result'],
      }),
  );
  readonly authzDecisions = once(
    'mizuchi_authz_decisions_total',
    () =>
      new Counter({
        name: 'mizuchi_authz_decisions_total',
        help: 'Authorization decisions, by provider and decision (allow, deny, error, cached_*).',
        labelNames: ['provider', 'decision'],
      }),
  );
  readonly backendDuration = once(
    'mizuchi_backend_request_duration_seconds',
    () =>
      new Histogram({
        name: 'mizuchi_backend_request_duration_seconds',
        help: 'Time of requests to S3 backends, by route, S3 operation and HTTP status.',
        labelNames: ['bucket', 'operation', 'status'],
        buckets: DURATION_BUCKETS,
      }),
  );
  readonly zeroCopyBytes = once(
    'mizuchi_zero_copy_bytes_total',
    () =>
      new Counter({
        name: 'mizuchi_zero_copy_bytes_total',
        help: 'Body bytes moved to backends, by transfer mode (splice or stream).',
        labelNames: ['mode'],
      }),
  );
  readonly errors = once(
    'mizuchi_errors_total',
    () =>
      new Counter({
        name: 'mizuchi_errors_total',
        help: 'S3 error responses, by error code.',
        labelNames: ['code'],
      }),
  );
  readonly tracingExportFailures = once(
    'mizuchi_tracing_export_failures_total',
    () =>
      new Counter({
        name: 'mizuchi_tracing_export_failures_total',
        help: 'OTLP span export attempts that failed (each retry counts).',
      }),
  );
  readonly tracingSpansDropped = once(
    'mizuchi_tracing_spans_dropped_total',
    () =>
      new Counter({
        name: 'mizuchi_tracing_spans_dropped_total',
        help: 'Finished spans never exported: queue_full, breaker_open or export_failed.',
        labelNames: ['reason'],
      }),
  );
  readonly tracingBreakerOpen = once(
    'mizuchi_tracing_breaker_open',
    () =>
      new Gauge({
        name: 'mizuchi_tracing_breaker_open',
        help: '1 while the span exporter circuit breaker is open (no export attempted), else 0.',
        // Across cluster workers: 1 while any worker's breaker is open, not the number open.
        aggregator: 'max',
      }),
  );
}

let instance: GatewayMetrics | undefined;

/** The process's metrics. */
export function metrics(): GatewayMetrics {
  instance ??= new GatewayMetrics();
  return instance;
}
