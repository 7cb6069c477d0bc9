/**
 * A cluster worker: it takes its config from the primary (so every worker, and every
 * replacement, runs exactly what the primary validated, even if the file changed since), runs
 * the full app through main.ts's serve(), tells the primary once it listens, and shuts down
 * gracefully on SIGTERM/SIGINT or when the primary asks. It never decides about other workers.
 */
import { AggregatorRegistry } from 'prom-client';
import type { AppConfig } from '../config/config.schema';
import { isOwnMessage, type ToPrimary, type ToWorker } from './messages';
import { workerConfig, workerIndexFromEnv } from './workers';

/** Writes a line with a context, through whichever logger the process has. */
export type Log = (message: string, context: string) => void;

/** What serve() is told by whoever runs it. */
export interface ServeHooks {
  /** Called once the app listens, with the app's logger. */
  listening(log: Log): void;
  /** Resolves, with why (for the log), when the app should shut down; called once it listens. */
  stopRequested(): Promise<string>;
}

/** main.ts's serve(): runs the app for `config` until it is asked to stop; the exit code. */
export type Serve = (config: AppConfig, hooks: ServeHooks) => Promise<number>;

function send(message: ToPrimary): void {
  // The channel only closes when the primary is gone, and cluster then ends this worker.
  process.send?.(message, undefined, undefined, () => undefined);
}

/** Runs this process as worker N (from the environment) until it is asked to stop. */
export async function runWorker(serve: Serve): Promise<number> {
  const index = workerIndexFromEnv();
  // prom-client answers the primary's metrics requests only once an AggregatorRegistry exists in
  // the process. Made before the first tick, so a scrape during start-up is not left unanswered
  // (the primary would wait out its 5 s timeout and fail the scrape).
  new AggregatorRegistry();

  let requestStop: (reason: string) => void = () => undefined;
  const stop = new Promise<string>((resolve) => (requestStop = resolve));
  let receiveConfig: (config: AppConfig) => void = () => undefined;
  const received = new Promise<AppConfig>((resolve) => (receiveConfig = resolve));
  process.on('message', (message: unknown) => {
    if (!isOwnMessage<ToWorker>(message)) return;
    if (message.type === 'mizuchi:config') receiveConfig(message.config);
    else if (message.type === 'mizuchi:shutdown') requestStop(message.reason);
  });
  // The handlers stay for the whole shutdown: Ctrl-C in a terminal signals the primary and every
  // worker at once, and the primary then asks again; neither may cut a graceful shutdown short.
  // A worker that hangs is the primary's to kill.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => requestStop(`${signal} received`));
  }

  send({ type: 'mizuchi:config-request' });
  const config = await Promise.race([received, stop.then(() => undefined)]);
  if (config === undefined) return 0;
  return serve(workerConfig(config, index), {
    listening: () => send({ type: 'mizuchi:ready' }),
    stopRequested: () => stop,
  });
}
