import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
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

  it('accepts a route that enables authorization, now that it is enforced', () => {
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
    expect(() => assertEnforceable(config, 'c.yaml')).not.toThrow();
  });

  describe('SigV4 replay protection with several workers', () => {
    const signed = (
      workers: number | string,
      sigv4: Record<string, unknown> = {},
      enabled = true,
    ) =>
      parseConfig(
        {
          server: { workers },
          buckets: [
            route({}),
            {
              ...route({
                auth: {
                  enabled,
                  sigv4: {
                    credentials: [
                      { access_key: 'AKID0001', secret_key: 'secret-key', subject: 's' },
                    ],
                    ...sigv4,
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

    it('refuses the in-memory replay store, naming the route and the Redis store', () => {
      const problems = () => assertEnforceable(signed(2), 'c.yaml');
      expect(problems).toThrow(
        /buckets\[1\]\.auth\.sigv4\.replay_store: the in-memory replay store is per process/,
      );
      expect(problems).toThrow(/server\.workers: 2 .*configure the Redis replay store/);
    });

    it('accepts the Redis replay store, or one worker with the in-memory store', () => {
      const redis = { replay_store: { type: 'redis', url: 'redis://127.0.0.1:6379' } };
      expect(() => assertEnforceable(signed(4, redis))).not.toThrow();
      expect(() => assertEnforceable(signed(1))).not.toThrow();
    });

    it('does not mind the store when replay protection is off or the route is anonymous', () => {
      expect(() => assertEnforceable(signed(2, { replay_protection: false }))).not.toThrow();
      expect(() => assertEnforceable(signed(2, {}, false))).not.toThrow();
    });

    it('counts auto as one worker per CPU', () => {
      const check = () => assertEnforceable(signed('auto'));
      if (availableParallelism() > 1) expect(check).toThrow(/in-memory replay store/);
      else expect(check).not.toThrow();
    });
  });

  describe('JWT routes', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'mizuchi-enforceable-'));
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      writeFileSync(join(dir, 'ec.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    const jwtRoute = (jwt: Record<string, unknown>) =>
      parseConfig({ buckets: [route({ auth: { enabled: true, jwt } })] }, {});

    it('accepts a route with a secret, a readable key file or a JWKS URL', () => {
      for (const jwt of [
        { algorithms: ['HS256'], secret: 'a-very-long-shared-secret-of-32-chars!' },
        { algorithms: ['ES256'], public_key_file: join(dir, 'ec.pem') },
        { algorithms: ['RS256'], jwks_url: 'https://id.example.com/jwks.json' },
      ]) {
        expect(() => assertEnforceable(jwtRoute(jwt))).not.toThrow();
      }
    });

    it('refuses a key file that cannot be read, naming the field', () => {
      const config = jwtRoute({ algorithms: ['RS256'], public_key_file: join(dir, 'none.pem') });
      expect(() => assertEnforceable(config, 'c.yaml')).toThrow(
        /buckets\[0\]\.auth\.jwt\.public_key_file: cannot read .*none\.pem \(ENOENT\)/,
      );
    });

    it('refuses a key file that does not fit an algorithm, naming it', () => {
      const config = jwtRoute({
        algorithms: ['ES256', 'RS256'],
        public_key_file: join(dir, 'ec.pem'),
      });
      expect(() => assertEnforceable(config)).toThrow(
        /buckets\[0\]\.auth\.jwt\.algorithms\[1\]: RS256 needs an RSA key/,
      );
    });
  });
});
