#!/usr/bin/env node
/**
 * The gateway with a custom authorization provider: the same start-up as src/main.ts, plus
 * `authzProviders`, so routes may say `authz.provider: quota`.
 *
 *   npx ts-node -r tsconfig-paths/register examples/custom-authz/main.ts examples/custom-authz/config.yaml
 */
import 'reflect-metadata';
import { createApp, createLogger } from '../../src/app.setup';
import { loadConfigFile } from '../../src/config/load-config';
import { parseAddress } from '../../src/config/server.schema';
import { shutdownGracefully } from '../../src/shutdown';
import { QuotaProvider } from './quota.provider';

async function main(configPath: string): Promise<void> {
  const config = loadConfigFile(configPath, process.env);
  const logger = createLogger(config);
  const app = await createApp(config, logger, { authzProviders: { quota: QuotaProvider } });
  const { host, port } = parseAddress(config.server.address);
  await app.listen(port, host);
  logger.log(`serving on ${host}:${port} with the quota provider`, 'Example');
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await shutdownGracefully(app, config.server.shutdown_grace_seconds * 1000, logger);
}

main(process.argv[2] ?? 'examples/custom-authz/config.yaml').then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
