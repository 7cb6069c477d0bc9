/** For the authorization providers' specs: one upload's input, and a route that names an engine. */
import type { RouteConfig } from '../config/config.schema';
import type { AuthzInput } from './authz-provider';

/** alice's PutObject of `uploads/a/b.txt`, as the guard builds it. */
export const UPLOAD_INPUT: AuthzInput = {
  subject: 'alice',
  auth_method: 'jwt',
  claims: { sub: 'alice' },
  action: 's3:PutObject',
  bucket: 'uploads',
  key: 'a/b.txt',
  path: '/uploads/a/b.txt',
  method: 'PUT',
  content_length: 3,
  content_type: 'text/plain',
  client_ip: '127.0.0.1',
};

/** A route with only what a provider reads: its name and its `authz` section. */
export function routeWithAuthz(authz: Partial<RouteConfig['authz']>): RouteConfig {
  return { name: 'uploads', authz } as unknown as RouteConfig;
}
