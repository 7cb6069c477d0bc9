#!/usr/bin/env node
/**
 * Entry point of the `mizuchi` command: parse the command line (src/cli/), read the config
 * (--config, MIZUCHI_CONFIG, or the embedded default), then validate it, print it, or serve until
 * SIGTERM/SIGINT and shut down gracefully. With
 * `server.workers` above 1 this process becomes the cluster primary (src/cluster/), and each
 * worker it forks comes back here to run the app with the config the primary sends it.
 */
import 'reflect-metadata';
import cluster from 'node:cluster';
// Nothing here may load Nest, Express or an HTTP client: tracing must patch `http` first, so the
// app is imported only after startTracing().
import {
  type CommandLine,
  EXIT_USAGE,
  helpText,
  parseCommandLine,
  UsageError,
} from './cli/command-line';
import { ConfigError, loadConfigFile, resolveConfigPath } from './config/load-config';
import { defaultConfig } from './config/default-config';
import { assertEnforceable } from './config/enforceable';
import type { AppConfig } from './config/config.schema';
import { parseAddress } from './config/server.schema';
import { createClusterLog, runPrimary } from './cluster/primary';
import { type Log, runWorker, type ServeHooks } from './cluster/worker';
import { workerCount } from './cluster/workers';
import { tuneHeap } from './common/heap-tuning';
import { tryItLines } from './startup-banner';
import { shutdownGracefully } from './shutdown';

async function main(argv: string[]): Promise<number> {
  if (cluster.isWorker) return runWorker(serve);
  let command: CommandLine;
  try {
    command = parseCommandLine(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      const lines = err.problems.map((problem) => `mizuchi: ${problem}\n`).join('');
      await write(process.stderr, `${lines}Run 'mizuchi --help' for usage.\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
  if (command.action === 'help') {
    await write(process.stdout, helpText());
    return 0;
  }
  if (command.action === 'version') {
    await write(process.stdout, (await import('./cli/version')).versionText(process.env));
    return 0;
  }

  const source = { path: resolveConfigPath(command.configPath, process.env) };
  let config: AppConfig;
  try {
    config =
      source.path !== undefined
        ? loadConfigFile(source.path, process.env)
        : defaultConfig(process.cwd(), process.env);
    assertEnforceable(config, source.path);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  if (command.action === 'validate') {
    process.stdout.write(
      `${source.path ?? 'embedded default config'}: valid (${config.buckets.length} route(s))\n`,
    );
    return 0;
  }
  if (command.action === 'print-config') {
    const { renderConfig } = await import('./cli/print-config');
    const from = source.path ?? 'the embedded default config';
    await write(process.stdout, renderConfig(config, command.format, from));
    return 0;
  }

  const workers = workerCount(config.server.workers);
  if (workers > 1) {
    const log = createClusterLog(config);
    return runPrimary({
      config,
      workers,
      log,
      announce: () => announce(config, source.path, log.log, workers),
    });
  }
  return serve(config, {
    listening: (log) => announce(config, source.path, log),
    stopRequested: nextSignal,
  });
}

/**
 * Runs the app for `config` until `hooks.stopRequested` resolves, then shuts it down gracefully.
 * The single process and each cluster worker run exactly this.
 */
async function serve(config: AppConfig, hooks: ServeHooks): Promise<number> {
  tuneHeap();
  // The OpenTelemetry SDK (about 18 MB resident) loads only when tracing is on.
  const tracing = config.tracing.enabled
    ? (await import('./observability/tracing/start-tracing')).startTracing(config.tracing, {
        log: (level, message) => process.stderr.write(`${level}: ${message}\n`),
      })
    : undefined;
  const { createApp, createLogger } = await import('./app.setup');
  const logger = createLogger(config);
  tracing?.setLog((level, message) => {
    logger[level](message, 'Tracing');
  });
  const app = await createApp(config, logger);
  const { host, port } = parseAddress(config.server.address);
  await app.listen(port, host);
  hooks.listening((message, context) => {
    logger.log(message, context);
  });

  logger.log(await hooks.stopRequested(), 'Shutdown');
  await shutdownGracefully(app, config.server.shutdown_grace_seconds * 1000, logger);
  // Spans of the last requests still go out, within the batch export timeout.
  await tracing?.shutdown().catch((err: unknown) => {
    logger.warn(`tracing shutdown failed: ${String(err)}`, 'Tracing');
  });
  return 0;
}

/** Logs `serving N route(s) on URL ...` and prints the `Try it:` block, once per gateway. */
function announce(config: AppConfig, path: string | undefined, log: Log, workers = 1): void {
  const { host, port } = parseAddress(config.server.address);
  log(
    `serving ${config.buckets.length} route(s) on http://${host.includes(':') ? `[${host}]` : host}:${port}` +
      (path === undefined ? ' with the embedded default config' : ` from ${path}`) +
      (workers > 1 ? ` (${workers} workers)` : ''),
    'Mizuchi',
  );
  const lines = tryItLines(config, host, port);
  if (lines.length > 0)
    process.stdout.write(`\nTry it:\n${lines.map((l) => `  ${l}`).join('\n')}\n\n`);
}

/** Writes `text` and waits until it is handed to the OS, so that process.exit() cannot cut it. */
function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  return new Promise((resolve) => stream.write(text, () => resolve()));
}

/** The first SIGTERM or SIGINT from now on; a second one gets Node's default (exit at once). */
function nextSignal(): Promise<string> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve(`${signal} received`);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
