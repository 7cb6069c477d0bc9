/**
 * Authorizes every S3 operation of a route with `authz.enabled`, after authentication and before
 * any byte goes to a backend. A denial is 403 AccessDenied.
 */
import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { S3Error, type S3Operation, firstHeader, splitRawUrl } from '@mizuchi/s3-protocol';
import {
  clientAddress,
  type GatewayRequest,
  type S3RequestContext,
} from '../common/request-context';
import type { AuthzInput } from './authz-provider';
import { AuthzService } from './authz.service';

/** The IAM action name of each operation, as policies spell it. */
export const S3_ACTIONS: Record<S3Operation, string> = {
  PutObject: 's3:PutObject',
  CreateMultipartUpload: 's3:CreateMultipartUpload',
  UploadPart: 's3:UploadPart',
  CompleteMultipartUpload: 's3:CompleteMultipartUpload',
  AbortMultipartUpload: 's3:AbortMultipartUpload',
  ListParts: 's3:ListMultipartUploadParts',
  HeadBucket: 's3:ListBucket',
};

/** Builds the decision input of a request (DESIGN.md §5). */
export function authzInput(s3: S3RequestContext, req: GatewayRequest): AuthzInput {
  const declared =
    firstHeader(req.headers, 'x-amz-decoded-content-length') ??
    firstHeader(req.headers, 'content-length');
  const length = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : null;
  return {
    subject: s3.principal.subject,
    auth_method: s3.principal.method,
    claims: s3.principal.claims,
    action: S3_ACTIONS[s3.operation],
    bucket: s3.route.path_prefix.slice(1),
    key: s3.key,
    path: splitRawUrl(req.originalUrl).rawPath,
    method: req.method,
    content_length: length,
    content_type: firstHeader(req.headers, 'content-type') ?? null,
    client_ip: clientAddress(req) ?? null,
  };
}

/** Refuses requests the route's policy does not allow. */
@Injectable()
export class AuthzGuard implements CanActivate {
  constructor(@Inject(AuthzService) private readonly authz: AuthzService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<GatewayRequest>();
    const s3 = req.s3;
    if (s3 === undefined) throw new Error('S3RequestGuard must run before AuthzGuard');
    if (!s3.route.authz.enabled) return true;
    const decision = await this.authz.decide(s3.route, authzInput(s3, req));
    if (!decision.allow) {
      throw new S3Error(
        'AccessDenied',
        decision.reason !== undefined ? `Access Denied: ${decision.reason}` : undefined,
      );
    }
    return true;
  }
}
