/**
 * The root config schema: composes each module's sub-schema and adds the checks that span
 * sections (unique routes, routes that would shadow /health or /metrics, port clashes).
 */
import { z } from 'zod';
import { loggingSchema, metricsSchema, tracingSchema } from '../observability/observability.schema';
import { findDuplicateRoutes, routeSchema } from '../routing/routing.schema';
import { isRecord } from './scalars';
import { parseAddress, serverSchema } from './server.schema';

/** Path prefix of the health endpoints; routes may not live under it. */
export const HEALTH_PATH = '/health';

function isUnder(prefix: string, reserved: string): boolean {
  return prefix === reserved || prefix.startsWith(`${reserved}/`);
}

/** Schema of the whole configuration file. */
export const appConfigSchema = z
  .object({
    server: serverSchema.prefault({}),
    buckets: z.array(routeSchema).min(1, { error: 'must configure at least one route' }),
    metrics: metricsSchema.prefault({}),
    tracing: tracingSchema.prefault({}),
    logging: loggingSchema.prefault({}),
  })
  .strict()
  .superRefine(
    (config, ctx) => {
      const routes: unknown[] = Array.isArray(config.buckets) ? config.buckets : [];
      for (const duplicate of findDuplicateRoutes(routes)) {
        ctx.addIssue({
          code: 'custom',
          path: ['buckets', duplicate.index, duplicate.field],
          message: duplicate.message,
        });
      }

      const metrics: unknown = config.metrics;
      const server: unknown = config.server;
      const metricsOnMainPort =
        isRecord(metrics) && metrics.enabled === true && metrics.port === undefined;
      const reserved = [HEALTH_PATH];
      if (metricsOnMainPort && typeof metrics.path === 'string') reserved.push(metrics.path);
      routes.forEach((route, index) => {
        const prefix = isRecord(route) ? route.path_prefix : undefined;
        if (typeof prefix !== 'string') return;
        const clash = reserved.find((path) => isUnder(prefix.trim(), path));
        if (clash) {
          ctx.addIssue({
            code: 'custom',
            path: ['buckets', index, 'path_prefix'],
            message: `'${prefix}' collides with the gateway's own ${clash} endpoint`,
          });
        }
      });

      if (isRecord(metrics) && metrics.enabled === true && typeof metrics.port === 'number') {
        const address = isRecord(server) ? server.address : undefined;
        let serverPort: number | undefined;
        try {
          serverPort = typeof address === 'string' ? parseAddress(address).port : undefined;
        } catch {
          serverPort = undefined; // already reported under server.address
        }
        if (serverPort === metrics.port) {
          ctx.addIssue({
            code: 'custom',
            path: ['metrics', 'port'],
            message: `must differ from the server port ${serverPort} (omit it to serve metrics there)`,
          });
        }
      }
    },
    // Run even when sections failed, so that a duplicate is reported alongside other problems.
    { when: (payload) => isRecord(payload.value) },
  );

/** The validated configuration, with every default filled in. */
export type AppConfig = z.infer<typeof appConfigSchema>;

/** One validated route (`buckets[]` item). */
export type RouteConfig = AppConfig['buckets'][number];
