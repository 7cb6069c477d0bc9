/**
 * The storage interface: everything above it is backend-agnostic, everything below it speaks to
 * one kind of backend (S3 over HTTP, or the local filesystem). It owns no HTTP concerns.
 */
import type { Readable } from 'node:stream';
import type { ObjectAttributes, StoredObjectHeaders } from '@mizuchi/s3-protocol';

/** A single-request object upload. */
export interface PutObjectInput {
  key: string;
  body: Readable;
  /** Exact number of bytes `body` yields; the backend must store exactly these. */
  contentLength: number;
  attributes: ObjectAttributes;
  /** Aborted when the client goes away or the gateway shuts down: nothing may be stored then. */
  signal: AbortSignal;
}

/** What a backend reports after storing an object. */
export type PutObjectResult = StoredObjectHeaders;

/** The outcome of a reachability probe. */
export interface StorageHealth {
  up: boolean;
  detail?: string;
}

/** A storage backend behind one route. */
export abstract class Storage {
  /** A short label for logs and health output, e.g. `s3:my-bucket` or `filesystem:/data`. */
  abstract readonly description: string;

  /** Stores a whole object atomically: it appears complete or not at all. */
  abstract putObject(input: PutObjectInput): Promise<PutObjectResult>;

  /** Checks that the backend answers, without writing anything. */
  abstract health(signal: AbortSignal): Promise<StorageHealth>;

  /** Releases sockets and handles. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
