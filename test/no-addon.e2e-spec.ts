/**
 * Acceptance (issue 7): "`npm ci` succeeds on a machine without a C++ toolchain (the addon is
 * optional; simulate by making the build fail) and the gateway still serves". A copy of
 * native-splice goes through its install step with a compiler that always fails, as `npm ci`
 * runs it on such a machine; the built gateway then starts with `@mizuchi/native-splice`
 * resolved to that copy, says once why it streams, and stores a body that would otherwise have
 * been spliced, byte for byte, in Ceph.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeDirectS3, createTestBucket, destroyTestBucket, storedObject } from './helpers/ceph';
import { cephRoute } from './helpers/create-test-app';
import {
  ensureGatewayBuilt,
  type GatewayProcess,
  REPO_ROOT,
  SERVING_LINE,
  startGateway,
} from './helpers/gateway-process';
import { freePort, isolatedAwsEnv } from './helpers/processes';
import { send } from './helpers/wire';

const ADDON_DIR = join(REPO_ROOT, 'native-splice');
const FAILING_COMPILER = { CC: '/bin/false', CXX: '/bin/false', CXX_host: '/bin/false' };

describe('a gateway whose splice addon failed to build', () => {
  let dir: string;
  let bucket: string;
  let gateway: GatewayProcess | undefined;
  let url: string;

  beforeAll(async () => {
    await ensureGatewayBuilt();
    bucket = await createTestBucket('no-addon');
    dir = mkdtempSync(join(tmpdir(), 'mizuchi-no-addon-'));

    // The addon package as npm installs it, built with a compiler that fails.
    const addon = join(dir, 'native-splice');
    for (const entry of ['binding.gyp', 'index.js', 'package.json', 'scripts', 'src']) {
      cpSync(join(ADDON_DIR, entry), join(addon, entry), { recursive: true });
    }
    const install = spawnSync(process.execPath, [join(addon, 'scripts', 'install.js')], {
      cwd: addon,
      env: { ...process.env, ...FAILING_COMPILER },
      encoding: 'utf8',
    });
    expect(install.status).toBe(0);
    expect(existsSync(join(addon, 'build', 'Release', 'native_splice.node'))).toBe(false);

    // Every require of the package from the gateway finds that copy.
    const redirect = join(dir, 'redirect.js');
    writeFileSync(
      redirect,
      `const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return resolve.call(this, request === '@mizuchi/native-splice' ? ${JSON.stringify(addon)} : request, ...rest);
};
`,
    );
    const config = join(dir, 'gateway.yaml');
    writeFileSync(
      config,
      JSON.stringify({
        server: { address: `127.0.0.1:${await freePort()}` },
        logging: { level: 'info', format: 'json' },
        buckets: [cephRoute('plain', bucket)],
      }),
    );
    gateway = startGateway(['--config', config], {
      env: isolatedAwsEnv({ NODE_OPTIONS: `--require=${redirect}` }),
      cwd: dir,
    });
    [, url] = await gateway.waitForStdout(SERVING_LINE);
  }, 300_000);

  afterAll(async () => {
    await gateway?.stop('SIGKILL');
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    if (bucket !== undefined) await destroyTestBucket(bucket);
    closeDirectS3();
  });

  it('says once, at start-up, that it streams every body and why', () => {
    const lines = gateway?.stdout().split('\n') ?? [];
    const streaming = lines.filter((line) => line.includes('streaming every body'));
    expect(streaming).toHaveLength(1);
    expect(streaming[0]).toContain('the addon was not built at install');
    expect(gateway?.stdout()).not.toContain('splice(2) zero-copy on');
  });

  it('reports the stream path and the reason in /health/ready', async () => {
    const res = await send(url, { method: 'GET', path: '/health/ready' });
    expect(res.status).toBe(200);
    const report = JSON.parse(res.text) as { details: Record<string, Record<string, unknown>> };
    expect(report.details.zero_copy).toMatchObject({ status: 'up', mode: 'stream' });
    expect(report.details.zero_copy.reason).toContain('the addon was not built at install');
  });

  it('streams a body that qualifies for splice into Ceph, byte for byte', async () => {
    const body = randomBytes(3 * 1024 * 1024 + 5);
    const md5 = createHash('md5').update(body).digest('hex');

    const res = await send(url, { method: 'PUT', path: '/plain/big.bin', body });

    expect(res.status).toBe(200);
    expect(res.headers.etag).toBe(`"${md5}"`);
    expect(await storedObject(bucket, 'big.bin')).toMatchObject({ md5, size: body.length });
    const metrics = (await send(url, { method: 'GET', path: '/metrics' })).text;
    expect(metrics).toMatch(/^mizuchi_zero_copy_bytes_total\{mode="stream"\} [1-9]\d*/m);
    expect(metrics).not.toMatch(/^mizuchi_zero_copy_bytes_total\{mode="splice"\} [1-9]/m);
  });
});
