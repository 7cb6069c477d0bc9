/**
 * UploadService: turns one classified S3 request into backend calls. It sees a body stream and
 * parsed parameters, never Express objects, and owns the rule that a failed upload leaves nothing.
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { Inject, Injectable, Logger } from '@nestjs/common';
// The decorator alone: nestjs-otel's index also loads its metrics stack (about 30 MB resident).
import { Span } from 'nestjs-otel/lib/tracing/decorators/span';
import {
  CHECKSUM_HEADERS,
  type ChecksumAlgorithmName,
  MAX_COMPLETE_BODY_BYTES,
  MAX_PART_NUMBER,
  firstHeader,
  type RawHeaders,
  S3Error,
  parseChecksumAlgorithm,
  parseCompleteMultipartUpload,
  readObjectAttributes,
  renderListParts,
  renderXmlDocument,
  responseHeaders,
} from '@mizuchi/s3-protocol';
import { UploadIdCodec } from '@mizuchi/upload-id';
import type { S3RequestContext } from '../common/request-context';
import type { OnClientGone } from '../common/request.decorators';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { metrics } from '../observability/metrics';
import {
  ATTR,
  annotate,
  annotateOne,
  setOperationAttributes,
  traceOperation,
  withSpan,
} from '../observability/tracing/spans';
import { Budget, uploadInParts } from './auto-multipart';
import type { Storage } from '../storage/storage';
import { StorageRegistry } from '../storage/storage.registry';
import { BodyGate, Transfer } from './body-source';
import { InFlightUploads } from './in-flight-uploads';
import type { SpliceBody } from '../zero-copy/splice-body';
import { ZeroCopyService } from '../zero-copy/zero-copy.service';
import { type PayloadPlan, checkObjectSize, drain, planPayload, tooLargeForRoute } from './payload';

/** Headers plus an optional XML body: what an operation answers. */
export interface OperationResult {
  status?: number;
  headers: Record<string, string>;
  xml?: string;
}

/** The largest single part S3 accepts. */
export const MAX_PART_BYTES = 5 * 1024 ** 3;

/** The key an operation uses in the backend: the route's key_template may rewrite the client's. */
export function storageKey(ctx: S3RequestContext): string {
  return ctx.storageKey ?? ctx.key;
}

/** The bucket name clients use for a route: its path prefix without the leading slash. */
export function bucketName(ctx: S3RequestContext): string {
  return ctx.route.path_prefix.slice(1);
}

/** Uploads objects to the backend of the request's route. */
@Injectable()
export class UploadService {
  private readonly logger = new Logger('Upload');
  /** Memory shared by every auto-multipart upload for its part buffers. */
  private readonly partBuffers: Budget;

  constructor(
    @Inject(StorageRegistry) private readonly storage: StorageRegistry,
    @Inject(InFlightUploads) private readonly inFlight: InFlightUploads,
    @Inject(UploadIdCodec) private readonly uploadIds: UploadIdCodec,
    @Inject(ZeroCopyService) private readonly zeroCopy: ZeroCopyService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.partBuffers = new Budget(config.server.limits.part_buffer_bytes);
  }

  /** PutObject: streams `body` into the backend and returns the headers for the client. */
  @Span('upload.put_object')
  async putObject(
    ctx: S3RequestContext,
    body: Readable,
    headers: RawHeaders,
    onClientGone: OnClientGone,
  ): Promise<OperationResult> {
    traceOperation(ctx);
    const upload = ctx.route.upload;
    const attributes = readObjectAttributes(headers, upload.forwarded_headers, upload.force_acl);
    const plan = planPayload(headers, attributes, ctx.chunkVerifier);
    checkObjectSize(plan.length, upload.max_object_size);
    const storage = this.storage.get(ctx.route.name);
    const length = plan.length;
    const spliced =
      length !== undefined && length <= upload.multipart_threshold
        ? this.spliceBody(body, headers, length, storage)
        : undefined;
    if (spliced !== undefined) {
      const result = await this.transferSpliced(
        ctx,
        spliced,
        attributes.contentMd5,
        onClientGone,
        (signal) =>
          storage.putObject({
            key: storageKey(ctx),
            body: spliced,
            contentLength: spliced.length,
            attributes,
            signal,
            payloadSha256: spliced.payloadSha256,
          }),
      );
      return { headers: responseHeaders(result) };
    }
    const result = await this.transfer(
      ctx,
      body,
      plan,
      onClientGone,
      (source, signal) =>
        length === undefined || length > upload.multipart_threshold
          ? withSpan('upload.auto_multipart', {}, (span) => {
              setOperationAttributes(span, ctx);
              let parts = 0;
              return uploadInParts(
                storage,
                storageKey(ctx),
                attributes,
                source,
                length,
                signal,
                {
                  partSize: upload.part_size,
                  concurrentParts: upload.concurrent_parts,
                  maxAttempts: 3,
                  buffers: this.partBuffers,
                  onPartStored: () => {
                    parts += 1;
                    span.setAttribute(ATTR.parts, parts);
                    metrics().parts.inc({ bucket: ctx.route.name, source: 'auto' });
                  },
                },
                this.logger,
              );
            })
          : storage.putObject({
              key: storageKey(ctx),
              body: source,
              contentLength: length,
              attributes,
              signal,
            }),
      upload.max_object_size,
    );
    return {
      headers: responseHeaders(result, plan.verifiedChecksum() ?? result.checksum),
    };
  }

  /** CreateMultipartUpload: starts a backend upload and hands out a bound upload id. */
  @Span('upload.multipart.create')
  async createMultipartUpload(
    ctx: S3RequestContext,
    headers: RawHeaders,
  ): Promise<OperationResult> {
    traceOperation(ctx);
    const upload = ctx.route.upload;
    const attributes = readObjectAttributes(headers, upload.forwarded_headers, upload.force_acl);
    const declared = firstHeader(headers, 'x-amz-checksum-algorithm');
    let checksumAlgorithm: ChecksumAlgorithmName | undefined;
    if (declared !== undefined) {
      const parsed = parseChecksumAlgorithm(declared);
      if (parsed === undefined || !Object.prototype.hasOwnProperty.call(CHECKSUM_HEADERS, parsed)) {
        throw new S3Error('InvalidRequest', `Unsupported x-amz-checksum-algorithm: ${declared}.`);
      }
      checksumAlgorithm = parsed as ChecksumAlgorithmName;
    }
    const backendId = await this.storage
      .get(ctx.route.name)
      .createMultipart({ key: storageKey(ctx), attributes, checksumAlgorithm });
    const uploadId = this.uploadIds.bind(this.binding(ctx), backendId);
    return {
      headers:
        checksumAlgorithm !== undefined ? { 'x-amz-checksum-algorithm': checksumAlgorithm } : {},
      xml: renderXmlDocument('InitiateMultipartUploadResult', {
        Bucket: bucketName(ctx),
        Key: ctx.key,
        UploadId: uploadId,
      }),
    };
  }

  /** UploadPart: streams one part into the backend upload the id is bound to. */
  @Span('upload.multipart.part')
  async uploadPart(
    ctx: S3RequestContext,
    body: Readable,
    headers: RawHeaders,
    onClientGone: OnClientGone,
  ): Promise<OperationResult> {
    const partNumber = parsePartNumber(ctx.query.partNumber);
    traceOperation(ctx, partNumber);
    const backendId = this.backendId(ctx);
    const attributes = readObjectAttributes(headers, []);
    const plan = planPayload(headers, attributes, ctx.chunkVerifier);
    const length = plan.length;
    if (length === undefined) throw new S3Error('MissingContentLength');
    if (length > MAX_PART_BYTES) throw new S3Error('EntityTooLarge');
    const max = ctx.route.upload.max_object_size;
    if (max !== undefined && length > max) throw tooLargeForRoute(max);
    const storage = this.storage.get(ctx.route.name);
    const spliced = this.spliceBody(body, headers, length, storage);
    const send = (source: Readable, signal: AbortSignal, payloadSha256?: string) =>
      storage.uploadPart({
        key: storageKey(ctx),
        uploadId: backendId,
        partNumber,
        body: source,
        contentLength: length,
        contentMd5: attributes.contentMd5,
        checksum: attributes.checksum,
        signal,
        payloadSha256,
      });
    const result =
      spliced !== undefined
        ? await this.transferSpliced(ctx, spliced, attributes.contentMd5, onClientGone, (signal) =>
            send(spliced, signal, spliced.payloadSha256),
          )
        : await this.transfer(ctx, body, plan, onClientGone, send);
    metrics().parts.inc({ bucket: ctx.route.name, source: 'client' });
    this.logger.debug(`multipart: part ${partNumber} stored (${length} bytes)`);
    return {
      headers: responseHeaders({ etag: result.etag }, plan.verifiedChecksum() ?? result.checksum),
    };
  }

  /** CompleteMultipartUpload: assembles the object from the parts the client lists. */
  @Span('upload.multipart.complete')
  async completeMultipartUpload(ctx: S3RequestContext, body: Readable): Promise<OperationResult> {
    traceOperation(ctx);
    const backendId = this.backendId(ctx);
    const parts = parseCompleteMultipartUpload(await readSmallBody(body, MAX_COMPLETE_BODY_BYTES));
    annotateOne(ATTR.parts, parts.length);
    const storage = this.storage.get(ctx.route.name);
    const max = ctx.route.upload.max_object_size;
    if (max !== undefined)
      await this.checkAssembledSize(storage, storageKey(ctx), backendId, parts, max);
    const result = await storage.complete({ key: storageKey(ctx), uploadId: backendId, parts });
    const { ETag, ...rest } = responseHeaders(result);
    return {
      headers: rest,
      xml: renderXmlDocument('CompleteMultipartUploadResult', {
        Location: `${ctx.route.path_prefix}/${encodeURIComponent(ctx.key).replace(/%2F/g, '/')}`,
        Bucket: bucketName(ctx),
        Key: ctx.key,
        ETag,
      }),
    };
  }

  /** AbortMultipartUpload: discards the upload and its parts; 204 as S3 answers. */
  @Span('upload.multipart.abort')
  async abortMultipartUpload(ctx: S3RequestContext): Promise<OperationResult> {
    traceOperation(ctx);
    const backendId = this.backendId(ctx);
    await this.storage.get(ctx.route.name).abort(storageKey(ctx), backendId);
    return { status: 204, headers: {} };
  }

  /** ListParts: the parts stored so far, so SDKs can resume an upload. */
  async listParts(ctx: S3RequestContext): Promise<OperationResult> {
    const backendId = this.backendId(ctx);
    const maxParts = parseBoundedInt(ctx.query['max-parts'], 'max-parts', 1000, 0, 1000);
    const marker = parseBoundedInt(
      ctx.query['part-number-marker'],
      'part-number-marker',
      0,
      0,
      MAX_PART_NUMBER,
    );
    const page = await this.storage.get(ctx.route.name).listParts({
      key: storageKey(ctx),
      uploadId: backendId,
      maxParts,
      partNumberMarker: marker,
    });
    return {
      headers: {},
      xml: renderListParts({
        bucket: bucketName(ctx),
        key: ctx.key,
        uploadId: ctx.query.uploadId ?? '',
        partNumberMarker: marker,
        nextPartNumberMarker: page.nextPartNumberMarker,
        maxParts,
        isTruncated: page.isTruncated,
        parts: page.parts,
      }),
    };
  }

  /** Refuses a Complete whose listed parts add up to more than the route allows. */
  private async checkAssembledSize(
    storage: Storage,
    key: string,
    uploadId: string,
    parts: ReadonlyArray<{ partNumber: number }>,
    max: number,
  ): Promise<void> {
    const wanted = new Set(parts.map((p) => p.partNumber));
    let total = 0;
    let marker = 0;
    for (;;) {
      const page = await storage.listParts({
        key,
        uploadId,
        maxParts: 1000,
        partNumberMarker: marker,
      });
      for (const part of page.parts) if (wanted.has(part.partNumber)) total += part.size;
      if (total > max) throw tooLargeForRoute(max);
      if (!page.isTruncated || page.nextPartNumberMarker === undefined) return;
      marker = page.nextPartNumberMarker;
    }
  }

  private binding(ctx: S3RequestContext) {
    return {
      principal: `${ctx.principal.method}:${ctx.principal.subject}`,
      route: ctx.route.name,
      key: ctx.key,
    };
  }

  /** The backend id inside the request's upload id, or 404 NoSuchUpload before any backend call. */
  private backendId(ctx: S3RequestContext): string {
    const backendId = this.uploadIds.verify(this.binding(ctx), ctx.query.uploadId ?? '');
    if (backendId === undefined) throw new S3Error('NoSuchUpload');
    return backendId;
  }

  /** A SpliceBody when ZeroCopyService lets this body bypass Node, else undefined. */
  private spliceBody(
    body: Readable,
    headers: RawHeaders,
    length: number,
    storage: Storage,
  ): SpliceBody | undefined {
    if (!isIncomingMessage(body)) return undefined;
    return this.zeroCopy.bodyFor(body, headers, length, storage.acceptsSplice);
  }

  /**
   * Sends a spliced body: the bytes never pass through Node, so the backend verifies what the
   * gateway would have (the signed payload hash, Content-MD5) and refuses a body that is short,
   * long or wrong; a client abort or shutdown cancels the splice through `signal`.
   */
  private async transferSpliced<T>(
    ctx: S3RequestContext,
    body: SpliceBody,
    contentMd5: string | undefined,
    onClientGone: OnClientGone,
    send: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    return this.inFlight.run(onClientGone, async (upload) => {
      const result = await send(upload.signal).catch((err: unknown) => {
        // The backend checked the client's SHA-256 itself. Ceph names a mismatch as AWS does;
        // Swift's s3api calls it BadDigest, which a client without Content-MD5 cannot place.
        if (
          err instanceof S3Error &&
          err.code === 'BadDigest' &&
          body.payloadSha256 !== undefined &&
          contentMd5 === undefined
        ) {
          throw new S3Error('XAmzContentSHA256Mismatch', undefined, { cause: err });
        }
        throw err;
      });
      metrics().uploadBytes.inc({ bucket: ctx.route.name }, body.length);
      annotate({ [ATTR.bytes]: body.length, 'mizuchi.zero_copy': true });
      return result;
    });
  }

  /**
   * Moves a body through its plan into `send`. The first failure anywhere (client, verifier,
   * backend, shutdown) aborts the backend request before it can complete.
   */
  private async transfer<T>(
    ctx: S3RequestContext,
    body: Readable,
    plan: PayloadPlan,
    onClientGone: OnClientGone,
    send: (source: Readable, signal: AbortSignal) => Promise<T>,
    maxObjectSize?: number,
  ): Promise<T> {
    return this.inFlight.run(onClientGone, async (upload) => {
      const gate = new BodyGate(plan.length, maxObjectSize);
      const transfer = new Transfer(body, [...plan.stages, gate], upload);
      try {
        if (plan.length === 0) {
          // An empty body is checked whole before the backend is called, so a failed digest on
          // zero bytes cannot create an empty object either.
          await drain(gate);
        }
        const result = await send(plan.length === 0 ? Readable.from([]) : gate, transfer.signal);
        // The backend stored the whole body, verified. Shutdown or a client that went away
        // while the answer was on its way cannot undo that, and must not turn it into an error.
        transfer.throwIfFailedFirst();
        metrics().uploadBytes.inc({ bucket: ctx.route.name }, gate.received);
        annotateOne(ATTR.bytes, gate.received);
        metrics().zeroCopyBytes.inc({ mode: 'stream' }, gate.received);
        return result;
      } catch (err) {
        transfer.fail(err);
        throw transfer.firstError();
      } finally {
        transfer.dispose();
      }
    });
  }
}

function isIncomingMessage(body: Readable): body is IncomingMessage {
  return 'socket' in body && 'httpVersion' in body;
}

function parsePartNumber(value: string | undefined): number {
  if (
    value === undefined ||
    !/^\d{1,5}$/.test(value) ||
    Number(value) < 1 ||
    Number(value) > MAX_PART_NUMBER
  ) {
    throw new S3Error(
      'InvalidArgument',
      `Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive.`,
    );
  }
  return Number(value);
}

function parseBoundedInt(
  value: string | undefined,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined || value === '') return fallback;
  if (!/^\d{1,6}$/.test(value)) throw new S3Error('InvalidArgument', `${name} must be an integer.`);
  return Math.min(Math.max(Number(value), min), max);
}

/**
 * Reads a body of at most `limit` bytes as UTF-8. A larger one is refused without reading on or
 * destroying the request, so the error response can still reach the client.
 */
function readSmallBody(body: Readable, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        body.pause();
        reject(new S3Error('MalformedXML', `The request body exceeds the ${limit}-byte limit.`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
  });
}
