/**
 * Direct access to the Ceph RADOS Gateway that backs the e2e tests.
 *
 * Tests use these helpers to look at what really landed in the backing store, bypassing the
 * gateway under test entirely. Connection settings come from the s3.json that
 * scripts/radosgw-up.sh writes; the jest global setup exports its path as MIZUCHI_TEST_S3_JSON.
 * The conformance suite sets that variable to another backend's s3.json (a bluestore Ceph, or
 * Swift's s3api from scripts/swift-s3-up.sh), so everything here sticks to what both accept.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import type { HttpRequest } from '@smithy/types';

export interface CephSettings {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

export interface StoredObject {
  /** Hex MD5 of the bytes read back from Ceph. */
  md5: string;
  /** Number of bytes read back. */
  size: number;
  contentType?: string;
  /** User metadata (x-amz-meta-*), keys lowercased and without the prefix. */
  metadata: Record<string, string>;
  /** ETag as Ceph reports it, without the surrounding double quotes. */
  etag: string;
}

export interface MultipartUploadRef {
  key: string;
  uploadId: string;
}

const DEFAULT_RGW_DIR = '/tmp/mizuchi-radosgw';

/** Where the s3.json of the running cluster is expected. */
export function cephSettingsPath(): string {
  return (
    process.env.MIZUCHI_TEST_S3_JSON ?? join(process.env.RGW_DIR ?? DEFAULT_RGW_DIR, 's3.json')
  );
}

/** Endpoint and credentials of the test Ceph, read from its s3.json. */
export function cephSettings(): CephSettings {
  const file = cephSettingsPath();
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(
      `cannot read the Ceph settings from ${file} (is it up? run: bash scripts/radosgw-up.sh): ${String(err)}`,
    );
  }
  const field = (name: keyof CephSettings): string => {
    const value = (raw as Record<string, unknown> | null)?.[name];
    if (typeof value !== 'string' || value === '') {
      throw new Error(`${file}: "${name}" is missing or not a string`);
    }
    return value;
  };
  return {
    endpoint: field('endpoint'),
    accessKeyId: field('accessKeyId'),
    secretAccessKey: field('secretAccessKey'),
    region: field('region'),
  };
}

let client: S3Client | undefined;

/**
 * An S3 client talking straight to Ceph (memoized). Checksums are only computed or validated
 * where S3 demands them: Ceph 16 rejects the aws-chunked trailer uploads that the SDK's
 * defaults would produce for stream bodies.
 */
export function directS3(): S3Client {
  if (!client) {
    const { endpoint, accessKeyId, secretAccessKey, region } = cephSettings();
    client = new S3Client({
      endpoint,
      region,
      credentials: { accessKeyId, secretAccessKey },
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }
  return client;
}

/** Releases the memoized client's sockets; the next directS3() call builds a fresh one. */
export function closeDirectS3(): void {
  client?.destroy();
  client = undefined;
}

/** Turns an arbitrary prefix into something that can start a valid S3 bucket name. */
function bucketPrefix(prefix: string): string {
  const cleaned = prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  // Names must start with a letter or digit, and S3 reserves a few prefixes.
  if (cleaned === '') return 'test';
  return /^(xn--|sthree-)/.test(cleaned) ? `t-${cleaned}` : cleaned;
}

/** Creates a bucket with a unique, valid name starting with (a cleaned-up) `prefix`. */
export async function createTestBucket(prefix: string): Promise<string> {
  const name = `${bucketPrefix(prefix)}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  await directS3().send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

/**
 * Adds Content-MD5 to a command's request. S3 requires an integrity header on DeleteObjects; the
 * SDK now sends a CRC32 there, which Swift's s3api (2.30) does not know: it insists on
 * Content-MD5, the header S3 asked for before checksums existed.
 */
function withContentMd5(command: DeleteObjectsCommand): DeleteObjectsCommand {
  command.middlewareStack.add(
    (next) => async (args) => {
      // At the build step the request is serialized: the body is the XML document.
      const request = args.request as HttpRequest;
      const body: unknown = request.body;
      if (typeof body === 'string' || body instanceof Uint8Array) {
        request.headers['content-md5'] = createHash('md5').update(body).digest('base64');
      }
      return next(args);
    },
    { step: 'build', name: 'mizuchiContentMd5' },
  );
  return command;
}

function isS3Error(err: unknown, ...names: string[]): boolean {
  return err instanceof S3ServiceException && names.includes(err.name);
}

/**
 * Aborts every multipart upload, deletes every object and then the bucket itself.
 * A bucket that does not exist (any more) is not an error.
 */
export async function destroyTestBucket(name: string): Promise<void> {
  const s3 = directS3();
  try {
    for (const upload of await listMultipartUploads(name)) {
      await s3.send(
        new AbortMultipartUploadCommand({
          Bucket: name,
          Key: upload.key,
          UploadId: upload.uploadId,
        }),
      );
    }
    // Delete page by page until the listing comes back empty (at most 1000 keys per request).
    for (;;) {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: name }));
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key]));
      if (keys.length === 0) break;
      const result = await s3.send(
        withContentMd5(
          new DeleteObjectsCommand({
            Bucket: name,
            Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
          }),
        ),
      );
      if (result.Errors?.length) {
        const first = result.Errors[0];
        throw new Error(
          `deleting objects in ${name} failed for ${result.Errors.length} key(s), e.g. ` +
            `${first.Key}: ${first.Code} ${first.Message}`,
        );
      }
    }
    await s3.send(new DeleteBucketCommand({ Bucket: name }));
  } catch (err) {
    if (isS3Error(err, 'NoSuchBucket')) return;
    throw err;
  }
}

/**
 * Reads an object back from Ceph and describes it, or returns undefined when the key does not
 * exist. A missing bucket still throws (NoSuchBucket), as that points at a broken test.
 */
export async function storedObject(bucket: string, key: string): Promise<StoredObject | undefined> {
  let response;
  try {
    response = await directS3().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  } catch (err) {
    if (isS3Error(err, 'NoSuchBucket')) throw err;
    if (isS3Error(err, 'NoSuchKey', 'NotFound')) return undefined;
    if (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404) return undefined;
    throw err;
  }
  const hash = createHash('md5');
  let size = 0;
  if (response.Body) {
    // Stream the body through the hash so that large objects are not held in memory.
    for await (const chunk of response.Body as Readable) {
      const bytes = chunk as Buffer;
      hash.update(bytes);
      size += bytes.length;
    }
  }
  return {
    md5: hash.digest('hex'),
    size,
    contentType: response.ContentType,
    metadata: { ...(response.Metadata ?? {}) },
    etag: (response.ETag ?? '').replace(/^"|"$/g, ''),
  };
}

/** Every key in the bucket, in S3's (lexicographic) order. */
export async function listKeys(bucket: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await directS3().send(
      new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) {
      if (object.Key !== undefined) keys.push(object.Key);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** Multipart uploads that were started in the bucket and neither completed nor aborted. */
export async function listMultipartUploads(bucket: string): Promise<MultipartUploadRef[]> {
  const uploads: MultipartUploadRef[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  for (;;) {
    const page = await directS3().send(
      new ListMultipartUploadsCommand({
        Bucket: bucket,
        KeyMarker: keyMarker,
        UploadIdMarker: uploadIdMarker,
      }),
    );
    for (const upload of page.Uploads ?? []) {
      if (upload.Key !== undefined && upload.UploadId !== undefined) {
        uploads.push({ key: upload.Key, uploadId: upload.UploadId });
      }
    }
    if (!page.IsTruncated) break;
    keyMarker = page.NextKeyMarker;
    uploadIdMarker = page.NextUploadIdMarker;
    if (keyMarker === undefined && uploadIdMarker === undefined) break;
  }
  return uploads;
}
