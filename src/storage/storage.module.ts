/**
 * StorageModule: the backend behind each route (S3 or filesystem) behind one interface.
 * It knows nothing of HTTP, auth or routing.
 */
import { Global, Module } from '@nestjs/common';
import { StorageRegistry } from './storage.registry';

@Global()
@Module({ providers: [StorageRegistry], exports: [StorageRegistry] })
export class StorageModule {}
