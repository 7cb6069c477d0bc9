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
  // A context holding a value and a span, as the request path reads them.
  const key = api.createContextKey('otel-api-spec');
  const ctx = api.ROOT_CONTEXT.setValue(key, 'value');
  const span = api.trace.wrapSpanContext({
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
    traceFlags: api.TraceFlags.SAMPLED,
  });

  it('holds the API’s own singletons, constants and enums, and the SDK’s sampling decision', () => {
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
    api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    try {
      const seen = otel.context.with(otel.trace.setSpan(ctx, span), () => [
        otel.context.active().getValue(key),
        otel.trace.getActiveSpan(),
        otel.activeSpan(),
      ]);

      expect(seen).toEqual(['value', span, span]);
    } finally {
      api.context.disable();
    }
  });

  describe('context', () => {
    /** Runs `fn` counting the reads of the API's global registry (a symbol of `globalThis`). */
    function countingRegistryReads(fn: () => void): number {
      const global = globalThis as unknown as Record<symbol, unknown>;
      const registry = Object.getOwnPropertySymbols(global).find((symbol) =>
        symbol.description?.startsWith('opentelemetry.js.api.'),
      );
      if (registry === undefined) throw new Error('no OpenTelemetry API registry on globalThis');
      const value = global[registry];
      let reads = 0;
      Object.defineProperty(global, registry, {
        configurable: true,
        get: () => {
          reads += 1;
          return value;
        },
      });
      try {
        fn();
      } finally {
        Object.defineProperty(global, registry, { configurable: true, writable: true, value });
      }
      return reads;
    }

    afterEach(() => otel.context.disable());

    it('registers the manager with the API and then calls it without the API’s lookup', () => {
      expect(
        otel.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable()),
      ).toBe(true);
      let seen: unknown[] = [];
      const reads = countingRegistryReads(() => {
        seen = otel.context.with(
          otel.trace.setSpan(ctx, span),
          (a: number, b: number) => [otel.context.active().getValue(key), otel.activeSpan(), a + b],
          undefined,
          1,
          2,
        );
      });

      expect(seen).toEqual(['value', span, 3]);
      expect(reads).toBe(0);
      // The API sees the same manager, and its own calls do read the registry.
      expect(
        countingRegistryReads(() =>
          otel.context.with(ctx, () => expect(api.context.active()).toBe(ctx)),
        ),
      ).toBeGreaterThan(0);
    });

    it('follows the API’s manager when the API refuses another', () => {
      api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
      const refused = new AsyncLocalStorageContextManager().enable();

      expect(otel.context.setGlobalContextManager(refused)).toBe(false);
      api.context.with(ctx, () => expect(otel.context.active()).toBe(ctx));
      otel.context.with(ctx, () => expect(api.context.active()).toBe(ctx));
      refused.disable();
    });

    it('disables and unregisters the manager, and stops calling it', () => {
      otel.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
      otel.context.disable();

      expect(otel.context.with(ctx, () => otel.context.active())).toBe(api.ROOT_CONTEXT);
      expect(api.context.with(ctx, () => api.context.active())).toBe(api.ROOT_CONTEXT);
      // Registering again works: the API's slot is free.
      expect(
        otel.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable()),
      ).toBe(true);
      expect(otel.context.with(ctx, () => otel.context.active())).toBe(ctx);
    });
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
