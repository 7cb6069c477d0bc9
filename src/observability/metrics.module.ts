/**
 * MetricsModule: Prometheus exposition. On the main port at `metrics.path` through
 * @willsoto/nestjs-prometheus, or on a separate `metrics.port` (kept off the public listener)
 * by a small server of its own. Default process metrics are included either way. In a cluster
 * worker either one answers with the aggregate of all workers, which it gets from the primary.
 */
import { createServer, type Server } from 'node:http';
import {
  Controller,
  type DynamicModule,
  Get,
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  Res,
} from '@nestjs/common';
import { PrometheusController, PrometheusModule } from '@willsoto/nestjs-prometheus';
import type { Response } from 'express';
import { collectDefaultMetrics, register } from 'prom-client';
import { aggregatedMetrics, isClusterWorker, metricsExposition } from '../cluster/worker-metrics';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { parseAddress } from '../config/server.schema';

/** True once the process metrics are registered (one process may host several apps). */
function defaultMetricsRegistered(): boolean {
  return register.getSingleMetric('process_cpu_user_seconds_total') !== undefined;
}

/** Serves /metrics on `metrics.port` when one is configured. */
@Injectable()
export class MetricsPortServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private server: Server | undefined;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async onApplicationBootstrap(): Promise<void> {
    const { port, path } = this.config.metrics;
    if (port === undefined) return;
    if (!defaultMetricsRegistered()) collectDefaultMetrics();
    const { host } = parseAddress(this.config.server.address);
    this.server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== path) {
        res.writeHead(404).end();
        return;
      }
      metricsExposition().then(
        (text) => res.writeHead(200, { 'content-type': register.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    });
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject).listen(port, host, () => resolve());
    });
    new Logger('Metrics').log(`metrics on http://${host}:${port}${path}`);
  }

  async onApplicationShutdown(): Promise<void> {
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }
}

/** `metrics.path` on the main port of a cluster worker: every worker's metrics, aggregated. */
@Controller()
export class ClusterPrometheusController extends PrometheusController {
  @Get()
  override async index(@Res({ passthrough: true }) response: Response): Promise<string> {
    const text = await aggregatedMetrics();
    response.header('Content-Type', register.contentType);
    return text;
  }
}

@Module({})
export class MetricsModule {
  /**
   * The modules for the exposition the config asks for (none when metrics are disabled). They
   * go straight into the root module's imports, ahead of the S3 catch-all route, because Nest
   * maps nested modules' routes after their siblings'.
   */
  static register(config: AppConfig): DynamicModule[] {
    const { enabled, path, port } = config.metrics;
    if (!enabled) return [];
    if (port !== undefined) return [{ module: MetricsModule, providers: [MetricsPortServer] }];
    return [
      PrometheusModule.register({
        path,
        defaultMetrics: { enabled: !defaultMetricsRegistered() },
        ...(isClusterWorker() ? { controller: ClusterPrometheusController } : {}),
      }),
    ];
  }
}
