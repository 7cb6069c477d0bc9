/**
 * The exporter's health as the readiness probe shows it. Tracing starts before Nest, so the
 * state lives here, set by startTracing and read by the health indicator.
 */

/** disabled (tracing off), ok (exports succeed or none attempted yet) or degraded. */
export type ExporterHealth = 'disabled' | 'ok' | 'degraded';

/** Where the probe reads the exporter's health from. */
export interface TracingStatusSource {
  exporterHealth(): ExporterHealth;
  breakerState(): string;
}

let source: TracingStatusSource | undefined;

/** Installs the running tracer's status (undefined when tracing stops). */
export function setTracingStatusSource(next: TracingStatusSource | undefined): void {
  source = next;
}

/** The exporter's health and breaker state right now. */
export function tracingStatus(): { exporter: ExporterHealth; breaker: string } {
  if (source === undefined) return { exporter: 'disabled', breaker: 'closed' };
  return { exporter: source.exporterHealth(), breaker: source.breakerState() };
}

/** Whether a tracer is running in this process (the server span middleware asks per request). */
export function tracingActive(): boolean {
  return source !== undefined;
}
