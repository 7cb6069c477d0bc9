import request from 'supertest';
import { JanitorService } from '../src/upload/janitor.service';
import { StorageRegistry } from '../src/storage/storage.registry';
import { createTestBucket, destroyTestBucket, listMultipartUploads } from './helpers/ceph';
import { cephRoute, createTestApp, filesystemRoute, type TestApp } from './helpers/create-test-app';

const DAY_MS = 24 * 3600 * 1000;

describe('the stale-upload janitor', () => {
  let gw: TestApp;
  let bucket: string;

  beforeAll(async () => {
    bucket = await createTestBucket('janitor');
    gw = await createTestApp({
      server: { janitor: { enabled: true, interval_seconds: 3600, max_age_seconds: 3600 } },
      buckets: [cephRoute('ceph', bucket), filesystemRoute('fs')],
    });
  });
  afterAll(async () => {
    await gw.close();
    await destroyTestBucket(bucket);
  });

  async function startUpload(prefix: string, key: string): Promise<void> {
    const res = await request(gw.url).post(`/${prefix}/${key}?uploads`);
    expect(res.status).toBe(200);
  }

  async function pending(route: string): Promise<string[]> {
    const uploads = await gw.app.get(StorageRegistry).get(route).listMultipartUploads();
    return uploads.map((u) => u.key).sort();
  }

  it('keeps uploads younger than max_age_seconds and aborts older ones on every route', async () => {
    await startUpload('ceph', 'stale/a.bin');
    await startUpload('fs', 'stale/b.bin');
    const janitor = gw.app.get(JanitorService);

    expect(await janitor.sweep(new Date())).toEqual({ aborted: 0, failed: 0 });
    expect(await pending('ceph')).toEqual(['stale/a.bin']);
    expect(await pending('fs')).toEqual(['stale/b.bin']);

    const report = await janitor.sweep(new Date(Date.now() + DAY_MS));
    expect(report).toEqual({ aborted: 2, failed: 0 });
    expect(await listMultipartUploads(bucket)).toEqual([]);
    expect(await pending('fs')).toEqual([]);
  });
});
