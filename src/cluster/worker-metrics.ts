/**
 * `/metrics` inside a cluster worker: a scrape lands on one worker, which asks the primary over
 * IPC for the aggregate of every worker's registry (prom-client's AggregatorRegistry) and answers
 * with it, so each scrape is one truthful view whichever worker serves it. Outside a cluster it
 * is the process's own registry, exactly as before.
 */
import cluster from 'node:cluster';
import { register } from 'prom-client';
import { isOwnMessage, type ToPrimary, type ToWorker } from './messages';
import { WORKER_INDEX_ENV } from './workers';

/**
 * Longer than prom-client's own 5 s per aggregation, so the primary's error (a worker that
 * did not answer) arrives before this worker gives up on the primary.
 */
const PRIMARY_TIMEOUT_MS = 10_000;

/** Whether this process is a worker forked by the gateway's cluster primary. */
export function isClusterWorker(): boolean {
  return (
    cluster.isWorker && process.env[WORKER_INDEX_ENV] !== undefined && process.send !== undefined
  );
}

interface Pending {
  resolve(text: string): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

const pending = new Map<number, Pending>();
let nextId = 0;
let listening = false;

function settle(id: number, outcome: { text?: string; error?: string }): void {
  const request = pending.get(id);
  if (request === undefined) return;
  pending.delete(id);
  clearTimeout(request.timer);
  if (outcome.error !== undefined || outcome.text === undefined) {
    request.reject(
      new Error(`cannot aggregate the workers' metrics: ${outcome.error ?? 'no text'}`),
    );
  } else {
    request.resolve(outcome.text);
  }
}

function onMessage(message: unknown): void {
  if (isOwnMessage<ToWorker>(message) && message.type === 'mizuchi:metrics') {
    settle(message.id, message);
  }
}

/** Asks the primary for every worker's metrics, aggregated; rejects when it cannot answer. */
export function aggregatedMetrics(): Promise<string> {
  const send = process.send?.bind(process);
  if (send === undefined) return Promise.reject(new Error('no IPC channel to the primary'));
  if (!listening) {
    process.on('message', onMessage);
    listening = true;
  }
  const id = nextId++;
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => settle(id, { error: `the primary did not answer in ${PRIMARY_TIMEOUT_MS} ms` }),
      PRIMARY_TIMEOUT_MS,
    );
    pending.set(id, { resolve, reject, timer });
    const request: ToPrimary = { type: 'mizuchi:metrics-request', id };
    send(request, undefined, undefined, (error: Error | null) => {
      if (error) settle(id, { error: error.message });
    });
  });
}

/** The Prometheus exposition `/metrics` answers: the cluster's aggregate in a worker. */
export function metricsExposition(): Promise<string> {
  return isClusterWorker() ? aggregatedMetrics() : register.metrics();
}
