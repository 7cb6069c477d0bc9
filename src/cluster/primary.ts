/**
 * The cluster primary, when `server.workers` is above 1. It forks the workers and hands each the
 * validated config, prints the start-up banner once every worker listens, restarts a worker that
 * dies (with backoff, and a cap that ends a crash loop), answers the workers' metrics requests
 * with prom-client's aggregate of all of them, and on SIGTERM/SIGINT asks every worker to shut
 * down gracefully, then exits. It serves no request itself and never loads Nest or the app.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { AppConfig } from '../config/config.schema';
import { createRootLogger } from '../observability/logging/root-logger';
import { isOwnMessage, type ToPrimary, type ToWorker } from './messages';
import { RestartPolicy } from './restart-policy';
import type { Log } from './worker';
import { WORKER_INDEX_ENV, withSharedUploadIdSecret } from './workers';

/** Where the primary's lines go, each with a `context` like the app's. */
export interface ClusterLog {
  readonly log: Log;
  readonly warn: Log;
  readonly error: Log;
}

/** The primary's log: pino lines shaped by the `logging` section, as the workers write them. */
export function createClusterLog(config: AppConfig): ClusterLog {
  const root = createRootLogger(config.logging);
  return {
    log: (message, context) => root.info({ context }, message),
    warn: (message, context) => root.warn({ context }, message),
    error: (message, context) => root.error({ context }, message),
  };
}

/** What the primary runs. */
export interface PrimaryOptions {
  config: AppConfig;
  /** How many workers to keep running (above 1). */
  workers: number;
  log: ClusterLog;
  /** Prints the start-up banner; called once, when every worker listens. */
  announce(): void;
  restartPolicy?: RestartPolicy;
}

/** Time past `server.shutdown_grace_seconds` after which workers still running are killed. */
const KILL_MARGIN_MS = 20_000;

const CONTEXT = 'Cluster';

interface Slot {
  /** 1..N; a replacement keeps the index of the worker it replaces. */
  readonly index: number;
  worker?: Worker;
  ready: boolean;
  restartTimer?: NodeJS.Timeout;
}

/** Runs the cluster until it has stopped; resolves with the exit code. */
export function runPrimary(options: PrimaryOptions): Promise<number> {
  return new Primary(options).run();
}

class Primary {
  private phase: 'starting' | 'running' | 'stopping' = 'starting';
  private exitCode = 0;
  private signals = 0;
  private readonly slots: Slot[] = [];
  private readonly config: AppConfig;
  private readonly policy: RestartPolicy;
  private readonly log: ClusterLog;
  // Its constructor makes prom-client listen for the workers' answers to clusterMetrics().
  private readonly registry = new AggregatorRegistry();
  private killTimer: NodeJS.Timeout | undefined;
  private finish: (code: number) => void = () => undefined;

  constructor(private readonly options: PrimaryOptions) {
    this.log = options.log;
    this.policy = options.restartPolicy ?? new RestartPolicy();
    const shared = withSharedUploadIdSecret(options.config);
    this.config = shared.config;
    if (shared.generated) {
      this.log.warn(
        'server.upload_id_secret is not set: the workers share a random secret made at start-up, ' +
          'so multipart uploads survive neither a restart of the gateway nor a hop to another ' +
          'replica. Set server.upload_id_secret for production (e.g. upload_id_secret: ${MIZUCHI_UPLOAD_ID_SECRET} in the config file; the embedded default config reads MIZUCHI_UPLOAD_ID_SECRET itself).',
        'UploadIds',
      );
    }
  }

  run(): Promise<number> {
    // Round-robin, set explicitly: it is Node's default on Linux, but NODE_CLUSTER_SCHED_POLICY
    // may change it. With SCHED_NONE every worker waits in accept() and the kernel hands most
    // connections to whichever wakes first, so long uploads pile up on one or two processes.
    // Round-robin has the primary accept each connection and pass it to the next worker in turn;
    // one IPC hand-off per connection is nothing next to an upload body.
    cluster.schedulingPolicy = cluster.SCHED_RR;
    const finished = new Promise<number>((resolve) => (this.finish = resolve));
    process.on('SIGTERM', this.onSignal);
    process.on('SIGINT', this.onSignal);
    for (let index = 1; index <= this.options.workers; index++) {
      const slot: Slot = { index, ready: false };
      this.slots.push(slot);
      this.fork(slot);
    }
    return finished.finally(() => {
      process.off('SIGTERM', this.onSignal);
      process.off('SIGINT', this.onSignal);
      clearTimeout(this.killTimer);
    });
  }

  private fork(slot: Slot, replaces?: number): void {
    slot.restartTimer = undefined;
    slot.ready = false;
    const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(slot.index) });
    slot.worker = worker;
    // A message sent just as a worker dies fails on its channel; unheard, that would end the primary.
    worker.on('error', (error: Error) =>
      this.log.warn(`worker ${slot.index}: ${error.message}`, CONTEXT),
    );
    worker.on('message', (message: unknown) => this.onMessage(slot, worker, message, replaces));
    worker.on('exit', (code: number | null, signal: NodeJS.Signals | null) =>
      this.onExit(slot, worker, code, signal),
    );
  }

  private onMessage(slot: Slot, worker: Worker, message: unknown, replaces?: number): void {
    if (!isOwnMessage<ToPrimary>(message)) return;
    switch (message.type) {
      case 'mizuchi:config-request':
        this.send(worker, { type: 'mizuchi:config', config: this.config });
        return;
      case 'mizuchi:ready':
        this.onReady(slot, worker, replaces);
        return;
      case 'mizuchi:metrics-request': {
        const { id } = message;
        this.registry.clusterMetrics().then(
          (text) => this.send(worker, { type: 'mizuchi:metrics', id, text }),
          (error: unknown) =>
            this.send(worker, { type: 'mizuchi:metrics', id, error: describe(error) }),
        );
        return;
      }
    }
  }

  private onReady(slot: Slot, worker: Worker, replaces?: number): void {
    if (slot.worker !== worker || this.phase === 'stopping') return;
    slot.ready = true;
    const who = `worker ${slot.index} (pid ${worker.process.pid})`;
    this.log.log(
      replaces === undefined ? `${who} is serving` : `${who} is serving, replacing pid ${replaces}`,
      CONTEXT,
    );
    if (this.phase === 'starting' && this.slots.every((s) => s.ready)) {
      this.phase = 'running';
      this.options.announce();
    }
  }

  private onExit(
    slot: Slot,
    worker: Worker,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    if (slot.worker !== worker) return;
    const wasReady = slot.ready;
    slot.worker = undefined;
    slot.ready = false;
    const pid = worker.process.pid;
    const who = `worker ${slot.index} (pid ${pid})`;
    const how = signal !== null ? `signal ${signal}` : `exit code ${code}`;
    if (this.phase === 'stopping') {
      if (code === 0) {
        this.log.log(`${who} stopped`, CONTEXT);
      } else {
        this.exitCode = 1;
        this.log.warn(`${who} ended with ${how} during shutdown`, CONTEXT);
      }
      this.finishIfAllStopped();
      return;
    }
    if (this.phase === 'starting' && !wasReady) {
      this.log.error(`${who} failed to start (${how}); stopping the other workers`, CONTEXT);
      this.stop(1, `stopping: worker ${slot.index} failed to start`);
      return;
    }
    const decision = this.policy.onCrash(slot.index);
    if (!decision.restart) {
      const window = this.policy.options.windowMs / 1000;
      this.log.error(
        `${who} exited unexpectedly (${how}), its crash number ${decision.crashes} within ` +
          `${window}s: not restarting it again; stopping the gateway`,
        CONTEXT,
      );
      this.stop(1, `stopping: worker ${slot.index} keeps crashing`);
      return;
    }
    this.log.error(
      `${who} exited unexpectedly (${how}); starting a new one in ${decision.delayMs} ms`,
      CONTEXT,
    );
    slot.restartTimer = setTimeout(() => this.fork(slot, pid), decision.delayMs);
  }

  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.signals += 1;
    if (this.signals === 1) {
      const running = this.slots.filter((s) => s.worker !== undefined).length;
      this.log.log(`${signal} received; stopping ${running} worker(s)`, 'Shutdown');
      this.stop(0, `the primary received ${signal}`);
    } else {
      this.killAll(`${signal} received again`);
    }
  };

  /** Asks every worker to shut down gracefully; resolves run() once all have exited. */
  private stop(code: number, reason: string): void {
    this.exitCode = Math.max(this.exitCode, code);
    if (this.phase === 'stopping') return;
    this.phase = 'stopping';
    for (const slot of this.slots) {
      clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
      if (slot.worker !== undefined) this.send(slot.worker, { type: 'mizuchi:shutdown', reason });
    }
    const killAfterMs = this.config.server.shutdown_grace_seconds * 1000 + KILL_MARGIN_MS;
    this.killTimer = setTimeout(
      () => this.killAll(`still running ${killAfterMs / 1000}s after the shutdown request`),
      killAfterMs,
    );
    this.finishIfAllStopped();
  }

  private killAll(reason: string): void {
    for (const slot of this.slots) {
      if (slot.worker === undefined) continue;
      this.exitCode = 1;
      this.log.warn(
        `killing worker ${slot.index} (pid ${slot.worker.process.pid}): ${reason}`,
        CONTEXT,
      );
      slot.worker.process.kill('SIGKILL');
    }
  }

  private finishIfAllStopped(): void {
    if (this.phase === 'stopping' && this.slots.every((s) => s.worker === undefined)) {
      this.finish(this.exitCode);
    }
  }

  private send(worker: Worker, message: ToWorker): void {
    if (!worker.isConnected()) return;
    worker.send(message, undefined, () => undefined);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
