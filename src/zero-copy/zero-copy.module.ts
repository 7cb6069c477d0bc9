/** ZeroCopyModule: the splice(2) path for request bodies, shared by uploads and health. */
import { Global, Module } from '@nestjs/common';
import { ZeroCopyService } from './zero-copy.service';

@Global()
@Module({ providers: [ZeroCopyService], exports: [ZeroCopyService] })
export class ZeroCopyModule {}
