/**
 * Which request headers reach the backend, and which backend headers reach the client
 * (DESIGN.md §1). Everything not listed here is dropped: hop-by-hop headers (RFC 9110 §7.6.1),
 * the client's Authorization, and any header a route has not opted into.
 */
import { S3Error } from './errors';

/** Header values as Node's http module presents them. */
export type RawHeaders = Record<string, string | string[] | undefined>;

/** The S3 checksum algorithms with a request header of their own. */
export const CHECKSUM_HEADERS = {
  CRC32: 'x-amz-checksum-crc32',
  CRC32C: 'x-amz-checksum-crc32c',
  CRC64NVME: 'x-amz-checksum-crc64nvme',
  SHA1: 'x-amz-checksum-sha1',
  SHA256: 'x-amz-checksum-sha256',
} as const;

/** An S3 checksum algorithm name as the API spells it. */
export type ChecksumAlgorithmName = keyof typeof CHECKSUM_HEADERS;

/** Headers a route may opt into forwarding (upload.forwarded_headers). */
export const OPTIONAL_FORWARDED_HEADERS = [
  'x-amz-storage-class',
  'x-amz-server-side-encryption',
  'x-amz-server-side-encryption-aws-kms-key-id',
  'x-amz-server-side-encryption-context',
  'x-amz-server-side-encryption-bucket-key-enabled',
  'x-amz-tagging',
  'x-amz-acl',
] as const;

/** One of the headers a route may opt into forwarding. */
export type OptionalForwardedHeader = (typeof OPTIONAL_FORWARDED_HEADERS)[number];

/** The object attributes a client may set, normalised from its request headers. */
export interface ObjectAttributes {
  contentType?: string;
  contentEncoding?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  cacheControl?: string;
  expires?: string;
  /** Base64 MD5 from Content-MD5; the backend enforces it. */
  contentMd5?: string;
  /** User metadata, names lower-cased and without the x-amz-meta- prefix. */
  metadata: Record<string, string>;
  /** A full-object checksum the client sent as a header, for the backend to enforce. */
  checksum?: { algorithm: ChecksumAlgorithmName; value: string };
  /** Route-enabled extras, by lower-case header name. */
  optional: Partial<Record<OptionalForwardedHeader, string>>;
}

/** The first value of a request header (Node gives arrays only for repeated ones). */
export function firstHeader(headers: RawHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function single(headers: RawHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/**
 * Removes `aws-chunked` from a Content-Encoding list: it describes the transfer framing that the
 * gateway strips, not the stored object.
 */
export function storedContentEncoding(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const codings = value
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '' && c.toLowerCase() !== 'aws-chunked');
  return codings.length > 0 ? codings.join(', ') : undefined;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Reads the forwarded object attributes from request headers.
 * `allowedOptional` lists the extra headers the route forwards; `forcedAcl` replaces x-amz-acl.
 */
export function readObjectAttributes(
  headers: RawHeaders,
  allowedOptional: readonly OptionalForwardedHeader[] = [],
  forcedAcl?: string,
): ObjectAttributes {
  const attrs: ObjectAttributes = {
    contentType: single(headers, 'content-type'),
    contentEncoding: storedContentEncoding(single(headers, 'content-encoding')),
    contentDisposition: single(headers, 'content-disposition'),
    contentLanguage: single(headers, 'content-language'),
    cacheControl: single(headers, 'cache-control'),
    expires: single(headers, 'expires'),
    contentMd5: single(headers, 'content-md5'),
    metadata: {},
    optional: {},
  };
  if (attrs.contentMd5 !== undefined) {
    const md5 = attrs.contentMd5;
    if (!BASE64.test(md5) || Buffer.from(md5, 'base64').length !== 16) {
      throw new S3Error('InvalidDigest', 'The Content-MD5 you specified is not valid base64 MD5.');
    }
  }
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && name.startsWith('x-amz-meta-') && name.length > 11) {
      attrs.metadata[name.slice(11)] = Array.isArray(value) ? value.join(',') : value;
    }
  }
  for (const [algorithm, name] of Object.entries(CHECKSUM_HEADERS) as Array<
    [ChecksumAlgorithmName, string]
  >) {
    const value = single(headers, name);
    if (value === undefined) continue;
    if (attrs.checksum !== undefined) {
      throw new S3Error('InvalidRequest', 'Expecting a single x-amz-checksum- header.');
    }
    if (!BASE64.test(value)) {
      throw new S3Error('InvalidDigest', `The ${name} header is not valid base64.`);
    }
    attrs.checksum = { algorithm, value };
  }
  for (const name of allowedOptional) {
    const value = single(headers, name);
    if (value !== undefined) attrs.optional[name] = value;
  }
  if (forcedAcl !== undefined) attrs.optional['x-amz-acl'] = forcedAcl;
  refuseControlCharacters(attrs);
  return attrs;
}

/** Any control character, the tab included (Node's parser already refuses the others). */
function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/**
 * A tab is legal in an HTTP header value, but SigV4 signers disagree on how to canonicalise it
 * (Ceph does not fold it as the gateway's signer does), so a forwarded value with one would be
 * refused by the backend after the body was sent. It is refused here, up front, naming the header.
 */
function refuseControlCharacters(attrs: ObjectAttributes): void {
  const forwarded: Array<[string, string | undefined]> = [
    ['content-type', attrs.contentType],
    ['content-encoding', attrs.contentEncoding],
    ['content-disposition', attrs.contentDisposition],
    ['content-language', attrs.contentLanguage],
    ['cache-control', attrs.cacheControl],
    ['expires', attrs.expires],
    ...Object.entries(attrs.metadata).map(([name, value]): [string, string] => [
      `x-amz-meta-${name}`,
      value,
    ]),
    ...Object.entries(attrs.optional),
  ];
  for (const [name, value] of forwarded) {
    if (value !== undefined && hasControlCharacter(value)) {
      throw new S3Error(
        'InvalidArgument',
        `The ${name} header contains a tab or another control character.`,
      );
    }
  }
}

/** The outcome of storing an object or part, as headers for the client. */
export interface StoredObjectHeaders {
  etag: string;
  versionId?: string;
  checksum?: { algorithm: ChecksumAlgorithmName; value: string };
  serverSideEncryption?: string;
  sseKmsKeyId?: string;
  bucketKeyEnabled?: boolean;
}

/**
 * Renders what the client is told about a stored object, S3's header names and forms. `checksum`
 * is the one to report, by default the backend's (the gateway may have verified one itself).
 */
export function responseHeaders(
  result: StoredObjectHeaders,
  checksum = result.checksum,
): Record<string, string> {
  const out: Record<string, string> = { ETag: result.etag };
  if (result.versionId !== undefined) out['x-amz-version-id'] = result.versionId;
  if (checksum !== undefined) out[CHECKSUM_HEADERS[checksum.algorithm]] = checksum.value;
  if (result.serverSideEncryption !== undefined) {
    out['x-amz-server-side-encryption'] = result.serverSideEncryption;
  }
  if (result.sseKmsKeyId !== undefined) {
    out['x-amz-server-side-encryption-aws-kms-key-id'] = result.sseKmsKeyId;
  }
  if (result.bucketKeyEnabled !== undefined) {
    out['x-amz-server-side-encryption-bucket-key-enabled'] = String(result.bucketKeyEnabled);
  }
  return out;
}
