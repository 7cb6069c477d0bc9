/**
 * The data path of PutObject and UploadPart without the AWS SDK: one SigV4-signed HTTP PUT on
 * the route's keep-alive agent. A CPU profile of small uploads put about 30 % of the gateway's
 * work per request in the SDK's middleware stack, endpoint resolution and serde; this does the
 * same wire work directly. It is used only where it is simple to be exactly right: an explicit
 * endpoint and static keys. CreateMultipartUpload goes this way too, because it carries the
 * object's headers: the client's header bytes are signed and sent as they came (the SDK would
 * sign a UTF-8 metadata value over other bytes than it sends, and the backend would refuse it).
 * The other control calls stay on the SDK client.
 */
import * as http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import {
  type ChecksumAlgorithmName,
  CHECKSUM_HEADERS,
  type ObjectAttributes,
  unescapeXml,
} from '@mizuchi/s3-protocol';
import { EMPTY_SHA256, escapeUriComponent, RequestSigner, signedQueryString } from '@mizuchi/sigv4';
import { type HttpTarget, httpTarget, requestTo } from '../common/http-target';
import { type ClientTarget, startClientSpan } from '../observability/tracing/client-span';
import type { S3BackendConfig } from './s3-client.factory';

/** S3's path encoding: every byte but unreserved characters, '/' kept between segments. */
export function encodeKeyPath(key: string): string {
  return key.split('/').map(escapeUriComponent).join('/');
}

/** The request headers that carry an object's attributes (the SDK's PutObject serialisation). */
export function attributeHeaders(attrs: ObjectAttributes): Record<string, string> {
  const headers: Record<string, string> = {};
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined) headers[name] = value;
  };
  set('content-type', attrs.contentType);
  set('content-encoding', attrs.contentEncoding);
  set('content-disposition', attrs.contentDisposition);
  set('content-language', attrs.contentLanguage);
  set('cache-control', attrs.cacheControl);
  if (attrs.expires !== undefined) {
    const expires = new Date(attrs.expires);
    if (!Number.isNaN(expires.getTime())) headers.expires = expires.toUTCString();
  }
  set('content-md5', attrs.contentMd5);
  for (const [name, value] of Object.entries(attrs.metadata)) headers[`x-amz-meta-${name}`] = value;
  for (const [name, value] of Object.entries(attrs.optional)) set(name, value);
  if (attrs.checksum !== undefined) {
    headers[CHECKSUM_HEADERS[attrs.checksum.algorithm]] = attrs.checksum.value;
  }
  return headers;
}

/** One PUT of a body. */
export interface LeanPut {
  key: string;
  /** uploadId and partNumber for UploadPart. */
  query?: Record<string, string>;
  headers: Record<string, string>;
  body: Readable;
  contentLength: number;
  signal?: AbortSignal;
  payloadSha256?: string;
}

/** One CreateMultipartUpload: the object's key and the headers of its attributes. */
export interface LeanCreate {
  key: string;
  headers: Record<string, string>;
}

/** What the backend answered. */
export interface LeanAnswer {
  headers: http.IncomingHttpHeaders;
}

/**
 * How long an upload that was aborted (shutdown, a client gone) after its whole body was sent
 * still waits for the backend's answer, which says whether the object was stored.
 */
const ANSWER_AFTER_ABORT_MS = 10_000;

/** The error shape mapBackendError reads (the SDK's service exceptions have the same). */
interface BackendFailure extends Error {
  Code?: string;
  code?: string;
  $metadata: { httpStatusCode?: number; requestId?: string };
}

function xmlField(xml: string, name: string): string | undefined {
  const match = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return match?.[1];
}

/** The text of an XML element of a backend's answer, its references decoded. */
function xmlText(xml: string, name: string): string | undefined {
  const raw = xmlField(xml, name);
  return raw === undefined
    ? undefined
    : unescapeXml(
        raw,
        (detail) => new Error(`the backend's <${name}> is not valid XML text: ${detail}`),
      );
}

/** The backend's error answer as the error mapBackendError reads. */
function backendFailure(res: http.IncomingMessage, xml: string): BackendFailure {
  const status = res.statusCode ?? 0;
  const code = xmlField(xml, 'Code') ?? (status >= 500 ? 'InternalError' : 'UnknownError');
  const failure = new Error(xmlField(xml, 'Message') ?? `HTTP ${status}`) as BackendFailure;
  failure.name = code;
  failure.Code = code;
  failure.$metadata = {
    httpStatusCode: status,
    requestId: res.headers['x-amz-request-id'] as string | undefined,
  };
  return failure;
}

/** Backoff between attempts of a control request: as the SDK's standard retry strategy. */
const BASE_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 20_000;

/** Sends signed PUTs (PutObject, UploadPart) and CreateMultipartUpload's POST to one bucket. */
export class LeanDataClient {
  private readonly signer: RequestSigner;
  private readonly base: URL;
  /** Where the requests go, through the agent of the endpoint's scheme. */
  private readonly endpoint: HttpTarget;
  private readonly target: ClientTarget;
  /** The Host header of every PUT: the endpoint's, or the bucket's virtual host. */
  private readonly host: string;
  /** What every object path starts with: the endpoint's path, and the bucket when path-style. */
  private readonly pathPrefix: string;

  constructor(
    private readonly cfg: S3BackendConfig & {
      endpoint: string;
      access_key: string;
      secret_key: string;
    },
    agent: http.Agent,
  ) {
    this.base = new URL(cfg.endpoint);
    this.endpoint = httpTarget(this.base, agent);
    const scheme = this.base.protocol === 'https:' ? 'https' : 'http';
    this.target = {
      scheme,
      host: this.endpoint.hostname,
      port: this.base.port === '' ? (scheme === 'https' ? 443 : 80) : Number(this.base.port),
    };
    const endpointPath = this.base.pathname.replace(/\/+$/, '');
    this.host = cfg.force_path_style ? this.base.host : `${cfg.bucket}.${this.base.host}`;
    this.pathPrefix = cfg.force_path_style
      ? `${endpointPath}/${encodeKeyPath(cfg.bucket)}`
      : endpointPath;
    this.signer = new RequestSigner({
      service: 's3',
      region: cfg.region,
      accessKeyId: cfg.access_key,
      secretAccessKey: cfg.secret_key,
    });
  }

  /** Whether a route's backend settings allow the lean path. */
  static supports(
    cfg: S3BackendConfig,
  ): cfg is S3BackendConfig & { endpoint: string; access_key: string; secret_key: string } {
    return (
      cfg.endpoint !== undefined && cfg.access_key !== undefined && cfg.secret_key !== undefined
    );
  }

  /**
   * CreateMultipartUpload: a signed `POST ?uploads` carrying the object's headers. Resolves with
   * the backend's UploadId. Like the SDK's control calls it is tried up to `max_attempts` times
   * when no answer came (reset, refused, timed out) or the answer was a 5xx or 429, with full
   * jitter backoff; nothing else is retried.
   */
  async createMultipart(input: LeanCreate): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.createMultipartOnce(input);
      } catch (err) {
        if (attempt >= this.cfg.max_attempts) throw err;
        const status = (err as Partial<BackendFailure>).$metadata?.httpStatusCode;
        if (status !== undefined && status < 500 && status !== 429) throw err;
        await delay(Math.random() * Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** attempt));
      }
    }
  }

  private createMultipartOnce(input: LeanCreate): Promise<string> {
    const headers = requestHeaders(input.headers, '0', EMPTY_SHA256);
    return new Promise<string>((resolve, reject) => {
      const req = this.open('POST', input.key, { uploads: '' }, headers, (res) =>
        readText(
          res,
          (xml) => {
            const status = res.statusCode ?? 0;
            if (status < 200 || status >= 300) return reject(backendFailure(res, xml));
            const uploadId = xmlText(xml, 'UploadId');
            if (uploadId === undefined || uploadId === '') {
              reject(new Error('the backend answered CreateMultipartUpload without an UploadId'));
            } else {
              resolve(uploadId);
            }
          },
          reject,
        ),
      );
      req.on('error', reject);
      req.end();
    });
  }

  async put(input: LeanPut): Promise<LeanAnswer> {
    const headers = requestHeaders(
      input.headers,
      String(input.contentLength),
      input.payloadSha256 ?? 'UNSIGNED-PAYLOAD',
    );
    return new Promise<LeanAnswer>((resolve, reject) => {
      const req = this.open('PUT', input.key, input.query, headers, (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          res.resume();
          res.on('end', () => resolve({ headers: res.headers }));
          res.on('error', reject);
          return;
        }
        readText(res, (xml) => reject(backendFailure(res, xml)), reject);
      });
      const idleMs = this.cfg.timeout_seconds * 1000;
      let sent = false;
      // Once the whole body is sent, the backend may already have stored the object: cutting
      // the request then would only hide that from the client. Its answer decides instead, if
      // it comes soon.
      const onAbort = () => {
        if (sent) req.setTimeout(Math.min(idleMs, ANSWER_AFTER_ABORT_MS));
        else req.destroy(toError(input.signal?.reason));
      };
      if (input.signal?.aborted === true) onAbort();
      else input.signal?.addEventListener('abort', onAbort, { once: true });
      req.on('close', () => input.signal?.removeEventListener('abort', onAbort));
      req.on('finish', () => {
        sent = true;
        // A spliced body moves past Node, which turns the socket's timeout off meanwhile: the
        // wait for the answer gets its deadline back.
        req.setTimeout(idleMs);
      });
      req.on('error', reject);
      input.body.on('error', (err) => req.destroy(err));
      input.body.pipe(req);
    });
  }

  /**
   * A signed request for the object `key` (`headers` must hold its content-length and payload
   * hash), with a client span of its own under an upload span and the route's idle timeout.
   * `onResponse` gets the backend's answer.
   */
  private open(
    method: 'PUT' | 'POST',
    key: string,
    query: Record<string, string> | undefined,
    headers: Record<string, string>,
    onResponse: (res: http.IncomingMessage) => void,
  ): http.ClientRequest {
    const path = `${this.pathPrefix}/${encodeKeyPath(key)}`;
    const queryString = signedQueryString(query);
    headers.host = this.host;
    Object.assign(headers, this.signer.sign({ method, path, query: queryString, headers }));
    // Under an upload span: its traceparent (sent unsigned), and a client span of its own when
    // the request is sampled.
    const span = startClientSpan(method, this.target);
    if (span !== undefined) Object.assign(headers, span.headers);
    let answered: number | undefined;
    const req = requestTo(
      this.endpoint,
      method,
      queryString === '' ? path : `${path}?${queryString}`,
      headers,
      (res) => {
        answered = res.statusCode ?? 0;
        onResponse(res);
      },
    );
    if (span?.recording === true) {
      let requestError: Error | undefined;
      req.on('error', (err) => (requestError ??= err));
      req.once('close', () =>
        span.end(
          requestError === undefined && answered !== undefined
            ? { status: answered }
            : { error: requestError ?? new Error('the backend connection closed') },
        ),
      );
    }
    req.on('timeout', () => {
      const timeout = new Error('the backend did not answer in time');
      timeout.name = 'TimeoutError';
      req.destroy(timeout);
    });
    req.setTimeout(this.cfg.timeout_seconds * 1000);
    return req;
  }
}

/**
 * The headers of a backend request: the object's, its length and its payload hash. A fresh copy
 * that open() extends further; copied rather than spread, since on Node 20 (V8 11.3) adding
 * properties to an object built by a leading spread makes a new hidden class on every call.
 */
function requestHeaders(
  objectHeaders: Record<string, string>,
  contentLength: string,
  payloadHash: string,
): Record<string, string> {
  const headers: Record<string, string> = Object.assign({}, objectHeaders);
  headers['content-length'] = contentLength;
  headers['x-amz-content-sha256'] = payloadHash;
  return headers;
}

/** Reads a (small) answer body to its end as UTF-8. */
function readText(
  res: http.IncomingMessage,
  done: (text: string) => void,
  fail: (err: Error) => void,
): void {
  const chunks: Buffer[] = [];
  res.on('data', (chunk: Buffer) => chunks.push(chunk));
  res.on('error', fail);
  res.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
}

function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error('the upload was aborted');
}

/** The checksum an answer confirms, if the request carried one. */
export function answeredChecksum(
  headers: http.IncomingHttpHeaders,
  algorithm: ChecksumAlgorithmName | undefined,
): { algorithm: ChecksumAlgorithmName; value: string } | undefined {
  if (algorithm === undefined) return undefined;
  const value = headers[CHECKSUM_HEADERS[algorithm]];
  return typeof value === 'string' ? { algorithm, value } : undefined;
}
