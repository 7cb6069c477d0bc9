import { parseConfig } from './load-config';
import { assertEnforceable } from './enforceable';

const route = (extra: Record<string, unknown>) => ({
  name: 'r',
  path_prefix: '/r',
  filesystem: { path: '/tmp/x' },
  ...extra,
});

describe('assertEnforceable', () => {
  it('accepts routes that leave auth and authz off', () => {
    expect(() => assertEnforceable(parseConfig({ buckets: [route({})] }, {}))).not.toThrow();
  });

  it('refuses a route that enables auth, naming the field', () => {
    const config = parseConfig(
      {
        buckets: [
          route({
            auth: {
              enabled: true,
              sigv4: {
                credentials: [
                  { access_key: 'AKIDEXAMPLE', secret_key: 'secretsecret', subject: 's' },
                ],
              },
            },
          }),
        ],
      },
      {},
    );
    expect(() => assertEnforceable(config, 'c.yaml')).toThrow(/buckets\[0\]\.auth\.enabled/);
  });
});
