/**
 * The OpenTelemetry values that run on every request, read once. The exports objects of
 * `@opentelemetry/api`, `core` and `sdk-trace-base` are in V8's dictionary mode (TypeScript's
 * re-exports turn each of their members into a getter), and TypeScript compiles every use of a
 * named import to a property load from that object: `trace.getSpan(ctx)` becomes
 * `api_1.trace.getSpan(ctx)`, a dictionary lookup and a getter call that the optimizing compiler
 * cannot inline. On the upload path that was a tenth of what tracing cost a span
 * (docs/TRACING.md, "Where the cost is"). This module's exports are plain data properties, which
 * the compiler folds into constants; the request path imports these names from here.
 *
 * Each enum is exported as a value and as a type of the same name, as the API does.
 *
 * `context` is the API's context calls without their lookup of the global manager: the API's
 * `context.active()` and `context.with()` find the manager through a symbol-keyed property of
 * `globalThis` and a version check on every call, and a traced upload makes about ten of them.
 * Registered through this `context`, the manager is called directly.
 */
import * as api from '@opentelemetry/api';
import * as core from '@opentelemetry/core';
import * as sdk from '@opentelemetry/sdk-trace-base';

export const propagation = api.propagation;
export const trace = api.trace;
export const ROOT_CONTEXT = api.ROOT_CONTEXT;

/** The context manager that `context` calls: the API's own calls until one is registered here. */
let manager: Pick<api.ContextManager, 'active' | 'with'> = api.context;

export const context = {
  active(): api.Context {
    return manager.active();
  },

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: api.Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return manager.with(ctx, fn, thisArg, ...args);
  },

  /**
   * Registers `next` as the API's global context manager, and calls it directly from then on if
   * the API took it (it refuses while another is registered, and `context` keeps following that
   * one).
   */
  setGlobalContextManager(next: api.ContextManager): boolean {
    const registered = api.context.setGlobalContextManager(next);
    manager = registered ? next : api.context;
    return registered;
  },

  /** Disables and unregisters the global context manager, as the API's `context.disable()`. */
  disable(): void {
    api.context.disable();
    manager = api.context;
  },
};

/** The active span, as the API's `trace.getActiveSpan()`, through `context`. */
export function activeSpan(): api.Span | undefined {
  return trace.getSpan(manager.active());
}

export const INVALID_SPAN_CONTEXT = api.INVALID_SPAN_CONTEXT;
export const isTracingSuppressed = core.isTracingSuppressed;
export const suppressTracing = core.suppressTracing;

export const SpanKind = api.SpanKind;
export type SpanKind = api.SpanKind;
export const SpanStatusCode = api.SpanStatusCode;
export type SpanStatusCode = api.SpanStatusCode;
export const TraceFlags = api.TraceFlags;
export type TraceFlags = api.TraceFlags;
export const SamplingDecision = sdk.SamplingDecision;
export type SamplingDecision = sdk.SamplingDecision;
