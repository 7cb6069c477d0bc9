/**
 * Object key extraction and validation.
 * S3 keys are any UTF-8 up to 1024 bytes; the gateway is stricter so that keys stay safe to log,
 * to route and to map onto a filesystem.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html
 */
import { S3Error } from './errors';

/** The most bytes S3 allows in a key. */
export const MAX_KEY_BYTES = 1024;

// C0 controls and DEL: invisible in logs, and a header-injection risk when echoed back.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Decodes the raw (still percent-encoded) key part of a request path exactly once.
 * Invalid percent-escapes or bytes that are not UTF-8 are refused with 400 InvalidURI.
 */
export function decodeKey(rawKey: string): string {
  try {
    return decodeURIComponent(rawKey);
  } catch (cause) {
    throw new S3Error(
      'InvalidURI',
      "Couldn't parse the specified URI: the key is not valid UTF-8.",
      {
        cause,
      },
    );
  }
}

/**
 * Validates a decoded key: non-empty, at most `maxBytes` UTF-8 bytes, no control characters,
 * and no `.` or `..` segments (which some backends and every filesystem would resolve).
 */
export function validateKey(key: string, maxBytes: number = MAX_KEY_BYTES): void {
  if (key.length === 0) {
    throw new S3Error('InvalidRequest', 'An object key is required: the path names only a bucket.');
  }
  if (Buffer.byteLength(key, 'utf8') > Math.min(maxBytes, MAX_KEY_BYTES)) {
    throw new S3Error(
      'KeyTooLongError',
      `Your key is too long: at most ${Math.min(maxBytes, MAX_KEY_BYTES)} UTF-8 bytes are allowed.`,
    );
  }
  if (CONTROL_CHARS.test(key)) {
    throw new S3Error('InvalidArgument', 'Object keys must not contain control characters.');
  }
  // decodeURIComponent yields well-formed UTF-16 for valid UTF-8, but a key built elsewhere may
  // carry a lone surrogate, which has no UTF-8 form.
  if (LONE_SURROGATE.test(key)) {
    throw new S3Error('InvalidArgument', 'Object keys must be valid UTF-8.');
  }
  for (const segment of key.split('/')) {
    if (segment === '.' || segment === '..') {
      throw new S3Error(
        'InvalidArgument',
        'Object keys must not contain "." or ".." path segments.',
      );
    }
  }
}
