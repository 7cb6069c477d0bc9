#!/usr/bin/env node
/**
 * Uploads one file through the gateway with @aws-sdk/client-s3 and @aws-sdk/lib-storage, signed
 * with a SigV4 key the gateway issued (never a backend credential; see README.md). A file larger
 * than one part goes as a multipart upload with several parts in flight; a failed one is aborted.
 *
 *   npx ts-node -T examples/node-client/upload.ts <file> <route>/<key> [content-type]
 *
 * Environment: EXAMPLE_ACCESS_KEY_ID and EXAMPLE_SECRET_ACCESS_KEY (required: the key pair in
 * gateway.yaml), GATEWAY_URL (default http://127.0.0.1:8080), AWS_REGION (default us-east-1).
 * The secret is never printed.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

const MiB = 1024 * 1024;

/** What to upload, where, and with which gateway-issued key. */
export interface UploadFileOptions {
  /** Base URL of the gateway, e.g. http://127.0.0.1:8080. */
  gatewayUrl: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The region the route's `auth.sigv4.region` expects. Default us-east-1. */
  region?: string;
  /** Path of the local file. */
  file: string;
  /** The route's path prefix without slashes: the SDK's "bucket". */
  route: string;
  key: string;
  /** Default application/octet-stream. */
  contentType?: string;
  /** Bytes per part of a multipart upload, at least 5 MiB (S3's minimum). Default 8 MiB. */
  partSize?: number;
  /** Called as bytes are acknowledged, with the running total and the file's size. */
  onProgress?: (sentBytes: number, totalBytes: number) => void;
}

/** Uploads `options.file` and resolves with the object's ETag once it is stored. */
export async function uploadFile(options: UploadFileOptions): Promise<{ etag: string }> {
  const { size } = await stat(options.file);
  const client = new S3Client({
    endpoint: options.gatewayUrl,
    // The route is the first path segment, never a subdomain.
    forcePathStyle: true,
    region: options.region ?? 'us-east-1',
    credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
  });
  try {
    const upload = new Upload({
      client,
      params: {
        Bucket: options.route,
        Key: options.key,
        Body: createReadStream(options.file),
        ContentType: options.contentType ?? 'application/octet-stream',
      },
      // A file up to one part is a single PutObject; anything larger becomes a multipart upload.
      partSize: options.partSize ?? 8 * MiB,
      queueSize: 4,
      // Abort a failed multipart upload, so no parts are left behind in the bucket.
      leavePartsOnError: false,
    });
    upload.on('httpUploadProgress', (progress) => {
      options.onProgress?.(progress.loaded ?? 0, progress.total ?? size);
    });
    const result = await upload.done();
    return { etag: result.ETag ?? '' };
  } finally {
    client.destroy();
  }
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`set ${name} (the gateway-issued key pair in gateway.yaml)`);
  }
  return value;
}

async function main(argv: string[]): Promise<void> {
  const [file, destination, contentType] = argv;
  const slash = destination?.indexOf('/') ?? -1;
  if (file === undefined || destination === undefined || slash <= 0) {
    throw new Error('usage: upload.ts <file> <route>/<key> [content-type]');
  }
  const gatewayUrl = process.env.GATEWAY_URL || 'http://127.0.0.1:8080';
  const { etag } = await uploadFile({
    gatewayUrl,
    accessKeyId: requiredEnv('EXAMPLE_ACCESS_KEY_ID'),
    secretAccessKey: requiredEnv('EXAMPLE_SECRET_ACCESS_KEY'),
    region: process.env.AWS_REGION || undefined,
    file,
    route: destination.slice(0, slash),
    key: destination.slice(slash + 1),
    contentType,
    onProgress: (sent, total) => {
      const percent = total > 0 ? Math.floor((sent / total) * 100) : 100;
      process.stderr.write(`\r${sent} of ${total} bytes (${percent}%)`);
    },
  });
  process.stderr.write('\n');
  process.stdout.write(`uploaded ${file} to ${gatewayUrl}/${destination}, ETag ${etag}\n`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    // An S3 refusal's name is its code (AccessDenied, SignatureDoesNotMatch, EntityTooLarge…).
    const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    process.stderr.write(`\n${text}\n`);
    process.exitCode = 1;
  });
}
