/**
 * ZeroCopyService decides, per request, whether a body is spliced (DESIGN.md §7) and says at
 * start-up which path the gateway takes. Splice is chosen only when all of these hold:
 * - Linux, the addon loaded, `server.zero_copy.enabled` and not `ZERO_COPY=off`;
 * - Node's HTTP internals are what the splice path expects (checked at start-up);
 * - the route's backend is S3 over plain HTTP;
 * - the client connection is plain TCP and the body has a Content-Length of at least
 *   `min_body_bytes`, sent as is (no aws-chunked, no Transfer-Encoding);
 * - nothing must be computed over the body in the gateway: the payload hash is UNSIGNED-PAYLOAD
 *   or a hex SHA-256 that goes into the backend signature (the backend verifies it), Content-MD5
 *   goes to the backend too, and no x-amz-checksum-* header is present.
 * Everything else streams.
 */
import { createServer, type IncomingMessage, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { firstHeader, type RawHeaders } from '@mizuchi/s3-protocol';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { metrics } from '../observability/metrics';
import { missingInternals, socketFd } from './node-internals';
import { spliceAddon } from './splice-addon';
import { SpliceBody } from './splice-body';

/** Which path bodies take, and why. */
export interface ZeroCopyStatus {
  mode: 'splice' | 'stream';
  reason: string;
}

const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** Probes a real loopback request for the Node internals the splice path relies on. */
export async function probeNodeInternals(): Promise<string[]> {
  let missing: string[] = [];
  const server = createServer((req, res) => {
    missing = missingInternals(req.socket);
    req.resume();
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve, reject) => {
      // Under /health, which tracing ignores: the probe makes no span.
      const target = { port, host: '127.0.0.1', path: '/health/zero-copy-probe', method: 'PUT' };
      const req = httpRequest({ ...target, agent: false }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end('probe');
    });
  } finally {
    server.close();
  }
  return missing;
}

@Injectable()
export class ZeroCopyService implements OnModuleInit {
  private readonly logger = new Logger('ZeroCopy');
  private state: ZeroCopyStatus = { mode: 'stream', reason: 'not started' };

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async onModuleInit(): Promise<void> {
    this.state = await this.decide();
    const settings = this.config.server.zero_copy;
    this.logger.log(
      this.state.mode === 'splice'
        ? `splice(2) zero-copy on for plain bodies of ${settings.min_body_bytes} bytes or more ` +
            `(pipe ${settings.pipe_buffer_size} bytes)`
        : `streaming every body: ${this.state.reason}`,
    );
  }

  /** The path chosen at start-up. */
  status(): ZeroCopyStatus {
    return this.state;
  }

  private async decide(): Promise<ZeroCopyStatus> {
    if (process.platform !== 'linux') return stream(`splice(2) needs Linux (${process.platform})`);
    if (process.env.ZERO_COPY?.toLowerCase() === 'off') return stream('ZERO_COPY=off');
    if (!this.config.server.zero_copy.enabled) return stream('server.zero_copy.enabled is false');
    const addon = spliceAddon();
    if (!addon.available) return stream(addon.loadError ?? 'the splice addon did not load');
    const missing = await probeNodeInternals().catch((err: unknown) => [String(err)]);
    if (missing.length > 0) {
      return stream(`this Node.js lacks what splice needs (${missing.join(', ')})`);
    }
    return { mode: 'splice', reason: 'addon loaded' };
  }

  /**
   * A SpliceBody for this request when the body qualifies, else undefined (stream it).
   * `length` is the planned body length; `spliceable` says the backend can take one.
   */
  bodyFor(
    req: IncomingMessage,
    headers: RawHeaders,
    length: number | undefined,
    spliceable: boolean,
  ): SpliceBody | undefined {
    if (this.state.mode !== 'splice' || !spliceable || length === undefined) return undefined;
    const settings = this.config.server.zero_copy;
    if (length < settings.min_body_bytes) return undefined;
    if (firstHeader(headers, 'transfer-encoding') !== undefined) return undefined;
    if (firstHeader(headers, 'content-length') !== String(length)) return undefined;
    const payloadHash = firstHeader(headers, 'x-amz-content-sha256') ?? 'UNSIGNED-PAYLOAD';
    if (payloadHash !== 'UNSIGNED-PAYLOAD' && !HEX_SHA256.test(payloadHash)) return undefined;
    if (Object.keys(headers).some((name) => name.toLowerCase().startsWith('x-amz-checksum-'))) {
      return undefined;
    }
    if (socketFd(req.socket) === undefined || req.readableEnded) return undefined;
    return new SpliceBody(req, length, HEX_SHA256.test(payloadHash) ? payloadHash : undefined, {
      addon: spliceAddon(),
      pipeSize: settings.pipe_buffer_size,
      idleTimeoutMs: this.config.server.limits.idle_timeout_seconds * 1000,
      onDone: (spliced, buffered) => {
        metrics().zeroCopyBytes.inc({ mode: 'splice' }, spliced);
        if (buffered > 0) metrics().zeroCopyBytes.inc({ mode: 'stream' }, buffered);
      },
    });
  }
}

function stream(reason: string): ZeroCopyStatus {
  return { mode: 'stream', reason };
}
