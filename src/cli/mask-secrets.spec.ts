import { appConfigSchema } from '../config/config.schema';
import { parseConfig } from '../config/load-config';
import { type SchemaField, schemaFields } from '../config/schema-fields';
import {
  looksSecret,
  MASK,
  maskSecrets,
  maskUrlCredentials,
  secretSchemaPaths,
} from './mask-secrets';
import { renderConfig } from './print-config';

const FIELDS = schemaFields(appConfigSchema);

/** The secrets the configuration has today; a new one must be added here deliberately. */
const KNOWN_SECRETS = [
  'server.upload_id_secret',
  'buckets[].s3.secret_key',
  'buckets[].auth.jwt.secret',
  'buckets[].auth.sigv4.credentials[].secret_key',
  'buckets[].authz.openfga.api_token',
];

/**
 * String keys reviewed as not secret. A new string key fails the test below until it is either
 * marked `secret: true` in config.descriptions.ts or added here, so nobody adds a secret by
 * accident without masking it.
 */
const REVIEWED_NOT_SECRET = [
  'server.address',
  'buckets[].name',
  'buckets[].path_prefix',
  'buckets[].s3.bucket',
  'buckets[].s3.region',
  'buckets[].s3.endpoint',
  'buckets[].s3.access_key',
  'buckets[].filesystem.path',
  'buckets[].upload.key_template',
  'buckets[].auth.jwt.public_key_file',
  'buckets[].auth.jwt.jwks_url',
  'buckets[].auth.jwt.issuer',
  'buckets[].auth.jwt.audience',
  'buckets[].auth.jwt.claims[].value',
  'buckets[].auth.jwt.token_sources[].name',
  'buckets[].auth.jwt.claims[].claim',
  'buckets[].auth.sigv4.region',
  'buckets[].auth.sigv4.credentials[].access_key',
  'buckets[].auth.sigv4.credentials[].subject',
  'buckets[].auth.sigv4.replay_store.url',
  'buckets[].auth.sigv4.replay_store.key_prefix',
  'buckets[].auth.custom',
  'buckets[].authz.provider',
  'buckets[].authz.opa.url',
  'buckets[].authz.opa.policy_path',
  'buckets[].authz.openfga.url',
  'buckets[].authz.openfga.store_id',
  'buckets[].authz.openfga.model_id',
  'buckets[].authz.openfga.relation',
  'buckets[].authz.openfga.user_claim',
  'tracing.service_name',
  'tracing.otlp.endpoint',
  'metrics.path',
];

/** A value unique to `path`, so that the output shows exactly which fields survived. */
function sentinel(path: string): string {
  return `sentinel<${path}>`;
}

/** Free-form settings as a custom provider might take them, secrets among them. */
function freeFormOptions(path: string): Record<string, unknown> {
  return {
    header: 'x-api-key',
    api_key: sentinel(`${path}.api_key`),
    clientSecret: sentinel(`${path}.clientSecret`),
    nested: { password: sentinel(`${path}.nested.password`), region: 'eu' },
    credentials: { user: sentinel(`${path}.credentials.user`), tokens: ['t1', 't2'] },
  };
}

/**
 * A raw configuration with every key of the schema set (every list holding one item), each
 * value a sentinel naming its path. It need not validate: masking works on any shape.
 */
function fullyPopulated(): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  const containers = new Map<string, Record<string, unknown>>([['', root]]);
  const parentOf = (field: SchemaField) =>
    field.path.slice(0, Math.max(0, field.path.lastIndexOf('.')));
  for (const field of FIELDS) {
    const parent = containers.get(parentOf(field));
    if (parent === undefined) throw new Error(`no container for ${field.path}`);
    if (field.kind === 'section') {
      const section: Record<string, unknown> = {};
      parent[field.key] = section;
      containers.set(field.path, section);
    } else if (field.kind === 'section-list') {
      const item: Record<string, unknown> = {};
      parent[field.key] = [item];
      containers.set(`${field.path}[]`, item);
    } else if (field.type.startsWith('mapping (free-form)')) {
      parent[field.key] = freeFormOptions(field.path);
    } else {
      parent[field.key] = sentinel(field.path);
    }
  }
  return root;
}

/** Reads `path` (with `[]` for the single list item) from a populated configuration. */
function valueAt(config: unknown, path: string): unknown {
  let node: unknown = config;
  for (const segment of path.split('.')) {
    const list = segment.endsWith('[]');
    node = (node as Record<string, unknown>)[list ? segment.slice(0, -2) : segment];
    if (list) node = (node as unknown[])[0];
  }
  return node;
}

describe('maskSecrets', () => {
  const populated = fullyPopulated();
  const masked = maskSecrets(populated);
  const valueFields = FIELDS.filter(
    (field) => field.kind === 'value' && !field.type.startsWith('mapping (free-form)'),
  );

  it('masks every secret-ish key of a fully populated configuration and nothing else', () => {
    const maskedPaths = valueFields
      .filter((field) => valueAt(masked, field.path) === MASK)
      .map((field) => field.path);
    expect(maskedPaths.sort()).toEqual([...KNOWN_SECRETS].sort());
    for (const field of valueFields) {
      if (!KNOWN_SECRETS.includes(field.path)) {
        expect(valueAt(masked, field.path)).toBe(sentinel(field.path));
      }
    }
  });

  it('masks every key marked secret in the descriptions and every key whose name looks secret', () => {
    for (const path of secretSchemaPaths()) expect(valueAt(masked, path)).toBe(MASK);
    for (const field of valueFields.filter((f) => looksSecret(f.key))) {
      expect(valueAt(masked, field.path)).toBe(MASK);
    }
  });

  it('leaves no secret of the populated configuration anywhere in the output', () => {
    const text = JSON.stringify(masked);
    for (const path of KNOWN_SECRETS) expect(text).not.toContain(sentinel(path));
    expect(text).not.toMatch(/sentinel<[^>]*\.(api_key|clientSecret|password|user)>/);
    expect(text).not.toMatch(/"t1"|"t2"/);
  });

  it('masks free-form settings by name, and everything below a secret-looking name', () => {
    const options = valueAt(masked, 'buckets[].auth.options') as Record<string, unknown>;
    expect(options).toEqual({
      header: 'x-api-key',
      api_key: MASK,
      clientSecret: MASK,
      nested: { password: MASK, region: 'eu' },
      credentials: { user: MASK, tokens: [MASK, MASK] },
    });
  });

  it('makes every string key either masked or reviewed as not secret', () => {
    const strings = valueFields
      .filter((field) => /\b(string|URL)\b/.test(field.type) && !/^(one of|list)/.test(field.type))
      .map((field) => field.path);
    const unreviewed = strings.filter(
      (path) => !KNOWN_SECRETS.includes(path) && !REVIEWED_NOT_SECRET.includes(path),
    );
    // A new string key: mark it `secret: true` in config.descriptions.ts, or list it above.
    expect(unreviewed).toEqual([]);
    expect(REVIEWED_NOT_SECRET.filter((path) => !strings.includes(path))).toEqual([]);
  });

  it('does not change the configuration it is given', () => {
    expect(valueAt(populated, 'server.upload_id_secret')).toBe(sentinel('server.upload_id_secret'));
  });
});

describe('maskUrlCredentials', () => {
  it.each([
    ['redis://:hunter2@redis:6379/0', `redis://:${MASK}@redis:6379/0`],
    [
      'rediss://default:hunter2@redis.example.com:6380',
      `rediss://default:${MASK}@redis.example.com:6380`,
    ],
    ['https://s3cr3t-token@collector.example.com/v1', `https://${MASK}@collector.example.com/v1`],
    [
      'https://id.example.com/jwks.json?access_token=abc&tenant=acme#x',
      `https://id.example.com/jwks.json?access_token=${MASK}&tenant=acme#x`,
    ],
    [
      'http://h/?X-Amz-Signature=deadbeef&X-Amz-Expires=60',
      `http://h/?X-Amz-Signature=${MASK}&X-Amz-Expires=60`,
    ],
  ])('masks the credentials in %s', (url, expected) => {
    expect(maskUrlCredentials(url)).toBe(expected);
  });

  it('leaves URLs without credentials and other strings alone', () => {
    for (const value of ['redis://redis:6379', 'http://minio:9000', 'user@example.com', 'a:b@c']) {
      expect(maskUrlCredentials(value)).toBe(value);
    }
  });
});

describe('looksSecret', () => {
  it.each([
    'secret_key',
    'api_token',
    'password',
    'clientSecret',
    'x-api-key',
    'API_KEY',
    'private-key',
    'credentials',
  ])('takes %s for a secret', (name) => expect(looksSecret(name)).toBe(true));

  it.each([
    'access_key',
    'public_key_file',
    'key_prefix',
    'key_template',
    'max_key_bytes',
    'subject',
    'record_object_keys',
  ])('takes %s for an ordinary key', (name) => expect(looksSecret(name)).toBe(false));
});

describe('renderConfig', () => {
  const secrets = {
    S3_SECRET_KEY: 'backend-secret-key-value',
    UPLOAD_ID_SECRET: 'upload-id-secret-0123456789abcdef0123456789',
    JWT_SECRET: 'jwt-hmac-secret-0123456789abcdef0123456789',
    CLIENT_SECRET: 'client-sigv4-secret',
    REDIS_PASSWORD: 'redis-password-value',
    FGA_TOKEN: 'openfga-api-token-value',
  };
  const config = parseConfig(
    {
      server: { upload_id_secret: '${UPLOAD_ID_SECRET}' },
      buckets: [
        {
          name: 'jwt',
          path_prefix: '/jwt',
          s3: { bucket: 'b', access_key: 'AKIDEXAMPLE', secret_key: '${S3_SECRET_KEY}' },
          auth: { enabled: true, jwt: { algorithms: ['HS256'], secret: '${JWT_SECRET}' } },
          authz: {
            enabled: true,
            provider: 'openfga',
            openfga: {
              url: 'http://openfga:8080',
              store_id: '01JAHWTRB2X3Y4Z5A6B7C8D9EF',
              api_token: '${FGA_TOKEN}',
            },
          },
        },
        {
          name: 'sigv4',
          path_prefix: '/sigv4',
          filesystem: { path: '/data' },
          auth: {
            enabled: true,
            sigv4: {
              credentials: [
                { access_key: 'UPLOADER1', secret_key: '${CLIENT_SECRET}', subject: 'u' },
              ],
              replay_store: { type: 'redis', url: 'redis://:${REDIS_PASSWORD}@redis:6379/0' },
            },
          },
        },
      ],
    },
    secrets,
  );

  it.each(['yaml', 'json'] as const)('prints the resolved %s without any secret', (format) => {
    const text = renderConfig(config, format, 'test.yaml');
    for (const value of Object.values(secrets)) expect(text).not.toContain(value);
    expect(text).toContain(MASK);
    // Resolved: defaults are filled in and non-secret values are shown.
    expect(text).toContain('AKIDEXAMPLE');
    expect(text).toContain('redis:6379/0');
    expect(text).toContain('52428800');
    expect(text).toContain('shutdown_grace_seconds');
  });

  it('prints JSON that parses to the masked configuration', () => {
    const printed = JSON.parse(renderConfig(config, 'json', 'test.yaml')) as typeof config;
    expect(printed.buckets[0].s3?.secret_key).toBe(MASK);
    expect(printed.buckets[1].auth.sigv4?.replay_store).toEqual({
      type: 'redis',
      url: `redis://:${MASK}@redis:6379/0`,
      key_prefix: 'mizuchi:replay:',
    });
    expect(printed.server.limits.max_key_bytes).toBe(1024);
  });
});
