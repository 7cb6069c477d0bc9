/**
 * Verifies a hex `x-amz-content-sha256` against the body while it streams.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
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
