/**
 * The stale-upload janitor (off by default): every `server.janitor.interval_seconds` it aborts
 * the multipart uploads, in every route's backend, that were initiated more than
 * `max_age_seconds` ago and never completed, so a client that vanished leaves nothing behind.
 */
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { StorageRegistry } from '../storage/storage.registry';

/** What one sweep did. */
export interface SweepReport {
  aborted: number;
  failed: number;
}

/** Periodically aborts multipart uploads older than the configured age. */
@Injectable()
export class JanitorService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Janitor');
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<SweepReport> | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(StorageRegistry) private readonly storage: StorageRegistry,
  ) {}

  onModuleInit(): void {
    const janitor = this.config.server.janitor;
    if (!janitor.enabled) return;
    this.timer = setInterval(() => void this.sweep(), janitor.interval_seconds * 1000);
    // The janitor must never keep a process alive that has nothing else to do.
    this.timer.unref();
    this.logger.log(
      `aborting multipart uploads older than ${janitor.max_age_seconds}s every ${janitor.interval_seconds}s`,
    );
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** Runs one sweep now (one at a time); `now` is injectable for tests. */
  sweep(now: Date = new Date()): Promise<SweepReport> {
    this.sweeping ??= this.sweepOnce(now).finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async sweepOnce(now: Date): Promise<SweepReport> {
    const cutoff = now.getTime() - this.config.server.janitor.max_age_seconds * 1000;
    const report: SweepReport = { aborted: 0, failed: 0 };
    for (const [route, storage] of this.storage.entries()) {
      let uploads;
      try {
        uploads = await storage.listMultipartUploads();
      } catch (err) {
        report.failed += 1;
        this.logger.warn(`route ${route}: cannot list multipart uploads: ${String(err)}`);
        continue;
      }
      for (const upload of uploads) {
        if (upload.initiated.getTime() > cutoff) continue;
        try {
          await storage.abort(upload.key, upload.uploadId);
          report.aborted += 1;
        } catch (err) {
          report.failed += 1;
          this.logger.warn(`route ${route}: cannot abort a stale upload: ${String(err)}`);
        }
      }
    }
    if (report.aborted > 0 || report.failed > 0) {
      this.logger.log(
        `sweep: ${report.aborted} stale upload(s) aborted, ${report.failed} failure(s)`,
      );
    }
    return report;
  }
}
