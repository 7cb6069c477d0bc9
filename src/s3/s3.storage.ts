/** The S3 backend: the storage interface implemented with @aws-sdk/client-s3. */
import { createHash } from 'node:crypto';
import type { MetadataBearer, MiddlewareStack } from '@smithy/types';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import {
  CHECKSUM_HEADERS,
  firstHeader,
  S3Error,
  normalizeEtag,
  type ChecksumAlgorithmName,
  type ObjectAttributes,
  type StoredObjectHeaders,
} from '@mizuchi/s3-protocol';
import {
  Storage,
  type CompleteMultipartInput,
  type CreateMultipartInput,
  type ListPartsInput,
  type ListPartsResult,
  type MultipartUploadSummary,
  type PutObjectInput,
  type PutObjectResult,
  type StorageHealth,
  type UploadPartInput,
  type UploadPartResult,
} from '../storage/storage';
import { metrics } from '../observability/metrics';
import { mapBackendError } from './backend-errors';
import { createS3Clients, type S3BackendConfig, type S3Clients } from './s3-client.factory';
import { answeredChecksum, attributeHeaders, LeanDataClient } from './lean-data-client';

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

/**
 * The ETag S3 gives a multipart object: the MD5 of the parts' binary MD5s, a dash, the part
 * count. Some backends (Ceph 16) answer Complete with an empty ETag; this fills it in.
 */
export function multipartEtag(parts: ReadonlyArray<{ etag: string }>): string {
  const md5s = parts.map((p) => normalizeEtag(p.etag));
  if (!md5s.every((m) => /^[0-9a-f]{32}$/i.test(m))) return '""';
  const digest = createHash('md5')
    .update(Buffer.from(md5s.join(''), 'hex'))
    .digest('hex');
  return `"${digest}-${parts.length}"`;
}

/**
 * Puts the client's SHA-256 of the body into the backend request's signature
 * (x-amz-content-sha256), so the backend refuses a body that does not match it.
 */
function signPayloadHash<I extends object, O extends MetadataBearer>(
  stack: MiddlewareStack<I, O>,
  payloadSha256: string | undefined,
): void {
  if (payloadSha256 === undefined) return;
  stack.add(
    (next) => (args) => {
      (args.request as { headers: Record<string, string> }).headers['x-amz-content-sha256'] =
        payloadSha256;
      return next(args);
    },
    { step: 'build', name: 'mizuchiPayloadSha256' },
  );
}

/** Stores objects in one bucket of an S3-compatible service. */
export class S3Storage extends Storage {
  readonly description: string;
  private readonly clients: S3Clients;
  /** PutObject and UploadPart without the SDK, where the settings allow it. */
  private readonly lean: LeanDataClient | undefined;

  constructor(
    private readonly cfg: S3BackendConfig,
    private readonly routeName: string = cfg.bucket,
  ) {
    super();
    this.description = `s3:${cfg.bucket}${cfg.endpoint !== undefined ? `@${cfg.endpoint}` : ''}`;
    this.clients = createS3Clients(cfg);
    this.lean = LeanDataClient.supports(cfg)
      ? new LeanDataClient(cfg, this.clients.agent)
      : undefined;
  }

  /** Plain-HTTP endpoints only: splice moves bytes between TCP sockets, never through TLS. */
  override get acceptsSplice(): boolean {
    return this.cfg.endpoint !== undefined && this.cfg.endpoint.startsWith('http:');
  }

  async putObject(input: PutObjectInput): Promise<PutObjectResult> {
    const lean = this.lean;
    if (lean !== undefined) {
      const answer = await this.call(
        'PutObject',
        () =>
          lean.put({
            key: input.key,
            headers: attributeHeaders(input.attributes),
            body: input.body,
            contentLength: input.contentLength,
            signal: input.signal,
            payloadSha256: input.payloadSha256,
          }),
        input.signal,
      );
      const h = answer.headers;
      return {
        etag: firstHeader(h, 'etag') ?? '""',
        versionId: firstHeader(h, 'x-amz-version-id'),
        checksum: answeredChecksum(h, input.attributes.checksum?.algorithm),
        serverSideEncryption: firstHeader(h, 'x-amz-server-side-encryption'),
        sseKmsKeyId: firstHeader(h, 'x-amz-server-side-encryption-aws-kms-key-id'),
        bucketKeyEnabled:
          firstHeader(h, 'x-amz-server-side-encryption-bucket-key-enabled') === undefined
            ? undefined
            : firstHeader(h, 'x-amz-server-side-encryption-bucket-key-enabled') === 'true',
      };
    }
    const command = new PutObjectCommand({
      ...putObjectParams(input.attributes),
      Bucket: this.cfg.bucket,
      Key: input.key,
      Body: input.body,
      ContentLength: input.contentLength,
    });
    signPayloadHash(command.middlewareStack, input.payloadSha256);
    const out = await this.call(
      'PutObject',
      () => this.clients.data.send(command, { abortSignal: input.signal }),
      input.signal,
    );
    {
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
    }
  }

  async createMultipart(input: CreateMultipartInput): Promise<string> {
    const lean = this.lean;
    if (lean !== undefined) {
      // The object's headers as on PutObject, less what belongs to a body: its MD5 and checksum.
      const { 'content-md5': _md5, ...headers } = attributeHeaders({
        ...input.attributes,
        checksum: undefined,
      });
      if (input.checksumAlgorithm !== undefined) {
        headers['x-amz-checksum-algorithm'] = input.checksumAlgorithm;
      }
      return this.call('CreateMultipartUpload', () =>
        lean.createMultipart({ key: input.key, headers }),
      );
    }
    const { ContentMD5: _md5, ...params } = putObjectParams({
      ...input.attributes,
      checksum: undefined,
    });
    const out = await this.call('CreateMultipartUpload', () =>
      this.clients.control.send(
        new CreateMultipartUploadCommand({
          ...params,
          Bucket: this.cfg.bucket,
          Key: input.key,
          ChecksumAlgorithm: input.checksumAlgorithm,
        }),
      ),
    );
    if (out.UploadId === undefined)
      throw mapBackendError(new Error('backend returned no UploadId'));
    return out.UploadId;
  }

  async uploadPart(input: UploadPartInput): Promise<UploadPartResult> {
    const lean = this.lean;
    if (lean !== undefined) {
      const headers: Record<string, string> = {};
      if (input.contentMd5 !== undefined) headers['content-md5'] = input.contentMd5;
      if (input.checksum !== undefined) {
        headers[CHECKSUM_HEADERS[input.checksum.algorithm]] = input.checksum.value;
      }
      const answer = await this.call(
        'UploadPart',
        () =>
          lean.put({
            key: input.key,
            query: { partNumber: String(input.partNumber), uploadId: input.uploadId },
            headers,
            body: input.body,
            contentLength: input.contentLength,
            signal: input.signal,
            payloadSha256: input.payloadSha256,
          }),
        input.signal,
      );
      return { etag: firstHeader(answer.headers, 'etag') ?? '""', checksum: input.checksum };
    }
    const command = new UploadPartCommand({
      Bucket: this.cfg.bucket,
      Key: input.key,
      UploadId: input.uploadId,
      PartNumber: input.partNumber,
      Body: input.body,
      ContentLength: input.contentLength,
      ContentMD5: input.contentMd5,
      ...(input.checksum !== undefined
        ? { [CHECKSUM_FIELD[input.checksum.algorithm]]: input.checksum.value }
        : {}),
    });
    signPayloadHash(command.middlewareStack, input.payloadSha256);
    const out = await this.call(
      'UploadPart',
      () => this.clients.data.send(command, { abortSignal: input.signal }),
      input.signal,
    );
    return { etag: out.ETag ?? '""', checksum: input.checksum };
  }

  async complete(input: CompleteMultipartInput): Promise<StoredObjectHeaders> {
    const parts: CompletedPart[] = input.parts.map((p) => ({
      PartNumber: p.partNumber,
      ETag: `"${normalizeEtag(p.etag)}"`,
      ...Object.fromEntries(
        Object.entries(p.checksums).map(([alg, v]) => [
          CHECKSUM_FIELD[alg as ChecksumAlgorithmName],
          v,
        ]),
      ),
    }));
    const send = (list: CompletedPart[]) =>
      this.call('CompleteMultipartUpload', () =>
        this.clients.control.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.cfg.bucket,
            Key: input.key,
            UploadId: input.uploadId,
            MultipartUpload: { Parts: list },
          }),
        ),
      );
    const out = await send(parts)
      .catch((err: unknown) => {
        // Backends without flexible checksums (Swift's s3api) refuse part checksum fields in
        // the Complete XML as MalformedXML. Each part's checksum was verified when it came in,
        // so the upload completes without them rather than failing at the last step.
        const withChecksums = input.parts.some((p) => Object.keys(p.checksums).length > 0);
        if (withChecksums && err instanceof S3Error && err.code === 'MalformedXML') {
          return send(parts.map(({ PartNumber, ETag }) => ({ PartNumber, ETag })));
        }
        throw err;
      })
      .catch(async (err: unknown) => {
        // Ceph 16 answers Complete on an aborted upload with a 500 ("completion already in
        // progress"); if the upload is gone, the client's answer is NoSuchUpload.
        if (err instanceof S3Error && err.status >= 500) {
          const gone = await this.listParts({
            key: input.key,
            uploadId: input.uploadId,
            maxParts: 1,
            partNumberMarker: 0,
          }).then(
            () => false,
            (listErr: unknown) => listErr instanceof S3Error && listErr.code === 'NoSuchUpload',
          );
          if (gone) throw new S3Error('NoSuchUpload', undefined, { cause: err });
        }
        throw err;
      });
    return {
      etag: out.ETag !== undefined && out.ETag !== '' ? out.ETag : multipartEtag(input.parts),
      versionId: out.VersionId,
      serverSideEncryption: out.ServerSideEncryption,
      sseKmsKeyId: out.SSEKMSKeyId,
      bucketKeyEnabled: out.BucketKeyEnabled,
    };
  }

  async abort(key: string, uploadId: string): Promise<void> {
    await this.call('AbortMultipartUpload', () =>
      this.clients.control.send(
        new AbortMultipartUploadCommand({ Bucket: this.cfg.bucket, Key: key, UploadId: uploadId }),
      ),
    );
  }

  async listParts(input: ListPartsInput): Promise<ListPartsResult> {
    const out = await this.call('ListParts', () =>
      this.clients.control.send(
        new ListPartsCommand({
          Bucket: this.cfg.bucket,
          Key: input.key,
          UploadId: input.uploadId,
          MaxParts: input.maxParts,
          PartNumberMarker: input.partNumberMarker > 0 ? String(input.partNumberMarker) : undefined,
        }),
      ),
    );
    return {
      parts: (out.Parts ?? []).map((p) => ({
        partNumber: p.PartNumber ?? 0,
        etag: p.ETag ?? '""',
        size: p.Size ?? 0,
        lastModified: p.LastModified ?? new Date(0),
      })),
      isTruncated: out.IsTruncated ?? false,
      nextPartNumberMarker:
        out.NextPartNumberMarker !== undefined ? Number(out.NextPartNumberMarker) : undefined,
    };
  }

  async listMultipartUploads(): Promise<MultipartUploadSummary[]> {
    const uploads: MultipartUploadSummary[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const out = await this.call('ListMultipartUploads', () =>
        this.clients.control.send(
          new ListMultipartUploadsCommand({
            Bucket: this.cfg.bucket,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
        ),
      );
      for (const u of out.Uploads ?? []) {
        if (u.Key !== undefined && u.UploadId !== undefined) {
          uploads.push({ key: u.Key, uploadId: u.UploadId, initiated: u.Initiated ?? new Date(0) });
        }
      }
      if (out.IsTruncated !== true) return uploads;
      keyMarker = out.NextKeyMarker;
      uploadIdMarker = out.NextUploadIdMarker;
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

  /** Runs one SDK call, turning its failure into the client's S3Error (or the abort reason). */
  private async call<T>(
    operation: string,
    send: () => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    const stop = metrics().backendDuration.startTimer({ bucket: this.routeName, operation });
    try {
      const out = await send();
      stop({ status: '200' });
      return out;
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      stop({ status: status !== undefined ? String(status) : 'network' });
      if (signal?.aborted === true) throw signal.reason ?? err;
      throw mapBackendError(err);
    }
  }

  override close(): Promise<void> {
    this.clients.destroy();
    return Promise.resolve();
  }
}
