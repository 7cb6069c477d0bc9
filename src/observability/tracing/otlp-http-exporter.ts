/**
 * OTLP/HTTP with protobuf bodies (`POST {endpoint}/v1/traces`), the collector's default
 * protocol. The spans come encoded (otlp-protobuf.ts); an export puts them under the resource.
 * One attempt per call and no retries of its own: ResilientExporter decides those.
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { type HttpTarget, httpTarget, requestTo } from '../../common/http-target';
import { keepAliveAgent } from '../../common/keep-alive';
import { toError } from '../../common/to-error';
import type { BatchExporter } from './bounded-batch-processor';
import { type EncodedSpan, exportBody } from './otlp-protobuf';

/** Settings of an OtlpHttpExporter. */
export interface OtlpHttpOptions {
  /** The collector's base URL, e.g. http://localhost:4318 (a URL ending in /v1/traces is kept). */
  endpoint: string;
  timeoutMs: number;
  compression: 'gzip' | 'none';
  /** The body of the Resource message every export carries (encodeResource). */
  resource: Buffer;
  /** How long a kept-alive connection to the collector may idle (IDLE_CONNECTION_MS). */
  idleMs?: number;
}

/** The traces URL for a collector base URL. */
export function tracesUrl(endpoint: string): URL {
  const url = new URL(endpoint);
  const path = url.pathname.replace(/\/+$/, '');
  url.pathname = path.endsWith('/v1/traces') ? path : `${path}/v1/traces`;
  return url;
}

/** Sends span batches to an OTLP/HTTP collector. */
export class OtlpHttpExporter implements BatchExporter<EncodedSpan> {
  private readonly url: URL;
  private readonly target: HttpTarget;

  constructor(private readonly options: OtlpHttpOptions) {
    this.url = tracesUrl(options.endpoint);
    // Exports come every few seconds: an idle connection is closed before the collector's
    // keep-alive timeout can close it under the next export (as the backends' are).
    this.target = httpTarget(this.url, keepAliveAgent(this.url.protocol, 2, options.idleMs));
  }

  export(spans: EncodedSpan[], done: (result: ExportResult) => void): void {
    let body: Buffer;
    try {
      body = exportBody(this.options.resource, spans, this.options.compression);
    } catch (error) {
      done({ code: ExportResultCode.FAILED, error: toError(error) });
      return;
    }
    this.post(body).then(
      () => done({ code: ExportResultCode.SUCCESS }),
      (error: unknown) => done({ code: ExportResultCode.FAILED, error: toError(error) }),
    );
  }

  shutdown(): Promise<void> {
    this.target.agent.destroy();
    return Promise.resolve();
  }

  private post(body: Buffer): Promise<void> {
    const headers: Record<string, string> = {
      'content-type': 'application/x-protobuf',
      'content-length': String(body.length),
    };
    if (this.options.compression === 'gzip') headers['content-encoding'] = 'gzip';
    return new Promise<void>((resolve, reject) => {
      const req = requestTo(
        this.target,
        'POST',
        `${this.url.pathname}${this.url.search}`,
        headers,
        (res) => {
          res.resume();
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve();
            else reject(new Error(`the collector answered HTTP ${status}`));
          });
          res.on('error', reject);
        },
      );
      req.setTimeout(this.options.timeoutMs, () =>
        req.destroy(new Error(`no answer from the collector within ${this.options.timeoutMs} ms`)),
      );
      req.on('error', reject);
      req.end(body);
    });
  }
}
