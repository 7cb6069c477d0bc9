/**
 * What `server.workers` means for one process: how many workers to run, which environment
 * variable carries a worker's index, and the config each worker runs. Pure functions, shared by
 * the primary, the workers and the start-up checks; nothing here forks or listens.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { AppConfig } from '../config/config.schema';

/** Environment variable that carries a worker's index (1..N) from the primary to the worker. */
export const WORKER_INDEX_ENV = 'MIZUCHI_WORKER_INDEX';

/** The number of worker processes `server.workers` asks for: `auto` is one per CPU. */
export function workerCount(
  setting: AppConfig['server']['workers'],
  cpus: number = availableParallelism(),
): number {
  return setting === 'auto' ? Math.max(1, cpus) : setting;
}

/** This worker's index from the environment the primary gave it; throws when absent or invalid. */
export function workerIndexFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const text = env[WORKER_INDEX_ENV];
  const index = Number(text);
  if (text === undefined || !Number.isInteger(index) || index < 1) {
    throw new Error(`${WORKER_INDEX_ENV} must be a worker index (1, 2, ...), got '${text}'`);
  }
  return index;
}

/**
 * The config worker `index` runs. The janitor sweeps shared backends, so only worker 1 runs it:
 * several would race to list and abort the same uploads for nothing.
 */
export function workerConfig(config: AppConfig, index: number): AppConfig {
  const janitor = config.server.janitor;
  return {
    ...config,
    server: { ...config.server, janitor: { ...janitor, enabled: janitor.enabled && index === 1 } },
  };
}

/**
 * The config with an upload-id secret every worker shares. Without a configured one each process
 * would make its own, and an UploadPart that lands on another worker than its
 * CreateMultipartUpload would be refused. `generated` says a random one had to be made.
 */
export function withSharedUploadIdSecret(config: AppConfig): {
  config: AppConfig;
  generated: boolean;
} {
  if (config.server.upload_id_secret !== undefined) return { config, generated: false };
  return {
    config: {
      ...config,
      server: { ...config.server, upload_id_secret: randomBytes(32).toString('hex') },
    },
    generated: true,
  };
}
