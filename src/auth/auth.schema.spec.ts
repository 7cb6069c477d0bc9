import { authSchema, jwtSchema, sigv4Schema } from './auth.schema';

const SECRET = 'a-very-long-shared-secret-of-32-chars!';

function problems(
  schema: {
    safeParse(input: unknown): { error?: { issues: { path: PropertyKey[]; message: string }[] } };
  },
  input: unknown,
): string[] {
  return (schema.safeParse(input).error?.issues ?? []).map(
    (issue) => `${issue.path.map(String).join('.')}: ${issue.message}`,
  );
}

describe('authSchema', () => {
  it('defaults to an anonymous route', () => {
    expect(authSchema.parse({})).toEqual({ enabled: false, options: {} });
  });

  it('needs jwt, sigv4 or a custom authenticator when enabled', () => {
    expect(problems(authSchema, { enabled: true })).toEqual([
      ': auth is enabled but none of jwt, sigv4 or custom is configured',
    ]);
    expect(problems(authSchema, { enabled: true, custom: 'api-key' })).toEqual([]);
  });

  it('still validates settings that are present while disabled', () => {
    expect(problems(authSchema, { enabled: false, sigv4: { credentials: [] } })).toHaveLength(1);
  });
});

describe('jwtSchema', () => {
  it('fills defaults around one key source', () => {
    expect(jwtSchema.parse({ algorithms: ['HS256'], secret: SECRET })).toEqual({
      algorithms: ['HS256'],
      secret: SECRET,
      jwks_cache_ttl_seconds: 600,
      leeway_seconds: 30,
      token_sources: [{ type: 'bearer' }],
      claims: [],
    });
  });

  it('needs exactly one of secret, public_key_file and jwks_url', () => {
    expect(problems(jwtSchema, { algorithms: ['RS256'] })).toEqual([
      ': needs exactly one key source: secret, public_key_file or jwks_url',
    ]);
    expect(
      problems(jwtSchema, {
        algorithms: ['RS256'],
        public_key_file: '/k.pem',
        jwks_url: 'https://id/jwks',
      }),
    ).toEqual([': key sources are exclusive, but public_key_file and jwks_url are all set']);
  });

  it("never accepts 'none' and needs a non-empty allowlist", () => {
    expect(problems(jwtSchema, { algorithms: ['none'], jwks_url: 'https://id/jwks' })).toEqual([
      "algorithms.0: 'none' is never accepted: unsigned tokens would authenticate anyone",
    ]);
    expect(problems(jwtSchema, { algorithms: [], jwks_url: 'https://id/jwks' })).toEqual([
      'algorithms: must list at least one algorithm',
    ]);
  });

  it('refuses HS/RS confusion between the key source and the algorithms', () => {
    expect(problems(jwtSchema, { algorithms: ['HS256', 'RS256'], secret: SECRET })).toEqual([
      'algorithms.1: RS256 needs a public key, but this route verifies with a shared secret',
    ]);
    expect(problems(jwtSchema, { algorithms: ['HS256'], jwks_url: 'https://id/jwks' })).toEqual([
      'algorithms.0: HS256 needs a shared secret, but this route verifies with jwks_url',
    ]);
  });

  it('refuses a short HMAC secret', () => {
    expect(problems(jwtSchema, { algorithms: ['HS256'], secret: 'short' })).toHaveLength(1);
  });

  it('reads token sources and claim rules', () => {
    const jwt = jwtSchema.parse({
      algorithms: ['ES256'],
      public_key_file: '/k.pem',
      issuer: ['https://a', 'https://b'],
      token_sources: [
        { type: 'header', name: 'X-Token' },
        { type: 'query', name: 'token' },
      ],
      claims: [
        { claim: 'scope', operator: 'contains', value: 'upload' },
        { claim: 'tenant', operator: 'in', value: ['a', 'b'] },
        { claim: 'admin', value: true },
      ],
    });
    expect(jwt.token_sources[0]).toEqual({ type: 'header', name: 'x-token' });
    expect(jwt.claims[2]).toEqual({ claim: 'admin', operator: 'equals', value: true });
  });

  it('refuses an unknown token source type and mismatched claim values', () => {
    expect(
      problems(jwtSchema, {
        algorithms: ['RS256'],
        public_key_file: '/k.pem',
        token_sources: [{ type: 'cookie', name: 'c' }, { type: 'header' }],
        claims: [
          { claim: 'a', operator: 'in', value: 'x' },
          { claim: 'b', operator: 'equals', value: ['x'] },
        ],
      }).map((line) => line.split(':')[0]),
    ).toEqual(['token_sources.0.type', 'token_sources.1.name', 'claims.0.value', 'claims.1.value']);
  });
});

describe('sigv4Schema', () => {
  const credential = { access_key: 'AKIDEXAMPLE', secret_key: 'secret-key', subject: 'alice' };

  it('fills defaults', () => {
    expect(sigv4Schema.parse({ credentials: [credential] })).toEqual({
      region: 'us-east-1',
      credentials: [credential],
      max_clock_skew_seconds: 900,
      replay_protection: true,
      replay_store: { type: 'memory' },
    });
  });

  it('refuses duplicate access keys and keys containing a slash', () => {
    expect(
      problems(sigv4Schema, { credentials: [credential, { ...credential, subject: 'bob' }] }),
    ).toEqual(["credentials.1.access_key: duplicate access key 'AKIDEXAMPLE'"]);
    expect(
      problems(sigv4Schema, { credentials: [{ ...credential, access_key: 'a/b' }] }),
    ).toHaveLength(1);
  });
});
