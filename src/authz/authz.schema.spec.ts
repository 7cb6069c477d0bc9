import { authzSchema } from './authz.schema';

function paths(input: unknown): string[] {
  return (authzSchema.safeParse(input).error?.issues ?? []).map((i) => i.path.join('.'));
}

describe('authzSchema', () => {
  it('defaults to disabled and closed', () => {
    expect(authzSchema.parse({})).toEqual({ enabled: false, fail_mode: 'closed', options: {} });
  });

  it('needs a provider when enabled, and the matching section for opa and openfga', () => {
    expect(paths({ enabled: true })).toEqual(['provider']);
    expect(paths({ enabled: true, provider: 'opa' })).toEqual(['opa']);
    expect(
      paths({ enabled: true, provider: 'openfga', opa: { url: 'http://opa', policy_path: 'p' } }),
    ).toEqual(['openfga']);
  });

  it('fills OPA defaults and normalises the policy path', () => {
    const authz = authzSchema.parse({
      enabled: true,
      provider: 'opa',
      opa: { url: 'http://opa:8181', policy_path: '/mizuchi/upload/allow/' },
    });
    expect(authz.opa).toEqual({
      url: 'http://opa:8181',
      policy_path: 'mizuchi/upload/allow',
      timeout_ms: 1000,
      cache_ttl_seconds: 30,
      cache_max_entries: 10000,
    });
  });

  it('fills OpenFGA defaults', () => {
    const authz = authzSchema.parse({
      enabled: true,
      provider: 'openfga',
      openfga: { url: 'http://fga:8080', store_id: '01JAHWTRB2X3Y4Z5A6B7C8D9EF' },
    });
    expect(authz.openfga).toMatchObject({ relation: 'editor', user_claim: 'sub' });
  });

  it('lets a custom provider take free-form options', () => {
    const authz = authzSchema.parse({
      enabled: true,
      provider: 'my-policy',
      fail_mode: 'open',
      options: { table: 'grants', retries: 2 },
    });
    expect(authz).toMatchObject({
      provider: 'my-policy',
      options: { table: 'grants', retries: 2 },
    });
  });

  it('refuses an unknown fail_mode and a non-URL engine address', () => {
    expect(
      paths({ fail_mode: 'maybe', opa: { url: 'opa:8181', policy_path: 'p' } }).sort(),
    ).toEqual(['fail_mode', 'opa.url']);
  });
});
