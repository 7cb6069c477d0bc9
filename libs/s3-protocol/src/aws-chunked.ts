/**
 * Streaming decoder for the aws-chunked body framing that SigV4 streaming uploads use:
 *
 *   chunk   = hex-size [ ";chunk-signature=" 64HEX ] CRLF data CRLF
 *   final   = "0" [ ";chunk-signature=" 64HEX ] CRLF
 *   trailer = *( name ":" value CRLF ) CRLF
 *
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html
 *
 * Memory stays constant: data is passed on as slices of the input buffers, and only one
 * header/trailer line (bounded by maxChunkHeaderBytes) is ever copied.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback, type TransformOptions } from 'node:stream';
import {
  checksumHeaderName,
  createChecksum,
  decodeChecksumValue,
  type Checksum,
  type ChecksumAlgorithm,
} from './checksum';
import { S3Error } from './errors';

/** `x-amz-content-sha256` values whose body is aws-chunked. */
export const STREAMING_UNSIGNED_PAYLOAD_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
export const STREAMING_AWS4_HMAC_SHA256_PAYLOAD = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
export const STREAMING_AWS4_HMAC_SHA256_PAYLOAD_TRAILER =
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';

/** SHA-256 of the empty string: the payload hash of the final, 0-length chunk. */
const EMPTY_SHA256_HEX = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const TRAILER_SIGNATURE_HEADER = 'x-amz-trailer-signature';
const CHECKSUM_HEADER_PREFIX = 'x-amz-checksum-';
const DEFAULT_MAX_LINE_BYTES = 4096;
// AWS sends one checksum plus the signature; a few spare slots tolerate extra trailers.
const MAX_TRAILER_LINES = 16;
// 2^52 fits a JS number exactly and is far beyond S3's 5 TiB object limit.
const MAX_SIZE_HEX_DIGITS = 13;
const SIGNATURE_RE = /^[0-9a-f]{64}$/;
const HEX_RE = /^[0-9a-fA-F]+$/;
const CR = 0x0d;
const LF = 0x0a;

/**
 * True when a request body uses aws-chunked framing: any `STREAMING-*` payload hash, or an
 * `aws-chunked` token in Content-Encoding. The gateway must then decode the body, forward
 * `x-amz-decoded-content-length` as Content-Length and drop `aws-chunked` from the encoding.
 */
export function isAwsChunked(
  contentSha256: string | undefined,
  contentEncoding: string | undefined,
): boolean {
  if (contentSha256?.startsWith('STREAMING-')) return true;
  return (contentEncoding ?? '')
    .split(',')
    .some((token) => token.trim().toLowerCase() === 'aws-chunked');
}

/**
 * The framing flavour for a `x-amz-content-sha256` value, or undefined when it is not one of
 * the three supported streaming modes (e.g. the SigV4a `STREAMING-AWS4-ECDSA-P256-SHA256-*`).
 */
export function streamingPayloadMode(
  contentSha256: string,
): { signed: boolean; trailer: boolean } | undefined {
  switch (contentSha256) {
    case STREAMING_UNSIGNED_PAYLOAD_TRAILER:
      return { signed: false, trailer: true };
    case STREAMING_AWS4_HMAC_SHA256_PAYLOAD:
      return { signed: true, trailer: false };
    case STREAMING_AWS4_HMAC_SHA256_PAYLOAD_TRAILER:
      return { signed: true, trailer: true };
    default:
      return undefined;
  }
}

/**
 * Verifies the per-chunk signature chain of STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER).
 * Implemented by the SigV4 layer, which knows the seed signature, scope and signing key.
 * Both methods are called in body order and throw an S3Error to reject the upload.
 */
export interface ChunkSignatureVerifier {
  /** One call per chunk, the final 0-length chunk included. */
  verifyChunk(signature: string, chunkSha256Hex: string): void;
  /**
   * Called once after the final chunk when the mode has a trailer. `trailerHeaders` is the
   * canonical trailer: every trailer header except `x-amz-trailer-signature`, as
   * `lowercase-name:trimmed-value\n`, sorted by name; the verifier hashes it for the
   * AWS4-HMAC-SHA256-TRAILER string to sign.
   */
  verifyTrailer(signature: string, trailerHeaders: string): void;
}

/** Options of {@link AwsChunkedDecoder}. */
export interface AwsChunkedDecoderOptions {
  /** Chunk headers carry `;chunk-signature=` (STREAMING-AWS4-HMAC-SHA256-*). */
  signed: boolean;
  /** A trailer section follows the final chunk (`*-TRAILER` modes). */
  trailer: boolean;
  /** `x-amz-decoded-content-length`; the decoded total must match it exactly. */
  decodedLength?: number;
  /** The checksum named by `x-amz-trailer`, verified over the decoded bytes. */
  trailerChecksum?: ChecksumAlgorithm;
  /** Longest accepted chunk-header or trailer line, CRLF excluded. Default 4096. */
  maxChunkHeaderBytes?: number;
  /** Verifies chunk and trailer signatures when `signed`; without it they are only parsed. */
  chunkVerifier?: ChunkSignatureVerifier;
  /** Passed to the underlying Transform (e.g. highWaterMark). */
  streamOptions?: TransformOptions;
}

/** A checksum that the decoder computed and found equal to the one the client sent. */
export interface VerifiedChecksum {
  algorithm: ChecksumAlgorithm;
  /** Base64, ready for the `x-amz-checksum-*` response header. */
  value: string;
}

enum State {
  ChunkHeader,
  ChunkData,
  ChunkDataCr,
  ChunkDataLf,
  Trailer,
  Done,
}

/**
 * A Transform that turns an aws-chunked body into the plain object bytes.
 *
 * Errors are S3Errors: IncompleteBody when the body ends early, BadDigest when the trailer
 * checksum does not match, InvalidDigest for a malformed checksum value, InvalidRequest for
 * any other framing fault; chunk-verifier errors pass through unchanged.
 *
 * Nothing is verified until the body ends, so the decoder holds back its most recent data
 * slice until the final chunk, the signatures and the trailer checksum have all been
 * accepted and the input has ended with nothing after the body. A consumer that forwards the
 * output with a fixed Content-Length therefore never sees the complete body of a rejected
 * upload, and the backend never commits it.
 *
 * Emits `'checksum'` with a {@link VerifiedChecksum} once it is verified, before the last data
 * is released.
 */
export class AwsChunkedDecoder extends Transform {
  /** The trailer checksum, set once it has been verified. */
  trailerChecksum: VerifiedChecksum | undefined;

  private readonly signed: boolean;
  private readonly hasTrailer: boolean;
  private readonly decodedLength: number | undefined;
  private readonly checksumAlgorithm: ChecksumAlgorithm | undefined;
  private readonly verifier: ChunkSignatureVerifier | undefined;
  private readonly maxLine: number;

  private state = State.ChunkHeader;
  private readonly line: Buffer;
  private lineLength = 0;
  private chunkRemaining = 0;
  private chunkSignature = '';
  private chunkHash: Hash | undefined;
  private total = 0;
  private readonly checksum: Checksum | undefined;
  private readonly trailers: Array<[string, string]> = [];
  private held: Buffer | undefined;

  constructor(options: AwsChunkedDecoderOptions) {
    super(options.streamOptions);
    const maxLine = options.maxChunkHeaderBytes ?? DEFAULT_MAX_LINE_BYTES;
    if (!Number.isInteger(maxLine) || maxLine < 1) {
      throw new RangeError('maxChunkHeaderBytes must be a positive integer');
    }
    if (
      options.decodedLength !== undefined &&
      !(Number.isSafeInteger(options.decodedLength) && options.decodedLength >= 0)
    ) {
      throw new RangeError('decodedLength must be a non-negative integer');
    }
    this.signed = options.signed;
    this.hasTrailer = options.trailer;
    this.decodedLength = options.decodedLength;
    this.checksumAlgorithm = options.trailerChecksum;
    this.verifier = options.signed ? options.chunkVerifier : undefined;
    this.maxLine = maxLine;
    // +2 leaves room for the CRLF, which is copied with the line before it is checked.
    this.line = Buffer.allocUnsafe(maxLine + 2);
    this.checksum = options.trailerChecksum ? createChecksum(options.trailerChecksum) : undefined;
  }

  /** Decoded bytes seen so far (including the slice still held back). */
  get decodedBytes(): number {
    return this.total;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.consume(chunk);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.state === State.Trailer && this.lineLength === 0) {
        // The body ended after the final chunk or after whole trailer lines, without the
        // closing empty line. aws-sdk-js ends exactly so (`0\r\n`) when it sends no checksum;
        // nothing can be cut short here, and finish() still demands the expected trailers.
        this.finish();
      } else if (this.state !== State.Done) {
        throw new S3Error('IncompleteBody', 'The aws-chunked body ended before its final chunk.');
      }
      // Released only now: bytes after the final chunk still fail the body until the input ends.
      if (this.held) {
        this.push(this.held);
        this.held = undefined;
      }
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  private consume(buf: Buffer): void {
    let pos = 0;
    const end = buf.length;
    while (pos < end) {
      switch (this.state) {
        case State.ChunkHeader:
        case State.Trailer: {
          const lineEnd = this.readLine(buf, pos);
          if (lineEnd < 0) return;
          pos = lineEnd;
          const text = this.line.toString('latin1', 0, this.lineLength - 2);
          this.lineLength = 0;
          if (this.state === State.ChunkHeader) this.onChunkHeader(text);
          else this.onTrailerLine(text);
          break;
        }
        case State.ChunkData: {
          const n = Math.min(this.chunkRemaining, end - pos);
          this.onData(buf.subarray(pos, pos + n));
          pos += n;
          this.chunkRemaining -= n;
          if (this.chunkRemaining === 0) this.state = State.ChunkDataCr;
          break;
        }
        case State.ChunkDataCr:
          if (buf[pos++] !== CR) throw malformed('chunk data is not followed by CRLF');
          this.state = State.ChunkDataLf;
          break;
        case State.ChunkDataLf:
          if (buf[pos++] !== LF) throw malformed('chunk data is not followed by CRLF');
          this.endChunk();
          this.state = State.ChunkHeader;
          break;
        case State.Done:
          throw malformed('data follows the final chunk');
      }
    }
  }

  /**
   * Copies bytes of the current line into `this.line` until its LF. Returns the position after
   * the LF, or -1 when `buf` ended first. Lines must end in CRLF and fit maxChunkHeaderBytes.
   */
  private readLine(buf: Buffer, pos: number): number {
    const limit = Math.min(buf.length, pos + this.maxLine + 2 - this.lineLength);
    // Search only the bytes that may still belong to this line, never the data after it.
    const lf = buf.subarray(pos, limit).indexOf(LF);
    const stop = lf < 0 ? limit : pos + lf + 1;
    buf.copy(this.line, this.lineLength, pos, stop);
    this.lineLength += stop - pos;
    if (lf >= 0) {
      if (this.lineLength < 2 || this.line[this.lineLength - 2] !== CR) {
        throw malformed('line is not terminated by CRLF');
      }
      return stop;
    }
    if (this.lineLength >= this.maxLine + 2) {
      throw malformed(`chunk header or trailer line exceeds ${this.maxLine} bytes`);
    }
    return -1;
  }

  private onChunkHeader(text: string): void {
    const semi = text.indexOf(';');
    const sizeText = semi < 0 ? text : text.slice(0, semi);
    if (sizeText.length === 0 || sizeText.length > MAX_SIZE_HEX_DIGITS || !HEX_RE.test(sizeText)) {
      throw malformed('chunk size is not a hexadecimal number');
    }
    const size = parseInt(sizeText, 16);
    this.chunkSignature = this.signed
      ? parseChunkSignature(semi < 0 ? '' : text.slice(semi + 1))
      : '';
    if (this.decodedLength !== undefined && size > this.decodedLength - this.total) {
      throw malformed('the aws-chunked body is longer than x-amz-decoded-content-length');
    }
    if (size === 0) {
      this.verifier?.verifyChunk(this.chunkSignature, EMPTY_SHA256_HEX);
      this.state = State.Trailer;
      return;
    }
    if (this.verifier) this.chunkHash = createHash('sha256');
    this.chunkRemaining = size;
    this.state = State.ChunkData;
  }

  private onData(slice: Buffer): void {
    this.total += slice.length;
    this.chunkHash?.update(slice);
    this.checksum?.update(slice);
    if (this.held) this.push(this.held);
    this.held = slice;
  }

  private endChunk(): void {
    if (this.chunkHash) {
      const hex = this.chunkHash.digest('hex');
      this.chunkHash = undefined;
      this.verifier?.verifyChunk(this.chunkSignature, hex);
    }
  }

  private onTrailerLine(text: string): void {
    if (text.length === 0) {
      this.finish();
      return;
    }
    if (!this.hasTrailer) throw malformed('trailing headers are not allowed in this payload mode');
    if (this.trailers.length >= MAX_TRAILER_LINES) throw malformed('too many trailing headers');
    const colon = text.indexOf(':');
    if (colon <= 0) throw malformed('trailing header is not of the form name:value');
    this.trailers.push([text.slice(0, colon).trim().toLowerCase(), text.slice(colon + 1).trim()]);
  }

  /** Runs every end-of-body check; the held-back data waits for the end of the input. */
  private finish(): void {
    this.state = State.Done;
    this.verifyTrailerSignature();

    if (this.decodedLength !== undefined && this.total !== this.decodedLength) {
      throw new S3Error(
        'IncompleteBody',
        `The aws-chunked body has ${this.total} bytes, x-amz-decoded-content-length says ${this.decodedLength}.`,
      );
    }

    const expectedName = this.checksumAlgorithm && checksumHeaderName(this.checksumAlgorithm);
    for (const [name] of this.trailers) {
      if (name.startsWith(CHECKSUM_HEADER_PREFIX) && name !== expectedName) {
        throw malformed(`trailing header ${name} was not declared in x-amz-trailer`);
      }
    }
    if (this.checksumAlgorithm && this.checksum && expectedName) {
      const sent = this.trailers.find(([name]) => name === expectedName);
      if (!sent) throw malformed(`the trailing header ${expectedName} is missing`);
      const expected = decodeChecksumValue(this.checksumAlgorithm, sent[1]);
      if (!expected) {
        throw new S3Error('InvalidDigest', `The value of ${expectedName} is not valid.`);
      }
      const actual = this.checksum.digest();
      if (!actual.equals(expected)) {
        throw new S3Error(
          'BadDigest',
          `The ${this.checksumAlgorithm} you specified did not match the calculated checksum.`,
        );
      }
      this.trailerChecksum = {
        algorithm: this.checksumAlgorithm,
        value: actual.toString('base64'),
      };
      this.emit('checksum', this.trailerChecksum);
    }
  }

  private verifyTrailerSignature(): void {
    if (!this.verifier || !this.hasTrailer) return;
    const signatureLine = this.trailers.find(([name]) => name === TRAILER_SIGNATURE_HEADER);
    if (!signatureLine) {
      throw malformed(`the trailing header ${TRAILER_SIGNATURE_HEADER} is missing`);
    }
    if (!SIGNATURE_RE.test(signatureLine[1])) {
      throw malformed(`${TRAILER_SIGNATURE_HEADER} is not a hex SHA-256 signature`);
    }
    const canonical = this.trailers
      .filter(([name]) => name !== TRAILER_SIGNATURE_HEADER)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, value]) => `${name}:${value}\n`)
      .join('');
    this.verifier.verifyTrailer(signatureLine[1], canonical);
  }
}

/** Extracts `chunk-signature=<hex>` from a chunk header's extensions. */
function parseChunkSignature(extensions: string): string {
  for (const ext of extensions.split(';')) {
    const eq = ext.indexOf('=');
    if (eq > 0 && ext.slice(0, eq).trim() === 'chunk-signature') {
      const signature = ext.slice(eq + 1).trim();
      if (!SIGNATURE_RE.test(signature)) throw malformed('chunk-signature is not a hex SHA-256');
      return signature;
    }
  }
  throw malformed('a signed chunk has no chunk-signature');
}

function malformed(detail: string): S3Error {
  return new S3Error('InvalidRequest', `Malformed aws-chunked body: ${detail}.`);
}
