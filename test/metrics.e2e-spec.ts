import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createTestBucket, destroyTestBucket } from './helpers/ceph';
import { cephRoute, createTestApp, filesystemRoute, type TestApp } from './helpers/create-test-app';

const KEY = {
  access_key: 'METRICSKEY01',
  secret_key: 'metrics-secret-key',
  subject: 'secret-subject-x',
};

/** Reads one sample of the exposition text, 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const inner = line.slice(line.indexOf('{') + 1, line.indexOf('}'));
    if (want.every((w) => inner.split(',').includes(w))) return Number(line.split(' ').pop());
  }
  return 0;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

describe('Prometheus metrics', () => {
  let gw: TestApp;
  let bucket: string;

  beforeAll(async () => {
    bucket = await createTestBucket('metrics');
    gw = await createTestApp({
      buckets: [
        cephRoute('metered', bucket, { auth: { enabled: true, sigv4: { credentials: [KEY] } } }),
        filesystemRoute('local'),
      ],
    });
  });
  afterAll(async () => {
    await gw.close();
    await destroyTestBucket(bucket);
  });

  const scrape = async (url = `${gw.url}/metrics`) => {
    const res = await fetch(url);
    expect(res.status).toBe(200);
    return res.text();
  };

  it('counts uploads, bytes, backend calls, auth attempts and errors with bounded labels', async () => {
    const before = await scrape();
    const client = new S3Client({
      endpoint: gw.url,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: KEY.access_key, secretAccessKey: KEY.secret_key },
    });
    const body = randomBytes(50_000);
    await client.send(
      new PutObjectCommand({ Bucket: 'metered', Key: 'private/name-of-key.bin', Body: body }),
    );
    client.destroy();
    expect((await fetch(`${gw.url}/local/a.txt`, { method: 'PUT', body: 'hello' })).status).toBe(
      200,
    );
    expect((await fetch(`${gw.url}/local/a.txt`)).status).toBe(405);
    expect(
      (await fetch(`${gw.url}/metered/x.bin`, { method: 'PUT', body: 'no auth' })).status,
    ).toBe(403);

    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) =>
      sample(after, name, labels) - sample(before, name, labels);

    expect(
      delta('mizuchi_uploads_total', { bucket: 'metered', operation: 'PutObject', status: '200' }),
    ).toBe(1);
    expect(
      delta('mizuchi_uploads_total', { bucket: 'local', operation: 'PutObject', status: '200' }),
    ).toBe(1);
    expect(delta('mizuchi_upload_bytes_total', { bucket: 'metered' })).toBe(body.length);
    expect(delta('mizuchi_upload_bytes_total', { bucket: 'local' })).toBe(5);
    expect(delta('mizuchi_zero_copy_bytes_total', { mode: 'stream' })).toBe(body.length + 5);
    expect(
      delta('mizuchi_backend_request_duration_seconds_count', {
        bucket: 'metered',
        operation: 'PutObject',
        status: '200',
      }),
    ).toBe(1);
    expect(
      delta('mizuchi_upload_duration_seconds_count', { bucket: 'local', operation: 'PutObject' }),
    ).toBe(1);
    expect(delta('mizuchi_auth_attempts_total', { method: 'sigv4', result: 'success' })).toBe(1);
    expect(delta('mizuchi_auth_attempts_total', { method: 'none', result: 'failure' })).toBe(1);
    expect(delta('mizuchi_errors_total', { code: 'MethodNotAllowed' })).toBe(1);
    expect(delta('mizuchi_errors_total', { code: 'AccessDenied' })).toBe(1);
    expect(sample(after, 'mizuchi_uploads_in_flight', {})).toBe(0);
    expect(sample(after, 'mizuchi_upload_bytes_in_flight', {})).toBe(0);
    expect(after).toContain('process_cpu_user_seconds_total');
    // Keys, subjects and access keys never become label values.
    for (const secret of ['name-of-key', KEY.subject, KEY.access_key, KEY.secret_key]) {
      expect(after).not.toContain(secret);
    }
  });

  it('counts auto-multipart parts', async () => {
    const before = await scrape();
    const small = await createTestApp({
      buckets: [filesystemRoute('parts')].map((r) => ({
        ...r,
        upload: { multipart_threshold: '6MiB', part_size: '5MiB' },
      })),
    });
    try {
      const res = await fetch(`${small.url}/parts/big.bin`, {
        method: 'PUT',
        body: randomBytes(11 * 1024 * 1024),
      });
      expect(res.status).toBe(200);
    } finally {
      await small.close();
    }
    const after = await scrape();
    expect(
      sample(after, 'mizuchi_multipart_parts_total', { bucket: 'parts', source: 'auto' }) -
        sample(before, 'mizuchi_multipart_parts_total', { bucket: 'parts', source: 'auto' }),
    ).toBe(3);
  });

  it('serves metrics on a separate port when metrics.port is set, and not on the main one', async () => {
    const port = await freePort();
    const separate = await createTestApp({ metrics: { port }, buckets: [filesystemRoute('sep')] });
    try {
      expect(await scrape(`http://127.0.0.1:${port}/metrics`)).toContain('mizuchi_uploads_total');
      const main = await fetch(`${separate.url}/metrics`);
      expect(main.status).not.toBe(200);
    } finally {
      await separate.close();
    }
  });
});
