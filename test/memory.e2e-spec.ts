/**
 * Acceptance: "An upload of 40 MiB through the gateway keeps the gateway's RSS growth under
 * 64 MiB". The gateway runs as its own process (the built CLI) so that its memory is measured
 * alone; the body is generated chunk by chunk and streamed with a Content-Length.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cephSettings,
  closeDirectS3,
  createTestBucket,
  destroyTestBucket,
  storedObject,
} from './helpers/ceph';
import {
  ensureGatewayBuilt,
  type GatewayProcess,
  memoryOf,
  PatternBody,
  resetPeakRss,
  SERVING_LINE,
  startGateway,
  streamPut,
} from './helpers/gateway-process';
import { freePort, isolatedAwsEnv } from './helpers/processes';

const MiB = 1024 * 1024;

describe('Gateway memory during a large upload', () => {
  let bucket: string;
  let dir: string;
  let gateway: GatewayProcess | undefined;

  beforeAll(async () => {
    await ensureGatewayBuilt();
    bucket = await createTestBucket('memory');
    dir = mkdtempSync(join(tmpdir(), 'mizuchi-memory-'));
  });

  afterAll(async () => {
    await gateway?.stop('SIGKILL');
    if (bucket !== undefined) await destroyTestBucket(bucket);
    closeDirectS3();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("keeps the gateway's RSS growth under 64 MiB while a 40 MiB upload streams into Ceph", async () => {
    const ceph = cephSettings();
    const port = await freePort();
    const config = join(dir, 'memory.yaml');
    writeFileSync(
      config,
      JSON.stringify({
        server: { address: `127.0.0.1:${port}` },
        buckets: [
          {
            name: 'memory',
            path_prefix: '/mem',
            s3: {
              bucket,
              endpoint: ceph.endpoint,
              region: ceph.region,
              access_key: ceph.accessKeyId,
              secret_key: ceph.secretAccessKey,
            },
          },
        ],
        logging: { level: 'info' },
      }),
    );
    gateway = startGateway(['--config', config], { env: isolatedAwsEnv(), cwd: dir });
    const [, url] = await gateway.waitForStdout(SERVING_LINE);

    // Warm up: the first upload loads code paths and connection pools that any upload needs.
    const warmUp = await streamPut(`${url}/mem/warm-up.bin`, new PatternBody(MiB));
    expect(warmUp.status).toBe(200);
    resetPeakRss(gateway.pid);
    const baseline = memoryOf(gateway.pid).rss;

    const body = new PatternBody(40 * MiB);
    const expectedMd5 = body.md5();
    const put = await streamPut(`${url}/mem/forty.bin`, body);
    const peak = memoryOf(gateway.pid).peakRss;

    expect(put.status).toBe(200);
    expect(put.headers.etag).toBe(`"${expectedMd5}"`);
    expect(peak - baseline).toBeLessThan(64 * MiB);
    const stored = await storedObject(bucket, 'forty.bin');
    expect(stored?.md5).toBe(expectedMd5);
    expect(stored?.size).toBe(40 * MiB);

    expect(await gateway.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
