/**
 * Acceptance: "a 1 GiB auto-multipart upload keeps RSS growth within concurrent_parts × part_size
 * plus 64 MiB" (DESIGN.md §3). The gateway runs as its own process (the built CLI) with a Ceph
 * route on the default upload settings, so its memory is measured alone; the body is generated
 * chunk by chunk, hashed while it is sent, and never held whole.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import {
  closeDirectS3,
  createTestBucket,
  destroyTestBucket,
  directS3,
  listMultipartUploads,
  storedObject,
} from './helpers/ceph';
import {
  ensureGatewayBuilt,
  type GatewayProcess,
  memoryOf,
  PatternBody,
  startMeasuredGateway,
  streamPut,
} from './helpers/gateway-process';
import { BodyDigest, MiB } from './helpers/landing';

const GiB = 1024 * MiB;
/** The route's upload settings: the documented defaults (DESIGN.md §4), spelled out. */
const PART_SIZE = 16 * MiB;
const CONCURRENT_PARTS = 4;
const THRESHOLD = 50 * MiB;

/** A PatternBody that hashes each chunk as it is handed to the sender. */
class HashedWhileSent extends PatternBody {
  readonly digest = new BodyDigest(PART_SIZE);

  override *chunks(): Generator<Buffer> {
    for (const chunk of super.chunks()) {
      this.digest.update(chunk);
      yield chunk;
    }
  }
}

describe('Gateway memory during a 1 GiB auto-multipart upload', () => {
  let bucket: string;
  let dir: string;
  let gateway: GatewayProcess | undefined;

  beforeAll(async () => {
    await ensureGatewayBuilt();
    bucket = await createTestBucket('auto-multipart-memory');
    dir = mkdtempSync(join(tmpdir(), 'mizuchi-auto-multipart-memory-'));
  }, 300_000);

  afterAll(async () => {
    await gateway?.stop('SIGKILL');
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    // Memstore Ceph holds objects in RAM: the bucket goes, with anything left in it.
    if (bucket !== undefined) await destroyTestBucket(bucket);
    closeDirectS3();
  });

  it('keeps RSS growth within concurrent_parts × part_size + 64 MiB, and Ceph holds the right bytes', async () => {
    const measured = await startMeasuredGateway(dir, bucket, {
      multipart_threshold: THRESHOLD,
      part_size: PART_SIZE,
      concurrent_parts: CONCURRENT_PARTS,
    });
    gateway = measured.gateway;
    const running = measured.gateway;
    const { url, baseline, peakReset } = measured;

    const body = new HashedWhileSent(GiB);
    const put = await streamPut(`${url}/mem/one-gib.bin`, body);
    const peak = memoryOf(running.pid).peakRss;
    const sent = body.digest.finish();

    const limit = CONCURRENT_PARTS * PART_SIZE + 64 * MiB;
    const growth = peak - baseline;
    process.stderr.write(
      `[auto-multipart-memory] baseline RSS ${(baseline / MiB).toFixed(1)} MiB, peak ` +
        `${(peak / MiB).toFixed(1)} MiB, growth ${(growth / MiB).toFixed(1)} MiB (limit ` +
        `${limit / MiB} MiB; peak reset: ${peakReset}); ${put.seconds.toFixed(1)} s\n`,
    );

    expect({ status: put.status, body: put.body }).toEqual({ status: 200, body: '' });
    expect(sent.size).toBe(GiB);
    // The client sees one PutObject whose ETag is the multipart ETag of 64 parts of 16 MiB.
    expect(sent.parts).toBe(GiB / PART_SIZE);
    expect(put.headers.etag).toBe(`"${sent.multipartEtag}"`);
    expect(growth).toBeLessThan(limit);

    const stored = await storedObject(bucket, 'one-gib.bin');
    expect({ md5: stored?.md5, size: stored?.size, etag: stored?.etag }).toEqual({
      md5: sent.md5,
      size: GiB,
      etag: sent.multipartEtag,
    });
    expect(await listMultipartUploads(bucket)).toEqual([]);
    await directS3().send(new DeleteObjectCommand({ Bucket: bucket, Key: 'one-gib.bin' }));
    expect(await storedObject(bucket, 'one-gib.bin')).toBeUndefined();

    expect(await running.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  }, 600_000);
});
