/**
 * Decides how a request body moves (DESIGN.md §3): as it is, verified against a hex SHA-256 or an
 * `x-amz-checksum-*` header, or decoded from aws-chunked framing with its trailer checksum
 * verified. The result is the chain of stages and the number of bytes the backend receives.
 */
import type { Readable, Transform } from 'node:stream';
import { finished } from 'node:stream/promises';
import {
  AwsChunkedDecoder,
  CHECKSUM_HEADERS,
  ChecksumVerifier,
  type ChecksumAlgorithmName,
  type ChunkSignatureVerifier,
  type ObjectAttributes,
  type RawHeaders,
  S3Error,
  Sha256Verifier,
  UNSIGNED_PAYLOAD,
  firstHeader,
  isAwsChunked,
  isHexSha256,
  parseChecksumAlgorithm,
  streamingPayloadMode,
} from '@mizuchi/s3-protocol';

/** The largest object S3 stores (through multipart). */
export const MAX_OBJECT_BYTES = 5 * 1024 ** 4;

/** A checksum the gateway has verified over the whole body. */
export interface VerifiedChecksum {
  algorithm: ChecksumAlgorithmName;
  value: string;
}

/** How the body of one request is to be read. */
export interface PayloadPlan {
  /** Bytes the backend will receive; undefined for a chunked body of unknown length. */
  length: number | undefined;
  /** Verifying or decoding stages to put between the client and the backend, in order. */
  stages: Transform[];
  /** The checksum verified in flight; known once the whole body has passed. */
  verifiedChecksum(): VerifiedChecksum | undefined;
}

/** Parses a non-negative decimal length header, or refuses it. */
export function parseLength(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,16}$/.test(value.trim())) {
    throw new S3Error('InvalidArgument', `${name} must be a non-negative integer.`);
  }
  return Number(value.trim());
}

function isForwardable(algorithm: string): algorithm is ChecksumAlgorithmName {
  return Object.prototype.hasOwnProperty.call(CHECKSUM_HEADERS, algorithm);
}

/**
 * Works out the stages and the backend length for a body with the given headers.
 * `attributes.checksum` (an `x-amz-checksum-*` header) is verified in flight as well, so a
 * backend that ignores the header still never stores a corrupted object.
 */
export function planPayload(
  headers: RawHeaders,
  attributes: ObjectAttributes,
  chunkVerifier?: ChunkSignatureVerifier,
): PayloadPlan {
  const payloadHash = firstHeader(headers, 'x-amz-content-sha256') ?? UNSIGNED_PAYLOAD;
  const stages: Transform[] = [];
  let length: number | undefined;
  let decoder: AwsChunkedDecoder | undefined;

  if (isAwsChunked(payloadHash, firstHeader(headers, 'content-encoding'))) {
    const mode = streamingPayloadMode(payloadHash);
    if (mode === undefined) {
      throw new S3Error(
        'NotImplemented',
        `aws-chunked bodies with x-amz-content-sha256 ${payloadHash} are not supported.`,
      );
    }
    const decodedLength = parseLength(
      firstHeader(headers, 'x-amz-decoded-content-length'),
      'x-amz-decoded-content-length',
    );
    if (decodedLength === undefined) {
      throw new S3Error(
        'MissingContentLength',
        'aws-chunked uploads must send x-amz-decoded-content-length.',
      );
    }
    let trailerChecksum: ChecksumAlgorithmName | undefined;
    if (mode.trailer) {
      const trailer = firstHeader(headers, 'x-amz-trailer');
      const algorithm = trailer !== undefined ? parseChecksumAlgorithm(trailer) : undefined;
      if (algorithm === undefined || !isForwardable(algorithm)) {
        throw new S3Error(
          'InvalidRequest',
          `x-amz-trailer must name a supported checksum (${Object.values(CHECKSUM_HEADERS).join(', ')}).`,
        );
      }
      trailerChecksum = algorithm;
    }
    decoder = new AwsChunkedDecoder({ ...mode, decodedLength, trailerChecksum, chunkVerifier });
    stages.push(decoder);
    length = decodedLength;
  } else {
    length = parseLength(firstHeader(headers, 'content-length'), 'Content-Length');
    if (length === undefined && !isChunked(firstHeader(headers, 'transfer-encoding'))) {
      throw new S3Error('MissingContentLength');
    }
    if (payloadHash !== UNSIGNED_PAYLOAD) {
      if (!isHexSha256(payloadHash)) {
        throw new S3Error(
          'InvalidArgument',
          `Unsupported x-amz-content-sha256 value: it must be UNSIGNED-PAYLOAD, a STREAMING-* mode or a hex SHA-256.`,
        );
      }
      stages.push(new Sha256Verifier(payloadHash));
    }
  }

  // Whole-body digests are checked here as well as by the backend: a body that becomes a
  // multipart upload cannot hand them to the backend at all.
  if (attributes.contentMd5 !== undefined) {
    stages.push(new ChecksumVerifier('MD5', attributes.contentMd5));
  }
  const declared = attributes.checksum;
  if (declared !== undefined) {
    stages.push(new ChecksumVerifier(declared.algorithm, declared.value));
  }
  return {
    length,
    stages,
    verifiedChecksum: () => {
      const fromTrailer = decoder?.trailerChecksum;
      if (fromTrailer !== undefined && isForwardable(fromTrailer.algorithm)) {
        return { algorithm: fromTrailer.algorithm, value: fromTrailer.value };
      }
      return declared;
    },
  };
}

/** 413 EntityTooLarge for a body over the route's `upload.max_object_size`. */
export function tooLargeForRoute(maxObjectSize: number): S3Error {
  return new S3Error(
    'EntityTooLarge',
    `Your proposed upload exceeds the maximum allowed object size of ${maxObjectSize} bytes.`,
    { status: 413 },
  );
}

function isChunked(transferEncoding: string | undefined): boolean {
  return (transferEncoding ?? '').toLowerCase().includes('chunked');
}

/** Throws EntityTooLarge when a single request would exceed what the route or S3 accepts. */
export function checkObjectSize(
  length: number | undefined,
  maxObjectSize: number | undefined,
): void {
  if (length === undefined) return;
  if (maxObjectSize !== undefined && length > maxObjectSize) {
    throw tooLargeForRoute(maxObjectSize);
  }
  if (length > MAX_OBJECT_BYTES) {
    throw new S3Error('EntityTooLarge');
  }
}

/** Reads a stream to its end, discarding data; used for empty bodies checked before sending. */
export async function drain(stream: Readable): Promise<void> {
  stream.resume();
  await finished(stream);
}
