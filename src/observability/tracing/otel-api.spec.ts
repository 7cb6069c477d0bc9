import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as api from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import * as core from '@opentelemetry/core';
import * as sdk from '@opentelemetry/sdk-trace-base';
import * as otel from './otel-api';

/** The modules whose functions run on every traced request. */
const REQUEST_PATH = [
  'tracing/lean-tracer.ts',
  'tracing/spans.ts',
  'tracing/client-span.ts',
  'tracing/server-span.ts',
  'tracing/otlp-protobuf.ts',
  'tracing/bounded-batch-processor.ts',
  'logging/access-log.ts',
];

/** Values these modules may still take from the packages: used once, when the module loads. */
const LOAD_TIME_ONLY = new Set(['createContextKey']);

/** The names a source file imports as values from the OpenTelemetry packages. */
function valueImports(source: string): string[] {
  const names: string[] = [];
  const imports = /import\s+(type\s+)?\{([^}]*)\}\s+from\s+'@opentelemetry\/[^']+'/g;
  for (const [, typeOnly, list] of source.matchAll(imports)) {
    if (typeOnly !== undefined) continue;
    for (const entry of list.split(',')) {
      const name = entry.trim();
      if (name !== '' && !name.startsWith('type ')) names.push(name.split(/\s+as\s+/)[0]);
    }
  }
  return names;
}

describe('otel-api', () => {
  it('holds the API’s own singletons, constants and enums, and the SDK’s sampling decision', () => {
    expect([otel.context, otel.propagation, otel.trace]).toEqual([
      api.context,
      api.propagation,
      api.trace,
    ]);
    expect(otel.context).toBe(api.context);
    expect(otel.trace).toBe(api.trace);
    expect(otel.propagation).toBe(api.propagation);
    expect(otel.ROOT_CONTEXT).toBe(api.ROOT_CONTEXT);
    expect(otel.INVALID_SPAN_CONTEXT).toBe(api.INVALID_SPAN_CONTEXT);
    expect(otel.isTracingSuppressed).toBe(core.isTracingSuppressed);
    expect(otel.suppressTracing).toBe(core.suppressTracing);
    expect(otel.SpanKind).toBe(api.SpanKind);
    expect(otel.SpanStatusCode).toBe(api.SpanStatusCode);
    expect(otel.TraceFlags).toBe(api.TraceFlags);
    expect(otel.SamplingDecision).toBe(sdk.SamplingDecision);
  });

  it('serves what is registered after it loaded: the singletons delegate to the globals', () => {
    const key = api.createContextKey('otel-api-spec');
    const ctx = api.ROOT_CONTEXT.setValue(key, 'value');
    const span = api.trace.wrapSpanContext({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: api.TraceFlags.SAMPLED,
    });
    api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    try {
      const seen = otel.context.with(otel.trace.setSpan(ctx, span), () => [
        otel.context.active().getValue(key),
        otel.trace.getActiveSpan(),
      ]);

      expect(seen).toEqual(['value', span]);
    } finally {
      api.context.disable();
    }
  });

  it.each(REQUEST_PATH)('%s takes its OpenTelemetry values from otel-api', (file) => {
    const source = readFileSync(join(__dirname, '..', file), 'utf8');

    expect(valueImports(source).filter((name) => !LOAD_TIME_ONLY.has(name))).toEqual([]);
  });

  it('finds value imports, and tells them from type imports', () => {
    const source = [
      "import type { Span } from '@opentelemetry/api';",
      "import { type Context, trace, context as contextApi } from '@opentelemetry/api';",
      "import { isTracingSuppressed } from '@opentelemetry/core';",
    ].join('\n');

    expect(valueImports(source)).toEqual(['trace', 'context', 'isTracingSuppressed']);
  });
});
