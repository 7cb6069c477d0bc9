/** Owns one storage backend per route, created from config at start-up and closed at shutdown. */
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig, RouteConfig } from '../config/config.schema';
import { S3Storage } from '../s3/s3.storage';
import { FilesystemStorage } from './filesystem.storage';
import type { Storage } from './storage';

/** Creates the backend a route's config describes. */
export function createStorage(route: RouteConfig): Storage {
  if (route.s3 !== undefined) return new S3Storage(route.s3, route.name);
  return new FilesystemStorage(route.filesystem.path);
}

/** The backends of all routes, by route name. */
@Injectable()
export class StorageRegistry implements OnModuleInit, OnApplicationShutdown {
  private readonly byRoute = new Map<string, Storage>();

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    for (const route of config.buckets) this.byRoute.set(route.name, createStorage(route));
  }

  async onModuleInit(): Promise<void> {
    for (const storage of this.byRoute.values()) {
      if (storage instanceof FilesystemStorage) await storage.init();
    }
  }

  /** The backend of the named route. */
  get(routeName: string): Storage {
    const storage = this.byRoute.get(routeName);
    if (storage === undefined) throw new Error(`no storage for route ${routeName}`);
    return storage;
  }

  /** Every route name with its backend. */
  entries(): IterableIterator<[string, Storage]> {
    return this.byRoute.entries();
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.byRoute.values()].map((s) => s.close()));
  }
}
