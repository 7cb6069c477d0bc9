/**
 * Per-route upload policy (`upload.max_object_size`, `allowed_content_types`, `key_template`),
 * applied after authentication and authorization and before any byte reaches a backend.
 * `key_template` places each principal's uploads under its own prefix: `{sub}/{key}` turns the
 * client's `report.pdf` into `alice/report.pdf` in the backend.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { S3Error, validateKey } from '@mizuchi/s3-protocol';
import type { GatewayRequest, S3RequestContext } from '../common/request-context';

const PLACEHOLDER = /\{(sub|key|date)\}/g;

/** A subject made safe for one path segment: anything unusual becomes `_`. */
export function subjectSegment(subject: string): string {
  const safe = subject.replace(/[^A-Za-z0-9._@+=-]/g, '_');
  return safe === '' || safe === '.' || safe === '..' ? '_' : safe;
}

/** The backend key for a client key under a template; `{sub}`, `{key}` and `{date}` are known. */
export function applyKeyTemplate(
  template: string,
  key: string,
  subject: string,
  now = new Date(),
): string {
  const stored = template.replace(PLACEHOLDER, (_, name: string) => {
    if (name === 'sub') return subjectSegment(subject);
    if (name === 'date') return now.toISOString().slice(0, 10);
    return key;
  });
  validateKey(stored);
  return stored;
}

/** True when `contentType` matches one of the patterns (`image/png`, `image/*`, `*\/*`). */
export function contentTypeAllowed(contentType: string, patterns: readonly string[]): boolean {
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return patterns.some((pattern) => {
    const p = pattern.toLowerCase();
    if (p === '*/*' || p === '*') return true;
    if (p.endsWith('/*')) return type.startsWith(p.slice(0, -1));
    return type === p;
  });
}

/** The upload policy check for one request; sets `s3.storageKey`. */
export function enforceUploadPolicy(s3: S3RequestContext, headers: IncomingHttpHeaders): void {
  const upload = s3.route.upload;
  if (s3.operation === 'HeadBucket') return;
  if (upload.key_template !== undefined) {
    s3.storageKey = applyKeyTemplate(upload.key_template, s3.key, s3.principal.subject);
  }
  const startsObject = s3.operation === 'PutObject' || s3.operation === 'CreateMultipartUpload';
  if (startsObject && upload.allowed_content_types !== undefined) {
    const type = headers['content-type'] ?? 'application/octet-stream';
    if (!contentTypeAllowed(type, upload.allowed_content_types)) {
      throw new S3Error(
        'InvalidArgument',
        `Content-Type ${type.split(';')[0] ?? type} is not accepted here; allowed: ${upload.allowed_content_types.join(', ')}.`,
        { status: 415 },
      );
    }
  }
}

/** Applies the route's upload policy before the handler runs. */
@Injectable()
export class UploadPolicyGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<GatewayRequest>();
    if (req.s3 === undefined) throw new Error('S3RequestGuard must run before UploadPolicyGuard');
    enforceUploadPolicy(req.s3, req.headers);
    return true;
  }
}
