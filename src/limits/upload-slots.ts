/**
 * The count of request bodies being transferred by this process, against
 * `server.limits.max_concurrent_uploads`. Each process (each cluster worker) counts its own.
 */
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';

/** Hands out at most `max_concurrent_uploads` upload slots at once. */
@Injectable()
export class UploadSlots {
  private active = 0;
  private readonly max: number;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.max = config.server.limits.max_concurrent_uploads ?? Number.POSITIVE_INFINITY;
  }

  /** Slots taken now. */
  get inUse(): number {
    return this.active;
  }

  /**
   * Takes a slot and returns the function that gives it back (calling it more than once gives it
   * back once), or undefined when every slot is taken.
   */
  tryAcquire(): (() => void) | undefined {
    if (this.active >= this.max) return undefined;
    this.active += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active -= 1;
    };
  }
}
