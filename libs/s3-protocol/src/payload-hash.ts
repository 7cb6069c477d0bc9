/**
 * Verifies a hex `x-amz-content-sha256` against the body while it streams.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import {
  type Checksum,
  type ChecksumAlgorithm,
  checksumHeaderName,
  createChecksum,
  decodeChecksumValue,
} from './checksum';
import { S3Error } from './errors';

/** The payload-hash values that are not a hex digest. */
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** True when `value` is a lower-case hex SHA-256, as SigV4 writes it. */
export function isHexSha256(value: string): boolean {
  return HEX_SHA256.test(value);
}

/**
 * Passes bytes through while hashing them; fails at the end with 400 XAmzContentSHA256Mismatch
 * when the digest differs. Put a stage that holds back the last bytes after it, so that a
 * mismatch is known before the backend can complete the object.
 */
export class Sha256Verifier extends Transform {
  private readonly hash = createHash('sha256');
  private readonly expected: Buffer;

  constructor(expectedHex: string) {
    super();
    if (!isHexSha256(expectedHex)) {
      throw new S3Error(
        'InvalidArgument',
        'x-amz-content-sha256 must be a hex SHA-256 or a known keyword.',
      );
    }
    this.expected = Buffer.from(expectedHex, 'hex');
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    const actual = this.hash.digest();
    done(timingSafeEqual(actual, this.expected) ? null : new S3Error('XAmzContentSHA256Mismatch'));
  }
}

/**
 * Passes bytes through while computing an S3 checksum; fails at the end with 400 BadDigest when
 * it differs from the value the client declared in an `x-amz-checksum-*` header.
 */
export class ChecksumVerifier extends Transform {
  private readonly checksum: Checksum;
  private readonly expected: Buffer;

  constructor(
    readonly algorithm: ChecksumAlgorithm,
    expectedBase64: string,
  ) {
    super();
    const expected = decodeChecksumValue(algorithm, expectedBase64);
    if (expected === undefined) {
      throw new S3Error(
        'InvalidDigest',
        `The ${checksumHeaderName(algorithm)} value is not valid.`,
      );
    }
    this.expected = expected;
    this.checksum = createChecksum(algorithm);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.checksum.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    const actual = this.checksum.digest();
    done(
      actual.equals(this.expected)
        ? null
        : new S3Error(
            'BadDigest',
            `The ${checksumHeaderName(this.algorithm)} you specified did not match the calculated checksum.`,
          ),
    );
  }
}
