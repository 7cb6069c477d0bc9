import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  expandEnv,
  loadConfigFile,
  parseConfig,
  parseConfigText,
  resolveConfigPath,
} from './load-config';

const EXAMPLE = join(__dirname, '..', '..', 'config.example.yaml');

/** A minimal valid config with one S3 route; tests override parts of it. */
function minimal(route: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    buckets: [{ name: 'uploads', path_prefix: '/uploads', s3: { bucket: 'b' }, ...route }],
  };
}

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('config.example.yaml', () => {
  it('validates with no environment variables set', () => {
    const config = loadConfigFile(EXAMPLE, {});
    expect(config.buckets.map((route) => route.name)).toEqual(['uploads', 'local']);
    const [s3Route, fsRoute] = config.buckets;
    expect(s3Route.s3).toMatchObject({ bucket: 'uploads', endpoint: 'http://127.0.0.1:7480' });
    expect(s3Route.s3?.access_key).toBeUndefined();
    expect(fsRoute.filesystem).toEqual({ path: './data/local' });
    expect(config.server.upload_id_secret).toBeUndefined();
    expect(config.tracing.otlp.endpoint).toBe('http://localhost:4318');
  });

  it('takes secrets and endpoints from the variables it documents', () => {
    const config = loadConfigFile(EXAMPLE, {
      S3_ACCESS_KEY: 'AKIDEXAMPLE',
      S3_SECRET_KEY: 'wJalrXUtnFEMI/K7MDENG',
      S3_MAX_SOCKETS: '128',
      MIZUCHI_UPLOAD_ID_SECRET: 'x'.repeat(64),
      MIZUCHI_TRACING: 'true',
      LOG_FORMAT: 'json',
    });
    expect(config.buckets[0].s3).toMatchObject({ access_key: 'AKIDEXAMPLE', max_sockets: 128 });
    expect(config.server.upload_id_secret).toHaveLength(64);
    expect(config.tracing.enabled).toBe(true);
    expect(config.logging.format).toBe('json');
  });

  it('shows commented settings that are themselves valid once uncommented and enabled', () => {
    const uncommented = readFileSync(EXAMPLE, 'utf8')
      .split('\n')
      .map((line) => line.replace(/^(\s*)# (?=\s*(?:[a-z0-9_]+:(?:\s|$)|- [a-z_]+:|#))/, '$1'))
      .join('\n')
      .replace(/(auth:\n(?:\s+#.*\n)*\s+)(?:#.*\n\s+)*enabled: false/, '$1enabled: true')
      .replace(/enabled: false\n(\s+# Engine)/, 'enabled: true\n$1');
    const config = parseConfigText(uncommented, {
      MIZUCHI_CLIENT_SECRET_KEY: 'client-secret-key',
      MIZUCHI_OPENFGA_STORE_ID: '01JAHWTRB2X3Y4Z5A6B7C8D9EF',
    });
    const [route] = config.buckets;
    expect(route.auth.enabled).toBe(true);
    expect(route.auth.jwt?.token_sources).toHaveLength(3);
    expect(route.auth.sigv4?.credentials[0].subject).toBe('uploader');
    expect(route.authz).toMatchObject({ enabled: true, provider: 'opa' });
    expect(route.authz.openfga?.store_id).toBe('01JAHWTRB2X3Y4Z5A6B7C8D9EF');
    expect(route.upload.allowed_content_types).toEqual(['image/*', 'application/pdf']);
    expect(config.metrics.port).toBe(9090);
  });
});

describe('expandEnv', () => {
  it('substitutes ${VAR} and falls back to ${VAR:-default} when unset or empty', () => {
    expect(expandEnv('http://${HOST}:${PORT:-80}/x', { HOST: 'h' })).toBe('http://h:80/x');
    expect(expandEnv('${A:-fallback}', { A: '' })).toBe('fallback');
    expect(expandEnv('${A:-}', {})).toBe('');
    expect(expandEnv('${A:-x}', { A: 'set' })).toBe('set');
  });

  it('keeps $${ as a literal ${ and leaves a bare $ alone', () => {
    expect(expandEnv('$${HOME} costs $5', { HOME: '/root' })).toBe('${HOME} costs $5');
  });

  it('names an unset variable and the field path', () => {
    expect(() => expandEnv('${NOPE}', {}, ['buckets', 0, 's3', 'bucket'])).toThrow(
      /buckets\[0\]\.s3\.bucket: environment variable NOPE is not set/,
    );
  });

  it('refuses a malformed reference', () => {
    expect(() => expandEnv('${1BAD}', {})).toThrow(/malformed/);
    expect(() => expandEnv('${OPEN', {})).toThrow(/malformed/);
  });
});

describe('parseConfig', () => {
  it('fills defaults and returns the output type', () => {
    const config = parseConfig(minimal(), {});
    expect(config.server.address).toBe('0.0.0.0:8080');
    expect(config.buckets[0].upload.part_size).toBe(16 * 1024 * 1024);
    expect(config.buckets[0].s3?.force_path_style).toBe(true);
    expect(config.metrics).toEqual({ enabled: true, path: '/metrics' });
  });

  it('expands variables after parsing and coerces numbers and booleans', () => {
    const config = parseConfig(
      {
        server: { address: '${ADDR}', zero_copy: { enabled: '${ZC:-false}' } },
        buckets: [
          {
            name: 'u',
            path_prefix: '/u',
            s3: { bucket: '${BUCKET}', max_sockets: '${SOCKETS:-16}', endpoint: '${EP:-}' },
          },
        ],
      },
      { ADDR: '[::]:9000', BUCKET: 'real' },
    );
    expect(config.server.address).toBe('[::]:9000');
    expect(config.server.zero_copy.enabled).toBe(false);
    expect(config.buckets[0].s3).toMatchObject({ bucket: 'real', max_sockets: 16 });
    expect(config.buckets[0].s3?.endpoint).toBeUndefined();
  });

  it('names an unknown key with its full path and suggests the right one', () => {
    const problems = problemsOf(() =>
      parseConfig(minimal({ s3: { bucket: 'b', buckt: 'typo' } }), {}),
    );
    expect(problems).toEqual(["buckets[0].s3.buckt: unknown key (did you mean 'bucket'?)"]);
  });

  it('rejects unknown keys at the root and in every section', () => {
    const problems = problemsOf(() =>
      parseConfig({ ...minimal(), srever: {}, logging: { levle: 'info' } }, {}),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        "srever: unknown key (did you mean 'server'?)",
        "logging.levle: unknown key (did you mean 'level'?)",
      ]),
    );
  });

  it('names a missing bucket', () => {
    const problems = problemsOf(() => parseConfig(minimal({ s3: { region: 'eu-west-1' } }), {}));
    expect(problems).toEqual(['buckets[0].s3.bucket: required']);
  });

  it('names a bad size', () => {
    const problems = problemsOf(() =>
      parseConfig(
        minimal({ upload: { part_size: '16 potatoes', multipart_threshold: '1MiB' } }),
        {},
      ),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^buckets\[0\]\.upload\.part_size: '16 potatoes' is not a size/),
    ]);
  });

  it('names a limit that is too large', () => {
    const problems = problemsOf(() =>
      parseConfig({ ...minimal(), server: { limits: { max_key_bytes: 2048 } } }, {}),
    );
    expect(problems).toEqual(['server.limits.max_key_bytes: must be at most 1024']);
  });

  it('lists every problem at once, including missing variables with their field path', () => {
    const error = (() => {
      try {
        parseConfig(
          {
            server: { address: 'nowhere', upload_id_secret: '${SECRET}' },
            buckets: [
              { name: 'a', path_prefix: 'a', s3: { bucket: 'b' }, filesystem: { path: '/' } },
            ],
            logging: { level: 'loud' },
          },
          {},
          'gateway.yaml',
        );
      } catch (caught) {
        return caught as ConfigError;
      }
      throw new Error('expected a ConfigError');
    })();
    expect(error.message).toContain('gateway.yaml');
    expect(error.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^server\.upload_id_secret: environment variable SECRET is not set/),
        expect.stringMatching(/^server\.address: /),
        "buckets[0].path_prefix: must start with '/'",
        expect.stringMatching(/^buckets\[0\]: 's3' and 'filesystem' are exclusive/),
        expect.stringMatching(/^logging\.level: must be one of: 'error'/),
      ]),
    );
    // The unset variable is reported once, not again as a too-short secret.
    expect(error.problems.filter((p) => p.startsWith('server.upload_id_secret'))).toHaveLength(1);
  });

  it('refuses duplicate path prefixes and names, naming the duplicate', () => {
    const problems = problemsOf(() =>
      parseConfig(
        {
          buckets: [
            { name: 'a', path_prefix: '/uploads', filesystem: { path: '/a' } },
            { name: 'b', path_prefix: '/uploads', filesystem: { path: '/b' } },
            { name: 'a', path_prefix: '/other', filesystem: { path: '/c' } },
          ],
        },
        {},
      ),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        "buckets[1].path_prefix: duplicate path_prefix '/uploads' (already used by buckets[0])",
        "buckets[2].name: duplicate name 'a' (already used by buckets[0])",
      ]),
    );
    expect(problems).toHaveLength(2);
  });

  it('refuses routes that shadow /health or the metrics path', () => {
    const problems = problemsOf(() =>
      parseConfig(
        {
          buckets: [
            { name: 'h', path_prefix: '/health/x', filesystem: { path: '/a' } },
            { name: 'm', path_prefix: '/metrics', filesystem: { path: '/b' } },
          ],
        },
        {},
      ),
    );
    expect(problems).toHaveLength(2);
    expect(parseConfig({ ...minimal(), metrics: { port: 9090 } }, {}).metrics.port).toBe(9090);
  });

  it('refuses a metrics port equal to the server port', () => {
    const problems = problemsOf(() => parseConfig({ ...minimal(), metrics: { port: 8080 } }, {}));
    expect(problems).toEqual([expect.stringMatching(/^metrics\.port: must differ/)]);
  });

  it('requires at least one route and calls an empty file empty', () => {
    expect(problemsOf(() => parseConfig({ buckets: [] }, {}))).toEqual([
      'buckets: must configure at least one route',
    ]);
    expect(problemsOf(() => parseConfig(null, {}))).toEqual(['(root): the configuration is empty']);
  });
});

describe('loadConfigFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mizuchi-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function write(text: string): string {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, text);
    return file;
  }

  it('names the line of a YAML syntax error and the file', () => {
    const file = write('server:\n  address: 0.0.0.0:8080\n limits: {}\nbuckets: []\n');
    let error: unknown;
    try {
      loadConfigFile(file, {});
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(file);
    expect((error as ConfigError).problems).toEqual([
      expect.stringMatching(/^line 3, column \d+: YAML syntax error: All mapping items/),
    ]);
  });

  it('reports duplicate YAML keys as syntax errors', () => {
    const file = write('logging:\n  level: info\n  level: debug\nbuckets: []\n');
    expect(problemsOf(() => loadConfigFile(file, {}))).toEqual([
      expect.stringMatching(/^line 3, column 3: YAML syntax error: Map keys must be unique/),
    ]);
  });

  it('never expands variables inside comments', () => {
    const file = write(
      '# ${NOT_SET_ANYWHERE}\nbuckets:\n  - name: u # ${ALSO_NOT_SET}\n    path_prefix: /u\n    filesystem: { path: /tmp/u }\n',
    );
    expect(loadConfigFile(file, {}).buckets[0].name).toBe('u');
  });

  it('treats an empty value as absent so the default applies', () => {
    const file = write(
      'server:\n  address:\nbuckets:\n  - name: u\n    path_prefix: /u\n    filesystem: { path: /x }\n    auth:\n',
    );
    const config = loadConfigFile(file, {});
    expect(config.server.address).toBe('0.0.0.0:8080');
    expect(config.buckets[0].auth).toEqual({ enabled: false, options: {} });
  });

  it('names the file when it cannot be read', () => {
    expect(() => loadConfigFile(join(dir, 'missing.yaml'), {})).toThrow(
      /missing\.yaml[\s\S]*no such file/,
    );
  });
});

describe('resolveConfigPath', () => {
  it('takes the command line path, else MIZUCHI_CONFIG', () => {
    expect(resolveConfigPath('cli.yaml', { MIZUCHI_CONFIG: 'env.yaml' })).toBe('cli.yaml');
    expect(resolveConfigPath(undefined, { MIZUCHI_CONFIG: 'env.yaml' })).toBe('env.yaml');
  });

  it('returns no path when neither is set, meaning the embedded default', () => {
    expect(resolveConfigPath(undefined, {})).toBeUndefined();
    expect(resolveConfigPath(undefined, { MIZUCHI_CONFIG: '' })).toBeUndefined();
  });
});
