import { join } from 'node:path';
import { loadConfigFile, parseConfig } from '../config/load-config';
import { isOwnMessage } from './messages';
import {
  WORKER_INDEX_ENV,
  withSharedUploadIdSecret,
  workerConfig,
  workerCount,
  workerIndexFromEnv,
} from './workers';

const EXAMPLE = join(__dirname, '..', '..', 'config.example.yaml');

const fsRoute = { name: 'r', path_prefix: '/r', filesystem: { path: '/tmp/x' } };

describe('workerCount', () => {
  it('runs the configured number of workers, and one per CPU for auto', () => {
    expect(workerCount(1)).toBe(1);
    expect(workerCount(3, 8)).toBe(3);
    expect(workerCount('auto', 8)).toBe(8);
    expect(workerCount('auto', 0)).toBe(1);
    expect(workerCount('auto')).toBeGreaterThanOrEqual(1);
  });
});

describe('workerIndexFromEnv', () => {
  it('reads the index the primary set, and refuses anything else', () => {
    expect(workerIndexFromEnv({ [WORKER_INDEX_ENV]: '2' })).toBe(2);
    for (const bad of [undefined, '', '0', '-1', '1.5', 'one']) {
      expect(() => workerIndexFromEnv({ [WORKER_INDEX_ENV]: bad })).toThrow(WORKER_INDEX_ENV);
    }
  });
});

describe('workerConfig', () => {
  const config = parseConfig(
    { server: { workers: 2, janitor: { enabled: true } }, buckets: [fsRoute] },
    {},
  );

  it('runs the janitor in worker 1 only', () => {
    expect(workerConfig(config, 1).server.janitor.enabled).toBe(true);
    expect(workerConfig(config, 2).server.janitor.enabled).toBe(false);
    expect(config.server.janitor.enabled).toBe(true);
  });

  it('never turns on a janitor the config leaves off', () => {
    const off = parseConfig({ server: { workers: 2 }, buckets: [fsRoute] }, {});
    expect(workerConfig(off, 1).server.janitor.enabled).toBe(false);
  });

  it('changes nothing else', () => {
    const { janitor: _a, ...server } = workerConfig(config, 2).server;
    const { janitor: _b, ...original } = config.server;
    expect(server).toEqual(original);
    expect(workerConfig(config, 2).buckets).toBe(config.buckets);
  });
});

describe('withSharedUploadIdSecret', () => {
  it('keeps a configured secret', () => {
    const config = parseConfig(
      { server: { upload_id_secret: 's'.repeat(40) }, buckets: [fsRoute] },
      {},
    );
    expect(withSharedUploadIdSecret(config)).toEqual({ config, generated: false });
  });

  it('makes one random secret for all workers when none is configured', () => {
    const config = parseConfig({ buckets: [fsRoute] }, {});
    const first = withSharedUploadIdSecret(config);
    const second = withSharedUploadIdSecret(config);
    expect(first.generated).toBe(true);
    expect(first.config.server.upload_id_secret).toMatch(/^[0-9a-f]{64}$/);
    expect(second.config.server.upload_id_secret).not.toBe(first.config.server.upload_id_secret);
    expect(config.server.upload_id_secret).toBeUndefined();
  });
});

describe('the config sent to workers over IPC', () => {
  // JSON drops undefined fields (toEqual ignores them too) but would mangle a Date, a RegExp, a
  // Map or Infinity, which toEqual would catch.
  it('survives the JSON round trip of the cluster channel unchanged', () => {
    const configs = [
      loadConfigFile(EXAMPLE, {}),
      parseConfig(
        {
          server: { workers: 'auto' },
          buckets: [
            {
              ...fsRoute,
              auth: {
                enabled: true,
                sigv4: {
                  credentials: [{ access_key: 'AKID0001', secret_key: 'secret-key', subject: 's' }],
                  replay_store: { type: 'redis', url: 'redis://127.0.0.1:6379' },
                },
                jwt: { algorithms: ['HS256'], secret: 'x'.repeat(40), issuer: 'https://id' },
              },
              authz: {
                enabled: true,
                provider: 'opa',
                opa: { url: 'http://127.0.0.1:8181', policy_path: 'mizuchi/allow' },
              },
              upload: { max_object_size: '1GiB', allowed_content_types: ['image/*'] },
            },
          ],
        },
        {},
      ),
    ];
    for (const config of configs) {
      expect(JSON.parse(JSON.stringify(config))).toEqual(config);
    }
  });
});

describe('isOwnMessage', () => {
  it("tells the gateway's messages from prom-client's and anything else", () => {
    expect(isOwnMessage({ type: 'mizuchi:ready' })).toBe(true);
    expect(isOwnMessage({ type: 'prom-client:getMetricsReq', requestId: 1 })).toBe(false);
    expect(isOwnMessage({ cmd: 'NODE_CLUSTER' })).toBe(false);
    expect(isOwnMessage('mizuchi:ready')).toBe(false);
    expect(isOwnMessage(null)).toBe(false);
  });
});
