/**
 * Classifies a request as one of the upload operations the gateway allows, or refuses it.
 * The gateway is upload-only: reads, listings, deletes, copies and every other sub-resource are
 * refused before anything touches a backend.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html
 */
import { S3Error } from './errors';

/** The S3 operations the gateway serves. */
export type S3Operation =
  | 'PutObject'
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'ListParts'
  | 'HeadBucket';

/** What the classifier needs to know about a request. */
export interface OperationRequest {
  method: string;
  /** Whether the path names an object (a non-empty key after the bucket). */
  hasKey: boolean;
  /** The decoded query parameters, in order; a valueless `?uploads` has the value ''. */
  query: ReadonlyArray<readonly [string, string]>;
  /** Lower-case header names present on the request. */
  headerNames: ReadonlySet<string>;
  /** Extra parameters that select nothing, e.g. a route's JWT query-parameter token source. */
  neutralParams?: ReadonlySet<string>;
}

// Parameters that never select a sub-resource: the SDKs' `x-id` operation hint and the
// presigned-URL authentication parameters (X-Amz-Algorithm, X-Amz-Signature, ...).
function isNeutralParam(name: string): boolean {
  const lower = name.toLowerCase();
  return lower === 'x-id' || lower.startsWith('x-amz-');
}

// Per operation: the parameters it requires and the optional ones it accepts.
const SHAPES: ReadonlyArray<{
  method: string;
  operation: S3Operation;
  required: readonly string[];
  optional: readonly string[];
}> = [
  { method: 'PUT', operation: 'UploadPart', required: ['partNumber', 'uploadId'], optional: [] },
  { method: 'PUT', operation: 'PutObject', required: [], optional: [] },
  { method: 'POST', operation: 'CreateMultipartUpload', required: ['uploads'], optional: [] },
  { method: 'POST', operation: 'CompleteMultipartUpload', required: ['uploadId'], optional: [] },
  { method: 'DELETE', operation: 'AbortMultipartUpload', required: ['uploadId'], optional: [] },
  {
    method: 'GET',
    operation: 'ListParts',
    required: ['uploadId'],
    optional: ['max-parts', 'part-number-marker', 'encoding-type'],
  },
];

const REFUSAL =
  'This gateway is upload-only: it accepts PutObject and multipart uploads, and refuses reads, listings, deletes, copies and sub-resources.';

function refuse(what: string): S3Error {
  return new S3Error('MethodNotAllowed', `${what} is not allowed. ${REFUSAL}`);
}

/**
 * Returns the allowed S3 operation for a request, or throws 405 MethodNotAllowed naming why.
 * Any query parameter that is not part of the operation's shape counts as a sub-resource.
 */
export function classifyOperation(req: OperationRequest): S3Operation {
  const method = req.method.toUpperCase();
  // A presigner hoists x-amz-* headers into the query, so a copy can arrive either way.
  const copyInQuery = req.query.some(([name]) =>
    name.toLowerCase().startsWith('x-amz-copy-source'),
  );
  if (req.headerNames.has('x-amz-copy-source') || copyInQuery) {
    throw refuse('Copying (x-amz-copy-source)');
  }
  const names = new Set(
    req.query
      .map(([name]) => name)
      .filter((name) => !isNeutralParam(name) && req.neutralParams?.has(name) !== true),
  );

  if (!req.hasKey) {
    if (method === 'HEAD' && names.size === 0) return 'HeadBucket';
    throw refuse(bucketRefusal(method, names));
  }

  for (const shape of SHAPES) {
    if (shape.method !== method) continue;
    if (!shape.required.every((name) => names.has(name))) continue;
    const extra = [...names].filter(
      (name) => !shape.required.includes(name) && !shape.optional.includes(name),
    );
    if (extra.length === 0) return shape.operation;
    throw refuse(`The sub-resource ?${extra[0]}`);
  }
  throw refuse(objectRefusal(method, names));
}

function bucketRefusal(method: string, names: ReadonlySet<string>): string {
  if (method === 'GET' || method === 'HEAD') {
    return names.has('uploads') ? 'Listing multipart uploads' : 'Listing or reading a bucket';
  }
  if (method === 'POST' && names.has('delete')) return 'Deleting objects';
  if (method === 'PUT') return 'Creating or configuring a bucket';
  if (method === 'DELETE') return 'Deleting a bucket';
  return `${method} on a bucket`;
}

function objectRefusal(method: string, names: ReadonlySet<string>): string {
  const first = [...names][0];
  if (first !== undefined) return `The sub-resource ?${first}`;
  switch (method) {
    case 'GET':
      return 'Reading an object (GetObject)';
    case 'HEAD':
      return 'Reading object metadata (HeadObject)';
    case 'DELETE':
      return 'Deleting an object (DeleteObject)';
    case 'POST':
      return 'POST without ?uploads or ?uploadId';
    default:
      return `The method ${method}`;
  }
}

/** Splits a raw request URL (as received) into its still-encoded path and query. */
export function splitRawUrl(url: string): { rawPath: string; rawQuery: string } {
  const q = url.indexOf('?');
  return q === -1
    ? { rawPath: url, rawQuery: '' }
    : { rawPath: url.slice(0, q), rawQuery: url.slice(q + 1) };
}

/** Parses the query string of a raw request URL, decoding names and values once. */
export function parseQuery(rawQuery: string): Array<[string, string]> {
  if (rawQuery === '') return [];
  return rawQuery
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq === -1 ? pair : pair.slice(0, eq);
      const value = eq === -1 ? '' : pair.slice(eq + 1);
      return [decodeQueryComponent(name), decodeQueryComponent(value)];
    });
}

function decodeQueryComponent(text: string): string {
  try {
    // `+` stays a plus, as SigV4 canonicalisation reads it: S3 clients encode spaces as %20.
    return decodeURIComponent(text);
  } catch (cause) {
    throw new S3Error('InvalidURI', "Couldn't parse the specified URI: bad query string.", {
      cause,
    });
  }
}
