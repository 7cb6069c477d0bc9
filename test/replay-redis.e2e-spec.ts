import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { createTestBucket, destroyTestBucket, storedObject } from './helpers/ceph';
import { cephRoute, createTestApp, type TestApp } from './helpers/create-test-app';
import { startRedis, type RedisServer } from './helpers/redis';

const KEY = {
  access_key: 'REPLAYTESTKEY',
  secret_key: 'replay-test-secret-key',
  subject: 'replayer',
};

/** PUTs `body` to the presigned `url`, connecting to `port` but keeping the signed Host header. */
function putRaw(
  url: string,
  port: number,
  body: Buffer,
): Promise<{ status: number; text: string }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'PUT',
        path: `${target.pathname}${target.search}`,
        headers: { host: target.host, 'content-length': body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('replay protection shared through Redis', () => {
  let redis: RedisServer;
  let bucket: string;
  let a: TestApp;
  let b: TestApp;

  function routeWith(url: string) {
    return cephRoute('shared', bucket, {
      auth: {
        enabled: true,
        sigv4: { credentials: [KEY], replay_store: { type: 'redis', url } },
      },
    });
  }

  beforeAll(async () => {
    redis = await startRedis();
    bucket = await createTestBucket('replay');
    a = await createTestApp({ buckets: [routeWith(redis.url)] });
    b = await createTestApp({ buckets: [routeWith(redis.url)] });
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await redis.stop();
    await destroyTestBucket(bucket);
  });

  async function presign(gw: TestApp, key: string): Promise<string> {
    const client = new S3Client({
      endpoint: gw.url,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: KEY.access_key, secretAccessKey: KEY.secret_key },
    });
    return getSignedUrl(client, new PutObjectCommand({ Bucket: 'shared', Key: key }), {
      expiresIn: 600,
    });
  }

  it('refuses on one replica a presigned PUT that another replica already served', async () => {
    const body = Buffer.from('first and only upload');
    const url = await presign(a, 'once.txt');
    const first = await fetch(url, { method: 'PUT', body });
    expect(first.status).toBe(200);

    // The signed Host names replica A; a load balancer would hand the same request to B.
    const second = await putRaw(url, b.port, Buffer.from('a replayed body'));
    expect(second.status).toBe(403);
    expect(second.text).toContain('<Code>AccessDenied</Code>');

    const stored = await storedObject(bucket, 'once.txt');
    expect(stored?.md5).toBe(createHash('md5').update(body).digest('hex'));
  });

  it('answers 503 rather than letting a request through when Redis is down', async () => {
    const url = await presign(a, 'no-redis.txt');
    await redis.stop();
    const res = await fetch(url, { method: 'PUT', body: Buffer.from('x') });
    expect(res.status).toBe(503);
    expect(await storedObject(bucket, 'no-redis.txt')).toBeUndefined();
  });
});
