/**
 * The one S3 error table of the gateway, and the error type every layer throws.
 * Codes and statuses follow https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
 * Two gateway codes (BadGateway, GatewayTimeout) name backend failures that AWS has no code for.
 */

/** Every S3 error code the gateway can answer with, mapped to its HTTP status and default message. */
export const S3_ERRORS = {
  AccessDenied: { status: 403, message: 'Access Denied' },
  AccessForbidden: { status: 403, message: 'CORSResponse: This CORS request is not allowed.' },
  AuthorizationHeaderMalformed: {
    status: 400,
    message: 'The authorization header that you provided is not valid.',
  },
  BadDigest: {
    status: 400,
    message:
      'The Content-MD5 or checksum value that you specified did not match what was received.',
  },
  EntityTooLarge: {
    status: 400,
    message: 'Your proposed upload exceeds the maximum allowed object size.',
  },
  EntityTooSmall: {
    status: 400,
    message: 'Your proposed upload is smaller than the minimum allowed object size.',
  },
  IncompleteBody: {
    status: 400,
    message: 'You did not provide the number of bytes specified by the Content-Length HTTP header.',
  },
  InternalError: {
    status: 500,
    message: 'We encountered an internal error. Please try again.',
  },
  InvalidAccessKeyId: {
    status: 403,
    message: 'The AWS access key ID that you provided does not exist in our records.',
  },
  InvalidArgument: { status: 400, message: 'Invalid Argument' },
  InvalidBucketName: { status: 400, message: 'The specified bucket is not valid.' },
  InvalidDigest: {
    status: 400,
    message: 'The Content-MD5 or checksum value that you specified is not valid.',
  },
  InvalidPart: {
    status: 400,
    message: 'One or more of the specified parts could not be found.',
  },
  InvalidPartOrder: {
    status: 400,
    message: 'The list of parts was not in ascending order.',
  },
  InvalidRequest: { status: 400, message: 'Invalid Request' },
  InvalidURI: { status: 400, message: "Couldn't parse the specified URI." },
  KeyTooLongError: { status: 400, message: 'Your key is too long.' },
  MalformedXML: {
    status: 400,
    message:
      'The XML that you provided was not well formed or did not validate against our published schema.',
  },
  MethodNotAllowed: {
    status: 405,
    message:
      'This gateway is upload-only: the specified method is not allowed against this resource.',
  },
  MissingContentLength: {
    status: 411,
    message: 'You must provide the Content-Length HTTP header.',
  },
  NoSuchBucket: { status: 404, message: 'The specified bucket does not exist.' },
  NoSuchUpload: {
    status: 404,
    message:
      'The specified multipart upload does not exist. The upload ID might not be valid, or the multipart upload might have been aborted or completed.',
  },
  NotImplemented: {
    status: 501,
    message: 'A header that you provided asks for functionality this gateway does not provide.',
  },
  RequestHeaderSectionTooLarge: {
    status: 400,
    message: 'Your request header section exceeds the maximum allowed size.',
  },
  RequestTimeout: {
    status: 400,
    message:
      'Your socket connection to the server was not read from or written to within the timeout period.',
  },
  RequestTimeTooSkewed: {
    status: 403,
    message: "The difference between the request time and the server's time is too large.",
  },
  SignatureDoesNotMatch: {
    status: 403,
    message:
      'The request signature that the server calculated does not match the signature that you provided.',
  },
  SlowDown: { status: 503, message: 'Please reduce your request rate.' },
  ServiceUnavailable: {
    status: 503,
    message: 'The storage backend is unavailable. Please try again.',
  },
  XAmzContentSHA256Mismatch: {
    status: 400,
    message: "The provided 'x-amz-content-sha256' header does not match what was computed.",
  },
  BadGateway: {
    status: 502,
    message: 'The storage backend returned an error. Please try again.',
  },
  GatewayTimeout: {
    status: 504,
    message: 'The storage backend did not answer in time. Please try again.',
  },
} as const satisfies Record<string, { status: number; message: string }>;

/** An S3 error code known to the gateway. */
export type S3ErrorCode = keyof typeof S3_ERRORS;

/** Options that refine an S3Error beyond its table entry. */
export interface S3ErrorOptions {
  /** Extra response headers, e.g. Retry-After for SlowDown. */
  headers?: Record<string, string>;
  /** The underlying cause, kept for logs and never rendered to the client. */
  cause?: unknown;
  /** A status other than the table's, e.g. 401 for a bearer-token AccessDenied. */
  status?: number;
}

/** An error that renders as an S3 XML error response. */
export class S3Error extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(
    readonly code: S3ErrorCode,
    message?: string,
    options: S3ErrorOptions = {},
  ) {
    super(message ?? S3_ERRORS[code].message, { cause: options.cause });
    this.name = 'S3Error';
    this.status = options.status ?? S3_ERRORS[code].status;
    this.headers = options.headers ?? {};
  }
}

/** True for any string that names an entry of the error table. */
export function isS3ErrorCode(code: string): code is S3ErrorCode {
  return Object.prototype.hasOwnProperty.call(S3_ERRORS, code);
}
