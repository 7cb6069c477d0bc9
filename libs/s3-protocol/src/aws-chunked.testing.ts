/**
 * Test helper: produces aws-chunked framing the way SigV4 streaming clients do, so decoder
 * tests do not hand-write frames. Not used by production code.
 *
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html
 */
import { createHash } from 'node:crypto';
import { checksumBase64, checksumHeaderName, type ChecksumAlgorithm } from './checksum';

/** Options of {@link encodeAwsChunked}. */
export interface EncodeAwsChunkedOptions {
  /** Data bytes per chunk (the last one may be shorter). Default 65536. */
  chunkSize?: number;
  /** Add `;chunk-signature=` to every chunk header (and a trailer signature with a trailer). */
  signed?: boolean;
  /**
   * Signature for chunk `index` (0-based, the final empty chunk included), given the chunk's
   * SHA-256. Default: a dummy derived from the hash, so signatures differ per chunk.
   */
  sign?: (chunkSha256Hex: string, index: number) => string;
  /** Append a trailer section carrying this checksum of `data`. */
  trailerChecksum?: ChecksumAlgorithm;
  /** Send this base64 value instead of the correct checksum (for mismatch tests). */
  trailerValue?: string;
  /** Further trailer lines, sent before the checksum line. */
  extraTrailers?: Array<[string, string]>;
  /** Value of `x-amz-trailer-signature` when signed with a trailer. Default: a dummy. */
  trailerSignature?: string;
  /** Omit the empty line that closes the trailer section (as some encoders do). */
  omitFinalCrlf?: boolean;
}

/** A 64-hex dummy signature; real ones come from the SigV4 signer. */
export function dummySignature(seed: string): string {
  return createHash('sha256').update(`dummy:${seed}`).digest('hex');
}

/** Frames `data` as an aws-chunked body. */
export function encodeAwsChunked(data: Buffer, opts: EncodeAwsChunkedOptions = {}): Buffer {
  const chunkSize = opts.chunkSize ?? 65536;
  if (chunkSize < 1) throw new RangeError('chunkSize must be positive');
  const sign = opts.sign ?? ((hash: string, index: number) => dummySignature(`${index}:${hash}`));
  const parts: Buffer[] = [];
  let index = 0;
  const header = (chunk: Buffer): string => {
    const size = chunk.length.toString(16);
    if (!opts.signed) return `${size}\r\n`;
    const hash = createHash('sha256').update(chunk).digest('hex');
    return `${size};chunk-signature=${sign(hash, index++)}\r\n`;
  };

  for (let offset = 0; offset < data.length; offset += chunkSize) {
    const chunk = data.subarray(offset, offset + chunkSize);
    parts.push(Buffer.from(header(chunk), 'latin1'), chunk, Buffer.from('\r\n'));
  }
  let tail = header(Buffer.alloc(0));

  const trailers: Array<[string, string]> = [...(opts.extraTrailers ?? [])];
  if (opts.trailerChecksum) {
    trailers.push([
      checksumHeaderName(opts.trailerChecksum),
      opts.trailerValue ?? checksumBase64(opts.trailerChecksum, data),
    ]);
  }
  for (const [name, value] of trailers) tail += `${name}:${value}\r\n`;
  if (opts.signed && trailers.length > 0) {
    tail += `x-amz-trailer-signature:${opts.trailerSignature ?? dummySignature('trailer')}\r\n`;
  }
  if (!opts.omitFinalCrlf) tail += '\r\n';
  parts.push(Buffer.from(tail, 'latin1'));
  return Buffer.concat(parts);
}
