import { EventEmitter } from 'node:events';
import {
  createContextKey,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  trace,
  TraceFlags,
} from '@opentelemetry/api';
import {
  isTracingSuppressed,
  suppressTracing,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import { LEAN_ROOT, LeanContext, LeanContextManager, MAX_CHAIN } from './lean-context';

const A = createContextKey('test a');
const B = createContextKey('test b');

describe('LeanContext', () => {
  it('has no values at the root', () => {
    expect(LEAN_ROOT.getValue(A)).toBeUndefined();
    expect(LEAN_ROOT.length).toBe(0);
  });

  it('derives new contexts and leaves the ones they came from unchanged', () => {
    const one = LEAN_ROOT.setValue(A, 1);
    const two = one.setValue(B, 'two');
    const three = two.setValue(A, 3);

    expect(LEAN_ROOT.getValue(A)).toBeUndefined();
    expect([one.getValue(A), one.getValue(B)]).toEqual([1, undefined]);
    expect([two.getValue(A), two.getValue(B)]).toEqual([1, 'two']);
    expect([three.getValue(A), three.getValue(B)]).toEqual([3, 'two']);
    expect(three).toBeInstanceOf(LeanContext);
  });

  it('deletes a key for the derived context only, and may set it again', () => {
    const set = LEAN_ROOT.setValue(A, 'a').setValue(B, 'b');
    const deleted = set.deleteValue(A);
    const again = deleted.setValue(A, 'again');

    expect([deleted.getValue(A), deleted.getValue(B)]).toEqual([undefined, 'b']);
    expect(set.getValue(A)).toBe('a');
    expect(again.getValue(A)).toBe('again');
  });

  it('keeps falsy values distinct from missing ones', () => {
    const ctx = LEAN_ROOT.setValue(A, 0).setValue(B, false);
    expect(ctx.getValue(A)).toBe(0);
    expect(ctx.getValue(B)).toBe(false);
    expect(ctx.setValue(A, undefined).getValue(A)).toBeUndefined();
  });

  it('returns the same context when deleting a key it does not have', () => {
    const ctx = LEAN_ROOT.setValue(A, 1);
    expect(ctx.deleteValue(B)).toBe(ctx);
  });

  it('bounds its chain: a long run of sets is folded to one entry per key', () => {
    const keys = Array.from({ length: 5 }, (_, i) => createContextKey(`fold ${i}`));
    let ctx: LeanContext = LEAN_ROOT;
    for (let i = 0; i < 10 * MAX_CHAIN; i++) {
      ctx = ctx.setValue(keys[i % keys.length], i) as LeanContext;
      if (i === 7) ctx = ctx.deleteValue(keys[1]) as LeanContext;
      expect(ctx.length).toBeLessThanOrEqual(MAX_CHAIN);
    }
    const last = 10 * MAX_CHAIN - 1;
    keys.forEach((key, k) => {
      // The newest value of each key: the last i with i % 5 === k.
      expect(ctx.getValue(key)).toBe(last - ((last - k + keys.length) % keys.length));
    });
  });

  it('folds away deleted keys', () => {
    let ctx: LeanContext = LEAN_ROOT.setValue(A, 'a').deleteValue(A) as LeanContext;
    while (ctx.length < MAX_CHAIN) ctx = ctx.setValue(B, ctx.length) as LeanContext;
    const folded = ctx.setValue(B, 'last') as LeanContext;
    expect(folded.length).toBe(1);
    expect(folded.getValue(A)).toBeUndefined();
    expect(folded.getValue(B)).toBe('last');
  });

  it('carries spans, suppression and W3C trace context as the API root does', () => {
    const spanContext = {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: TraceFlags.SAMPLED,
    };
    const propagator = new W3CTraceContextPropagator();
    const carrier: Record<string, string> = {};
    for (const root of [ROOT_CONTEXT, LEAN_ROOT]) {
      const withSpan = trace.setSpanContext(root, spanContext);
      expect(trace.getSpanContext(withSpan)).toEqual(spanContext);
      expect(trace.getSpan(trace.deleteSpan(withSpan))).toBeUndefined();
      expect(isTracingSuppressed(suppressTracing(withSpan))).toBe(true);
      expect(isTracingSuppressed(withSpan)).toBe(false);
      propagator.inject(withSpan, carrier, defaultTextMapSetter);
      expect(carrier.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
      const extracted = propagator.extract(root, carrier, defaultTextMapGetter);
      expect(trace.getSpanContext(extracted)).toEqual({ ...spanContext, isRemote: true });
    }
    expect(trace.setSpanContext(LEAN_ROOT, spanContext)).toBeInstanceOf(LeanContext);
  });
});

describe('LeanContextManager', () => {
  const manager = new LeanContextManager().enable();
  afterAll(() => manager.disable());

  it('returns LEAN_ROOT where no context is active', () => {
    expect(manager.active()).toBe(LEAN_ROOT);
    expect(manager.with(ROOT_CONTEXT, () => manager.active())).toBe(LEAN_ROOT);
  });

  it('keeps a context active across awaits, and restores the outer one after', async () => {
    const outer = LEAN_ROOT.setValue(A, 'outer');
    const inner = outer.setValue(A, 'inner');
    const seen = await manager.with(outer, async () => {
      const before = manager.active().getValue(A);
      const nested = await manager.with(inner, async () => {
        await new Promise((resolve) => setImmediate(resolve));
        return manager.active().getValue(A);
      });
      return [before, nested, manager.active().getValue(A)];
    });
    expect(seen).toEqual(['outer', 'inner', 'outer']);
    expect(manager.active()).toBe(LEAN_ROOT);
  });

  it('passes this and arguments through', () => {
    const self = { n: 2 };
    const result = manager.with(
      LEAN_ROOT,
      function (this: typeof self, a: number, b: number) {
        return this.n * a + b;
      },
      self,
      3,
      4,
    );
    expect(result).toBe(10);
  });

  it('binds functions and event emitters to a context, as the SDK manager does', () => {
    const ctx = LEAN_ROOT.setValue(B, 'bound');
    const fn = manager.bind(ctx, () => manager.active().getValue(B));
    expect(fn()).toBe('bound');

    const emitter = manager.bind(ctx, new EventEmitter());
    let heard: unknown;
    emitter.on('x', () => (heard = manager.active().getValue(B)));
    emitter.emit('x');
    expect(heard).toBe('bound');
  });
});
