/**
 * The embedded default used when no config file is given: one anonymous `/uploads` route on the
 * filesystem backend under `<cwd>/data/uploads`. Defaults come from the schema, not from here.
 */
import { join } from 'node:path';
import type { AppConfig } from './config.schema';
import { type Env, validateConfig } from './load-config';
import { DEFAULT_ADDRESS, formatAddress, parseAddress } from './server.schema';

/**
 * Builds the default config; `HOST` and `PORT` from `env` override the listen address, and
 * `MIZUCHI_UPLOAD_ID_SECRET` sets `server.upload_id_secret`.
 */
export function defaultConfig(cwd: string, env: Env = process.env): AppConfig {
  const fallback = parseAddress(DEFAULT_ADDRESS);
  const host = env.HOST?.trim() || fallback.host;
  const port = env.PORT?.trim() || String(fallback.port);
  return validateConfig(
    {
      server: {
        address: formatAddress(host, port),
        upload_id_secret: env.MIZUCHI_UPLOAD_ID_SECRET?.trim() || undefined,
      },
      buckets: [
        {
          name: 'uploads',
          path_prefix: '/uploads',
          filesystem: { path: join(cwd, 'data', 'uploads') },
        },
      ],
    },
    'the embedded default config (HOST/PORT/MIZUCHI_UPLOAD_ID_SECRET)',
  );
}
