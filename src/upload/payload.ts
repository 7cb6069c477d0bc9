/**
 * Decides how a request body moves (DESIGN.md §3): as it is, verified against a hex SHA-256, or
 * decoded from aws-chunked framing. The result is the stream the backend reads and the number of
 * bytes it yields.
 */
import type { Readable, Transform } from 'node:stream';
import { finished } from 'node:stream/promises';
import {
  type RawHeaders,
  S3Error,
  Sha256Verifier,
  UNSIGNED_PAYLOAD,
  isHexSha256,
} from '@mizuchi/s3-protocol';

/** The most a single PutObject may carry, as in S3. */
export const MAX_SINGLE_PUT_BYTES = 5 * 1024 ** 3;

/** How the body of one request is to be read. */
export interface PayloadPlan {
  /** Bytes the backend will receive. */
  length: number;
  /** Verifying or decoding stages to put between the client and the backend, in order. */
  stages: Transform[];
}

function header(headers: RawHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Parses a non-negative decimal length header, or refuses it. */
export function parseLength(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,16}$/.test(value.trim())) {
    throw new S3Error('InvalidArgument', `${name} must be a non-negative integer.`);
  }
  return Number(value.trim());
}

/** Works out the stages and the backend length for a body with the given headers. */
export function planPayload(headers: RawHeaders): PayloadPlan {
  const contentLength = parseLength(header(headers, 'content-length'), 'Content-Length');
  if (contentLength === undefined) {
    throw new S3Error('MissingContentLength');
  }
  const payloadHash = header(headers, 'x-amz-content-sha256') ?? UNSIGNED_PAYLOAD;
  if (payloadHash === UNSIGNED_PAYLOAD) return { length: contentLength, stages: [] };
  if (isHexSha256(payloadHash)) {
    return { length: contentLength, stages: [new Sha256Verifier(payloadHash)] };
  }
  throw new S3Error('InvalidArgument', `Unsupported x-amz-content-sha256 value: ${payloadHash}.`);
}

/** Throws EntityTooLarge when a single request would exceed what the route or S3 accepts. */
export function checkObjectSize(length: number, maxObjectSize: number | undefined): void {
  if (maxObjectSize !== undefined && length > maxObjectSize) {
    throw new S3Error(
      'EntityTooLarge',
      `Your proposed upload exceeds the maximum allowed object size of ${maxObjectSize} bytes.`,
    );
  }
  if (length > MAX_SINGLE_PUT_BYTES) {
    throw new S3Error('EntityTooLarge');
  }
}

/** Reads a readable to its end, discarding data; used for empty bodies checked before sending. */
export async function drain(stream: Readable): Promise<void> {
  stream.resume();
  await finished(stream);
}
