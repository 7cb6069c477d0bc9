/**
 * Replay protection for SigV4: a signature that completed an upload is remembered until its
 * validity window ends, and refused if it comes back. Failed attempts are never remembered, so
 * they can be retried. The in-memory store serves one process; many replicas need a shared one.
 */

/** Where used signatures are remembered. */
export abstract class ReplayStore {
  /** True when `key` was used and its window has not ended. */
  abstract seen(key: string, now?: Date): Promise<boolean>;
  /** Remembers `key` as used until `until`. */
  abstract remember(key: string, until: Date): Promise<void>;
}

/** A process-local store; expired entries are dropped as the map is used. */
export class MemoryReplayStore extends ReplayStore {
  private readonly entries = new Map<string, number>();
  private writes = 0;

  constructor(private readonly maxEntries = 1_000_000) {
    super();
  }

  seen(key: string, now: Date = new Date()): Promise<boolean> {
    const until = this.entries.get(key);
    if (until === undefined) return Promise.resolve(false);
    if (until < now.getTime()) {
      this.entries.delete(key);
      return Promise.resolve(false);
    }
    return Promise.resolve(true);
  }

  remember(key: string, until: Date): Promise<void> {
    this.entries.set(key, until.getTime());
    if (++this.writes % 1024 === 0 || this.entries.size > this.maxEntries) this.prune(new Date());
    return Promise.resolve();
  }

  /** Drops expired entries, and the oldest ones if the map is still over its cap. */
  prune(now: Date): void {
    const t = now.getTime();
    for (const [key, until] of this.entries) if (until < t) this.entries.delete(key);
    for (const key of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(key);
    }
  }

  /** How many signatures are remembered (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }
}
