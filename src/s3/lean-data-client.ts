/**
 * The data path of PutObject and UploadPart without the AWS SDK: one SigV4-signed HTTP PUT on
 * the route's keep-alive agent. A CPU profile of small uploads put about 30 % of the gateway's
 * work per request in the SDK's middleware stack, endpoint resolution and serde; this does the
 * same wire work directly. It is used only where it is simple to be exactly right: an explicit
 * endpoint and static keys. Everything else (and every control call) stays on the SDK client.
 */
import * as http from 'node:http';
import type { Readable } from 'node:stream';
import {
  type ChecksumAlgorithmName,
  CHECKSUM_HEADERS,
  type ObjectAttributes,
} from '@mizuchi/s3-protocol';
import { escapeUriComponent, RequestSigner, signedQueryString } from '@mizuchi/sigv4';
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

/** Sends signed PUTs to one bucket. */
export class LeanDataClient {
  private readonly signer: RequestSigner;
  private readonly base: URL;
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
    private readonly agent: http.Agent,
  ) {
    this.base = new URL(cfg.endpoint);
    const scheme = this.base.protocol === 'https:' ? 'https' : 'http';
    this.target = {
      scheme,
      host: this.base.hostname,
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

  async put(input: LeanPut): Promise<LeanAnswer> {
    const path = `${this.pathPrefix}/${encodeKeyPath(input.key)}`;
    const headers: Record<string, string> = {
      ...input.headers,
      host: this.host,
      'content-length': String(input.contentLength),
      'x-amz-content-sha256': input.payloadSha256 ?? 'UNSIGNED-PAYLOAD',
    };
    const query = signedQueryString(input.query);
    Object.assign(headers, this.signer.sign({ method: 'PUT', path, query, headers }));
    // Under an upload span: a client span of its own, and its traceparent (sent unsigned).
    const span = startClientSpan('PUT', this.target);
    const options: http.RequestOptions = {
      protocol: this.base.protocol,
      hostname: this.base.hostname,
      port: this.base.port,
      method: 'PUT',
      path: query === '' ? path : `${path}?${query}`,
      headers: span === undefined ? headers : Object.assign(headers, span.headers),
      // The agent of the endpoint's scheme (https.Agent for https), which ClientRequest uses.
      agent: this.agent,
    };
    return new Promise<LeanAnswer>((resolve, reject) => {
      let answered: number | undefined;
      let requestError: Error | undefined;
      // ClientRequest itself, not http.request: the http instrumentation wraps http.request to
      // make client spans, and these requests make their own (client-span.ts).
      const req = new http.ClientRequest(options, (res) => {
        const status = res.statusCode ?? 0;
        answered = status;
        if (status >= 200 && status < 300) {
          res.resume();
          res.on('end', () => resolve({ headers: res.headers }));
          res.on('error', reject);
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const xml = Buffer.concat(chunks).toString('utf8');
          const code = xmlField(xml, 'Code') ?? (status >= 500 ? 'InternalError' : 'UnknownError');
          const failure = new Error(xmlField(xml, 'Message') ?? `HTTP ${status}`) as BackendFailure;
          failure.name = code;
          failure.Code = code;
          failure.$metadata = {
            httpStatusCode: status,
            requestId: res.headers['x-amz-request-id'] as string | undefined,
          };
          reject(failure);
        });
      });
      if (span !== undefined) {
        req.on('error', (err) => (requestError ??= err));
        req.once('close', () =>
          span.end(
            requestError === undefined && answered !== undefined
              ? { status: answered }
              : { error: requestError ?? new Error('the backend connection closed') },
          ),
        );
      }
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
      req.on('timeout', () => {
        const timeout = new Error('the backend did not answer in time');
        timeout.name = 'TimeoutError';
        req.destroy(timeout);
      });
      req.setTimeout(idleMs);
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
