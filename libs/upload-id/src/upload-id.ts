/**
 * Bound upload ids (DESIGN.md §1): the UploadId a client sees carries the backend's id plus an
 * HMAC over (principal, route, key, backend id) under a server secret. Any replica holding the
 * secret can verify it, without shared state; an id for another principal, route or key, or a
 * forged one, is refused before the backend is asked.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Who and where an upload id was issued for. */
export interface UploadBinding {
  principal: string;
  route: string;
  key: string;
}

const VERSION = 'm1';
const MAC_BYTES = 16;

function mac(secret: Buffer, binding: UploadBinding, backendId: string): Buffer {
  const h = createHmac('sha256', secret);
  // Length-prefix every field so that no two different tuples serialise alike.
  for (const field of [VERSION, binding.principal, binding.route, binding.key, backendId]) {
    const bytes = Buffer.from(field, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(bytes.length);
    h.update(len).update(bytes);
  }
  return h.digest().subarray(0, MAC_BYTES);
}

/** Issues and verifies bound upload ids with one secret. */
export class UploadIdCodec {
  private readonly secret: Buffer;

  constructor(secret: string | Buffer) {
    this.secret = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
    if (this.secret.length < 16) throw new Error('upload id secret must have at least 16 bytes');
  }

  /** The opaque id to give the client for a backend upload id. */
  bind(binding: UploadBinding, backendId: string): string {
    const tag = mac(this.secret, binding, backendId).toString('base64url');
    return `${VERSION}.${Buffer.from(backendId, 'utf8').toString('base64url')}.${tag}`;
  }

  /** The backend upload id inside `uploadId`, or undefined when it was not issued for `binding`. */
  verify(binding: UploadBinding, uploadId: string): string | undefined {
    const parts = uploadId.split('.');
    if (parts.length !== 3 || parts[0] !== VERSION) return undefined;
    const [, encodedId, encodedTag] = parts as [string, string, string];
    if (!/^[A-Za-z0-9_-]+$/.test(encodedId) || !/^[A-Za-z0-9_-]+$/.test(encodedTag)) {
      return undefined;
    }
    const backendId = Buffer.from(encodedId, 'base64url').toString('utf8');
    // Reject ids whose base64url is not canonical: one id must have exactly one spelling.
    if (Buffer.from(backendId, 'utf8').toString('base64url') !== encodedId) return undefined;
    const tag = Buffer.from(encodedTag, 'base64url');
    if (tag.length !== MAC_BYTES || tag.toString('base64url') !== encodedTag) return undefined;
    return timingSafeEqual(tag, mac(this.secret, binding, backendId)) ? backendId : undefined;
  }
}
