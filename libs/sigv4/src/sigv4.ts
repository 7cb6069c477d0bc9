/**
 * AWS Signature Version 4 verification for S3 requests, header and presigned-query forms, plus
 * the chunk-signature chain of STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER) bodies.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import {
  canonicalHeaderValue,
  canonicalQuery,
  canonicalUri,
  hasOtherWhitespace,
  type WhitespaceStyle,
} from './encoding';

/** The only signing algorithm accepted (SigV4a is not). */
export const ALGORITHM = 'AWS4-HMAC-SHA256';
/** Longest validity of a presigned URL: 7 days, as S3 allows. */
export const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
/** SHA-256 of the empty string, used in chunk strings to sign. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** Why a request failed SigV4 verification, named by its S3 error code. */
export type SigV4ErrorCode =
  | 'AuthorizationHeaderMalformed'
  | 'AccessDenied'
  | 'InvalidAccessKeyId'
  | 'SignatureDoesNotMatch'
  | 'RequestTimeTooSkewed';

/** A SigV4 verification failure. */
export class SigV4Error extends Error {
  constructor(
    readonly code: SigV4ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SigV4Error';
  }
}

/** The parts of a SigV4 credential and signature, from a header or a presigned URL. */
export interface SigV4Claim {
  form: 'header' | 'presigned';
  accessKeyId: string;
  /** YYYYMMDD of the credential scope. */
  scopeDate: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
  /** x-amz-date / X-Amz-Date, `YYYYMMDDTHHMMSSZ`. */
  amzDate: string;
  /** Presigned URLs only: X-Amz-Expires in seconds. */
  expiresSeconds?: number;
  /** The payload hash that was signed. */
  payloadHash: string;
}

/** The request as it arrived, unparsed. */
export interface SigV4Request {
  method: string;
  /** Path exactly as on the wire, still percent-encoded, without the query. */
  rawPath: string;
  /** Query string exactly as on the wire, without `?`. */
  rawQuery: string;
  /** Headers with lower-case names, as Node delivers them. */
  headers: Record<string, string | string[] | undefined>;
}

const CREDENTIAL = /^([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const HEX_SIGNATURE = /^[0-9a-f]{64}$/;

function single(headers: SigV4Request['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function malformed(message: string): SigV4Error {
  return new SigV4Error('AuthorizationHeaderMalformed', message);
}

/** Runs a percent-decoding step; a broken escape is a malformed request, not a crash. */
function decoded<T>(decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof URIError) throw malformed('The request URI is not valid percent-encoding.');
    throw err;
  }
}

function parseCredential(
  credential: string,
): Pick<SigV4Claim, 'accessKeyId' | 'scopeDate' | 'region' | 'service'> {
  const m = CREDENTIAL.exec(credential);
  if (m === null)
    throw malformed('The credential must be <key>/<date>/<region>/<service>/aws4_request.');
  return {
    accessKeyId: m[1],
    scopeDate: m[2],
    region: m[3],
    service: m[4],
  };
}

function parseSignedHeaders(value: string): string[] {
  const names = value.split(';');
  if (names.some((n) => n === '' || n !== n.toLowerCase())) {
    throw malformed('SignedHeaders must be lower-case names separated by semicolons.');
  }
  return names;
}

/** True when the request carries SigV4 in either form. */
export function hasSigV4(req: SigV4Request): boolean {
  const auth = single(req.headers, 'authorization');
  return auth?.startsWith('AWS4-') === true || /(^|&)X-Amz-Algorithm=/.test(req.rawQuery);
}

/** Parses the SigV4 claim of a request (header form, else presigned form); throws when malformed. */
export function parseSigV4(req: SigV4Request): SigV4Claim {
  const auth = single(req.headers, 'authorization');
  if (auth !== undefined && auth.startsWith('AWS4-')) return parseHeaderForm(auth, req);
  return parsePresignedForm(req);
}

function parseHeaderForm(auth: string, req: SigV4Request): SigV4Claim {
  const space = auth.indexOf(' ');
  const algorithm = space === -1 ? auth : auth.slice(0, space);
  if (algorithm !== ALGORITHM) throw malformed(`Only ${ALGORITHM} is supported.`);
  const fields = new Map<string, string>();
  for (const part of auth.slice(space + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq === -1) throw malformed('The authorization header is not name=value pairs.');
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    throw malformed('The authorization header needs Credential, SignedHeaders and Signature.');
  }
  const amzDate = single(req.headers, 'x-amz-date');
  if (amzDate === undefined) throw new SigV4Error('AccessDenied', 'x-amz-date is required.');
  const payloadHash = single(req.headers, 'x-amz-content-sha256');
  if (payloadHash === undefined) {
    throw new SigV4Error('AccessDenied', 'x-amz-content-sha256 is required for SigV4 requests.');
  }
  return {
    form: 'header',
    ...parseCredential(credential),
    signedHeaders: parseSignedHeaders(signedHeaders),
    signature,
    amzDate,
    payloadHash,
  };
}

function parsePresignedForm(req: SigV4Request): SigV4Claim {
  const params = new Map<string, string>();
  for (const part of req.rawQuery.split('&')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    params.set(
      decoded(() => decodeURIComponent(part.slice(0, eq))),
      decoded(() => decodeURIComponent(part.slice(eq + 1))),
    );
  }
  const get = (name: string) => {
    const v = params.get(name);
    if (v === undefined) throw malformed(`The presigned URL lacks ${name}.`);
    return v;
  };
  if (get('X-Amz-Algorithm') !== ALGORITHM) throw malformed(`Only ${ALGORITHM} is supported.`);
  const expires = get('X-Amz-Expires');
  if (!/^\d{1,7}$/.test(expires)) throw malformed('X-Amz-Expires must be a number of seconds.');
  const expiresSeconds = Number(expires);
  if (expiresSeconds > MAX_PRESIGN_SECONDS) {
    throw new SigV4Error(
      'AuthorizationHeaderMalformed',
      'X-Amz-Expires must be at most 604800 seconds (7 days).',
    );
  }
  return {
    form: 'presigned',
    ...parseCredential(get('X-Amz-Credential')),
    signedHeaders: parseSignedHeaders(get('X-Amz-SignedHeaders')),
    signature: get('X-Amz-Signature'),
    amzDate: get('X-Amz-Date'),
    expiresSeconds,
    payloadHash:
      params.get('X-Amz-Content-Sha256') ??
      params.get('x-amz-content-sha256') ??
      'UNSIGNED-PAYLOAD',
  };
}

/** Parses `YYYYMMDDTHHMMSSZ` into a Date, or undefined. */
export function parseAmzDate(value: string): Date | undefined {
  const m = AMZ_DATE.exec(value);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number);
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  // Date.UTC rolls 31 February over into March; a real timestamp survives the round trip.
  const roundTrip = date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  return roundTrip === value ? date : undefined;
}

function sha256Hex(data: string | Buffer, encoding: BufferEncoding = 'utf8'): string {
  return typeof data === 'string'
    ? createHash('sha256').update(data, encoding).digest('hex')
    : createHash('sha256').update(data).digest('hex');
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** The SigV4 signing key for a secret and scope. */
export function signingKey(
  secret: string,
  scopeDate: string,
  region: string,
  service: string,
): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, scopeDate), region), service), 'aws4_request');
}

/** The credential scope string. */
export function credentialScope(
  claim: Pick<SigV4Claim, 'scopeDate' | 'region' | 'service'>,
): string {
  return `${claim.scopeDate}/${claim.region}/${claim.service}/aws4_request`;
}

/**
 * Builds the canonical request that the client must have signed; `style` is how its signer
 * collapsed white space in header values.
 */
export function canonicalRequest(
  req: SigV4Request,
  claim: SigV4Claim,
  style: WhitespaceStyle = 'all',
): string {
  const headerLines = claim.signedHeaders.map((name) => {
    const value = signedHeaderValue(req, name);
    if (value === undefined)
      throw new SigV4Error('SignatureDoesNotMatch', `Signed header ${name} is missing.`);
    return `${name}:${canonicalHeaderValue(value, style)}\n`;
  });
  return [
    req.method.toUpperCase(),
    canonicalUri(req.rawPath),
    canonicalQuery(req.rawQuery, claim.form === 'presigned' ? 'X-Amz-Signature' : undefined),
    headerLines.join(''),
    claim.signedHeaders.join(';'),
    claim.payloadHash,
  ].join('\n');
}

/**
 * How the canonical request's characters become the bytes that are hashed. Node hands header
 * values over one character per received byte, so `'latin1'` hashes the bytes as they arrived,
 * as S3 does (the AWS SDK for JavaScript sends and signs a UTF-8 metadata value so). `'utf8'`
 * re-encodes characters above 0x7f: the reading of a client that sends a character as one byte
 * but signs its UTF-8.
 */
export type CanonicalEncoding = 'latin1' | 'utf8';

/** The string to sign for a request's canonical form. */
export function stringToSign(
  claim: SigV4Claim,
  canonical: string,
  encoding: CanonicalEncoding = 'latin1',
): string {
  return [ALGORITHM, claim.amzDate, credentialScope(claim), sha256Hex(canonical, encoding)].join(
    '\n',
  );
}

/** Hex HMAC-SHA256 signature of a string with a signing key. */
export function sign(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text, 'utf8').digest('hex');
}

/** Compares two hex signatures in constant time. */
export function signaturesEqual(expected: string, given: string): boolean {
  if (!HEX_SIGNATURE.test(given)) return false;
  return timingSafeEqual(Buffer.from(expected, 'hex'), Buffer.from(given, 'hex'));
}

/** What the verifier needs besides the request. */
export interface VerifyOptions {
  /** The secret of the claimed access key, or undefined when the key is unknown. */
  secretFor(accessKeyId: string): string | undefined;
  /** The region the route signs for. */
  region: string;
  /** Allowed clock skew for x-amz-date, in seconds. */
  maxSkewSeconds: number;
  now?: Date;
}

/** A verified request: its claim, and the key and seed signature that chunk signatures chain from. */
export interface VerifiedSigV4 {
  claim: SigV4Claim;
  signingKey: Buffer;
  /** When the signature stops being valid (skew window or presigned expiry). */
  validUntil: Date;
}

/**
 * Verifies a request's SigV4 signature. Throws SigV4Error with the S3 code to answer:
 * InvalidAccessKeyId, SignatureDoesNotMatch, RequestTimeTooSkewed, AccessDenied (an expired
 * presigned URL) or AuthorizationHeaderMalformed.
 */
export function verifySigV4(req: SigV4Request, options: VerifyOptions): VerifiedSigV4 {
  const claim = parseSigV4(req);
  const now = options.now ?? new Date();
  if (claim.service !== 's3')
    throw malformed(`The credential scope must name service s3, not ${claim.service}.`);
  if (claim.region !== options.region) {
    throw malformed(
      `The credential scope names region '${claim.region}'; this endpoint expects '${options.region}'.`,
    );
  }
  const date = parseAmzDate(claim.amzDate);
  if (date === undefined) throw malformed('x-amz-date must be YYYYMMDDTHHMMSSZ.');
  if (claim.amzDate.slice(0, 8) !== claim.scopeDate) {
    throw malformed('The credential scope date does not match x-amz-date.');
  }
  if (!claim.signedHeaders.includes('host')) throw malformed('The host header must be signed.');
  let validUntil: Date;
  if (claim.form === 'presigned') {
    validUntil = new Date(date.getTime() + (claim.expiresSeconds ?? 0) * 1000);
    if (date.getTime() - now.getTime() > options.maxSkewSeconds * 1000) {
      throw new SigV4Error('AccessDenied', 'The presigned URL is not valid yet.');
    }
    if (now > validUntil) throw new SigV4Error('AccessDenied', 'Request has expired');
  } else {
    if (Math.abs(now.getTime() - date.getTime()) > options.maxSkewSeconds * 1000) {
      throw new SigV4Error(
        'RequestTimeTooSkewed',
        "The difference between the request time and the server's time is too large.",
      );
    }
    validUntil = new Date(date.getTime() + options.maxSkewSeconds * 1000);
  }
  const secret = options.secretFor(claim.accessKeyId);
  if (secret === undefined) {
    throw new SigV4Error(
      'InvalidAccessKeyId',
      'The AWS access key ID that you provided does not exist in our records.',
    );
  }
  const key = signingKey(secret, claim.scopeDate, claim.region, claim.service);
  const matchesReading = (style: WhitespaceStyle, encoding: CanonicalEncoding) => {
    const canonical = decoded(() => canonicalRequest(req, claim, style));
    return signaturesEqual(sign(key, stringToSign(claim, canonical, encoding)), claim.signature);
  };
  // Clients collapse white space beyond blanks two ways (WhitespaceStyle), and a few sign the
  // UTF-8 of a character they send as one byte (CanonicalEncoding). The usual reading is tried
  // first; the others only when a signed value could read differently. Each is the client's own
  // signature over the bytes that arrived, which determine it.
  const matches =
    matchesReading('all', 'latin1') ||
    otherReadings(claim.signedHeaders.map((name) => signedHeaderValue(req, name) ?? '')).some(
      ([style, encoding]) => matchesReading(style, encoding),
    );
  if (!matches) {
    throw new SigV4Error(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    );
  }
  return { claim, signingKey: key, validUntil };
}

/** The readings beyond ('all', 'latin1') under which signed header values could differ. */
function otherReadings(
  values: ReadonlyArray<string | string[]>,
): Array<[WhitespaceStyle, CanonicalEncoding]> {
  const styles: WhitespaceStyle[] = values.some((value) => hasOtherWhitespace(value))
    ? ['all', 'blanks']
    : ['all'];
  const encodings: CanonicalEncoding[] = values.some((value) =>
    /[\u0080-\uffff]/.test(String(value)),
  )
    ? ['latin1', 'utf8']
    : ['latin1'];
  return encodings
    .flatMap((encoding) =>
      styles.map((style): [WhitespaceStyle, CanonicalEncoding] => [style, encoding]),
    )
    .slice(1);
}

/**
 * The value of a signed header. Own properties only: Node's req.headers inherits from Object,
 * and a client may sign `constructor` or `__proto__`.
 */
function signedHeaderValue(req: SigV4Request, name: string): string | string[] | undefined {
  return Object.prototype.hasOwnProperty.call(req.headers, name) ? req.headers[name] : undefined;
}

/**
 * Verifies the signature chain of an aws-chunked body: each chunk's signature covers the
 * previous signature (the seed is the request's) and the chunk's SHA-256; the trailer's covers
 * the last chunk signature and the canonical trailer headers.
 */
export class ChunkSignatureChain {
  private previous: string;
  private readonly scope: string;

  constructor(private readonly verified: VerifiedSigV4) {
    this.previous = verified.claim.signature;
    this.scope = credentialScope(verified.claim);
  }

  /** Checks one chunk's signature; throws SigV4Error SignatureDoesNotMatch when it is wrong. */
  verifyChunk(signature: string, chunkSha256Hex: string): void {
    const text = [
      'AWS4-HMAC-SHA256-PAYLOAD',
      this.verified.claim.amzDate,
      this.scope,
      this.previous,
      EMPTY_SHA256,
      chunkSha256Hex,
    ].join('\n');
    this.check(text, signature);
  }

  /** Checks the trailer signature over the canonical trailer headers. */
  verifyTrailer(signature: string, trailerHeaders: string): void {
    const text = [
      'AWS4-HMAC-SHA256-TRAILER',
      this.verified.claim.amzDate,
      this.scope,
      this.previous,
      sha256Hex(trailerHeaders),
    ].join('\n');
    this.check(text, signature);
  }

  private check(text: string, signature: string): void {
    const expected = sign(this.verified.signingKey, text);
    if (!signaturesEqual(expected, signature)) {
      throw new SigV4Error(
        'SignatureDoesNotMatch',
        'A chunk signature of the body does not match.',
      );
    }
    this.previous = signature;
  }
}
