/**
 * Property tests of the aws-chunked decoder: encode -> decode gives back the bytes for any chunk
 * size and any way the body is cut into reads; arbitrary or mutated input always ends, in a 400
 * S3Error or in exactly the original bytes; and a body that is rejected never has all of its
 * declared bytes released, so a backend receiving them with a fixed Content-Length never commits.
 */
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as fc from 'fast-check';
import { fuzzAsync } from '../../testing/fuzz';
import {
  AwsChunkedDecoder,
  type AwsChunkedDecoderOptions,
  type ChunkSignatureVerifier,
} from './aws-chunked';
import { dummySignature, encodeAwsChunked } from './aws-chunked.testing';
import {
  CHECKSUM_ALGORITHMS,
  checksumBase64,
  checksumHeaderName,
  type ChecksumAlgorithm,
} from './checksum';
import { S3Error } from './errors';

/**
 * Accepts exactly the dummy signatures encodeAwsChunked writes: chunk `i` signed over its own
 * SHA-256, the trailer over the canonical trailer text. A stand-in for the SigV4 chain (whose own
 * properties live in libs/sigv4), strict enough that any altered chunk or trailer is refused.
 */
class DummyChain implements ChunkSignatureVerifier {
  private index = 0;

  verifyChunk(signature: string, chunkSha256Hex: string): void {
    if (signature !== dummySignature(`${this.index++}:${chunkSha256Hex}`)) {
      throw new S3Error('SignatureDoesNotMatch', 'chunk signature');
    }
  }

  verifyTrailer(signature: string, trailerHeaders: string): void {
    if (signature !== dummySignature(`trailer:${trailerHeaders}`)) {
      throw new S3Error('SignatureDoesNotMatch', 'trailer signature');
    }
  }
}

interface Outcome {
  output: Buffer;
  /** Bytes the decoder released before it failed (all of them when it did not). */
  emitted: number;
  error?: unknown;
  decoder: AwsChunkedDecoder;
}

async function run(pieces: Buffer[], options: AwsChunkedDecoderOptions): Promise<Outcome> {
  const decoder = new AwsChunkedDecoder(options);
  const chunks: Buffer[] = [];
  let emitted = 0;
  try {
    await pipeline(
      Readable.from(pieces, { objectMode: false }),
      decoder,
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          chunks.push(Buffer.from(chunk));
          emitted += chunk.length;
          cb();
        },
      }),
    );
    return { output: Buffer.concat(chunks), emitted, decoder };
  } catch (error) {
    return { output: Buffer.concat(chunks), emitted, error, decoder };
  }
}

// Caps on the pieces a body is cut into and on its chunks, which keep each run fast.
const MAX_PIECES = 400;
const MAX_CHUNKS = 300;

/**
 * Cuts `buf` at the given sizes (cycled), so every byte boundary can become a read boundary;
 * large bodies get proportionally larger pieces.
 */
function cut(buf: Buffer, sizes: number[]): Buffer[] {
  const pieces: Buffer[] = [];
  const least = Math.ceil(buf.length / MAX_PIECES);
  for (let pos = 0, i = 0; pos < buf.length; i++) {
    const n = Math.max(least, sizes.length === 0 ? buf.length : sizes[i % sizes.length]);
    pieces.push(buf.subarray(pos, pos + n));
    pos += n;
  }
  return pieces;
}

function expectDecoderError(error: unknown): S3Error {
  expect(error).toBeInstanceOf(S3Error);
  const err = error as S3Error;
  // 400 for framing, length and digest faults; 403 only from the signature verifier.
  if (err.code === 'SignatureDoesNotMatch') expect(err.status).toBe(403);
  else expect(err.status).toBe(400);
  return err;
}

/** Object bytes: mostly small, sometimes past one default-sized chunk. */
const data = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 600, max: 70_000 }), fc.integer({ min: 1, max: 255 }))
      .map(([n, step]) => Buffer.from(Array.from({ length: n }, (_, i) => (i * step) & 0xff))),
  },
);

/** Read sizes: single bytes, tiny, or large, so lines and CRLFs split anywhere. */
const readSizes = fc.oneof(
  fc.constant<number[]>([1]),
  fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 20 }),
  fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 10 }),
);

type Mode = { signed: boolean; trailer: boolean; checksum?: ChecksumAlgorithm };

const mode: fc.Arbitrary<Mode> = fc.oneof(
  fc.constantFrom(...CHECKSUM_ALGORITHMS).map((checksum) => ({
    signed: false,
    trailer: true,
    checksum,
  })),
  fc.constant({ signed: true, trailer: false }),
  fc.constantFrom(...CHECKSUM_ALGORITHMS).map((checksum) => ({
    signed: true,
    trailer: true,
    checksum,
  })),
);

/** Frames `bytes` for `m` with signatures DummyChain accepts. */
function frame(bytes: Buffer, m: Mode, chunkSize: number, omitFinalCrlf = false): Buffer {
  const trailer =
    m.checksum === undefined
      ? ''
      : `${checksumHeaderName(m.checksum)}:${checksumBase64(m.checksum, bytes)}\n`;
  return encodeAwsChunked(bytes, {
    chunkSize: Math.max(chunkSize, Math.ceil(bytes.length / MAX_CHUNKS)),
    signed: m.signed,
    trailerChecksum: m.checksum,
    trailerSignature: dummySignature(`trailer:${trailer}`),
    // A signed body must close its trailer section; only unsigned encoders leave it open.
    omitFinalCrlf: omitFinalCrlf && !m.signed,
  });
}

function options(m: Mode, decodedLength: number | undefined): AwsChunkedDecoderOptions {
  return {
    signed: m.signed,
    trailer: m.trailer,
    trailerChecksum: m.checksum,
    decodedLength,
    chunkVerifier: m.signed ? new DummyChain() : undefined,
  };
}

describe('AwsChunkedDecoder (properties)', () => {
  it('decodes what was encoded, for any bytes, chunk size, mode and read boundaries', async () => {
    await fuzzAsync(
      fc.asyncProperty(
        data,
        mode,
        fc.integer({ min: 1, max: 70_000 }),
        readSizes,
        fc.boolean(),
        fc.boolean(),
        async (bytes, m, chunkSize, sizes, withLength, omitFinalCrlf) => {
          const body = frame(bytes, m, chunkSize, omitFinalCrlf);
          const result = await run(
            cut(body, sizes),
            options(m, withLength ? bytes.length : undefined),
          );
          expect(result.error).toBeUndefined();
          expect(result.output.equals(bytes)).toBe(true);
          expect(result.decoder.decodedBytes).toBe(bytes.length);
          if (m.checksum !== undefined) {
            expect(result.decoder.trailerChecksum).toEqual({
              algorithm: m.checksum,
              value: checksumBase64(m.checksum, bytes),
            });
          }
        },
      ),
    );
  });

  it('gives back the original bytes or refuses, never other bytes, after any one-byte mutation', async () => {
    const mutation = fc.record({
      kind: fc.constantFrom('flip', 'insert', 'delete'),
      at: fc.nat(),
      byte: fc.integer({ min: 0, max: 255 }),
    });
    await fuzzAsync(
      fc.asyncProperty(
        data,
        mode,
        fc.integer({ min: 1, max: 2000 }),
        readSizes,
        mutation,
        async (bytes, m, chunkSize, sizes, { kind, at, byte }) => {
          const body = frame(bytes, m, chunkSize);
          const i = at % (body.length + (kind === 'insert' ? 1 : 0));
          let mutated: Buffer;
          if (kind === 'flip') {
            mutated = Buffer.from(body);
            mutated[i] ^= byte === 0 ? 1 : byte;
          } else if (kind === 'insert') {
            mutated = Buffer.concat([body.subarray(0, i), Buffer.of(byte), body.subarray(i)]);
          } else {
            mutated = Buffer.concat([body.subarray(0, i), body.subarray(i + 1)]);
          }
          const result = await run(cut(mutated, sizes), options(m, bytes.length));
          if (result.error === undefined) {
            expect(result.output.equals(bytes)).toBe(true);
          } else {
            expectDecoderError(result.error);
            // What a backend saw falls short of the declared length, so nothing is committed.
            if (bytes.length > 0) expect(result.emitted).toBeLessThan(bytes.length);
          }
        },
      ),
    );
  });

  it('refuses trailing bytes after a complete body without releasing all of it', async () => {
    await fuzzAsync(
      fc.asyncProperty(
        data.filter((b) => b.length > 0),
        mode,
        fc.integer({ min: 1, max: 2000 }),
        fc.uint8Array({ minLength: 1, maxLength: 20 }),
        readSizes,
        async (bytes, m, chunkSize, junk, sizes) => {
          const body = Buffer.concat([frame(bytes, m, chunkSize), Buffer.from(junk)]);
          const result = await run(cut(body, sizes), options(m, bytes.length));
          expectDecoderError(result.error);
          expect(result.emitted).toBeLessThan(bytes.length);
        },
      ),
    );
  });

  it('ends in success or a 400 S3Error for arbitrary framing-like input cut anywhere', async () => {
    const token = fc.oneof(
      fc.constantFrom(
        '0',
        '1',
        'a',
        'F',
        'fffffffffffff',
        'ffffffffffffff',
        '-1',
        ' ',
        ';',
        ';chunk-signature=',
        dummySignature('x'),
        '\r\n',
        '\r',
        '\n',
        '\r\n\r\n',
        'x-amz-checksum-crc32:',
        'x-amz-checksum-crc32:AAAAAA==',
        'x-amz-trailer-signature:',
        'AAAAAA==',
        ':',
        'abc',
      ),
      fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b).toString('latin1')),
    );
    const decoderOptions = fc.record({
      signed: fc.boolean(),
      trailer: fc.boolean(),
      trailerChecksum: fc.option(fc.constantFrom(...CHECKSUM_ALGORITHMS), { nil: undefined }),
      decodedLength: fc.option(fc.nat({ max: 64 }), { nil: undefined }),
      maxChunkHeaderBytes: fc.option(fc.integer({ min: 1, max: 200 }), { nil: undefined }),
      verify: fc.boolean(),
    });
    await fuzzAsync(
      fc.asyncProperty(
        fc.array(token, { maxLength: 40 }),
        decoderOptions,
        readSizes,
        async (tokens, { verify, ...opts }, sizes) => {
          const input = Buffer.from(tokens.join(''), 'latin1');
          const result = await run(cut(input, sizes), {
            ...opts,
            chunkVerifier: verify ? new DummyChain() : undefined,
          });
          if (result.error !== undefined) expectDecoderError(result.error);
          expect(result.emitted).toBeLessThanOrEqual(input.length);
          if (opts.decodedLength !== undefined) {
            expect(result.emitted).toBeLessThanOrEqual(opts.decodedLength);
            if (result.error !== undefined && opts.decodedLength > 0) {
              expect(result.emitted).toBeLessThan(opts.decodedLength);
            }
          }
        },
      ),
    );
  });
});

describe('regressions found by these properties', () => {
  const data = Buffer.from('the whole object, verified');
  const body = encodeAwsChunked(data, { chunkSize: 10, trailerChecksum: 'CRC32' });

  it.each([
    ['in the same read', [Buffer.concat([body, Buffer.from('x')])]],
    ['in a later read', [body, Buffer.from('\r\n')]],
  ])(
    'withholds the last bytes of a complete body that is followed by more bytes %s',
    async (_label, pieces) => {
      const result = await run(pieces, {
        signed: false,
        trailer: true,
        trailerChecksum: 'CRC32',
        decodedLength: data.length,
      });
      expect(result.error).toMatchObject({ code: 'InvalidRequest', status: 400 });
      expect(result.emitted).toBeLessThan(data.length);
    },
  );
});
