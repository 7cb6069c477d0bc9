/** Proves the direct-to-Ceph helpers work against the live test cluster. */
import { createHash } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import {
  cephSettings,
  closeDirectS3,
  createTestBucket,
  destroyTestBucket,
  directS3,
  listKeys,
  listMultipartUploads,
  storedObject,
} from './ceph';

describe('Ceph test helpers', () => {
  let bucket: string;

  beforeAll(async () => {
    bucket = await createTestBucket('Helpers_Spec');
  });

  afterAll(async () => {
    await destroyTestBucket(bucket);
    closeDirectS3();
  });

  it('reads the settings written by radosgw-up.sh', () => {
    const settings = cephSettings();
    expect(settings.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(settings.accessKeyId).not.toBe('');
    expect(settings.secretAccessKey).not.toBe('');
    expect(settings.region).toBe('us-east-1');
  });

  it('creates buckets with unique, valid names', () => {
    expect(bucket).toMatch(/^helpers-spec-[a-z0-9]+-[0-9a-f]{8}$/);
    expect(bucket.length).toBeLessThanOrEqual(63);
  });

  it('reads back what was stored, with its MD5', async () => {
    const body = Buffer.from('mizuchi stores these bytes\n'.repeat(1000));
    const md5 = createHash('md5').update(body).digest('hex');
    await directS3().send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'dir/object.txt',
        Body: body,
        ContentType: 'text/plain',
        Metadata: { origin: 'helper-test' },
      }),
    );

    expect(await storedObject(bucket, 'dir/object.txt')).toEqual({
      md5,
      size: body.length,
      contentType: 'text/plain',
      metadata: { origin: 'helper-test' },
      etag: md5,
    });
    expect(await storedObject(bucket, 'missing')).toBeUndefined();
  });

  it('hashes a multipart object over all of its parts', async () => {
    const parts = [Buffer.alloc(5 * 1024 * 1024, 'a'), Buffer.from('tail')];
    const s3 = directS3();
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'multi' }),
    );
    const done = [];
    for (const [index, part] of parts.entries()) {
      const { ETag } = await s3.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: 'multi',
          UploadId,
          PartNumber: index + 1,
          Body: part,
        }),
      );
      done.push({ ETag, PartNumber: index + 1 });
    }
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'multi',
        UploadId,
        MultipartUpload: { Parts: done },
      }),
    );

    const whole = Buffer.concat(parts);
    const stored = await storedObject(bucket, 'multi');
    expect(stored?.md5).toBe(createHash('md5').update(whole).digest('hex'));
    expect(stored?.size).toBe(whole.length);
    expect(stored?.etag).toMatch(/^[0-9a-f]{32}-2$/);
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'multi' }));
  });

  it('treats a missing bucket as an error, not as a missing object', async () => {
    await expect(storedObject(`${bucket}-nope`, 'key')).rejects.toMatchObject({
      name: 'NoSuchBucket',
    });
  });

  it('lists keys and unfinished multipart uploads', async () => {
    await directS3().send(new PutObjectCommand({ Bucket: bucket, Key: 'a', Body: 'x' }));
    const started = await directS3().send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'big' }),
    );

    expect(await listKeys(bucket)).toEqual(['a', 'dir/object.txt']);
    expect(await listMultipartUploads(bucket)).toEqual([
      { key: 'big', uploadId: started.UploadId },
    ]);
  });

  it('destroys a bucket with objects and open uploads in it', async () => {
    const doomed = await createTestBucket('doomed');
    await directS3().send(new PutObjectCommand({ Bucket: doomed, Key: 'k1', Body: 'one' }));
    await directS3().send(new PutObjectCommand({ Bucket: doomed, Key: 'k2', Body: 'two' }));
    await directS3().send(new CreateMultipartUploadCommand({ Bucket: doomed, Key: 'k3' }));

    await destroyTestBucket(doomed);

    await expect(listKeys(doomed)).rejects.toMatchObject({ name: 'NoSuchBucket' });
    // Destroying it again is harmless.
    await expect(destroyTestBucket(doomed)).resolves.toBeUndefined();
  });
});
