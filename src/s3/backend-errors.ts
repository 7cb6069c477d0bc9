/**
 * Maps what an S3 backend answers (or fails to answer) onto the gateway's own error table, so a
 * client never sees backend internals: a client mistake passes through with its S3 code, a
 * backend fault becomes 502/503, a backend timeout 504 (DESIGN.md §1).
 */
import { S3Error, isS3ErrorCode, type S3ErrorCode } from '@mizuchi/s3-protocol';

// Backend 4xx codes that describe the client's request: they pass through unchanged. Any other
// 4xx (AccessDenied, NoSuchBucket, InvalidAccessKeyId ...) means the gateway's own backend
// settings are wrong, which the client cannot fix: that is a 502.
const CLIENT_CODES = new Set<S3ErrorCode>([
  'BadDigest',
  'EntityTooLarge',
  'EntityTooSmall',
  'IncompleteBody',
  'InvalidArgument',
  'InvalidDigest',
  'InvalidPart',
  'InvalidPartOrder',
  'InvalidRequest',
  'KeyTooLongError',
  'MalformedXML',
  'MissingContentLength',
  'NoSuchUpload',
  'XAmzContentSHA256Mismatch',
]);

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/** Converts any error thrown by an S3 SDK call into an S3Error for the client. */
export function mapBackendError(err: unknown): S3Error {
  if (err instanceof S3Error) return err;
  const e = (err ?? {}) as SdkErrorShape;
  const status = e.$metadata?.httpStatusCode;
  const code = e.Code ?? e.name ?? '';
  if (e.name === 'TimeoutError' || e.code === 'ETIMEDOUT' || code === 'RequestTimeout') {
    if (status === undefined || status >= 500) {
      return new S3Error('GatewayTimeout', undefined, { cause: err });
    }
  }
  if (status !== undefined && status >= 400 && status < 500) {
    // Multipart calls on an upload the backend no longer knows: Ceph says NoSuchKey.
    if (code === 'NoSuchKey') return new S3Error('NoSuchUpload', undefined, { cause: err });
    if (isS3ErrorCode(code) && CLIENT_CODES.has(code)) {
      return new S3Error(code, e.message, { cause: err });
    }
    return new S3Error('BadGateway', 'The storage backend refused the gateway\u2019s request.', {
      cause: err,
    });
  }
  if (status === 503 || code === 'SlowDown' || code === 'ServiceUnavailable') {
    return new S3Error('SlowDown', undefined, { cause: err, headers: { 'Retry-After': '1' } });
  }
  if (status !== undefined && status >= 500) {
    return new S3Error('BadGateway', undefined, { cause: err });
  }
  const sysCode = systemErrorCode(err);
  if (sysCode !== undefined && UNREACHABLE.has(sysCode)) {
    return new S3Error('ServiceUnavailable', undefined, {
      cause: err,
      headers: { 'Retry-After': '2' },
    });
  }
  return new S3Error('BadGateway', undefined, { cause: err });
}

/**
 * The errno code (ECONNREFUSED ...) of a network failure, wherever it sits: on the error, on a
 * cause, or only in the message, because the SDK wraps values that are not Error instances of
 * this realm into a plain Error that keeps nothing but the text.
 */
function systemErrorCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    const e = current as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof e.code === 'string' && UNREACHABLE.has(e.code)) return e.code;
    if (typeof e.message === 'string') {
      const found = [...UNREACHABLE].find((code) =>
        new RegExp(`\\b${code}\\b`).test(e.message as string),
      );
      if (found !== undefined) return found;
    }
    current = e.cause;
  }
  return undefined;
}
