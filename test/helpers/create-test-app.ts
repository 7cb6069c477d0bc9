/**
 * Boots the whole gateway in process, exactly as main.ts does (createApp -> configureApp), on a
 * loopback port, so tests can drive it with supertest and with real S3 clients.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { AppOptions } from '../../src/app.module';
import { createApp } from '../../src/app.setup';
import type { AppConfig } from '../../src/config/config.schema';
import { parseConfig } from '../../src/config/load-config';
import { cephSettings } from './ceph';

/** A running gateway for one test file. */
export interface TestApp {
  app: NestExpressApplication;
  config: AppConfig;
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Config of an S3 route to the test Ceph bucket `bucket`, served under `/<prefix>`. */
export function cephRoute(prefix: string, bucket: string, extra: Record<string, unknown> = {}) {
  const s = cephSettings();
  return {
    name: prefix.replace(/[^A-Za-z0-9_.-]/g, '-'),
    path_prefix: `/${prefix}`,
    s3: {
      bucket,
      endpoint: s.endpoint,
      region: s.region,
      access_key: s.accessKeyId,
      secret_key: s.secretAccessKey,
      ...((extra.s3 as Record<string, unknown> | undefined) ?? {}),
    },
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 's3')),
  };
}

/** Config of a filesystem route under `/<prefix>`, stored in a fresh temporary folder. */
export function filesystemRoute(prefix: string, root = mkdtempSync(join(tmpdir(), 'mizuchi-fs-'))) {
  return {
    name: prefix.replace(/[^A-Za-z0-9_.-]/g, '-'),
    path_prefix: `/${prefix}`,
    filesystem: { path: root },
  };
}

/**
 * Validates `raw` like a config file and starts the gateway with it; `options` are the app's
 * extension points (custom authz providers), passed to createApp as an embedding app would.
 */
export async function createTestApp(
  raw: Record<string, unknown>,
  options: AppOptions = {},
): Promise<TestApp> {
  const config = parseConfig(
    {
      ...raw,
      server: { address: '127.0.0.1:8080', ...((raw.server as object | undefined) ?? {}) },
      logging: {
        level: process.env.MIZUCHI_TEST_LOG ?? 'error',
        ...((raw.logging as object | undefined) ?? {}),
      },
    },
    {},
  );
  const app = await createApp(config, undefined, options);
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  return {
    app,
    config,
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    close: () => app.close(),
  };
}
