/**
 * Acceptance: "An upload of 40 MiB through the gateway keeps the gateway's RSS growth under
 * 64 MiB". The gateway runs as its own process (the built CLI) so that its memory is measured
 * alone; the body is generated chunk by chunk and streamed with a Content-Length.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeDirectS3, createTestBucket, destroyTestBucket, storedObject } from './helpers/ceph';
import {
  ensureGatewayBuilt,
  type GatewayProcess,
  memoryOf,
  PatternBody,
  startMeasuredGateway,
  streamPut,
} from './helpers/gateway-process';

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
    const measured = await startMeasuredGateway(dir, bucket);
    gateway = measured.gateway;
    const running = measured.gateway;
    const { url, baseline } = measured;

    const body = new PatternBody(40 * MiB);
    const expectedMd5 = body.md5();
    const put = await streamPut(`${url}/mem/forty.bin`, body);
    const peak = memoryOf(running.pid).peakRss;

    expect(put.status).toBe(200);
    expect(put.headers.etag).toBe(`"${expectedMd5}"`);
    expect(peak - baseline).toBeLessThan(64 * MiB);
    const stored = await storedObject(bucket, 'forty.bin');
    expect(stored?.md5).toBe(expectedMd5);
    expect(stored?.size).toBe(40 * MiB);

    expect(await running.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
