/**
 * Graceful shutdown: stop accepting, let in-flight uploads finish within the grace period, abort
 * what remains (their backend requests are cancelled, so nothing half-written is left), close.
 */
import type { Server } from 'node:http';
import type { INestApplication, LoggerService } from '@nestjs/common';
import { InFlightUploads } from './upload/in-flight-uploads';

/** Shuts the app down; resolves once every upload has finished or been aborted. */
export async function shutdownGracefully(
  app: INestApplication,
  graceMs: number,
  logger?: LoggerService,
): Promise<{ aborted: number }> {
  const server = app.getHttpServer() as Server;
  const uploads = app.get(InFlightUploads);
  // Requests that still arrive on open keep-alive connections are served, but told to go away.
  server.on('request', (_req, res: { setHeader(name: string, value: string): void }) =>
    res.setHeader('Connection', 'close'),
  );
  server.close();
  server.closeIdleConnections();
  logger?.log(
    `stopped accepting connections; waiting up to ${graceMs / 1000}s for ${uploads.size} upload(s)`,
    'Shutdown',
  );
  const outcome = await uploads.drain(graceMs);
  if (outcome.aborted > 0) {
    logger?.warn(
      `aborted ${outcome.aborted} upload(s) still running after the grace period`,
      'Shutdown',
    );
  }
  await app.close();
  server.closeAllConnections();
  return { aborted: outcome.aborted };
}
