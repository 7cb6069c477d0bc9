/**
 * The command line as users run it (DESIGN.md §4): `node dist/src/main.js` (and `npx mizuchi`)
 * with `--validate`, `--print-config`, `--version`, `--help`, `--config FILE`,
 * `MIZUCHI_CONFIG=FILE`, or no config at all, and SIGTERM to stop it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { AppConfig } from '../src/config/config.schema';
import {
  ensureGatewayBuilt,
  GATEWAY_MAIN,
  type GatewayProcess,
  REPO_ROOT,
  SERVING_LINE,
  startGateway,
} from './helpers/gateway-process';
import { freePort, isolatedAwsEnv, runOk, runProcess } from './helpers/processes';

/** A fresh temporary folder, removed after the file's tests. */
const tempDirs: string[] = [];
function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `mizuchi-cli-${label}-`));
  tempDirs.push(dir);
  return dir;
}

/** A config file with one filesystem route `/files` stored under `dataDir`. */
function writeFilesystemConfig(dir: string, address: string, dataDir: string): string {
  const file = join(dir, 'gateway.yaml');
  writeFileSync(
    file,
    [
      'server:',
      `  address: "${address}"`,
      '  shutdown_grace_seconds: 5',
      'buckets:',
      '  - name: files',
      '    path_prefix: /files',
      '    filesystem:',
      `      path: ${JSON.stringify(dataDir)}`,
      'logging:',
      '  level: info',
      '',
    ].join('\n'),
  );
  return file;
}

/** Runs the built CLI with `args` to completion. */
function runCli(args: string[], env: Record<string, string> = {}, cwd?: string) {
  return runProcess(process.execPath, [GATEWAY_MAIN, ...args], { env: isolatedAwsEnv(env), cwd });
}

/**
 * The environment docker compose gives the gateway container of docker-compose.yml: its
 * `environment` entries, interpolated from .env (here .env.example, as `cp .env.example .env`
 * makes it), plus the OpenFGA ids that openfga-init leaves for the entrypoint to source.
 */
function composeGatewayEnv(): Record<string, string> {
  const dotEnv = new Map<string, string>();
  for (const line of readFileSync(join(REPO_ROOT, '.env.example'), 'utf8').split('\n')) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (match) dotEnv.set(match[1], match[2]);
  }
  const compose = parseYaml(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: { gateway: { environment: Record<string, string> } };
  };
  const env: Record<string, string> = {
    MIZUCHI_OPENFGA_STORE_ID: '01JAHWTRB2X3Y4Z5A6B7C8D9EF',
    MIZUCHI_OPENFGA_MODEL_ID: '01JAHWTRB2X3Y4Z5A6B7C8D9EG',
  };
  for (const [name, value] of Object.entries(compose.services.gateway.environment)) {
    env[name] = String(value).replace(
      /\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}/g,
      (_match, variable: string, fallback?: string) => dotEnv.get(variable) || (fallback ?? ''),
    );
  }
  return env;
}

/** Uploads `body` with `curl -T` and returns what curl printed. */
async function curlUpload(url: string, body: Buffer, workDir: string): Promise<string> {
  const file = join(workDir, `curl-${randomBytes(4).toString('hex')}.bin`);
  writeFileSync(file, body);
  return runOk('curl', ['-sS', '--fail-with-body', '-T', file, url]);
}

describe('The mizuchi command line', () => {
  const running = new Set<GatewayProcess>();

  /** Starts the built gateway and stops it (SIGTERM) after the test if the test did not. */
  function start(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
    const gateway = startGateway(args, { env: isolatedAwsEnv(), ...options });
    running.add(gateway);
    void gateway.exited.then(() => running.delete(gateway));
    return gateway;
  }

  beforeAll(async () => {
    await ensureGatewayBuilt();
  });

  afterEach(async () => {
    await Promise.all([...running].map((gateway) => gateway.stop('SIGKILL')));
  });

  afterAll(() => {
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });

  describe('--validate', () => {
    it('accepts a valid config file and exits with code 0', async () => {
      const dir = tempDir('validate-good');
      const file = writeFilesystemConfig(dir, '127.0.0.1:8080', join(dir, 'data'));

      const outcome = await runProcess(
        process.execPath,
        [GATEWAY_MAIN, '--validate', '--config', file],
        { env: isolatedAwsEnv() },
      );

      expect(outcome.code).toBe(0);
      expect(outcome.stdout).toContain(`${file}: valid (1 route(s))`);
      // Validating never creates the storage folder: nothing was started.
      expect(existsSync(join(dir, 'data'))).toBe(false);
    });

    it('refuses an unknown key and a bad size, naming both fields on stderr', async () => {
      const dir = tempDir('validate-bad');
      const file = join(dir, 'bad.yaml');
      writeFileSync(
        file,
        [
          'server:',
          '  address: "127.0.0.1:8080"',
          '  bogus_option: 1',
          'buckets:',
          '  - name: files',
          '    path_prefix: /files',
          `    filesystem: { path: ${JSON.stringify(join(dir, 'data'))} }`,
          '    upload:',
          '      part_size: lots',
          '',
        ].join('\n'),
      );

      const outcome = await runProcess(
        process.execPath,
        [GATEWAY_MAIN, '--validate', '--config', file],
        { env: isolatedAwsEnv() },
      );

      expect(outcome.code).not.toBe(0);
      expect(outcome.signal).toBeNull();
      expect(outcome.stderr).toContain(file);
      expect(outcome.stderr).toMatch(/server\.bogus_option: unknown key/);
      expect(outcome.stderr).toMatch(/buckets\[0\]\.upload\.part_size: .*not a size/);
    });
  });

  describe('--validate on the shipped configs', () => {
    it('accepts config.compose.yaml with what docker compose and .env.example give it', async () => {
      const outcome = await runCli(
        ['--validate', '--config', 'config.compose.yaml'],
        composeGatewayEnv(),
        REPO_ROOT,
      );
      expect(outcome.stderr).toBe('');
      expect(outcome.stdout).toBe('config.compose.yaml: valid (3 route(s))\n');
      expect(outcome.code).toBe(0);
    });

    it('accepts config.example.yaml with no variables set', async () => {
      const outcome = await runCli(['--validate', '-c', 'config.example.yaml'], {}, REPO_ROOT);
      expect(outcome.code).toBe(0);
      expect(outcome.stdout).toContain('config.example.yaml: valid (2 route(s))');
    });
  });

  describe('--print-config', () => {
    const secrets = {
      BACKEND_SECRET: 'backend-secret-do-not-print',
      ID_SECRET: 'upload-id-secret-do-not-print-0123456789',
      CLIENT_SECRET: 'client-secret-do-not-print',
      REDIS_PASSWORD: 'redis-password-do-not-print',
    };

    function writeSecretConfig(dir: string): string {
      const file = join(dir, 'secret.yaml');
      writeFileSync(
        file,
        [
          'server:',
          '  address: "127.0.0.1:18080"',
          '  upload_id_secret: ${ID_SECRET}',
          'buckets:',
          '  - name: team',
          '    path_prefix: /team',
          '    s3: { bucket: team, access_key: AKIDVISIBLE, secret_key: "${BACKEND_SECRET}" }',
          '    auth:',
          '      enabled: true',
          '      sigv4:',
          '        credentials:',
          '          - { access_key: UPLOADER1, secret_key: "${CLIENT_SECRET}", subject: alice }',
          '        replay_store: { type: redis, url: "redis://:${REDIS_PASSWORD}@redis:6379/0" }',
          '  - name: files',
          '    path_prefix: /files',
          `    filesystem: { path: ${JSON.stringify(join(dir, 'data'))} }`,
          '',
        ].join('\n'),
      );
      return file;
    }

    it('prints the resolved config as YAML with defaults filled in and every secret masked', async () => {
      const dir = tempDir('print-yaml');
      const file = writeSecretConfig(dir);

      const outcome = await runCli(['--config', file, '--print-config'], secrets);

      expect(outcome.code).toBe(0);
      expect(outcome.stderr).toBe('');
      for (const secret of Object.values(secrets)) expect(outcome.stdout).not.toContain(secret);
      const printed = parseYaml(outcome.stdout);
      expect(printed.server).toMatchObject({
        address: '127.0.0.1:18080',
        upload_id_secret: '<redacted>',
        shutdown_grace_seconds: 30,
        limits: { max_key_bytes: 1024 },
      });
      expect(printed.buckets[0].s3).toMatchObject({
        access_key: 'AKIDVISIBLE',
        secret_key: '<redacted>',
        region: 'us-east-1',
      });
      expect(printed.buckets[0].auth.sigv4.credentials[0]).toEqual({
        access_key: 'UPLOADER1',
        secret_key: '<redacted>',
        subject: 'alice',
      });
      expect(printed.buckets[0].auth.sigv4.replay_store.url).toBe(
        'redis://:<redacted>@redis:6379/0',
      );
      expect(printed.buckets[0].upload.multipart_threshold).toBe(50 * 1024 * 1024);
      // Printing starts nothing: the filesystem route's folder was never created.
      expect(existsSync(join(dir, 'data'))).toBe(false);
    });

    it('prints JSON with --print-config=json, from MIZUCHI_CONFIG', async () => {
      const dir = tempDir('print-json');
      const file = writeSecretConfig(dir);

      const outcome = await runCli(['--print-config=json'], { ...secrets, MIZUCHI_CONFIG: file });

      expect(outcome.code).toBe(0);
      for (const secret of Object.values(secrets)) expect(outcome.stdout).not.toContain(secret);
      const printed = JSON.parse(outcome.stdout) as AppConfig;
      expect(printed.buckets.map((route) => route.name)).toEqual(['team', 'files']);
      expect(printed.tracing.otlp.endpoint).toBe('http://localhost:4318');
    });

    it('prints the embedded default config when given no file', async () => {
      const outcome = await runCli(['--print-config'], { PORT: '18081' }, tempDir('print-default'));
      expect(outcome.code).toBe(0);
      expect(outcome.stdout).toContain('from the embedded default config');
      expect(parseYaml(outcome.stdout).server.address).toBe('0.0.0.0:18081');
    });

    it('refuses an invalid config with exit code 1 and prints nothing on stdout', async () => {
      const dir = tempDir('print-bad');
      const file = join(dir, 'bad.yaml');
      writeFileSync(file, 'buckets: []\n');
      const outcome = await runCli(['--print-config', '-c', file]);
      expect(outcome.code).toBe(1);
      expect(outcome.stdout).toBe('');
      expect(outcome.stderr).toContain('buckets: must configure at least one route');
    });
  });

  describe('--version and --help', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      version: string;
      bin: Record<string, string>;
    };

    it('prints the package and Node.js versions and the splice addon status', async () => {
      const outcome = await runCli(['--version']);
      expect(outcome.code).toBe(0);
      expect(outcome.stderr).toBe('');
      const lines = outcome.stdout.trimEnd().split('\n');
      expect(lines[0]).toBe(`mizuchi-uploadr ${pkg.version}`);
      expect(lines[1]).toMatch(new RegExp(`^node ${process.version.replace(/\./g, '\\.')} `));
      expect(lines[2]).toMatch(/^splice addon: (available|not available: .+)$/);
    });

    it('says the addon is switched off under ZERO_COPY=off', async () => {
      const outcome = await runCli(['-v'], { ZERO_COPY: 'off' });
      expect(outcome.stdout).toMatch(/splice addon: (available \(disabled by ZERO_COPY=off\)|not)/);
    });

    it('runs as the package bin: npx mizuchi --version', async () => {
      expect(pkg.bin.mizuchi).toBe('dist/src/main.js');
      expect(readFileSync(GATEWAY_MAIN, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
      const outcome = await runProcess('npx', ['--no-install', 'mizuchi', '--version'], {
        cwd: REPO_ROOT,
        env: isolatedAwsEnv(),
      });
      expect(outcome.code).toBe(0);
      expect(outcome.stdout).toContain(`mizuchi-uploadr ${pkg.version}\n`);
    });

    it('prints usage with every flag and the environment variables', async () => {
      const outcome = await runCli(['--help']);
      expect(outcome.code).toBe(0);
      expect(outcome.stdout).toMatch(/^Usage: mizuchi /);
      for (const text of [
        '--config FILE',
        '--validate',
        '--print-config[=yaml|json]',
        '--version',
        '--help',
        'MIZUCHI_CONFIG',
        'HOST',
        'PORT',
        'ZERO_COPY',
        '${VAR}',
      ]) {
        expect(outcome.stdout).toContain(text);
      }
      // -h is the same, and wins over other actions.
      expect((await runCli(['--validate', '-h'])).stdout).toBe(outcome.stdout);
    });

    it.each([
      [['--bogus'], "unknown option '--bogus'"],
      [['--config'], '--config needs a file path'],
      [['serve'], "unexpected argument 'serve'"],
      [
        ['--validate', '--print-config'],
        '--validate and --print-config cannot be combined; choose one',
      ],
      [['--print-config=xml'], "--print-config takes yaml or json, not 'xml'"],
    ])('exits with code 2 for %p, saying why', async (args, message) => {
      const outcome = await runCli(args);
      expect(outcome.code).toBe(2);
      expect(outcome.stdout).toBe('');
      expect(outcome.stderr).toContain(`mizuchi: ${message}`);
      expect(outcome.stderr).toContain("Run 'mizuchi --help' for usage.");
      expect(outcome.stderr).not.toMatch(/\bat .*\.js:\d+/);
    });
  });

  describe('serving a config file', () => {
    it.each([
      ['--config FILE', (file: string) => ({ args: ['--config', file], env: {} })],
      ['MIZUCHI_CONFIG=FILE', (file: string) => ({ args: [], env: { MIZUCHI_CONFIG: file } })],
    ])('listens on server.address and stores uploads when given %s', async (_how, invocation) => {
      const dir = tempDir('serve');
      const dataDir = join(dir, 'data');
      const port = await freePort();
      const file = writeFilesystemConfig(dir, `127.0.0.1:${port}`, dataDir);
      const { args, env } = invocation(file);

      const gateway = start(args, { env: isolatedAwsEnv(env), cwd: dir });
      const [, url] = await gateway.waitForStdout(SERVING_LINE);
      expect(url).toBe(`http://127.0.0.1:${port}`);

      const body = randomBytes(300 * 1024 + 11);
      await curlUpload(`${url}/files/from-curl/object.bin`, body, dir);
      expect(readFileSync(join(dataDir, 'from-curl', 'object.bin')).equals(body)).toBe(true);

      expect(await gateway.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    });

    it("turns V8's allocation-site pretenuring off before it serves (docs/OPERATIONS.md)", async () => {
      const dir = tempDir('v8-flags');
      const port = await freePort();
      const file = writeFilesystemConfig(dir, `127.0.0.1:${port}`, join(dir, 'data'));
      // Reports every V8 flag the gateway sets, and whether it came before the app was loaded.
      const spy = join(dir, 'v8-flag-spy.js');
      writeFileSync(
        spy,
        [
          "const v8 = require('node:v8');",
          'const set = v8.setFlagsFromString;',
          'v8.setFlagsFromString = (flag) => {',
          "  const appLoaded = Object.keys(require.cache).some((f) => f.includes('@nestjs/core'));",
          '  process.stderr.write(`v8 flag ${flag} app loaded: ${appLoaded}\\n`);',
          '  set(flag);',
          '};',
          '',
        ].join('\n'),
      );
      const gateway = start(['--config', file], {
        env: isolatedAwsEnv({ NODE_OPTIONS: `--require=${spy}` }),
        cwd: dir,
      });
      await gateway.waitForStdout(SERVING_LINE);
      const body = randomBytes(4096);
      await curlUpload(`http://127.0.0.1:${port}/files/after-flags.bin`, body, dir);
      expect(readFileSync(join(dir, 'data', 'after-flags.bin')).equals(body)).toBe(true);
      expect(await gateway.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      // The first flag set (memory-hint.ts sets --expose-gc later, with the app).
      expect(gateway.stderr().match(/^v8 flag .*$/gm)?.[0]).toBe(
        'v8 flag --no-allocation-site-pretenuring app loaded: false',
      );
      expect(gateway.stderr().match(/pretenuring/g)).toHaveLength(1);
    });
  });

  describe('with no config at all', () => {
    it('prints a Try it block whose curl and aws lines work exactly as printed', async () => {
      const cwd = tempDir('default');
      const port = await freePort();
      const gateway = start([], {
        cwd,
        env: isolatedAwsEnv({ HOST: '127.0.0.1', PORT: String(port) }),
      });

      const [, block] = await gateway.waitForStdout(/\nTry it:\n((?: {2}\S.*\n)+)\n/);
      const lines = block
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => line.slice(2));
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^echo .*curl .*-T /);
      expect(lines[0]).toContain(`http://127.0.0.1:${port}/uploads/`);
      expect(lines[1]).toMatch(/^aws s3 cp /);
      expect(lines[1]).toContain(`--endpoint-url http://127.0.0.1:${port}`);

      for (const line of lines) {
        // Run in order: the aws line uploads the file that the curl line created.
        // runOk fails the test with everything the line printed if it exits non-zero.
        await runOk('bash', ['-c', line], { cwd, env: isolatedAwsEnv() });
      }

      const sent = readFileSync(join(cwd, 'hello.txt'));
      expect(sent.toString()).toBe('hello from curl\n');
      expect(readFileSync(join(cwd, 'data', 'uploads', 'hello.txt')).equals(sent)).toBe(true);
      expect(readFileSync(join(cwd, 'data', 'uploads', 'hello-aws.txt')).equals(sent)).toBe(true);

      expect(await gateway.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    });
  });
});
