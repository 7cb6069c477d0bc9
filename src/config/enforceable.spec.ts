import { parseConfig } from './load-config';
import { assertEnforceable } from './enforceable';

const route = (extra: Record<string, unknown>) => ({
  name: 'r',
  path_prefix: '/r',
  filesystem: { path: '/tmp/x' },
  ...extra,
});

describe('assertEnforceable', () => {
  it('accepts anonymous routes and routes with SigV4 keys', () => {
    const config = parseConfig(
      {
        buckets: [
          route({}),
          {
            ...route({
              auth: {
                enabled: true,
                sigv4: {
                  credentials: [
                    { access_key: 'AKIDEXAMPLE', secret_key: 'secretsecret', subject: 's' },
                  ],
                },
              },
            }),
            name: 'signed',
            path_prefix: '/signed',
          },
        ],
      },
      {},
    );
    expect(() => assertEnforceable(config)).not.toThrow();
  });

  it('refuses a route that enables authorization, naming the field', () => {
    const config = parseConfig(
      {
        buckets: [
          route({
            authz: {
              enabled: true,
              provider: 'opa',
              opa: { url: 'http://127.0.0.1:8181', policy_path: 'x' },
            },
          }),
        ],
      },
      {},
    );
    expect(() => assertEnforceable(config, 'c.yaml')).toThrow(/buckets\[0\]\.authz\.enabled/);
  });
});
