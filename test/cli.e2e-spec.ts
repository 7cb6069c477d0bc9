/**
 * The command line as users run it (DESIGN.md §4): `node dist/src/main.js` with `--validate`,
 * `--config FILE`, `MIZUCHI_CONFIG=FILE`, or no config at all, and SIGTERM to stop it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ensureGatewayBuilt,
  GATEWAY_MAIN,
  type GatewayProcess,
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
