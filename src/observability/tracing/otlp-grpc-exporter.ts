/**
 * OTLP over gRPC (`tracing.otlp.protocol: grpc`): the collector's TraceService/Export method,
 * called over one HTTP/2 connection with node:http2. A unary gRPC call is a POST whose body is
 * the message behind a five-byte prefix (compressed flag, big-endian length); the outcome is the
 * `grpc-status` trailer, or header in a trailers-only answer. One attempt per call and no retries
 * of its own: ResilientExporter decides those.
 * @see https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md
 * @see https://opentelemetry.io/docs/specs/otlp/#otlpgrpc
 */
import * as http2 from 'node:http2';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { toError } from '../../common/to-error';
import type { BatchExporter } from './bounded-batch-processor';
import { type EncodedSpan, exportBody } from './otlp-protobuf';

/** The collector's trace export method. */
export const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

/** Settings of an OtlpGrpcExporter. */
export interface OtlpGrpcOptions {
  /** The collector's URL, e.g. http://localhost:4317 (https for TLS). */
  endpoint: string;
  timeoutMs: number;
  compression: 'gzip' | 'none';
  /** The body of the Resource message every export carries (encodeResource). */
  resource: Buffer;
}

/** A gRPC status other than OK, as an error. */
function grpcError(status: string, message: string | undefined): Error {
  const detail = message === undefined ? '' : `: ${decodeURIComponent(message)}`;
  return new Error(`the collector answered gRPC status ${status}${detail}`);
}

function header(headers: http2.IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Sends span batches to an OTLP/gRPC collector. */
export class OtlpGrpcExporter implements BatchExporter<EncodedSpan> {
  private readonly origin: string;
  private session: http2.ClientHttp2Session | undefined;

  constructor(private readonly options: OtlpGrpcOptions) {
    this.origin = new URL(options.endpoint).origin;
  }

  export(spans: EncodedSpan[], done: (result: ExportResult) => void): void {
    let message: Buffer;
    try {
      message = exportBody(this.options.resource, spans, this.options.compression);
    } catch (error) {
      done({ code: ExportResultCode.FAILED, error: toError(error) });
      return;
    }
    const prefix = Buffer.alloc(5);
    prefix[0] = this.options.compression === 'gzip' ? 1 : 0;
    prefix.writeUInt32BE(message.length, 1);
    this.call(Buffer.concat([prefix, message])).then(
      () => done({ code: ExportResultCode.SUCCESS }),
      (error: unknown) => done({ code: ExportResultCode.FAILED, error: toError(error) }),
    );
  }

  shutdown(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    if (session === undefined || session.closed) return Promise.resolve();
    return new Promise<void>((resolve) => session.close(resolve));
  }

  /** The open connection, or a new one; it never keeps the process alive on its own. */
  private connect(): http2.ClientHttp2Session {
    const current = this.session;
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    const session = http2.connect(this.origin);
    // Failures reach the stream that was waiting; the session only has to be forgotten.
    session.on('error', () => undefined);
    session.on('close', () => {
      if (this.session === session) this.session = undefined;
    });
    session.unref();
    this.session = session;
    return session;
  }

  private call(body: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const headers: http2.OutgoingHttpHeaders = {
        ':method': 'POST',
        ':path': EXPORT_PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': `${Math.max(1, Math.ceil(this.options.timeoutMs))}m`,
        'grpc-accept-encoding': 'identity,gzip',
      };
      if (this.options.compression === 'gzip') headers['grpc-encoding'] = 'gzip';
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.connect().request(headers);
      } catch (error) {
        reject(toError(error));
        return;
      }
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error === undefined) resolve();
        else reject(error);
        if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
      };
      const timer = setTimeout(
        () => settle(new Error(`no answer from the collector within ${this.options.timeoutMs} ms`)),
        this.options.timeoutMs,
      );
      timer.unref();
      let status: string | undefined;
      let statusMessage: string | undefined;
      const read = (fields: http2.IncomingHttpHeaders) => {
        status = header(fields, 'grpc-status') ?? status;
        statusMessage = header(fields, 'grpc-message') ?? statusMessage;
      };
      stream.on('response', (fields) => {
        const httpStatus = Number(fields[':status']);
        if (httpStatus !== 200) {
          settle(new Error(`the collector answered HTTP ${httpStatus} to a gRPC call`));
          return;
        }
        read(fields);
      });
      stream.on('trailers', read);
      stream.on('data', () => undefined);
      stream.on('error', (error: Error) => settle(error));
      stream.on('close', () => {
        if (status === '0') settle();
        else if (status !== undefined) settle(grpcError(status, statusMessage));
        else settle(new Error('the gRPC call ended without a status'));
      });
      stream.end(body);
    });
  }
}
