import { GiB, MiB } from '../config/scalars';
import {
  findDuplicateRoutes,
  pathPrefixProblem,
  routeSchema,
  uploadSchema,
} from './routing.schema';

function route(overrides: Record<string, unknown> = {}) {
  return { name: 'uploads', path_prefix: '/uploads', s3: { bucket: 'b' }, ...overrides };
}

function messages(input: unknown): string[] {
  const result = routeSchema.safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('path_prefix', () => {
  it.each(['/uploads', '/team/a', '/a.b_c~d-e', '/v1/uploads/images'])('accepts %p', (prefix) => {
    expect(pathPrefixProblem(prefix)).toBeUndefined();
  });

  it.each([
    ['uploads', "must start with '/'"],
    ['/', 'must name at least one segment'],
    ['/uploads/', "must not end with '/'"],
    ['/a//b', 'empty segments'],
    ['/a/./b', "'.' or '..'"],
    ['/a/..', "'.' or '..'"],
    ['/a b', 'may only use'],
    ['/a%20b', 'may only use'],
  ])('refuses %p', (prefix, reason) => {
    expect(pathPrefixProblem(prefix)).toContain(reason);
  });

  it('trims surrounding whitespace', () => {
    expect(routeSchema.parse(route({ path_prefix: ' /uploads ' })).path_prefix).toBe('/uploads');
  });
});

describe('routeSchema', () => {
  it('fills the s3 and upload defaults', () => {
    const parsed = routeSchema.parse(route());
    expect(parsed.s3).toEqual({
      bucket: 'b',
      region: 'us-east-1',
      force_path_style: true,
      timeout_seconds: 300,
      connect_timeout_seconds: 5,
      max_sockets: 64,
      max_attempts: 3,
    });
    expect(parsed.upload).toEqual({
      multipart_threshold: 50 * MiB,
      part_size: 16 * MiB,
      concurrent_parts: 4,
      forwarded_headers: [],
    });
    expect(parsed.auth).toEqual({ enabled: false, options: {} });
    expect(parsed.authz).toEqual({ enabled: false, fail_mode: 'closed', options: {} });
    expect(parsed.cors).toBeUndefined();
  });

  it('needs exactly one backend', () => {
    expect(messages(route({ s3: undefined }))).toEqual([
      ": needs a backend: set exactly one of 's3' or 'filesystem'",
    ]);
    expect(messages(route({ filesystem: { path: '/x' } }))).toEqual([
      ": 's3' and 'filesystem' are exclusive: a route has exactly one backend",
    ]);
    expect(
      routeSchema.parse(route({ s3: undefined, filesystem: { path: '/x' } })).filesystem,
    ).toEqual({
      path: '/x',
    });
  });

  it('wants both S3 keys or neither', () => {
    expect(messages(route({ s3: { bucket: 'b', access_key: 'AKID' } }))).toEqual([
      expect.stringMatching(/^s3\.secret_key: required together with access_key/),
    ]);
    expect(messages(route({ s3: { bucket: 'b', access_key: 'AKID', secret_key: 's' } }))).toEqual(
      [],
    );
  });

  it('refuses a non-URL endpoint and a bad name', () => {
    expect(
      messages(route({ name: 'has space', s3: { bucket: 'b', endpoint: 'ceph:7480' } })),
    ).toHaveLength(2);
  });

  it('accepts CORS origins but not paths', () => {
    expect(
      routeSchema.parse(route({ cors: { allowed_origins: ['*', 'https://app.example.com'] } }))
        .cors,
    ).toEqual({ allowed_origins: ['*', 'https://app.example.com'], max_age_seconds: 600 });
    expect(
      messages(route({ cors: { allowed_origins: ['https://a.example.com/path'] } })),
    ).toHaveLength(1);
  });
});

describe('uploadSchema', () => {
  it('reads sizes and lower-cases header and type names', () => {
    const upload = uploadSchema.parse({
      multipart_threshold: '100 MiB',
      part_size: '5GiB',
      max_object_size: '1TB',
      allowed_content_types: ['Image/*', '*/*', 'application/pdf'],
      forwarded_headers: ['X-Amz-Storage-Class'],
      force_acl: 'bucket-owner-full-control',
    });
    expect(upload).toMatchObject({
      multipart_threshold: 100 * MiB,
      part_size: 5 * GiB,
      max_object_size: 1e12,
      allowed_content_types: ['image/*', '*/*', 'application/pdf'],
      forwarded_headers: ['x-amz-storage-class'],
    });
  });

  it.each([
    [{ part_size: '4MiB' }, 'part_size'],
    [{ part_size: '6GiB' }, 'part_size'],
    [{ multipart_threshold: 'big' }, 'multipart_threshold'],
    [{ allowed_content_types: ['*/json'] }, 'allowed_content_types'],
    [{ allowed_content_types: [] }, 'allowed_content_types'],
    [{ forwarded_headers: ['authorization'] }, 'forwarded_headers'],
    [{ force_acl: 'everyone' }, 'force_acl'],
    [{ forwarded_headers: ['x-amz-acl'], force_acl: 'private' }, 'forwarded_headers'],
    [{ concurrent_parts: 0 }, 'concurrent_parts'],
  ])('refuses %p', (input, field) => {
    const result = uploadSchema.safeParse(input);
    expect(result.error?.issues.map((i) => i.path[0])).toEqual([field]);
  });
});

describe('findDuplicateRoutes', () => {
  it('names each later duplicate of a name or path prefix', () => {
    expect(
      findDuplicateRoutes([
        { name: 'a', path_prefix: '/x' },
        { name: 'b', path_prefix: '/x' },
        { name: 'a', path_prefix: '/y' },
        { name: 'c', path_prefix: '/x/sub' },
      ]),
    ).toEqual([
      { index: 2, field: 'name', message: "duplicate name 'a' (already used by buckets[0])" },
      {
        index: 1,
        field: 'path_prefix',
        message: "duplicate path_prefix '/x' (already used by buckets[0])",
      },
    ]);
  });
});
