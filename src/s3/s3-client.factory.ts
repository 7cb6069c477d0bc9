/**
 * Builds the @aws-sdk/client-s3 clients of one route backend. Two clients share one keep-alive
 * connection pool: `control` retries idempotent calls with backoff; `data` never retries, because
 * a streamed request body cannot be sent twice.
 */
import * as http from 'node:http';
import { Logger } from '@nestjs/common';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { keepAliveAgent } from '../common/keep-alive';
import type { RouteConfig } from '../config/config.schema';

/** The S3 settings of a route. */
export type S3BackendConfig = NonNullable<RouteConfig['s3']>;

/** The clients of one backend. */
export interface S3Clients {
  control: S3Client;
  data: S3Client;
  /** The keep-alive agent for the endpoint's scheme, shared with the lean data path. */
  agent: http.Agent;
  destroy(): void;
}

const sdkLog = new Logger('S3Client');
const SDK_LOGGER = {
  trace: () => undefined,
  debug: (...content: unknown[]) => sdkLog.verbose(content.map(String).join(' ')),
  info: (...content: unknown[]) => sdkLog.verbose(content.map(String).join(' ')),
  warn: (...content: unknown[]) => sdkLog.debug(content.map(String).join(' ')),
  error: (...content: unknown[]) => sdkLog.debug(content.map(String).join(' ')),
};

/** Creates the clients for one S3 backend from its route settings. */
export function createS3Clients(cfg: S3BackendConfig): S3Clients {
  // Idle pooled connections are closed after IDLE_CONNECTION_MS; a shorter `Keep-Alive: timeout`
  // hint from the backend wins. Otherwise an upload on a connection the backend is closing at
  // that moment fails (503) with a reset.
  const httpAgent = keepAliveAgent('http:', cfg.max_sockets);
  const httpsAgent = keepAliveAgent('https:', cfg.max_sockets);
  const requestHandler = new NodeHttpHandler({
    httpAgent,
    httpsAgent,
    connectionTimeout: cfg.connect_timeout_seconds * 1000,
    // timeout_seconds is a limit on inactivity. The handler's requestTimeout bounds the whole
    // request instead, and only logs a warning when it passes: a backend that stalls would hold
    // a Complete or an Abort (and its client) for ever.
    socketTimeout: cfg.timeout_seconds * 1000,
  });
  const base = {
    region: cfg.region,
    endpoint: cfg.endpoint,
    forcePathStyle: cfg.force_path_style,
    // Absent keys fall through to the SDK's default provider chain (env, profile, IMDS ...).
    credentials:
      cfg.access_key !== undefined && cfg.secret_key !== undefined
        ? { accessKeyId: cfg.access_key, secretAccessKey: cfg.secret_key }
        : undefined,
    requestHandler,
    // The gateway verifies client checksums itself and forwards them as headers; letting the
    // SDK add its own would turn streamed bodies into aws-chunked, which many backends refuse.
    requestChecksumCalculation: 'WHEN_REQUIRED' as const,
    responseChecksumValidation: 'WHEN_REQUIRED' as const,
    // Without a logger the SDK prints its own warnings to the console; failures reach the
    // gateway's logs through the error mapping instead.
    logger: SDK_LOGGER,
  };
  const control = new S3Client({ ...base, maxAttempts: cfg.max_attempts });
  const data = new S3Client({ ...base, maxAttempts: 1 });
  return {
    control,
    data,
    agent: cfg.endpoint?.startsWith('https:') === true ? httpsAgent : httpAgent,
    destroy() {
      control.destroy();
      data.destroy();
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
