/**
 * Replay protection for SigV4: a signature that completed an upload is remembered until its
 * validity window ends, and refused if it comes back. Failed attempts are never remembered, so
 * they can be retried. The in-memory store serves one process; replicas share a Redis store.
 */
import { createHash } from 'node:crypto';
import type { createClient } from 'redis';

/** Where used signatures are remembered. */
export abstract class ReplayStore {
  /**
   * Claims `key` until `until`, atomically: true for the first caller, false while the key is
   * held, so two copies of one signed request in flight at once cannot both pass.
   */
  abstract claim(key: string, until: Date, now?: Date): Promise<boolean>;
  /** Gives a claim back after a failed attempt, so the same request may be retried. */
  abstract release(key: string): Promise<void>;
  /** Releases connections. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A process-local store; expired entries are dropped as the map is used. */
export class MemoryReplayStore extends ReplayStore {
  private readonly entries = new Map<string, number>();
  private writes = 0;

  constructor(private readonly maxEntries = 1_000_000) {
    super();
  }

  claim(key: string, until: Date, now: Date = new Date()): Promise<boolean> {
    const held = this.entries.get(key);
    if (held !== undefined && held >= now.getTime()) return Promise.resolve(false);
    this.entries.set(key, until.getTime());
    if (++this.writes % 1024 === 0 || this.entries.size > this.maxEntries) this.prune(now);
    return Promise.resolve(true);
  }

  release(key: string): Promise<void> {
    this.entries.delete(key);
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

/**
 * A store shared by many replicas through Redis: one key per used signature, expiring with the
 * signature's validity window. Keys are hashed, so signatures never sit in Redis in clear.
 */
export class RedisReplayStore extends ReplayStore {
  private readonly client: ReturnType<typeof createClient>;
  private connecting: Promise<unknown> | undefined;

  constructor(
    url: string,
    private readonly prefix: string,
  ) {
    super();
    // No offline queue: while Redis is away a command fails at once instead of waiting, and the
    // gateway answers 503 rather than hang or let a replay through.
    // Loaded on first use: the Redis client is about 17 MB resident that memory stores never pay.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const redis = require('redis') as typeof import('redis');
    this.client = redis.createClient({
      url,
      disableOfflineQueue: true,
      socket: { connectTimeout: 2000, reconnectStrategy: 500 },
    });
    // Errors surface through the commands; without a listener a down Redis would crash the process.
    this.client.on('error', () => undefined);
  }

  private async ready(): Promise<void> {
    if (this.client.isReady) return;
    if (!this.client.isOpen) this.connecting ??= this.client.connect();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('Redis is not reachable')), 2000);
    });
    try {
      await Promise.race([this.connecting, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private redisKey(key: string): string {
    return this.prefix + createHash('sha256').update(key).digest('hex');
  }

  async claim(key: string, until: Date): Promise<boolean> {
    const ttl = Math.max(1, until.getTime() - Date.now());
    await this.ready();
    const reply = await this.client.set(this.redisKey(key), '1', {
      condition: 'NX',
      expiration: { type: 'PX', value: ttl },
    });
    return reply === 'OK';
  }

  async release(key: string): Promise<void> {
    await this.ready();
    await this.client.del(this.redisKey(key));
  }

  override close(): Promise<void> {
    if (this.client.isOpen) this.client.destroy();
    return Promise.resolve();
  }
}

/** The replay store of each route: one shared in-memory store, one Redis client per URL. */
export class ReplayStores {
  private readonly memory = new MemoryReplayStore();
  private readonly redis = new Map<string, RedisReplayStore>();

  /** The store a route's `auth.sigv4.replay_store` names. */
  for(
    setting: { type: 'memory' } | { type: 'redis'; url: string; key_prefix: string },
  ): ReplayStore {
    if (setting.type === 'memory') return this.memory;
    const id = `${setting.url}\n${setting.key_prefix}`;
    let store = this.redis.get(id);
    if (store === undefined) {
      store = new RedisReplayStore(setting.url, setting.key_prefix);
      this.redis.set(id, store);
    }
    return store;
  }

  /** Closes every Redis connection. */
  async close(): Promise<void> {
    await Promise.all([...this.redis.values()].map((s) => s.close()));
  }
}
