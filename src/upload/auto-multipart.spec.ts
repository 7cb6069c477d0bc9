import { Budget, MAX_PARTS, choosePartSize } from './auto-multipart';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

/** Lets every pending promise callback and I/O callback run. */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A promise with its outcome observable without awaiting it. */
function track(promise: Promise<void>): {
  state: 'pending' | 'granted' | 'rejected';
  reason?: unknown;
} {
  const tracked: { state: 'pending' | 'granted' | 'rejected'; reason?: unknown } = {
    state: 'pending',
  };
  void promise.then(
    () => {
      tracked.state = 'granted';
    },
    (reason: unknown) => {
      tracked.state = 'rejected';
      tracked.reason = reason;
    },
  );
  return tracked;
}

const never = new AbortController().signal;

describe('choosePartSize', () => {
  it('keeps the configured size for a body of unknown length', () => {
    expect(choosePartSize(16 * MiB, undefined)).toBe(16 * MiB);
    expect(choosePartSize(5 * MiB, undefined)).toBe(5 * MiB);
  });

  it('keeps the configured size when the body fits in 10,000 parts of it', () => {
    expect(choosePartSize(16 * MiB, 0)).toBe(16 * MiB);
    expect(choosePartSize(16 * MiB, 100 * MiB)).toBe(16 * MiB);
    expect(choosePartSize(16 * MiB, 6 * GiB)).toBe(16 * MiB);
  });

  it('keeps the configured size for a body of exactly 10,000 parts', () => {
    expect(choosePartSize(5 * MiB, MAX_PARTS * 5 * MiB)).toBe(5 * MiB);
  });

  it('grows by a whole MiB as soon as one more byte would need a 10,001st part', () => {
    expect(choosePartSize(5 * MiB, MAX_PARTS * 5 * MiB + 1)).toBe(6 * MiB);
  });

  it.each([
    [1 * TiB, 105 * MiB],
    [5 * TiB, 525 * MiB],
    [200 * GiB, 21 * MiB],
  ])('grows the part size for a body of %d bytes to %d', (length, size) => {
    expect(choosePartSize(16 * MiB, length)).toBe(size);
  });

  it('always rounds a grown size to whole MiB and fits the body in 10,000 parts', () => {
    for (const length of [
      160 * GiB + 1,
      300 * GiB - 7,
      777_777_777_777,
      1 * TiB + 12345,
      4.99 * TiB,
      5 * TiB,
    ]) {
      const size = choosePartSize(16 * MiB, Math.floor(length));
      expect(size % MiB).toBe(0);
      expect(Math.ceil(Math.floor(length) / size)).toBeLessThanOrEqual(MAX_PARTS);
      // And it is the smallest whole-MiB size that does.
      expect(Math.ceil(Math.floor(length) / (size - MiB))).toBeGreaterThan(MAX_PARTS);
    }
  });

  it('never shrinks a configured size that is not a whole MiB', () => {
    const configured = 5 * MiB + 123;
    expect(choosePartSize(configured, 10 * GiB)).toBe(configured);
  });
});

describe('Budget', () => {
  it('grants at once while the amount is available', async () => {
    const budget = new Budget(10);
    await budget.acquire(4, never);
    await budget.acquire(6, never);
    const third = track(budget.acquire(1, never));
    await flush();
    expect(third.state).toBe('pending');
  });

  it('makes a waiter wait until enough is released', async () => {
    const budget = new Budget(10);
    await budget.acquire(8, never);
    const waiter = track(budget.acquire(5, never));
    await flush();
    expect(waiter.state).toBe('pending');
    budget.release(2);
    await flush();
    expect(waiter.state).toBe('pending');
    budget.release(6);
    await flush();
    expect(waiter.state).toBe('granted');
  });

  it('grants waiters in the order they asked', async () => {
    const budget = new Budget(10);
    await budget.acquire(10, never);
    const order: string[] = [];
    const wait = (name: string, amount: number) =>
      budget.acquire(amount, never).then(() => {
        order.push(name);
      });
    const all = Promise.all([wait('a', 6), wait('b', 3), wait('c', 1)]);
    budget.release(10);
    await all;
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('keeps a small request behind a large one that is waiting, so the large one is not starved', async () => {
    const budget = new Budget(10);
    await budget.acquire(4, never);
    const large = track(budget.acquire(10, never));
    const small = track(budget.acquire(1, never));
    await flush();
    // Six are free, enough for the small one, but it queued behind the large one.
    expect(small.state).toBe('pending');
    budget.release(4);
    await flush();
    expect(large.state).toBe('granted');
    expect(small.state).toBe('pending');
    budget.release(10);
    await flush();
    expect(small.state).toBe('granted');
  });

  it('rejects an aborted waiter with the reason its signal was aborted with', async () => {
    const budget = new Budget(10);
    await budget.acquire(10, never);
    const controller = new AbortController();
    const waiting = budget.acquire(5, controller.signal);
    const reason = new Error('client went away');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
  });

  it('rejects with an AbortError when the signal was aborted without a reason', async () => {
    const budget = new Budget(1);
    await budget.acquire(1, never);
    const controller = new AbortController();
    const waiting = budget.acquire(1, controller.signal);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('refuses to wait on a signal that is already aborted', async () => {
    const budget = new Budget(1);
    await budget.acquire(1, never);
    const controller = new AbortController();
    const reason = new Error('shutting down');
    controller.abort(reason);
    await expect(budget.acquire(1, controller.signal)).rejects.toBe(reason);
    budget.release(1);
    await budget.acquire(1, never);
  });

  it('does not leak capacity when a waiter is aborted', async () => {
    const budget = new Budget(10);
    await budget.acquire(10, never);
    const controller = new AbortController();
    const aborted = budget.acquire(7, controller.signal);
    const behind = track(budget.acquire(3, never));
    controller.abort(new Error('gone'));
    await expect(aborted).rejects.toThrow('gone');
    budget.release(10);
    await flush();
    expect(behind.state).toBe('granted');
    // Exactly seven are left: seven more are granted at once, and one more has to wait.
    await budget.acquire(7, never);
    const extra = track(budget.acquire(1, never));
    await flush();
    expect(extra.state).toBe('pending');
    budget.release(3);
    await flush();
    expect(extra.state).toBe('granted');
  });

  it('lets the waiters behind an aborted head through when there is room for them', async () => {
    const budget = new Budget(10);
    await budget.acquire(4, never);
    const controller = new AbortController();
    const head = budget.acquire(10, controller.signal);
    const next = track(budget.acquire(6, never));
    await flush();
    expect(next.state).toBe('pending');
    controller.abort(new Error('gone'));
    await expect(head).rejects.toThrow('gone');
    await flush();
    expect(next.state).toBe('granted');
  });

  it('keeps the grant when the signal is aborted after it was granted', async () => {
    const budget = new Budget(2);
    await budget.acquire(2, never);
    const controller = new AbortController();
    const waiter = budget.acquire(2, controller.signal);
    budget.release(2);
    await waiter;
    controller.abort(new Error('late'));
    const other = track(budget.acquire(1, never));
    await flush();
    expect(other.state).toBe('pending');
  });

  it('makes an amount above the total wait for the whole budget', async () => {
    const budget = new Budget(10);
    await budget.acquire(3, never);
    const huge = track(budget.acquire(25, never));
    await flush();
    expect(huge.state).toBe('pending');
    budget.release(3);
    await flush();
    expect(huge.state).toBe('granted');
    const small = track(budget.acquire(1, never));
    await flush();
    expect(small.state).toBe('pending');
    budget.release(25);
    await flush();
    expect(small.state).toBe('granted');
  });

  it('never holds more than its total after an oversized amount is given back', async () => {
    const budget = new Budget(10);
    await budget.acquire(25, never);
    budget.release(25);
    await budget.acquire(10, never);
    const over = track(budget.acquire(1, never));
    await flush();
    expect(over.state).toBe('pending');
  });
});
