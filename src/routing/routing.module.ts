/**
 * RoutingModule: path prefix -> route, S3 operation classification and key validation.
 * It decides which route and operation a request is, and never touches a backend.
 */
import { Module } from '@nestjs/common';
import { S3RequestGuard } from './s3-request.guard';

@Module({ providers: [S3RequestGuard], exports: [S3RequestGuard] })
export class RoutingModule {}
