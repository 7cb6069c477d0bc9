/**
 * Jest global setup of the e2e project: makes sure the Ceph RADOS Gateway test backend is up
 * (installing and starting it on first use) and tells the tests where its settings are.
 *
 * Environment it sets for the tests:
 *   MIZUCHI_TEST_S3_JSON  path of the backend's s3.json (endpoint, credentials, region)
 *   MIZUCHI_TEST_CEPH_DIR state directory of the Ceph cluster this setup brought up
 *
 * When MIZUCHI_TEST_S3_JSON is already set before jest starts, it names the s3.json of some
 * other S3 backend to test against, and Ceph is neither started nor stopped.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '..', '..');
export const DEFAULT_RGW_DIR = '/tmp/mizuchi-radosgw';

export function rgwDir(): string {
  return process.env.RGW_DIR || DEFAULT_RGW_DIR;
}

/**
 * Runs `bash <script>` from the repository root for the cluster in `dir`; the script's stderr
 * (its progress log) goes to ours, its stdout is dropped.
 */
export function runScript(script: string, dir: string = rgwDir()): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn('bash', [script], {
      cwd: REPO_ROOT,
      env: { ...process.env, RGW_DIR: dir },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('error', fail);
    child.on('exit', (code, signal) => {
      if (code === 0) done();
      else fail(new Error(`bash ${script} failed (${signal ?? `exit code ${code}`})`));
    });
  });
}

export default async function globalSetup(): Promise<void> {
  const preset = process.env.MIZUCHI_TEST_S3_JSON;
  // In watch mode both variables survive from the previous run: then it is our Ceph again.
  if (preset && !process.env.MIZUCHI_TEST_CEPH_DIR) {
    process.stderr.write(`[e2e] using the S3 backend described in ${preset}; not starting Ceph\n`);
    return;
  }

  await runScript('scripts/radosgw-up.sh');

  const settingsFile = join(rgwDir(), 's3.json');
  // Fail here, once, rather than in every test if the script left no usable settings.
  const settings = JSON.parse(readFileSync(settingsFile, 'utf8')) as { endpoint?: unknown };
  if (typeof settings.endpoint !== 'string') {
    throw new Error(`${settingsFile} has no endpoint`);
  }
  process.env.MIZUCHI_TEST_S3_JSON = settingsFile;
  process.env.MIZUCHI_TEST_CEPH_DIR = rgwDir();
}
