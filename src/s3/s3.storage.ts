/** The S3 backend: the storage interface implemented with @aws-sdk/client-s3. */
import {
  HeadBucketCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import type { ChecksumAlgorithmName, ObjectAttributes } from '@mizuchi/s3-protocol';
import {
  Storage,
  type PutObjectInput,
  type PutObjectResult,
  type StorageHealth,
} from '../storage/storage';
import { mapBackendError } from './backend-errors';
import { createS3Clients, type S3BackendConfig, type S3Clients } from './s3-client.factory';

type ChecksumFields = Pick<
  PutObjectCommandInput,
  'ChecksumCRC32' | 'ChecksumCRC32C' | 'ChecksumCRC64NVME' | 'ChecksumSHA1' | 'ChecksumSHA256'
>;

const CHECKSUM_FIELD: Record<ChecksumAlgorithmName, keyof ChecksumFields> = {
  CRC32: 'ChecksumCRC32',
  CRC32C: 'ChecksumCRC32C',
  CRC64NVME: 'ChecksumCRC64NVME',
  SHA1: 'ChecksumSHA1',
  SHA256: 'ChecksumSHA256',
};

/** Translates normalised attributes into PutObject parameters. */
export function putObjectParams(attrs: ObjectAttributes): Partial<PutObjectCommandInput> {
  const expires = attrs.expires !== undefined ? new Date(attrs.expires) : undefined;
  const opt = attrs.optional;
  const params: Partial<PutObjectCommandInput> = {
    ContentType: attrs.contentType,
    ContentEncoding: attrs.contentEncoding,
    ContentDisposition: attrs.contentDisposition,
    ContentLanguage: attrs.contentLanguage,
    CacheControl: attrs.cacheControl,
    Expires: expires !== undefined && !Number.isNaN(expires.getTime()) ? expires : undefined,
    ContentMD5: attrs.contentMd5,
    Metadata: Object.keys(attrs.metadata).length > 0 ? attrs.metadata : undefined,
    StorageClass: opt['x-amz-storage-class'] as PutObjectCommandInput['StorageClass'],
    ServerSideEncryption: opt[
      'x-amz-server-side-encryption'
    ] as PutObjectCommandInput['ServerSideEncryption'],
    SSEKMSKeyId: opt['x-amz-server-side-encryption-aws-kms-key-id'],
    SSEKMSEncryptionContext: opt['x-amz-server-side-encryption-context'],
    BucketKeyEnabled:
      opt['x-amz-server-side-encryption-bucket-key-enabled'] === undefined
        ? undefined
        : opt['x-amz-server-side-encryption-bucket-key-enabled'].toLowerCase() === 'true',
    Tagging: opt['x-amz-tagging'],
    ACL: opt['x-amz-acl'] as PutObjectCommandInput['ACL'],
  };
  if (attrs.checksum !== undefined) {
    params[CHECKSUM_FIELD[attrs.checksum.algorithm]] = attrs.checksum.value;
  }
  return params;
}

/** Stores objects in one bucket of an S3-compatible service. */
export class S3Storage extends Storage {
  readonly description: string;
  private readonly clients: S3Clients;

  constructor(private readonly cfg: S3BackendConfig) {
    super();
    this.description = `s3:${cfg.bucket}${cfg.endpoint !== undefined ? `@${cfg.endpoint}` : ''}`;
    this.clients = createS3Clients(cfg);
  }

  async putObject(input: PutObjectInput): Promise<PutObjectResult> {
    const command = new PutObjectCommand({
      ...putObjectParams(input.attributes),
      Bucket: this.cfg.bucket,
      Key: input.key,
      Body: input.body,
      ContentLength: input.contentLength,
    });
    try {
      const out = await this.clients.data.send(command, { abortSignal: input.signal });
      const algorithm = input.attributes.checksum?.algorithm;
      const checksumValue = algorithm !== undefined ? out[CHECKSUM_FIELD[algorithm]] : undefined;
      return {
        etag: out.ETag ?? '""',
        versionId: out.VersionId,
        checksum:
          algorithm !== undefined && checksumValue !== undefined
            ? { algorithm, value: checksumValue }
            : undefined,
        serverSideEncryption: out.ServerSideEncryption,
        sseKmsKeyId: out.SSEKMSKeyId,
        bucketKeyEnabled: out.BucketKeyEnabled,
      };
    } catch (err) {
      if (input.signal.aborted) throw input.signal.reason ?? err;
      throw mapBackendError(err);
    }
  }

  async health(signal: AbortSignal): Promise<StorageHealth> {
    try {
      await this.clients.control.send(new HeadBucketCommand({ Bucket: this.cfg.bucket }), {
        abortSignal: signal,
      });
      return { up: true };
    } catch (err) {
      const mapped = mapBackendError(err);
      return { up: false, detail: `${mapped.code} (${mapped.status})` };
    }
  }

  override close(): Promise<void> {
    this.clients.destroy();
    return Promise.resolve();
  }
}
