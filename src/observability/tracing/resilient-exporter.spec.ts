import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import {
  ResilientExporter,
  type BreakerState,
  type DropReason,
  type ResilienceOptions,
} from './resilient-exporter';

/** What the fake collector does with one attempt. */
type Step = 'ok' | 'fail' | 'fail-without-error' | 'throw';

/** An inner exporter that follows a script, one step per attempt, then repeats `rest`. */
class ScriptedExporter implements SpanExporter {
  readonly attempts: ReadableSpan[][] = [];
  shutdowns = 0;
  flushes = 0;

  constructor(
    private readonly script: Step[] = [],
    private readonly rest: Step = 'ok',
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.attempts.push(spans);
    const step = this.script.shift() ?? this.rest;
    switch (step) {
      case 'ok':
        done({ code: ExportResultCode.SUCCESS });
        return;
      case 'fail':
        done({
          code: ExportResultCode.FAILED,
          error: new Error(`attempt ${this.attempts.length} refused`),
        });
        return;
      case 'fail-without-error':
        done({ code: ExportResultCode.FAILED });
        return;
      case 'throw':
        throw new Error(`attempt ${this.attempts.length} threw`);
    }
  }

  shutdown(): Promise<void> {
    this.shutdowns += 1;
    return Promise.resolve();
  }

  forceFlush(): Promise<void> {
    this.flushes += 1;
    return Promise.resolve();
  }
}

/** Stand-ins for finished spans; the exporter only passes them on. */
function spans(count: number): ReadableSpan[] {
  return Array.from({ length: count }, (_, i) => ({ name: `span-${i}` }) as ReadableSpan);
}

/** A ResilientExporter on a manual clock that records every hook call and backoff delay. */
function harness(inner: SpanExporter, overrides: Partial<ResilienceOptions<ReadableSpan>> = {}) {
  const clock = { now: 1_000_000 };
  const delays: number[] = [];
  const attemptErrors: Error[] = [];
  const dropped: Array<[number, DropReason]> = [];
  const transitions: BreakerState[] = [];
  const exporter = new ResilientExporter(inner, {
    maxAttempts: 3,
    initialBackoffMs: 100,
    maxBackoffMs: 1000,
    failureThreshold: 2,
    cooldownMs: 5000,
    onAttemptFailed: (error) => attemptErrors.push(error),
    onDropped: (count, reason) => dropped.push([count, reason]),
    onBreakerChange: (state) => transitions.push(state),
    now: () => clock.now,
    random: () => 0.5,
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
    ...overrides,
  });
  const send = (batch: ReadableSpan[]) =>
    new Promise<ExportResult>((resolve) => exporter.export(batch, resolve));
  return { exporter, clock, delays, attemptErrors, dropped, transitions, send };
}

describe('ResilientExporter', () => {
  describe('retries', () => {
    it('exports a batch on the first attempt without sleeping', async () => {
      const inner = new ScriptedExporter();
      const h = harness(inner);
      const batch = spans(2);

      const result = await h.send(batch);

      expect(result.code).toBe(ExportResultCode.SUCCESS);
      expect(inner.attempts).toEqual([batch]);
      expect(inner.attempts[0]).toBe(batch);
      expect(h.delays).toEqual([]);
      expect(h.attemptErrors).toEqual([]);
      expect(h.dropped).toEqual([]);
      expect(h.transitions).toEqual([]);
      expect(h.exporter.state).toBe('closed');
      expect(h.exporter.degraded).toBe(false);
    });

    it('retries a failed batch until an attempt succeeds', async () => {
      const inner = new ScriptedExporter(['fail', 'fail', 'ok']);
      const fallback = jest.fn();
      const h = harness(inner, { maxAttempts: 5, fallback });
      const batch = spans(3);

      const result = await h.send(batch);

      expect(result.code).toBe(ExportResultCode.SUCCESS);
      expect(inner.attempts).toHaveLength(3);
      expect(inner.attempts.every((attempt) => attempt === batch)).toBe(true);
      expect(h.delays).toHaveLength(2);
      expect(h.attemptErrors.map((e) => e.message)).toEqual([
        'attempt 1 refused',
        'attempt 2 refused',
      ]);
      expect(fallback).not.toHaveBeenCalled();
      expect(h.dropped).toEqual([]);
      expect(h.exporter.degraded).toBe(false);
    });

    it('gives up after maxAttempts, reports the last error and drops the batch', async () => {
      const inner = new ScriptedExporter([], 'fail');
      const h = harness(inner, { maxAttempts: 4, failureThreshold: 10 });

      const result = await h.send(spans(7));

      expect(inner.attempts).toHaveLength(4);
      expect(h.delays).toHaveLength(3);
      expect(h.attemptErrors).toHaveLength(4);
      expect(result.code).toBe(ExportResultCode.FAILED);
      expect(result.error?.message).toBe('attempt 4 refused');
      expect(h.dropped).toEqual([[7, 'export_failed']]);
      expect(h.exporter.state).toBe('closed');
      expect(h.exporter.degraded).toBe(true);
    });

    it('makes exactly one attempt when maxAttempts is 1', async () => {
      const inner = new ScriptedExporter([], 'fail');
      const h = harness(inner, { maxAttempts: 1, failureThreshold: 10 });

      await h.send(spans(1));

      expect(inner.attempts).toHaveLength(1);
      expect(h.delays).toEqual([]);
      expect(h.attemptErrors).toHaveLength(1);
    });

    it('counts an exception thrown synchronously by the inner exporter as a failed attempt', async () => {
      const inner = new ScriptedExporter(['throw', 'ok']);
      const h = harness(inner);

      const result = await h.send(spans(1));

      expect(result.code).toBe(ExportResultCode.SUCCESS);
      expect(inner.attempts).toHaveLength(2);
      expect(h.attemptErrors).toHaveLength(1);
      expect(h.attemptErrors[0]).toBeInstanceOf(Error);
      expect(h.attemptErrors[0].message).toBe('attempt 1 threw');
      expect(h.delays).toHaveLength(1);
    });

    it('fails the batch with the thrown error when every attempt throws', async () => {
      const inner = new ScriptedExporter([], 'throw');
      const h = harness(inner, { maxAttempts: 2, failureThreshold: 10 });

      const result = await h.send(spans(2));

      expect(result.code).toBe(ExportResultCode.FAILED);
      expect(result.error?.message).toBe('attempt 2 threw');
      expect(h.attemptErrors.map((e) => e.message)).toEqual(['attempt 1 threw', 'attempt 2 threw']);
      expect(h.dropped).toEqual([[2, 'export_failed']]);
    });

    it('turns a non-Error thrown by the inner exporter into an Error', async () => {
      const inner: SpanExporter = {
        export: () => {
          // eslint-disable-next-line @typescript-eslint/only-throw-error
          throw 'collector gone';
        },
        shutdown: () => Promise.resolve(),
      };
      const h = harness(inner, { maxAttempts: 1, failureThreshold: 10 });

      const result = await h.send(spans(1));

      expect(result.code).toBe(ExportResultCode.FAILED);
      expect(h.attemptErrors[0]).toBeInstanceOf(Error);
      expect(h.attemptErrors[0].message).toBe('collector gone');
    });

    it('supplies an error when a failed attempt carries none', async () => {
      const inner = new ScriptedExporter([], 'fail-without-error');
      const h = harness(inner, { maxAttempts: 1, failureThreshold: 10 });

      const result = await h.send(spans(1));

      expect(h.attemptErrors).toHaveLength(1);
      expect(h.attemptErrors[0].message).toBe('span export failed');
      expect(result.error?.message).toBe('span export failed');
    });
  });

  describe('backoff', () => {
    const base = { maxAttempts: 7, initialBackoffMs: 100, maxBackoffMs: 1000 };

    it('waits half the doubling, capped ceiling when random() is 0', async () => {
      const h = harness(new ScriptedExporter([], 'fail'), { ...base, random: () => 0 });

      await h.send(spans(1));

      expect(h.delays).toEqual([50, 100, 200, 400, 500, 500]);
    });

    it('waits the full doubling, capped ceiling when random() is 1', async () => {
      const h = harness(new ScriptedExporter([], 'fail'), { ...base, random: () => 1 });

      await h.send(spans(1));

      expect(h.delays).toEqual([100, 200, 400, 800, 1000, 1000]);
    });

    it('places each delay between half the ceiling and the ceiling, following random()', async () => {
      const draws = [0.25, 0.9, 0, 0.5, 1, 0.1];
      let next = 0;
      const h = harness(new ScriptedExporter([], 'fail'), {
        ...base,
        random: () => draws[next++],
      });

      await h.send(spans(1));

      const ceilings = [100, 200, 400, 800, 1000, 1000];
      expect(h.delays).toHaveLength(ceilings.length);
      h.delays.forEach((delay, i) => {
        expect(delay).toBeGreaterThanOrEqual(ceilings[i] / 2);
        expect(delay).toBeLessThanOrEqual(ceilings[i]);
        expect(delay).toBeCloseTo(ceilings[i] * (0.5 + 0.5 * draws[i]), 9);
      });
      expect(next).toBe(draws.length);
    });

    it('restarts the backoff from the initial delay for the next batch', async () => {
      const inner = new ScriptedExporter(['fail', 'fail', 'ok', 'fail', 'ok']);
      const h = harness(inner, { ...base, random: () => 1 });

      await h.send(spans(1));
      await h.send(spans(1));

      expect(h.delays).toEqual([100, 200, 100]);
    });

    it('never exceeds maxBackoffMs even when the initial delay is larger', async () => {
      const h = harness(new ScriptedExporter([], 'fail'), {
        maxAttempts: 3,
        initialBackoffMs: 5000,
        maxBackoffMs: 300,
        random: () => 1,
      });

      await h.send(spans(1));

      expect(h.delays).toEqual([300, 300]);
    });

    it('sleeps with real timers when no sleep is injected', async () => {
      jest.useFakeTimers();
      try {
        const inner = new ScriptedExporter(['fail', 'ok']);
        const exporter = new ResilientExporter(inner, {
          maxAttempts: 2,
          initialBackoffMs: 100,
          maxBackoffMs: 1000,
          failureThreshold: 5,
          cooldownMs: 1000,
          random: () => 0,
        });
        const results: ExportResult[] = [];
        exporter.export(spans(1), (result) => results.push(result));

        await jest.advanceTimersByTimeAsync(49);
        expect(inner.attempts).toHaveLength(1);
        expect(results).toEqual([]);

        await jest.advanceTimersByTimeAsync(1);
        expect(inner.attempts).toHaveLength(2);
        expect(results.map((r) => r.code)).toEqual([ExportResultCode.SUCCESS]);
      } finally {
        jest.useRealTimers();
      }
    });
  });

  describe('fallback and drops', () => {
    it('hands a batch that failed every attempt to the fallback instead of dropping it', async () => {
      const fallback = jest.fn();
      const h = harness(new ScriptedExporter([], 'fail'), { fallback, failureThreshold: 10 });
      const batch = spans(4);

      await h.send(batch);

      expect(fallback).toHaveBeenCalledTimes(1);
      expect(fallback).toHaveBeenCalledWith(batch);
      expect(h.dropped).toEqual([]);
    });

    it('hands batches to the fallback without any attempt while the breaker is open', async () => {
      const fallback = jest.fn();
      const inner = new ScriptedExporter([], 'fail');
      const h = harness(inner, { fallback, maxAttempts: 1, failureThreshold: 1 });
      await h.send(spans(1));
      expect(h.exporter.state).toBe('open');
      const attemptsBefore = inner.attempts.length;
      const batch = spans(5);

      const result = await h.send(batch);

      expect(inner.attempts).toHaveLength(attemptsBefore);
      expect(fallback).toHaveBeenLastCalledWith(batch);
      expect(h.dropped).toEqual([]);
      // The spans are handled by the fallback, so the processor is told to move on.
      expect(result.code).toBe(ExportResultCode.SUCCESS);
    });

    it('counts spans dropped while the breaker is open as breaker_open', async () => {
      const inner = new ScriptedExporter([], 'fail');
      const h = harness(inner, { maxAttempts: 1, failureThreshold: 1 });
      await h.send(spans(2));

      await h.send(spans(6));
      await h.send(spans(3));

      expect(h.dropped).toEqual([
        [2, 'export_failed'],
        [6, 'breaker_open'],
        [3, 'breaker_open'],
      ]);
      expect(inner.attempts).toHaveLength(1);
      expect(h.delays).toEqual([]);
    });

    it('does not call onAttemptFailed for batches skipped by an open breaker', async () => {
      const h = harness(new ScriptedExporter([], 'fail'), { maxAttempts: 2, failureThreshold: 1 });
      await h.send(spans(1));
      expect(h.attemptErrors).toHaveLength(2);

      await h.send(spans(1));

      expect(h.attemptErrors).toHaveLength(2);
    });
  });

  describe('circuit breaker', () => {
    it('opens after failureThreshold consecutive failed batches, not attempts', async () => {
      const inner = new ScriptedExporter([], 'fail');
      const h = harness(inner, { maxAttempts: 3, failureThreshold: 2 });

      await h.send(spans(1));
      expect(inner.attempts).toHaveLength(3);
      expect(h.exporter.state).toBe('closed');
      expect(h.transitions).toEqual([]);

      await h.send(spans(1));
      expect(h.exporter.state).toBe('open');
      expect(h.transitions).toEqual(['open']);
      expect(h.exporter.degraded).toBe(true);
    });

    it('resets the failure count after a successful batch', async () => {
      const inner = new ScriptedExporter(['fail', 'ok', 'fail', 'ok', 'fail']);
      const h = harness(inner, { maxAttempts: 1, failureThreshold: 2 });

      await h.send(spans(1));
      expect(h.exporter.degraded).toBe(true);
      await h.send(spans(1));
      expect(h.exporter.degraded).toBe(false);
      await h.send(spans(1));
      await h.send(spans(1));
      await h.send(spans(1));

      expect(h.exporter.state).toBe('closed');
      expect(h.transitions).toEqual([]);
      expect(h.exporter.degraded).toBe(true);
    });

    it('stays open for the whole cool-down and reports half_open once it has passed', async () => {
      const inner = new ScriptedExporter([], 'fail');
      const h = harness(inner, { maxAttempts: 1, failureThreshold: 1, cooldownMs: 5000 });
      const openedAt = h.clock.now;
      await h.send(spans(1));

      h.clock.now = openedAt + 4999;
      expect(h.exporter.state).toBe('open');
      await h.send(spans(1));
      expect(inner.attempts).toHaveLength(1);

      h.clock.now = openedAt + 5000;
      expect(h.exporter.state).toBe('half_open');
      expect(h.exporter.degraded).toBe(true);
      // Reading the state changes nothing: no transition is reported until a batch arrives.
      expect(h.transitions).toEqual(['open']);
    });

    it('closes after a successful half_open trial and exports normally again', async () => {
      const inner = new ScriptedExporter(['fail', 'ok']);
      const fallback = jest.fn();
      const h = harness(inner, {
        maxAttempts: 1,
        failureThreshold: 1,
        cooldownMs: 5000,
        fallback,
      });
      await h.send(spans(1));
      h.clock.now += 5000;
      const trial = spans(2);

      const result = await h.send(trial);

      expect(result.code).toBe(ExportResultCode.SUCCESS);
      expect(inner.attempts.at(-1)).toBe(trial);
      expect(h.transitions).toEqual(['open', 'half_open', 'closed']);
      expect(h.exporter.state).toBe('closed');
      expect(h.exporter.degraded).toBe(false);
      expect(fallback).toHaveBeenCalledTimes(1);

      await h.send(spans(1));
      expect(inner.attempts).toHaveLength(3);
      expect(fallback).toHaveBeenCalledTimes(1);
    });

    it('makes a single attempt in half_open even when maxAttempts allows more', async () => {
      const inner = new ScriptedExporter([], 'fail');
      const h = harness(inner, { maxAttempts: 5, failureThreshold: 1, cooldownMs: 5000 });
      await h.send(spans(1));
      expect(inner.attempts).toHaveLength(5);
      expect(h.delays).toHaveLength(4);
      h.clock.now += 5000;

      await h.send(spans(1));

      expect(inner.attempts).toHaveLength(6);
      expect(h.delays).toHaveLength(4);
      expect(h.attemptErrors).toHaveLength(6);
    });

    it('reopens for a fresh cool-down when the half_open trial fails', async () => {
      const inner = new ScriptedExporter([], 'fail');
      const fallback = jest.fn();
      const h = harness(inner, {
        maxAttempts: 3,
        failureThreshold: 3,
        cooldownMs: 5000,
        fallback,
      });
      await h.send(spans(1));
      await h.send(spans(1));
      await h.send(spans(1));
      expect(h.transitions).toEqual(['open']);
      h.clock.now += 7000;
      const trialAt = h.clock.now;
      const trial = spans(3);

      await h.send(trial);

      expect(h.transitions).toEqual(['open', 'half_open', 'open']);
      expect(fallback).toHaveBeenLastCalledWith(trial);
      expect(h.exporter.state).toBe('open');
      h.clock.now = trialAt + 4999;
      expect(h.exporter.state).toBe('open');
      const attempts = inner.attempts.length;
      await h.send(spans(1));
      expect(inner.attempts).toHaveLength(attempts);
      h.clock.now = trialAt + 5000;
      expect(h.exporter.state).toBe('half_open');
    });

    it('reports the half_open trial failure as export_failed when there is no fallback', async () => {
      const inner = new ScriptedExporter([], 'fail');
      const h = harness(inner, { maxAttempts: 1, failureThreshold: 1, cooldownMs: 5000 });
      await h.send(spans(1));
      h.clock.now += 5000;

      await h.send(spans(4));

      expect(h.dropped).toEqual([
        [1, 'export_failed'],
        [4, 'export_failed'],
      ]);
    });

    it('uses full retries again once a half_open trial has closed the breaker', async () => {
      const inner = new ScriptedExporter(['fail', 'fail', 'fail', 'ok', 'fail', 'fail', 'ok']);
      const h = harness(inner, { maxAttempts: 3, failureThreshold: 1, cooldownMs: 5000 });
      await h.send(spans(1));
      expect(h.exporter.state).toBe('open');
      h.clock.now += 5000;
      await h.send(spans(1));
      expect(h.exporter.state).toBe('closed');
      expect(inner.attempts).toHaveLength(4);

      const result = await h.send(spans(1));

      expect(result.code).toBe(ExportResultCode.SUCCESS);
      expect(inner.attempts).toHaveLength(7);
      expect(h.exporter.state).toBe('closed');
    });

    it('reports every transition through onBreakerChange across two outages', async () => {
      const inner = new ScriptedExporter(['fail', 'fail', 'ok', 'fail']);
      const h = harness(inner, { maxAttempts: 1, failureThreshold: 1, cooldownMs: 1000 });

      await h.send(spans(1));
      h.clock.now += 1000;
      await h.send(spans(1));
      h.clock.now += 1000;
      await h.send(spans(1));
      await h.send(spans(1));

      expect(h.transitions).toEqual(['open', 'half_open', 'open', 'half_open', 'closed', 'open']);
    });
  });

  describe('lifecycle', () => {
    it('stops retrying once shut down', async () => {
      const inner = new ScriptedExporter([], 'fail');
      const h = harness(inner, { maxAttempts: 5, failureThreshold: 10 });

      await h.exporter.shutdown();
      await h.send(spans(1));

      expect(inner.attempts).toHaveLength(1);
      expect(h.delays).toEqual([]);
      expect(h.dropped).toEqual([[1, 'export_failed']]);
    });

    it('abandons the remaining retries when shut down during a backoff', async () => {
      const inner = new ScriptedExporter([], 'fail');
      const self: { exporter?: ResilientExporter<ReadableSpan> } = {};
      const h = harness(inner, {
        maxAttempts: 5,
        failureThreshold: 10,
        sleep: async () => {
          await self.exporter?.shutdown();
        },
      });
      self.exporter = h.exporter;

      await h.send(spans(1));

      expect(inner.attempts).toHaveLength(2);
    });

    it('shuts the inner exporter down', async () => {
      const inner = new ScriptedExporter();
      const h = harness(inner);

      await h.exporter.shutdown();

      expect(inner.shutdowns).toBe(1);
    });

    it('forwards forceFlush to the inner exporter', async () => {
      const inner = new ScriptedExporter();
      const h = harness(inner);

      await h.exporter.forceFlush();

      expect(inner.flushes).toBe(1);
    });

    it('flushes without error when the inner exporter has no forceFlush', async () => {
      const inner: SpanExporter = {
        export: (_spans, done) => done({ code: ExportResultCode.SUCCESS }),
        shutdown: () => Promise.resolve(),
      };
      const h = harness(inner);

      await expect(h.exporter.forceFlush()).resolves.toBeUndefined();
    });
  });
});
