/**
 * OpenTelemetry contexts as short immutable chains, and the context manager that starts them.
 *
 * The API's own context (`ROOT_CONTEXT` and every context derived from it) copies its whole Map
 * and makes three new closures for each value set: every span a request makes into the active
 * one (`trace.setSpan`), the extracted `traceparent` and the request's logger store each cost a
 * Map copy, and each read of them a Map lookup through a closure. A LeanContext is one small
 * object per value set, pointing at the context it was derived from; a read walks that chain,
 * which on the request path is a handful of entries long (docs/TRACING.md, "Tracing overhead").
 *
 * Contexts derived from `LEAN_ROOT` stay LeanContexts: the gateway's server span starts from it,
 * and the context manager returns it where the SDK's returns `ROOT_CONTEXT`. A context made
 * elsewhere from the API's root keeps working as before; both kinds implement the same interface.
 */
import type { Context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ROOT_CONTEXT } from './otel-api';

/** The value of an entry that deletes its key. */
const DELETED: unique symbol = Symbol('mizuchi.context.deleted');

/**
 * Chains longer than this are copied into a single entry per key on the next set, so that a
 * long-lived context that keeps deriving new ones (a loop setting values) reads in bounded time.
 */
export const MAX_CHAIN = 32;

/** A context: its own entry (key and value) and the context it was derived from. */
export class LeanContext implements Context {
  private constructor(
    private readonly parent: LeanContext | undefined,
    private readonly key: symbol | undefined,
    private readonly value: unknown,
    /** The number of entries in the chain, this one included. */
    readonly length: number,
  ) {}

  /** The empty context. */
  static root(): LeanContext {
    return new LeanContext(undefined, undefined, undefined, 0);
  }

  getValue(key: symbol): unknown {
    if (this.key === key) return this.value === DELETED ? undefined : this.value;
    for (let at = this.parent; at !== undefined; at = at.parent) {
      if (at.key === key) return at.value === DELETED ? undefined : at.value;
    }
    return undefined;
  }

  setValue(key: symbol, value: unknown): Context {
    return this.derive(key, value);
  }

  deleteValue(key: symbol): Context {
    return this.getValue(key) === undefined ? this : this.derive(key, DELETED);
  }

  private derive(key: symbol, value: unknown): LeanContext {
    if (this.length < MAX_CHAIN) return new LeanContext(this, key, value, this.length + 1);
    // Rebuild from the root with each visible key once (the newest value), then add this one.
    const seen = new Set<symbol>([key]);
    const live: [symbol, unknown][] = [];
    const visit = (at: LeanContext): void => {
      if (at.key === undefined || seen.has(at.key)) return;
      seen.add(at.key);
      if (at.value !== DELETED) live.push([at.key, at.value]);
    };
    visit(this);
    for (let at = this.parent; at !== undefined; at = at.parent) visit(at);
    let rebuilt = LEAN_ROOT;
    for (let i = live.length - 1; i >= 0; i--) {
      rebuilt = new LeanContext(rebuilt, live[i][0], live[i][1], rebuilt.length + 1);
    }
    return new LeanContext(rebuilt, key, value, rebuilt.length + 1);
  }
}

/** The root of the gateway's contexts: no values. */
export const LEAN_ROOT = LeanContext.root();

/**
 * The AsyncLocalStorage context manager of `@opentelemetry/context-async-hooks`, except that
 * where no context is active it returns `LEAN_ROOT`, so contexts derived from it are LeanContexts.
 */
export class LeanContextManager extends AsyncLocalStorageContextManager {
  override active(): Context {
    const active = super.active();
    return active === ROOT_CONTEXT ? LEAN_ROOT : active;
  }
}
