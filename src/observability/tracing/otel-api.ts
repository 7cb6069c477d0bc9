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
 */
import * as api from '@opentelemetry/api';
import * as core from '@opentelemetry/core';
import * as sdk from '@opentelemetry/sdk-trace-base';

export const context = api.context;
export const propagation = api.propagation;
export const trace = api.trace;
export const ROOT_CONTEXT = api.ROOT_CONTEXT;
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
