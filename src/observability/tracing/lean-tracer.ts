/**
 * The gateway's tracer provider: the OpenTelemetry API's Tracer and Span, implemented with as
 * little per-span work as the API allows. A span is one object holding what it will export;
 * attributes are checked as they are set, times are read from one monotonic clock, and ids are
 * cut from a pool of random bytes. When a sampled span ends it goes to the span processor, which
 * encodes it at once (otlp-protobuf.ts), so nothing of it outlives the request.
 *
 * The SDK's span (sdk-trace-base) did the same job with several times the work and garbage per
 * span: at one small upload per 0.7 ms of CPU, its three spans cost a fifth of the gateway's
 * throughput (docs/TRACING.md, "Tracing overhead"). Sampling still uses the SDK's samplers, and
 * context and propagation the API's global managers, so instrumentations and nestjs-otel's
 * decorators work unchanged.
 */
import { randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type {
  Attributes,
  AttributeValue,
  Context,
  Exception,
  HrTime,
  Link,
  Span,
  SpanContext,
  SpanOptions,
  SpanStatus,
  TimeInput,
  TraceState,
  Tracer,
  TracerProvider,
} from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, Sampler, TimedEvent } from '@opentelemetry/sdk-trace-base';
import {
  ATTRIBUTE_COUNT_LIMIT,
  type AttributeTemplate,
  isAttributeValue,
  templateOf,
} from './attribute-template';
import {
  context as contextApi,
  INVALID_SPAN_CONTEXT,
  isTracingSuppressed,
  SamplingDecision,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
} from './otel-api';

/** As the SDK's defaults: at most this many attributes and events per span. */
export { ATTRIBUTE_COUNT_LIMIT };
export const EVENT_COUNT_LIMIT = 128;

/** Receives spans as they end. */
export interface LeanSpanProcessor {
  onEnd(span: ReadableSpan): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** Settings of a LeanTracerProvider. */
export interface LeanTracerOptions {
  resource: Resource;
  /**
   * Must decide a child of an unsampled span of this process as unsampled, as the SDK's
   * always-off, ratio and parent-based samplers do: such children are not made (isUnsampledLocal).
   */
  sampler: Sampler;
  processor: LeanSpanProcessor;
}

/**
 * Random trace and span ids, cut from pools of 4 KiB of random bytes. Each id's bytes stay where
 * they were cut (a pool is replaced, never refilled), so the encoder copies a span's ids from
 * there instead of parsing their hex (`lastPool` and `lastAt` say where the last id was cut).
 */
export class IdPool {
  private pool: Buffer = Buffer.alloc(0);
  private offset = 0;
  lastPool: Buffer = this.pool;
  lastAt = 0;

  /** `fill` fills a new pool with random bytes (a parameter for the specs). */
  constructor(private readonly fill: (pool: Buffer) => Buffer = randomFillSync) {}

  /** Cuts a trace id and returns its hex. */
  traceId(): string {
    this.cutNonZero(16);
    return this.lastPool.toString('hex', this.lastAt, this.lastAt + 16);
  }

  /** Cuts a span id at `lastAt` of `lastPool`; its hex is made when read. */
  spanId(): void {
    this.cutNonZero(8);
  }

  /** Cuts `bytes` bytes that are not all zero: an all-zero id is invalid. */
  private cutNonZero(bytes: number): void {
    do this.cut(bytes);
    while (this.isZero(bytes));
  }

  private isZero(bytes: number): boolean {
    for (let i = this.lastAt; i < this.lastAt + bytes; i++) {
      if (this.lastPool[i] !== 0) return false;
    }
    return true;
  }

  private cut(bytes: number): void {
    if (this.offset + bytes > this.pool.length) {
      this.pool = this.fill(Buffer.allocUnsafeSlow(4096));
      this.offset = 0;
    }
    this.lastPool = this.pool;
    this.lastAt = this.offset;
    this.offset += bytes;
  }
}

/**
 * The clock: milliseconds since the epoch, from performance.now() so that durations are
 * monotonic, anchored once to performance.timeOrigin.
 */
const origin = performance.timeOrigin;

/** A TimeInput as milliseconds since the epoch (a small number is a performance.now() value). */
function epochMs(time: TimeInput): number {
  if (typeof time === 'number') return time < origin ? origin + time : time;
  if (time instanceof Date) return time.getTime();
  return time[0] * 1000 + time[1] / 1e6;
}

function hrTime(ms: number): HrTime {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  return nanos >= 1e9 ? [seconds + 1, nanos - 1e9] : [seconds, nanos];
}

/** What a span holds until its first event, link or status (frozen: never written to). */
const NO_EVENTS = Object.freeze([]) as unknown as TimedEvent[];
const NO_LINKS = Object.freeze([]) as unknown as Link[];
const UNSET_STATUS: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET });

/**
 * The SpanContext of a span this provider started, sampled or not. Its ids were cut from the
 * IdPool, so they are valid by construction: `isValidSpanContext` skips checking their hex, which
 * the API does character by character for every child span and outgoing request.
 *
 * The span id's hex is made when first read: the encoder copies ids as bytes, and on an upload
 * only the backend client span's id is ever read as hex (for its `traceparent`), so the server
 * and upload spans never make theirs. A getter on the prototype is not an own property: a
 * spread or `Object.keys` of this context does not see `spanId`, nothing in the gateway does
 * either, and the API and SDK read it by name.
 */
class IssuedSpanContext implements SpanContext {
  private hexSpanId: string | undefined = undefined;

  constructor(
    readonly traceId: string,
    /**
     * Where the trace id's bytes are: a pool of the IdPool and the offset in it, shared by every
     * span of a trace started here; undefined when the trace id came from elsewhere (a remote
     * parent's), which the encoder then reads from its hex.
     */
    readonly traceIdBytes: Buffer | undefined,
    readonly traceIdAt: number,
    /** Where the span id's bytes are, likewise (always here: this provider cut it). */
    readonly idBytes: Buffer,
    readonly idAt: number,
    readonly traceFlags: number,
    readonly traceState: TraceState | undefined,
  ) {}

  get spanId(): string {
    return (this.hexSpanId ??= this.idBytes.toString('hex', this.idAt, this.idAt + 8));
  }
}

/** Whether `context` has valid ids: those this provider issued do; others are checked. */
export function isValidSpanContext(context: SpanContext): boolean {
  return context instanceof IssuedSpanContext || trace.isSpanContextValid(context);
}

/**
 * Whether `span` is an unsampled span that a lean tracer issued in this process. Every sampler
 * the config offers decides a child of such a span the same way: always-off and the parent-based
 * sampler by the parent's decision, the ratio sampler by the trace id they share. So its children
 * would be unsampled too, and the request path lets it stand in for them (startActiveSpan, the
 * backend client span) instead of making a span and a context per child that record nothing.
 */
export function isUnsampledLocal(span: Span): boolean {
  return !span.isRecording() && span.spanContext() instanceof IssuedSpanContext;
}

/**
 * A span of the lean tracer; also the ReadableSpan its processor receives.
 *
 * Attributes are kept as two parallel arrays rather than an object: the gateway's spans set
 * different keys, so one object per span would make every keyed load and store of them
 * megamorphic (a global stub-cache lookup per access), in the span and in the encoder alike.
 */
export class LeanSpan implements Span, ReadableSpan {
  /**
   * Start attributes shared with other spans (attribute-template.ts), which come first; set
   * again, they are copied into the arrays below and the template is let go.
   */
  template: AttributeTemplate | undefined;
  /** Attribute keys in the order they were first set; `attributeValues` holds their values. */
  readonly attributeKeys: string[] = [];
  readonly attributeValues: AttributeValue[] = [];
  /** Shared empty lists and status until the first link, event or status (most spans have none). */
  links: Link[];
  events: TimedEvent[] = NO_EVENTS;
  status: SpanStatus = UNSET_STATUS;
  ended = false;
  droppedAttributesCount = 0;
  droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  /** Start and end in milliseconds since the epoch (the encoder reads these, not HrTimes). */
  readonly startEpochMs: number;
  endEpochMs = 0;
  private readonly startClock: number;

  constructor(
    public name: string,
    readonly kind: SpanKind,
    private readonly context: IssuedSpanContext,
    readonly parentSpanContext: SpanContext | undefined,
    attributes: Attributes,
    links: Link[],
    startTime: TimeInput | undefined,
    readonly resource: Resource,
    readonly instrumentationScope: InstrumentationScope,
    private readonly processor: LeanSpanProcessor,
  ) {
    this.startClock = performance.now();
    this.startEpochMs = startTime === undefined ? origin + this.startClock : epochMs(startTime);
    this.links = links;
    // A template was checked when it was made; it is kept as it is.
    this.template = templateOf(attributes);
    if (this.template !== undefined) return;
    // An object's keys are distinct and the span has none yet: nothing to look up first.
    for (const key in attributes) {
      const value = attributes[key];
      if (key.length > 0 && isAttributeValue(value)) this.addAttribute(key, value);
    }
  }

  /** The attributes as an object (built on each read; the encoder reads the arrays). */
  get attributes(): Attributes {
    const attributes: Attributes = {};
    const template = this.template;
    if (template !== undefined) {
      for (let i = 0; i < template.keys.length; i++) {
        attributes[template.keys[i]] = template.values[i];
      }
    }
    for (let i = 0; i < this.attributeKeys.length; i++) {
      attributes[this.attributeKeys[i]] = this.attributeValues[i];
    }
    return attributes;
  }

  get startTime(): HrTime {
    return hrTime(this.startEpochMs);
  }

  get endTime(): HrTime {
    return hrTime(this.endEpochMs);
  }

  get duration(): HrTime {
    return hrTime(Math.max(0, this.endEpochMs - this.startEpochMs));
  }

  /**
   * Where the bytes of the span's ids are, for the encoder, read from the span contexts: its own
   * id's always; its trace id's and its parent's id's when this provider issued them, undefined
   * when they came from elsewhere (a remote parent), which the encoder reads from their hex.
   */
  get spanIdBytes(): Buffer {
    return this.context.idBytes;
  }

  get spanIdAt(): number {
    return this.context.idAt;
  }

  get traceIdBytes(): Buffer | undefined {
    return this.context.traceIdBytes;
  }

  get traceIdAt(): number {
    return this.context.traceIdAt;
  }

  get parentIdBytes(): Buffer | undefined {
    const parent = this.parentSpanContext;
    return parent instanceof IssuedSpanContext ? parent.idBytes : undefined;
  }

  get parentIdAt(): number {
    const parent = this.parentSpanContext;
    return parent instanceof IssuedSpanContext ? parent.idAt : 0;
  }

  spanContext(): SpanContext {
    return this.context;
  }

  isRecording(): boolean {
    return !this.ended;
  }

  setAttribute(key: string, value: AttributeValue | undefined): this {
    if (this.ended || key.length === 0 || !isAttributeValue(value)) return this;
    if (this.template !== undefined && this.template.keys.includes(key)) this.ownTemplate();
    const index = this.attributeKeys.indexOf(key);
    if (index >= 0) this.attributeValues[index] = value;
    else this.addAttribute(key, value);
    return this;
  }

  /** Appends a valid attribute whose key the span does not have yet, within the count limit. */
  private addAttribute(key: string, value: AttributeValue): void {
    const shared = this.template === undefined ? 0 : this.template.keys.length;
    if (shared + this.attributeKeys.length >= ATTRIBUTE_COUNT_LIMIT) {
      this.droppedAttributesCount += 1;
      return;
    }
    this.attributeKeys.push(key);
    this.attributeValues.push(value);
  }

  /** Copies the template's attributes in front of the span's own and lets the template go. */
  private ownTemplate(): void {
    const template = this.template;
    if (template === undefined) return;
    this.template = undefined;
    this.attributeKeys.unshift(...template.keys);
    this.attributeValues.unshift(...template.values);
  }

  setAttributes(attributes: Attributes): this {
    // A span without attributes yet keeps a template by reference, as it would at its start.
    if (this.template === undefined && this.attributeKeys.length === 0 && !this.ended) {
      this.template = templateOf(attributes);
      if (this.template !== undefined) return this;
    }
    for (const key in attributes) this.setAttribute(key, attributes[key]);
    return this;
  }

  addEvent(name: string, attributesOrTime?: Attributes | TimeInput, time?: TimeInput): this {
    if (this.ended) return this;
    let attributes: Attributes | undefined;
    if (
      typeof attributesOrTime === 'number' ||
      attributesOrTime instanceof Date ||
      Array.isArray(attributesOrTime)
    ) {
      time = attributesOrTime;
    } else {
      attributes = attributesOrTime;
    }
    if (this.events === NO_EVENTS) this.events = [];
    if (this.events.length >= EVENT_COUNT_LIMIT) {
      this.events.shift();
      this.droppedEventsCount += 1;
    }
    const clean: Attributes = {};
    for (const key in attributes) {
      const value = attributes[key];
      if (isAttributeValue(value)) clean[key] = value;
    }
    const at = time === undefined ? this.clock() : epochMs(time);
    this.events.push({ name, attributes: clean, time: hrTime(at), droppedAttributesCount: 0 });
    return this;
  }

  /** Links are not exported (span-privacy.ts); they are only counted. */
  addLink(link: Link): this {
    if (this.ended) return this;
    if (this.links === NO_LINKS) this.links = [];
    this.links.push(link);
    return this;
  }

  addLinks(links: Link[]): this {
    for (const link of links) this.addLink(link);
    return this;
  }

  /** UNSET is ignored and OK is final, as the API specifies. */
  setStatus(status: SpanStatus): this {
    if (this.ended || status.code === SpanStatusCode.UNSET) return this;
    if (this.status.code === SpanStatusCode.OK) return this;
    this.status =
      status.code === SpanStatusCode.ERROR && typeof status.message === 'string'
        ? { code: status.code, message: status.message }
        : { code: status.code };
    return this;
  }

  updateName(name: string): this {
    if (!this.ended) this.name = name;
    return this;
  }

  recordException(exception: Exception, time?: TimeInput): void {
    const attributes: Attributes = {};
    if (typeof exception === 'string') {
      attributes['exception.message'] = exception;
    } else if (exception !== null && typeof exception === 'object') {
      // As the SDK's span: a truthy code names the type, else the name does.
      const type = exception.code ? String(exception.code) : exception.name;
      if (type) attributes['exception.type'] = type;
      if (exception.message) attributes['exception.message'] = exception.message;
      if (exception.stack) attributes['exception.stacktrace'] = exception.stack;
    }
    // As the SDK's span: an event only with a non-empty type or message.
    if (attributes['exception.type'] || attributes['exception.message']) {
      this.addEvent('exception', attributes, time);
    }
  }

  end(endTime?: TimeInput): void {
    if (this.ended) return;
    this.endEpochMs = endTime === undefined ? this.clock() : epochMs(endTime);
    if (this.endEpochMs < this.startEpochMs) this.endEpochMs = this.startEpochMs;
    this.ended = true;
    this.processor.onEnd(this);
  }

  /** Now, on the span's own clock: its start plus the monotonic time since. */
  private clock(): number {
    return this.startEpochMs + (performance.now() - this.startClock);
  }
}

/** The options of a span started without any. */
const NO_OPTIONS: SpanOptions = Object.freeze({});

/** The span a new span with `options` would be the child of in `ctx`: none for a root. */
function parentSpanOf(options: SpanOptions, ctx: Context): Span | undefined {
  return options.root === true ? undefined : trace.getSpan(ctx);
}

/** A tracer of the lean provider, for one instrumentation scope. */
export class LeanTracer implements Tracer {
  constructor(
    private readonly scope: InstrumentationScope,
    private readonly options: LeanTracerOptions,
    private readonly ids: IdPool,
  ) {}

  startSpan(name: string, options: SpanOptions = {}, ctx: Context = contextApi.active()): Span {
    return this.startUnder(name, options, ctx, parentSpanOf(options, ctx));
  }

  /** startSpan with the parent span already read from `ctx` (none for a root). */
  private startUnder(
    name: string,
    options: SpanOptions,
    ctx: Context,
    parentSpan: Span | undefined,
  ): Span {
    if (isTracingSuppressed(ctx)) return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
    const parent = parentSpan?.spanContext();
    // This provider's own spans have valid ids by construction; others (remote) are checked.
    const validParent = parent !== undefined && isValidSpanContext(parent) ? parent : undefined;
    // A remote parent's trace id has no bytes here: the encoder reads it from its hex.
    let traceId: string;
    let traceIdBytes: Buffer | undefined;
    let traceIdAt = 0;
    if (validParent === undefined) {
      traceId = this.ids.traceId();
      traceIdBytes = this.ids.lastPool;
      traceIdAt = this.ids.lastAt;
    } else {
      traceId = validParent.traceId;
      if (validParent instanceof IssuedSpanContext) {
        traceIdBytes = validParent.traceIdBytes;
        traceIdAt = validParent.traceIdAt;
      }
    }
    this.ids.spanId();
    const spanIdBytes = this.ids.lastPool;
    const spanIdAt = this.ids.lastAt;
    const kind = options.kind ?? SpanKind.INTERNAL;
    const attributes = options.attributes ?? {};
    const links = options.links ?? NO_LINKS;
    const sampling = this.options.sampler.shouldSample(
      options.root === true ? trace.deleteSpan(ctx) : ctx,
      traceId,
      name,
      kind,
      attributes,
      links,
    );
    const spanContext = new IssuedSpanContext(
      traceId,
      traceIdBytes,
      traceIdAt,
      spanIdBytes,
      spanIdAt,
      sampling.decision === SamplingDecision.RECORD_AND_SAMPLED
        ? TraceFlags.SAMPLED
        : TraceFlags.NONE,
      sampling.traceState ?? validParent?.traceState,
    );
    if (sampling.decision === SamplingDecision.NOT_RECORD)
      return trace.wrapSpanContext(spanContext);
    const span = new LeanSpan(
      name,
      kind,
      spanContext,
      validParent,
      attributes,
      links === NO_LINKS ? NO_LINKS : [...links],
      options.startTime,
      this.options.resource,
      this.scope,
      this.options.processor,
    );
    if (sampling.attributes !== undefined) span.setAttributes(sampling.attributes);
    return span;
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(
    name: string,
    options: SpanOptions,
    fn: F,
  ): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(
    name: string,
    options: SpanOptions,
    ctx: Context,
    fn: F,
  ): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(
    name: string,
    first: F | SpanOptions | undefined,
    second?: F | Context,
    third?: F,
  ): ReturnType<F> {
    // Named parameters rather than a rest array, and the span passed to `fn` by the context
    // manager rather than by a closure: nestjs-otel's @Span comes through here on every call.
    let options: SpanOptions | undefined;
    let parent: Context;
    let fn: F;
    if (third !== undefined) {
      options = first as SpanOptions | undefined;
      parent = second as Context;
      fn = third;
    } else if (second !== undefined) {
      options = first as SpanOptions | undefined;
      parent = contextApi.active();
      fn = second as F;
    } else {
      parent = contextApi.active();
      fn = first as F;
    }
    const run = fn as (span: Span) => ReturnType<F>;
    options ??= NO_OPTIONS;
    const parentSpan = parentSpanOf(options, parent);
    if (parentSpan !== undefined && isUnsampledLocal(parentSpan)) {
      // The child would record nothing either: `fn` gets the parent, whose end() and setters do
      // nothing, in the parent's context (the active one already, unless one was passed).
      return third === undefined
        ? run(parentSpan)
        : contextApi.with(parent, run, undefined, parentSpan);
    }
    const span = this.startUnder(name, options, parent, parentSpan);
    return contextApi.with(trace.setSpan(parent, span), run, undefined, span);
  }
}

/** The provider: one tracer per instrumentation scope, all sharing sampler and processor. */
export class LeanTracerProvider implements TracerProvider {
  private readonly tracers = new Map<string, LeanTracer>();
  private readonly byName = new Map<string, Tracer>();
  private readonly ids = new IdPool();

  constructor(private readonly options: LeanTracerOptions) {}

  getTracer(name: string, version?: string, options?: { schemaUrl?: string }): Tracer {
    // nestjs-otel's @Span asks for its tracer by name alone on every call: no key to build.
    if (version === undefined && options?.schemaUrl === undefined) {
      let tracer = this.byName.get(name);
      if (tracer === undefined) {
        tracer = this.scoped(name, version, options);
        this.byName.set(name, tracer);
      }
      return tracer;
    }
    return this.scoped(name, version, options);
  }

  private scoped(name: string, version?: string, options?: { schemaUrl?: string }): Tracer {
    const key = `${name}@${version ?? ''}:${options?.schemaUrl ?? ''}`;
    let tracer = this.tracers.get(key);
    if (tracer === undefined) {
      const scope: InstrumentationScope = {
        name,
        ...(version !== undefined ? { version } : {}),
        ...(options?.schemaUrl !== undefined ? { schemaUrl: options.schemaUrl } : {}),
      };
      tracer = new LeanTracer(scope, this.options, this.ids);
      this.tracers.set(key, tracer);
    }
    return tracer;
  }

  forceFlush(): Promise<void> {
    return this.options.processor.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.options.processor.shutdown();
  }
}
