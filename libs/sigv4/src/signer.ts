/**
 * SigV4 signing of the gateway's own requests to an S3 backend (header form), with the
 * canonicalisation that AWS's SDKs use, so a backend that verified the SDK's signatures verifies
 * these. The signing key is derived once per day instead of once per request.
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
 */
import { createHash, createHmac } from 'node:crypto';
import { canonicalHeaderValue } from './encoding';
import { ALGORITHM, signingKey } from './sigv4';

/**
 * Headers a signature never covers: proxies and clients may add, drop or rewrite them. The same
 * set as the AWS SDKs' signer, plus `proxy-*` and `sec-*`.
 */
const UNSIGNABLE = new Set([
  'authorization',
  'cache-control',
  'connection',
  'expect',
  'from',
  'keep-alive',
  'max-forwards',
  'pragma',
  'referer',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'user-agent',
  'x-amzn-trace-id',
]);

/** Static credentials and the scope they sign for. */
export interface SignerOptions {
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  service: string;
}

/** A request to sign. `path` is sent and signed as given: encode it before (S3 style). */
export interface RequestToSign {
  method: string;
  path: string;
  /**
   * The query string as sent, made by signedQueryString: escaped and sorted, it is also the
   * canonical query, so the caller builds it once for both.
   */
  query?: string;
  /** Lower-case names. Must hold `host` and `x-amz-content-sha256` (the payload hash). */
  headers: Readonly<Record<string, string>>;
  /** When the request is signed; now by default. */
  date?: Date;
}

/** The headers that a signature adds to the request. */
export interface SignatureHeaders {
  'x-amz-date': string;
  authorization: string;
}

/** The SDKs' URI escaping: encodeURIComponent plus the five characters it leaves alone. */
export function escapeUriComponent(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * The query string of a request, escaped as SigV4 wants and sorted by name: the same text serves
 * as the request's query and as the canonical query, so what is sent is what is signed.
 */
export function signedQueryString(query: Readonly<Record<string, string>> | undefined): string {
  if (query === undefined) return '';
  return Object.keys(query)
    .map((name) => [escapeUriComponent(name), escapeUriComponent(query[name])] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

/** YYYYMMDD'T'HHMMSS'Z' */
function amzDate(date: Date): string {
  return date.toISOString().replace(/[-:]|\.\d{3}/g, '');
}

/** Signs requests with one set of static credentials. */
export class RequestSigner {
  private keyDay = '';
  private key: Buffer = Buffer.alloc(0);

  constructor(private readonly options: SignerOptions) {}

  /** The `x-amz-date` and `authorization` headers for a request. */
  sign(request: RequestToSign): SignatureHeaders {
    const longDate = amzDate(request.date ?? new Date());
    const day = longDate.slice(0, 8);
    const payloadHash = request.headers['x-amz-content-sha256'];
    if (payloadHash === undefined) throw new Error('x-amz-content-sha256 must be set');
    // The request's headers and x-amz-date, read in place rather than copied.
    const names = Object.keys(request.headers).filter(
      (name) => name !== 'x-amz-date' && !UNSIGNABLE.has(name) && !/^(proxy|sec)-/.test(name),
    );
    names.push('x-amz-date');
    names.sort();
    const signedHeaders = names.join(';');
    let canonical = `${request.method}\n${request.path}\n${request.query ?? ''}\n`;
    // As the AWS SDK for JavaScript does (the form its backends have verified).
    for (const name of names) {
      const value = name === 'x-amz-date' ? longDate : request.headers[name];
      canonical += `${name}:${canonicalHeaderValue(value, 'blanks')}\n`;
    }
    canonical += `\n${signedHeaders}\n${payloadHash}`;

    const { region, service } = this.options;
    const scope = `${day}/${region}/${service}/aws4_request`;
    // Hashed as the bytes that travel: Node sends header strings as latin-1, and a backend hashes
    // what it received. (The SDKs hash UTF-8, the same bytes for ASCII but not beyond: a
    // no-break space or an accented letter in a metadata value would not verify.)
    const digest = createHash('sha256').update(canonical, 'latin1').digest('hex');
    const stringToSign = `${ALGORITHM}\n${longDate}\n${scope}\n${digest}`;
    if (this.keyDay !== day) {
      this.key = signingKey(this.options.secretAccessKey, day, region, service);
      this.keyDay = day;
    }
    const signature = createHmac('sha256', this.key).update(stringToSign, 'utf8').digest('hex');
    return {
      'x-amz-date': longDate,
      authorization:
        `${ALGORITHM} Credential=${this.options.accessKeyId}/${scope}, ` +
        `SignedHeaders=${signedHeaders}, Signature=${signature}`,
    };
  }
}
