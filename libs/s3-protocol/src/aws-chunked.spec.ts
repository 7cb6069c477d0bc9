import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  AwsChunkedDecoder,
  isAwsChunked,
  streamingPayloadMode,
  type AwsChunkedDecoderOptions,
  type ChunkSignatureVerifier,
} from './aws-chunked';
import { dummySignature, encodeAwsChunked } from './aws-chunked.testing';
import {
  CHECKSUM_ALGORITHMS,
  checksumBase64,
  createChecksum,
  parseChecksumAlgorithm,
  type ChecksumAlgorithm,
} from './checksum';
import { S3Error } from './errors';

const EMPTY_SHA256 = createHash('sha256').digest('hex');

/** A full GC, when V8 lets us enable it at run time; measurements of live memory need it. */
function exposeGc(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}

/** Deterministic PRNG so random splits reproduce. */
function prng(seed: number): (max: number) => number {
  let x = seed >>> 0 || 1;
  return (max) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % max;
  };
}

function bytes(length: number, seed = 1): Buffer {
  const rnd = prng(seed);
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = rnd(256);
  return out;
}

/** Splits `buf` into pieces of random sizes in [1, maxPiece]. */
function randomSplit(buf: Buffer, rnd: (max: number) => number, maxPiece: number): Buffer[] {
  const parts: Buffer[] = [];
  for (let pos = 0; pos < buf.length;) {
    const n = 1 + rnd(maxPiece);
    parts.push(buf.subarray(pos, pos + n));
    pos += n;
  }
  return parts;
}

function byteByByte(buf: Buffer): Buffer[] {
  return [...buf].map((b) => Buffer.of(b));
}

interface Decoded {
  output: Buffer;
  decoder: AwsChunkedDecoder;
}

/** Writes `parts` through a decoder and collects what comes out. */
async function decode(parts: Buffer[], options: AwsChunkedDecoderOptions): Promise<Decoded> {
  const decoder = new AwsChunkedDecoder(options);
  const output = await collect(Readable.from(parts, { objectMode: false }), decoder);
  return { output, decoder };
}

async function collect(source: Readable, decoder: AwsChunkedDecoder): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(
    source,
    decoder,
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        cb();
      },
    }),
  );
  return Buffer.concat(chunks);
}

/** Decodes and returns the S3Error it fails with (fails the test if it succeeds). */
async function decodeError(
  parts: Buffer[],
  options: AwsChunkedDecoderOptions,
): Promise<S3Error & { emitted: number }> {
  const decoder = new AwsChunkedDecoder(options);
  let emitted = 0;
  try {
    await pipeline(
      Readable.from(parts, { objectMode: false }),
      decoder,
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          emitted += chunk.length;
          cb();
        },
      }),
    );
  } catch (err) {
    expect(err).toBeInstanceOf(S3Error);
    return Object.assign(err as S3Error, { emitted });
  }
  throw new Error('expected the decoder to fail');
}

const UNSIGNED_TRAILER = { signed: false, trailer: true } as const;
const SIGNED = { signed: true, trailer: false } as const;
const SIGNED_TRAILER = { signed: true, trailer: true } as const;

describe('isAwsChunked / streamingPayloadMode', () => {
  it('detects aws-chunked bodies', () => {
    expect(isAwsChunked('STREAMING-UNSIGNED-PAYLOAD-TRAILER', undefined)).toBe(true);
    expect(isAwsChunked('STREAMING-AWS4-HMAC-SHA256-PAYLOAD', undefined)).toBe(true);
    expect(isAwsChunked('STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', 'aws-chunked')).toBe(true);
    expect(isAwsChunked('UNSIGNED-PAYLOAD', 'gzip, AWS-Chunked')).toBe(true);
    expect(isAwsChunked('UNSIGNED-PAYLOAD', 'gzip')).toBe(false);
    expect(isAwsChunked(EMPTY_SHA256, undefined)).toBe(false);
    expect(isAwsChunked(undefined, undefined)).toBe(false);
  });

  it('maps the payload hash to the framing mode', () => {
    expect(streamingPayloadMode('STREAMING-UNSIGNED-PAYLOAD-TRAILER')).toEqual(UNSIGNED_TRAILER);
    expect(streamingPayloadMode('STREAMING-AWS4-HMAC-SHA256-PAYLOAD')).toEqual(SIGNED);
    expect(streamingPayloadMode('STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER')).toEqual(
      SIGNED_TRAILER,
    );
    expect(streamingPayloadMode('STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD')).toBeUndefined();
    expect(streamingPayloadMode('UNSIGNED-PAYLOAD')).toBeUndefined();
  });
});

describe('AwsChunkedDecoder', () => {
  describe('well-formed bodies', () => {
    it.each(CHECKSUM_ALGORITHMS)('unsigned with a %s trailer', async (algorithm) => {
      const data = bytes(200000, 3);
      const frame = encodeAwsChunked(data, { chunkSize: 65536, trailerChecksum: algorithm });
      const events: unknown[] = [];
      const decoder = new AwsChunkedDecoder({
        ...UNSIGNED_TRAILER,
        decodedLength: data.length,
        trailerChecksum: algorithm,
      });
      decoder.on('checksum', (c) => events.push(c));
      const output = await collect(Readable.from([frame]), decoder);
      expect(output.equals(data)).toBe(true);
      const expected = { algorithm, value: checksumBase64(algorithm, data) };
      expect(decoder.trailerChecksum).toEqual(expected);
      expect(events).toEqual([expected]);
      expect(decoder.decodedBytes).toBe(data.length);
    });

    it('an empty object', async () => {
      const frame = encodeAwsChunked(Buffer.alloc(0), { trailerChecksum: 'CRC32' });
      expect(frame.toString()).toBe('0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n');
      const { output, decoder } = await decode([frame], {
        ...UNSIGNED_TRAILER,
        decodedLength: 0,
        trailerChecksum: 'CRC32',
      });
      expect(output).toHaveLength(0);
      expect(decoder.trailerChecksum).toEqual({ algorithm: 'CRC32', value: 'AAAAAA==' });
    });

    const modes: Array<[string, AwsChunkedDecoderOptions, Parameters<typeof encodeAwsChunked>[1]]> =
      [
        [
          'unsigned+trailer',
          { ...UNSIGNED_TRAILER, trailerChecksum: 'CRC32C' },
          { trailerChecksum: 'CRC32C' },
        ],
        ['signed', SIGNED, { signed: true }],
        [
          'signed+trailer',
          { ...SIGNED_TRAILER, trailerChecksum: 'CRC64NVME' },
          { signed: true, trailerChecksum: 'CRC64NVME' },
        ],
      ];

    it.each(modes)('%s, fed byte by byte', async (_name, options, encodeOptions) => {
      const data = bytes(300, 5);
      const frame = encodeAwsChunked(data, { ...encodeOptions, chunkSize: 64 });
      const { output } = await decode(byteByByte(frame), {
        ...options,
        decodedLength: data.length,
      });
      expect(output.equals(data)).toBe(true);
    });

    it.each(modes)('%s, fed in random splits', async (_name, options, encodeOptions) => {
      const rnd = prng(1234);
      for (let round = 0; round < 150; round++) {
        const data = bytes(rnd(5000), round + 1);
        const chunkSize = 1 + rnd(1500);
        const frame = encodeAwsChunked(data, { ...encodeOptions, chunkSize });
        const parts = randomSplit(frame, rnd, 1 + rnd(300));
        const { output, decoder } = await decode(parts, { ...options, decodedLength: data.length });
        expect(output.equals(data)).toBe(true);
        if (options.trailerChecksum) expect(decoder.trailerChecksum).toBeDefined();
      }
    });

    it('works without x-amz-decoded-content-length', async () => {
      const data = bytes(1000);
      const frame = encodeAwsChunked(data, { chunkSize: 100, trailerChecksum: 'SHA1' });
      const { output } = await decode([frame], { ...UNSIGNED_TRAILER, trailerChecksum: 'SHA1' });
      expect(output.equals(data)).toBe(true);
    });

    it('accepts a body that ends without the closing CRLF', async () => {
      const data = bytes(1000);
      for (const encodeOptions of [{}, { trailerChecksum: 'CRC32' as const }]) {
        const frame = encodeAwsChunked(data, { ...encodeOptions, omitFinalCrlf: true });
        const { output } = await decode([frame], {
          ...UNSIGNED_TRAILER,
          trailerChecksum: encodeOptions.trailerChecksum,
          decodedLength: 1000,
        });
        expect(output.equals(data)).toBe(true);
      }
    });

    it('tolerates chunk extensions in unsigned mode and unknown trailers', async () => {
      const frame = Buffer.from(
        '3;foo=bar\r\nabc\r\n0\r\nx-amz-meta-x: y\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n',
      );
      const { output } = await decode([frame], { ...UNSIGNED_TRAILER, trailerChecksum: 'CRC32' });
      expect(output.toString()).toBe('abc');
    });
  });

  describe('signed chunks', () => {
    class RecordingVerifier implements ChunkSignatureVerifier {
      calls: string[] = [];
      constructor(private readonly failAt = -1) {}
      verifyChunk(signature: string, chunkSha256Hex: string): void {
        this.calls.push(`chunk ${signature} ${chunkSha256Hex}`);
        if (this.calls.length - 1 === this.failAt) throw new S3Error('SignatureDoesNotMatch');
      }
      verifyTrailer(signature: string, trailerHeaders: string): void {
        this.calls.push(`trailer ${signature} ${JSON.stringify(trailerHeaders)}`);
        if (this.calls.length - 1 === this.failAt) throw new S3Error('SignatureDoesNotMatch');
      }
    }

    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const sig = (hash: string, index: number) => dummySignature(`${index}:${hash}`);

    it('calls the verifier for every chunk in order, the final empty one included', async () => {
      const data = bytes(250);
      const frame = encodeAwsChunked(data, { signed: true, chunkSize: 100 });
      const verifier = new RecordingVerifier();
      const { output } = await decode(byteByByte(frame), { ...SIGNED, chunkVerifier: verifier });
      expect(output.equals(data)).toBe(true);
      const hashes = [
        sha(data.subarray(0, 100)),
        sha(data.subarray(100, 200)),
        sha(data.subarray(200)),
        EMPTY_SHA256,
      ];
      expect(verifier.calls).toEqual(hashes.map((h, i) => `chunk ${sig(h, i)} ${h}`));
    });

    it('verifies the trailer signature over the canonical trailer', async () => {
      const data = bytes(10);
      const trailerSignature = dummySignature('t');
      const frame = encodeAwsChunked(data, {
        signed: true,
        trailerChecksum: 'CRC32C',
        extraTrailers: [['X-Amz-Meta-B', ' v ']],
        trailerSignature,
      });
      const verifier = new RecordingVerifier();
      const { decoder } = await decode([frame], {
        ...SIGNED_TRAILER,
        trailerChecksum: 'CRC32C',
        chunkVerifier: verifier,
      });
      const crc = checksumBase64('CRC32C', data);
      expect(verifier.calls).toHaveLength(3);
      expect(verifier.calls[2]).toBe(
        `trailer ${trailerSignature} ${JSON.stringify(`x-amz-checksum-crc32c:${crc}\nx-amz-meta-b:v\n`)}`,
      );
      expect(decoder.trailerChecksum?.value).toBe(crc);
    });

    it.each([0, 1, 2, 3])(
      'a rejected signature (call %i) fails the stream before the last byte is released',
      async (failAt) => {
        const data = bytes(250);
        const frame = encodeAwsChunked(data, {
          signed: true,
          chunkSize: 100,
          trailerChecksum: 'CRC32',
        });
        const err = await decodeError([frame], {
          ...SIGNED_TRAILER,
          trailerChecksum: 'CRC32',
          chunkVerifier: new RecordingVerifier(failAt),
        });
        expect(err.code).toBe('SignatureDoesNotMatch');
        expect(err.emitted).toBeLessThan(data.length);
      },
    );

    it('ignores signatures without a verifier, but requires them to be present', async () => {
      const data = bytes(50);
      const frame = encodeAwsChunked(data, { signed: true, sign: () => 'f'.repeat(64) });
      expect((await decode([frame], SIGNED)).output.equals(data)).toBe(true);

      const unsigned = encodeAwsChunked(data);
      expect((await decodeError([unsigned], SIGNED)).code).toBe('InvalidRequest');
      const bad = Buffer.from('5;chunk-signature=xyz\r\nhello\r\n0;chunk-signature=xyz\r\n\r\n');
      expect((await decodeError([bad], SIGNED)).code).toBe('InvalidRequest');
    });

    it('requires the trailer signature when verifying', async () => {
      const frame = Buffer.from(
        `1;chunk-signature=${'a'.repeat(64)}\r\nx\r\n0;chunk-signature=${'b'.repeat(64)}\r\n` +
          `x-amz-checksum-crc32:${checksumBase64('CRC32', Buffer.from('x'))}\r\n\r\n`,
      );
      const options = { ...SIGNED_TRAILER, trailerChecksum: 'CRC32' as const };
      await expect(decode([frame], options)).resolves.toBeDefined();
      const err = await decodeError([frame], {
        ...options,
        chunkVerifier: new RecordingVerifier(),
      });
      expect(err.code).toBe('InvalidRequest');
    });
  });

  describe('checksum and length faults', () => {
    const data = bytes(5000, 9);

    it('a wrong trailer checksum is BadDigest, and the end of the body is withheld', async () => {
      const frame = encodeAwsChunked(data, {
        chunkSize: 1000,
        trailerChecksum: 'CRC32',
        trailerValue: checksumBase64('CRC32', Buffer.from('other')),
      });
      for (const parts of [[frame], byteByByte(frame)]) {
        const err = await decodeError(parts, {
          ...UNSIGNED_TRAILER,
          decodedLength: data.length,
          trailerChecksum: 'CRC32',
        });
        expect(err.code).toBe('BadDigest');
        expect(err.status).toBe(400);
        expect(err.emitted).toBeLessThan(data.length);
      }
    });

    it('a checksum of the wrong algorithm is rejected', async () => {
      const frame = encodeAwsChunked(data, { trailerChecksum: 'CRC32C' });
      const err = await decodeError([frame], { ...UNSIGNED_TRAILER, trailerChecksum: 'CRC32' });
      expect(err.code).toBe('InvalidRequest');
    });

    it('a malformed checksum value is InvalidDigest', async () => {
      const frame = encodeAwsChunked(data, {
        trailerChecksum: 'CRC32',
        trailerValue: 'not base64!',
      });
      const err = await decodeError([frame], { ...UNSIGNED_TRAILER, trailerChecksum: 'CRC32' });
      expect(err.code).toBe('InvalidDigest');
    });

    it('a missing trailer is InvalidRequest', async () => {
      for (const omitFinalCrlf of [false, true]) {
        const frame = encodeAwsChunked(data, { omitFinalCrlf });
        const err = await decodeError([frame], { ...UNSIGNED_TRAILER, trailerChecksum: 'SHA256' });
        expect(err.code).toBe('InvalidRequest');
      }
    });

    it('trailers in a mode without a trailer are InvalidRequest', async () => {
      const frame = encodeAwsChunked(data, { signed: true, trailerChecksum: 'CRC32' });
      expect((await decodeError([frame], SIGNED)).code).toBe('InvalidRequest');
    });

    it('fewer bytes than x-amz-decoded-content-length is IncompleteBody', async () => {
      const frame = encodeAwsChunked(data, { trailerChecksum: 'CRC32' });
      const err = await decodeError([frame], {
        ...UNSIGNED_TRAILER,
        trailerChecksum: 'CRC32',
        decodedLength: data.length + 1,
      });
      expect(err.code).toBe('IncompleteBody');
    });

    it('more bytes than x-amz-decoded-content-length is InvalidRequest, before they are emitted', async () => {
      const frame = encodeAwsChunked(data, { chunkSize: 1000, trailerChecksum: 'CRC32' });
      const err = await decodeError([frame], {
        ...UNSIGNED_TRAILER,
        trailerChecksum: 'CRC32',
        decodedLength: data.length - 1,
      });
      expect(err.code).toBe('InvalidRequest');
      expect(err.emitted).toBeLessThan(data.length - 1);
    });
  });

  describe('truncated and malformed input', () => {
    it('every truncation fails with a 400, and IncompleteBody inside the chunks', async () => {
      const data = bytes(40);
      for (const [options, encodeOptions] of [
        [{ ...UNSIGNED_TRAILER, trailerChecksum: 'CRC32' }, { trailerChecksum: 'CRC32' }],
        [SIGNED, { signed: true }],
      ] as const) {
        const frame = encodeAwsChunked(data, { ...encodeOptions, chunkSize: 16 });
        const finalChunk = frame.lastIndexOf(Buffer.from('\r\n0')) + 2;
        for (let cut = 0; cut < finalChunk; cut++) {
          const err = await decodeError([frame.subarray(0, cut)], {
            ...options,
            decodedLength: 40,
          });
          expect([cut, err.code]).toEqual([cut, 'IncompleteBody']);
        }
        // After the final chunk header only the trailer can be missing: still a 400.
        for (let cut = finalChunk; cut < frame.length - 2; cut++) {
          const err = await decodeError([frame.subarray(0, cut)], {
            ...options,
            decodedLength: 40,
          });
          expect(err.status).toBe(400);
        }
      }
    });

    it.each([
      ['a non-hex size', 'zz\r\nabc\r\n0\r\n\r\n'],
      ['an empty size', '\r\nabc\r\n0\r\n\r\n'],
      ['a signed-looking size', '-3\r\nabc\r\n0\r\n\r\n'],
      ['a size with spaces', ' 3\r\nabc\r\n0\r\n\r\n'],
      ['a 14-digit size', '00000000000003\r\nabc\r\n0\r\n\r\n'],
      ['a bare LF after the size', '3\nabc\r\n0\r\n\r\n'],
      ['data longer than its size', '3\r\nabcd\r\n0\r\n\r\n'],
      ['a bare LF after the data', '3\r\nabc\n0\r\n\r\n'],
      ['data after the final chunk', '3\r\nabc\r\n0\r\n\r\nextra'],
      ['a second body after the final chunk', '3\r\nabc\r\n0\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
      ['a trailer without a colon', '3\r\nabc\r\n0\r\nnonsense\r\n\r\n'],
      ['a bare LF in the trailer', '3\r\nabc\r\n0\r\nx-amz-meta-a:b\n\r\n'],
    ])('%s is InvalidRequest', async (_name, text) => {
      for (const parts of [[Buffer.from(text)], byteByByte(Buffer.from(text))]) {
        const err = await decodeError(parts, UNSIGNED_TRAILER);
        expect(err.code).toBe('InvalidRequest');
      }
    });

    it('an oversize header line fails as soon as the limit is passed, without waiting for EOF', async () => {
      const decoder = new AwsChunkedDecoder({ ...UNSIGNED_TRAILER, maxChunkHeaderBytes: 100 });
      const failed = new Promise<unknown>((resolve) => decoder.on('error', resolve));
      decoder.write(Buffer.from('1'.repeat(60)));
      decoder.write(Buffer.from('1'.repeat(60)));
      const err = await failed;
      expect(err).toBeInstanceOf(S3Error);
      expect((err as S3Error).code).toBe('InvalidRequest');
    });

    it('a long but allowed signed header passes with a tight limit', async () => {
      const data = bytes(10);
      const frame = encodeAwsChunked(data, { signed: true });
      const { output } = await decode(byteByByte(frame), { ...SIGNED, maxChunkHeaderBytes: 82 });
      expect(output.equals(data)).toBe(true);
      const err = await decodeError([frame], { ...SIGNED, maxChunkHeaderBytes: 81 });
      expect(err.code).toBe('InvalidRequest');
    });

    it('random garbage and random mutations only ever fail with a 400 S3Error', async () => {
      const rnd = prng(99);
      const data = bytes(3000);
      const valid = encodeAwsChunked(data, { chunkSize: 500, trailerChecksum: 'CRC32' });
      const options = {
        ...UNSIGNED_TRAILER,
        trailerChecksum: 'CRC32' as const,
        decodedLength: 3000,
      };
      for (let round = 0; round < 300; round++) {
        let input: Buffer;
        if (round % 3 === 0) {
          input = bytes(1 + rnd(2000), round + 7);
        } else {
          input = Buffer.from(valid);
          for (let k = 1 + rnd(3); k > 0; k--) input[rnd(input.length)] = rnd(256);
        }
        const decoder = new AwsChunkedDecoder(options);
        const result = await collect(Readable.from(randomSplit(input, rnd, 700)), decoder).then(
          (out) => ({ out }),
          (err: unknown) => ({ err }),
        );
        if ('err' in result) {
          expect(result.err).toBeInstanceOf(S3Error);
          expect((result.err as S3Error).status).toBe(400);
        } else {
          // A mutation may hit only data and checksum; then it must still verify.
          expect(result.out).toHaveLength(3000);
          expect(checksumBase64('CRC32', result.out)).toBe(decoder.trailerChecksum?.value);
        }
      }
    });

    it('rejects invalid options', () => {
      expect(() => new AwsChunkedDecoder({ ...SIGNED, maxChunkHeaderBytes: 0 })).toThrow(
        RangeError,
      );
      expect(() => new AwsChunkedDecoder({ ...SIGNED, decodedLength: -1 })).toThrow(RangeError);
      expect(() => new AwsChunkedDecoder({ ...SIGNED, decodedLength: 1.5 })).toThrow(RangeError);
    });
  });

  describe('framing produced by @aws-sdk/client-s3', () => {
    let server: Server;
    let client: S3Client;
    const received: Array<{
      headers: IncomingMessage['headers'];
      output?: Buffer;
      error?: unknown;
      decoder?: AwsChunkedDecoder;
    }> = [];

    beforeAll(async () => {
      // The gateway's job in miniature: decode whatever the real SDK puts on the wire.
      server = createServer((req, res) => {
        const headers = req.headers;
        const entry: (typeof received)[number] = { headers };
        received.push(entry);
        const contentSha256 = String(headers['x-amz-content-sha256']);
        const mode = streamingPayloadMode(contentSha256);
        if (!mode || !isAwsChunked(contentSha256, headers['content-encoding'])) {
          entry.error = new Error(`not aws-chunked: ${contentSha256}`);
          req.resume();
          res.statusCode = 400;
          res.end();
          return;
        }
        const trailer = headers['x-amz-trailer'];
        const decoder = new AwsChunkedDecoder({
          ...mode,
          decodedLength: Number(headers['x-amz-decoded-content-length']),
          trailerChecksum:
            typeof trailer === 'string' ? parseChecksumAlgorithm(trailer) : undefined,
        });
        entry.decoder = decoder;
        collect(req, decoder).then(
          (output) => {
            entry.output = output;
            res.setHeader('ETag', '"etag"');
            res.end();
          },
          (error: unknown) => {
            entry.error = error;
            res.statusCode = 400;
            res.end();
          },
        );
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      client = new S3Client({
        endpoint: `http://127.0.0.1:${port}`,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
        maxAttempts: 1,
      });
    });

    afterAll(async () => {
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
    });

    it.each<[string, ChecksumAlgorithm | undefined, number[]]>([
      ['default settings', undefined, [70000, 1, 130000]],
      ['CRC32C', 'CRC32C', [65536, 65536, 3]],
      ['CRC64NVME', 'CRC64NVME', [1, 2, 3, 100000]],
      ['SHA1', 'SHA1', [5000]],
      ['SHA256', 'SHA256', [300000]],
    ])('a streaming PutObject with %s', async (_name, algorithm, pieces) => {
      const data = bytes(
        pieces.reduce((a, b) => a + b, 0),
        pieces.length,
      );
      const parts: Buffer[] = [];
      let offset = 0;
      for (const n of pieces) {
        parts.push(data.subarray(offset, offset + n));
        offset += n;
      }
      received.length = 0;
      await client.send(
        new PutObjectCommand({
          Bucket: 'bucket',
          Key: 'key',
          Body: Readable.from(parts),
          ContentLength: data.length,
          ChecksumAlgorithm: algorithm,
        }),
      );
      expect(received).toHaveLength(1);
      const [entry] = received;
      expect(entry.error).toBeUndefined();
      expect(entry.headers['x-amz-content-sha256']).toBe('STREAMING-UNSIGNED-PAYLOAD-TRAILER');
      expect(entry.output?.equals(data)).toBe(true);
      const expected = algorithm ?? 'CRC32';
      expect(entry.decoder?.trailerChecksum).toEqual({
        algorithm: expected,
        value: checksumBase64(expected, data),
      });
    });
  });

  it('streams 64 MiB with bounded memory', async () => {
    const chunkSize = 64 * 1024;
    const chunks = 1024;
    const total = chunkSize * chunks;
    const pool = bytes(chunkSize + 4096, 11);
    const crc = createChecksum('CRC64NVME');
    // Frames are generated on the fly into fresh buffers, as a socket delivers them, so a
    // decoder that kept data would keep real memory alive.
    function* frames(): Generator<Buffer> {
      for (let i = 0; i < chunks; i++) {
        const data = pool.subarray(i % 4096, (i % 4096) + chunkSize);
        crc.update(data);
        yield Buffer.concat([
          Buffer.from(`${chunkSize.toString(16)}\r\n`),
          data,
          Buffer.from('\r\n'),
        ]);
      }
      yield Buffer.from(`0\r\nx-amz-checksum-crc64nvme:${crc.digest().toString('base64')}\r\n\r\n`);
    }

    const gc = exposeGc();
    const retained = () => {
      gc?.();
      const { heapUsed, arrayBuffers } = process.memoryUsage();
      return heapUsed + arrayBuffers;
    };
    const decoder = new AwsChunkedDecoder({
      ...UNSIGNED_TRAILER,
      decodedLength: total,
      trailerChecksum: 'CRC64NVME',
    });
    let baseline: number | undefined;
    let peakBuffered = 0;
    let peakGrowth = 0;
    let received = 0;
    const check = createChecksum('CRC64NVME');
    await pipeline(
      Readable.from(frames(), { objectMode: false, highWaterMark: chunkSize }),
      decoder,
      new Writable({
        highWaterMark: chunkSize,
        write(chunk: Buffer, _enc, cb) {
          received += chunk.length;
          check.update(chunk);
          peakBuffered = Math.max(peakBuffered, decoder.readableLength + decoder.writableLength);
          if (received % (8 * 1024 * 1024) < chunk.length) {
            // The first 8 MiB are warm-up (JIT code, stream state); after that nothing may grow.
            baseline ??= retained();
            peakGrowth = Math.max(peakGrowth, retained() - baseline);
          }
          // Yield to the event loop now and then, like a socket would.
          if (received % (1024 * 1024) < chunk.length) setImmediate(cb);
          else cb();
        },
      }),
    );
    expect(received).toBe(total);
    expect(decoder.trailerChecksum?.value).toBe(check.digest().toString('base64'));
    expect(peakBuffered).toBeLessThanOrEqual(4 * chunkSize);
    // Keeping the body would add 64 MiB. Even after a forced GC, V8 frees ArrayBuffers in the
    // background, so up to one 8 MiB interval of garbage can still be counted.
    expect(peakGrowth).toBeLessThan((gc ? 16 : 48) * 1024 * 1024);
  }, 60000);
});
