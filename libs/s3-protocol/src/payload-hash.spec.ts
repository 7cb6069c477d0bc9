import { createHash } from 'node:crypto';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ChecksumAlgorithm } from './checksum';
import { S3Error } from './errors';
import { ChecksumVerifier, Sha256Verifier, UNSIGNED_PAYLOAD, isHexSha256 } from './payload-hash';

/** Deterministic bytes, so that a failure reproduces. */
function patternedBytes(length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = 0x2545f491;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Splits `data` into chunks of irregular sizes, including one-byte and empty-free slices. */
function splitIrregularly(data: Buffer): Buffer[] {
  const sizes = [1, 7, 64, 3, 1000, 1, 4096, 13];
  const chunks: Buffer[] = [];
  let offset = 0;
  for (let i = 0; offset < data.length; i++) {
    const size = sizes[i % sizes.length];
    chunks.push(data.subarray(offset, offset + size));
    offset += size;
  }
  return chunks;
}

/** What came out of a verifier, and whether its output ever ended. */
interface Outcome {
  output: Buffer;
  ended: boolean;
  error?: unknown;
}

async function run(verifier: Transform, chunks: Buffer[]): Promise<Outcome> {
  const received: Buffer[] = [];
  let ended = false;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      received.push(chunk);
      done();
    },
    final(done) {
      ended = true;
      done();
    },
  });
  let error: unknown;
  try {
    await pipeline(Readable.from(chunks), verifier, sink);
  } catch (err) {
    error = err;
  }
  return { output: Buffer.concat(received), ended, error };
}

function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function s3ErrorFrom(fn: () => unknown): S3Error {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(S3Error);
    return err as S3Error;
  }
  throw new Error('expected an S3Error, but nothing was thrown');
}

const BODY = patternedBytes(100_003);

describe('isHexSha256', () => {
  it('accepts a lower-case hex SHA-256', () => {
    expect(isHexSha256(sha256Hex(BODY))).toBe(true);
  });

  it.each([
    [UNSIGNED_PAYLOAD],
    ['STREAMING-AWS4-HMAC-SHA256-PAYLOAD'],
    ['a'.repeat(63)],
    ['a'.repeat(65)],
    ['g'.repeat(64)],
    [''],
  ])('rejects %p', (value) => {
    expect(isHexSha256(value)).toBe(false);
  });
});

describe('Sha256Verifier', () => {
  it('passes a matching body through unchanged, however it is split', async () => {
    const chunks = splitIrregularly(BODY);
    expect(chunks.length).toBeGreaterThan(100);
    const outcome = await run(new Sha256Verifier(sha256Hex(BODY)), chunks);
    expect(outcome.error).toBeUndefined();
    expect(outcome.ended).toBe(true);
    expect(outcome.output.equals(BODY)).toBe(true);
  });

  it('passes an empty body whose hash is the hash of nothing', async () => {
    const outcome = await run(new Sha256Verifier(sha256Hex(Buffer.alloc(0))), []);
    expect(outcome.error).toBeUndefined();
    expect(outcome.ended).toBe(true);
    expect(outcome.output).toHaveLength(0);
  });

  it('fails a body with one changed byte with XAmzContentSHA256Mismatch', async () => {
    const tampered = Buffer.from(BODY);
    tampered[50_000] ^= 0x01;
    const outcome = await run(new Sha256Verifier(sha256Hex(BODY)), splitIrregularly(tampered));
    expect(outcome.error).toBeInstanceOf(S3Error);
    expect((outcome.error as S3Error).code).toBe('XAmzContentSHA256Mismatch');
    expect((outcome.error as S3Error).status).toBe(400);
  });

  it('fails a truncated body, and its output never ends', async () => {
    const outcome = await run(
      new Sha256Verifier(sha256Hex(BODY)),
      splitIrregularly(BODY.subarray(0, BODY.length - 1)),
    );
    expect((outcome.error as S3Error).code).toBe('XAmzContentSHA256Mismatch');
    expect(outcome.ended).toBe(false);
  });

  it.each([
    ['the unsigned-payload keyword', UNSIGNED_PAYLOAD],
    ['a streaming keyword', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'],
    ['a hex digest one digit short', sha256Hex(BODY).slice(1)],
    ['a hex digest one digit long', `${sha256Hex(BODY)}0`],
    ['a non-hex string of the right length', 'z'.repeat(64)],
    ['a base64 digest', createHash('sha256').update(BODY).digest('base64')],
    ['an empty value', ''],
  ])('refuses %s as the expected value', (_label, expected) => {
    const err = s3ErrorFrom(() => new Sha256Verifier(expected));
    expect(err.code).toBe('InvalidArgument');
    expect(err.status).toBe(400);
  });
});

describe('ChecksumVerifier', () => {
  // Check values of "123456789" from the CRC catalogue, and the SHA digests from node:crypto.
  const CHECK = Buffer.from('123456789');
  const known: Array<[ChecksumAlgorithm, string]> = [
    ['CRC32', Buffer.from('cbf43926', 'hex').toString('base64')],
    ['CRC32C', Buffer.from('e3069283', 'hex').toString('base64')],
    ['CRC64NVME', Buffer.from('ae8b14860a799888', 'hex').toString('base64')],
    ['SHA1', createHash('sha1').update(CHECK).digest('base64')],
    ['SHA256', createHash('sha256').update(CHECK).digest('base64')],
  ];

  it.each(known)('passes "123456789" sent one byte at a time for %s', async (algorithm, value) => {
    const chunks = [...CHECK].map((byte) => Buffer.from([byte]));
    const outcome = await run(new ChecksumVerifier(algorithm, value), chunks);
    expect(outcome.error).toBeUndefined();
    expect(outcome.ended).toBe(true);
    expect(outcome.output.equals(CHECK)).toBe(true);
  });

  it.each([['SHA1'], ['SHA256']] as Array<[ChecksumAlgorithm]>)(
    'passes a large %s body split in many chunks',
    async (algorithm) => {
      const expected = createHash(algorithm.toLowerCase()).update(BODY).digest('base64');
      const outcome = await run(new ChecksumVerifier(algorithm, expected), splitIrregularly(BODY));
      expect(outcome.error).toBeUndefined();
      expect(outcome.output.equals(BODY)).toBe(true);
    },
  );

  it.each(known)('fails a different body with BadDigest for %s', async (algorithm, value) => {
    const outcome = await run(new ChecksumVerifier(algorithm, value), [Buffer.from('123456780')]);
    expect(outcome.error).toBeInstanceOf(S3Error);
    expect((outcome.error as S3Error).code).toBe('BadDigest');
    expect((outcome.error as S3Error).status).toBe(400);
    expect(outcome.ended).toBe(false);
  });

  it('names the checksum header in its BadDigest message', async () => {
    const outcome = await run(new ChecksumVerifier('CRC32C', known[1][1]), [Buffer.from('x')]);
    expect((outcome.error as S3Error).message).toContain('x-amz-checksum-crc32c');
  });

  it.each<[string, ChecksumAlgorithm, string]>([
    ['a SHA-256 value for CRC32', 'CRC32', known[4][1]],
    ['a CRC32 value for SHA256', 'SHA256', known[0][1]],
    ['text that is not base64', 'CRC32', 'not-b64!'],
    ['a hex digest', 'CRC32', 'cbf43926'],
    ['base64 without its padding', 'CRC32', known[0][1].replace(/=+$/, '')],
    ['an empty value', 'SHA1', ''],
  ])('refuses %s with InvalidDigest', (_label, algorithm, value) => {
    const err = s3ErrorFrom(() => new ChecksumVerifier(algorithm, value));
    expect(err.code).toBe('InvalidDigest');
    expect(err.status).toBe(400);
  });
});
