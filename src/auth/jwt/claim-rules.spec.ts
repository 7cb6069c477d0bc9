import type { ClaimRule } from '../auth.schema';
import { claimValue, firstFailedRule, principalFromPayload, satisfies } from './claim-rules';
import { JwtRefusal } from './jwt-refusal';

const rule = (
  claim: string,
  operator: ClaimRule['operator'],
  value: ClaimRule['value'],
): ClaimRule => ({ claim, operator, value });

describe('claimValue', () => {
  const claims = {
    'https://example.com/roles': ['a'],
    realm_access: { roles: ['uploader'] },
    'a.b': 'literal',
    a: { b: 'nested' },
  };

  it('prefers a claim whose name holds dots, then walks nested objects', () => {
    expect(claimValue(claims, 'https://example.com/roles')).toEqual(['a']);
    expect(claimValue(claims, 'a.b')).toBe('literal');
    expect(claimValue(claims, 'realm_access.roles')).toEqual(['uploader']);
    expect(claimValue(claims, 'realm_access.missing')).toBeUndefined();
    expect(claimValue(claims, 'toString')).toBeUndefined();
  });
});

describe('satisfies', () => {
  const claims = {
    tenant: 'acme',
    level: 3,
    admin: true,
    groups: ['dev', 'ops'],
    scope: 'read upload',
  };

  it('equals compares strictly', () => {
    expect(satisfies(claims, rule('tenant', 'equals', 'acme'))).toBe(true);
    expect(satisfies(claims, rule('level', 'equals', 3))).toBe(true);
    expect(satisfies(claims, rule('level', 'equals', '3'))).toBe(false);
    expect(satisfies(claims, rule('admin', 'equals', true))).toBe(true);
    expect(satisfies(claims, rule('groups', 'equals', 'dev'))).toBe(false);
  });

  it('in needs the claim to be one of the values', () => {
    expect(satisfies(claims, rule('tenant', 'in', ['acme', 'globex']))).toBe(true);
    expect(satisfies(claims, rule('tenant', 'in', ['globex']))).toBe(false);
    expect(satisfies(claims, rule('level', 'in', ['3']))).toBe(false);
  });

  it('contains looks in a list claim, or for a substring of a string claim', () => {
    expect(satisfies(claims, rule('groups', 'contains', 'ops'))).toBe(true);
    expect(satisfies(claims, rule('groups', 'contains', 'op'))).toBe(false);
    expect(satisfies(claims, rule('scope', 'contains', 'upload'))).toBe(true);
    expect(satisfies(claims, rule('scope', 'contains', 'write'))).toBe(false);
    expect(satisfies(claims, rule('level', 'contains', 3))).toBe(false);
  });

  it('fails every operator on a missing claim', () => {
    expect(satisfies(claims, rule('nope', 'equals', 'x'))).toBe(false);
    expect(satisfies(claims, rule('nope', 'in', ['x']))).toBe(false);
    expect(satisfies(claims, rule('nope', 'contains', 'x'))).toBe(false);
  });
});

describe('firstFailedRule', () => {
  it('names the first rule not met, in configured order', () => {
    const rules = [rule('a', 'equals', 1), rule('b', 'equals', 2), rule('c', 'equals', 3)];
    expect(firstFailedRule({ a: 1, b: 0, c: 0 }, rules)).toBe(rules[1]);
    expect(firstFailedRule({ a: 1, b: 2, c: 3 }, rules)).toBeUndefined();
    expect(firstFailedRule({}, [])).toBeUndefined();
  });
});

describe('principalFromPayload', () => {
  it('makes a jwt principal of the subject, with a copy of the claims', () => {
    const payload = { sub: 'alice', tenant: 'acme' };
    const principal = principalFromPayload(payload, [rule('tenant', 'equals', 'acme')]);
    expect(principal).toEqual({ subject: 'alice', method: 'jwt', claims: payload });
    expect(principal.claims).not.toBe(payload);
  });

  it('refuses a payload without a string subject, or one that is not an object', () => {
    for (const payload of [{}, { sub: '' }, { sub: 7 }, 'sub', ['alice'], null]) {
      expect(() => principalFromPayload(payload, [])).toThrow(JwtRefusal);
    }
  });

  it('names the failed claim but never its value', () => {
    let refusal: unknown;
    try {
      principalFromPayload({ sub: 'a', tenant: 'secret-tenant' }, [rule('tenant', 'equals', 'x')]);
    } catch (err) {
      refusal = err;
    }
    expect(refusal).toBeInstanceOf(JwtRefusal);
    expect((refusal as JwtRefusal).reason).toBe("claim rule on 'tenant' not met");
  });
});
