/**
 * The storage interface: everything above it is backend-agnostic, everything below it speaks to
 * one kind of backend (S3 over HTTP, or the local filesystem). It owns no HTTP concerns.
 * Upload ids at this level are the backend's own; binding them to callers happens above.
 */
import type { Readable } from 'node:stream';
import type {
  ChecksumAlgorithmName,
  CompletedPartInput,
  ListedPart,
  ObjectAttributes,
  StoredObjectHeaders,
} from '@mizuchi/s3-protocol';

/** A body with its exact length, and the signal that cancels its transfer. */
export interface BodyInput {
  body: Readable;
  /** Exact number of bytes `body` yields; the backend must store exactly these. */
  contentLength: number;
  /** Aborted when the client goes away or the gateway shuts down: nothing may be stored then. */
  signal: AbortSignal;
  /**
   * The client's hex SHA-256 of the body, when the gateway does not verify it itself (a spliced
   * body): the backend must then check it, e.g. as the signed x-amz-content-sha256.
   */
  payloadSha256?: string;
}

/** A single-request object upload. */
export interface PutObjectInput extends BodyInput {
  key: string;
  attributes: ObjectAttributes;
}

/** What a backend reports after storing an object. */
export type PutObjectResult = StoredObjectHeaders;

/** Starting a multipart upload. */
export interface CreateMultipartInput {
  key: string;
  attributes: ObjectAttributes;
  /** The checksum algorithm the client declared for its parts (x-amz-checksum-algorithm). */
  checksumAlgorithm?: ChecksumAlgorithmName;
}

/** One part of a multipart upload. */
export interface UploadPartInput extends BodyInput {
  key: string;
  uploadId: string;
  partNumber: number;
  contentMd5?: string;
  checksum?: { algorithm: ChecksumAlgorithmName; value: string };
}

/** What a backend reports after storing a part. */
export interface UploadPartResult {
  etag: string;
  checksum?: { algorithm: ChecksumAlgorithmName; value: string };
}

/** Completing a multipart upload from its parts, in ascending part order. */
export interface CompleteMultipartInput {
  key: string;
  uploadId: string;
  parts: CompletedPartInput[];
}

/** A page of the parts of an upload. */
export interface ListPartsInput {
  key: string;
  uploadId: string;
  maxParts: number;
  partNumberMarker: number;
}

/** The parts after `partNumberMarker`, at most `maxParts` of them. */
export interface ListPartsResult {
  parts: ListedPart[];
  isTruncated: boolean;
  nextPartNumberMarker?: number;
}

/** A multipart upload in progress in a backend. */
export interface MultipartUploadSummary {
  key: string;
  uploadId: string;
  initiated: Date;
}

/** The outcome of a reachability probe. */
export interface StorageHealth {
  up: boolean;
  detail?: string;
}

/** A storage backend behind one route. */
export abstract class Storage {
  /** A short label for logs and health output, e.g. `s3:my-bucket` or `filesystem:/data`. */
  abstract readonly description: string;

  /**
   * Whether a body may reach this backend by splice(2) (a SpliceBody): only a backend that
   * receives it over plain TCP and verifies what the gateway then cannot (digests) says yes.
   */
  get acceptsSplice(): boolean {
    return false;
  }

  /** Stores a whole object atomically: it appears complete or not at all. */
  abstract putObject(input: PutObjectInput): Promise<PutObjectResult>;

  /** Starts a multipart upload and returns the backend's upload id. */
  abstract createMultipart(input: CreateMultipartInput): Promise<string>;

  /** Stores one part; a part uploaded again under the same number replaces the earlier one. */
  abstract uploadPart(input: UploadPartInput): Promise<UploadPartResult>;

  /** Assembles the object from its parts; it appears whole or not at all. */
  abstract complete(input: CompleteMultipartInput): Promise<StoredObjectHeaders>;

  /** Discards an upload and all its parts. */
  abstract abort(key: string, uploadId: string): Promise<void>;

  /** Lists the stored parts of an upload. */
  abstract listParts(input: ListPartsInput): Promise<ListPartsResult>;

  /** Every multipart upload in progress (for the janitor and for tests). */
  abstract listMultipartUploads(): Promise<MultipartUploadSummary[]>;

  /** Checks that the backend answers, without writing anything. */
  abstract health(signal: AbortSignal): Promise<StorageHealth>;

  /** Releases sockets and handles. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
