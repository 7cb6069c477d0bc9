/**
 * What a verified token must also say (`auth.jwt.claims`), and the principal it stands for.
 * Signature, time, issuer and audience are passport-jwt's job; this only reads claims that
 * already passed those checks.
 */
import type { ClaimRule } from '../auth.schema';
import type { Principal } from '../principal';
import { JwtRefusal } from './jwt-refusal';

type Claims = Record<string, unknown>;

function isClaims(value: unknown): value is Claims {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A claim's value. The name is looked up as it is first, because claim names may hold dots
 * (`https://example.com/roles`); otherwise a dotted name walks nested objects
 * (`realm_access.roles`).
 */
export function claimValue(claims: Claims, name: string): unknown {
  if (Object.prototype.hasOwnProperty.call(claims, name)) return claims[name];
  let node: unknown = claims;
  for (const part of name.split('.')) {
    if (!isClaims(node) || !Object.prototype.hasOwnProperty.call(node, part)) return undefined;
    node = node[part];
  }
  return node;
}

/**
 * Whether the claims satisfy one rule. Values compare strictly (`1` is not `"1"`):
 * - equals: the claim is the value;
 * - in: the claim is one of the listed values;
 * - contains: a list claim holds the value, or a string claim holds it as a substring.
 */
export function satisfies(claims: Claims, rule: ClaimRule): boolean {
  const actual = claimValue(claims, rule.claim);
  if (actual === undefined) return false;
  switch (rule.operator) {
    case 'equals':
      return actual === rule.value;
    case 'in':
      return Array.isArray(rule.value) && rule.value.some((allowed) => allowed === actual);
    case 'contains':
      if (Array.isArray(actual)) return actual.some((item) => item === rule.value);
      return (
        typeof actual === 'string' && typeof rule.value === 'string' && actual.includes(rule.value)
      );
  }
}

/** The first rule the claims fail, or undefined when they pass every rule. */
export function firstFailedRule(
  claims: Claims,
  rules: readonly ClaimRule[],
): ClaimRule | undefined {
  return rules.find((rule) => !satisfies(claims, rule));
}

/** The principal of a verified payload, or a JwtRefusal (no subject, or a failed rule). */
export function principalFromPayload(payload: unknown, rules: readonly ClaimRule[]): Principal {
  if (!isClaims(payload)) throw new JwtRefusal('payload is not a JSON object');
  const subject = payload.sub;
  if (typeof subject !== 'string' || subject === '') {
    throw new JwtRefusal('token has no subject');
  }
  const failed = firstFailedRule(payload, rules);
  // The claim's name is configuration and safe to show; its value is the caller's and is not.
  if (failed !== undefined) throw new JwtRefusal(`claim rule on '${failed.claim}' not met`);
  return { subject, method: 'jwt', claims: { ...payload } };
}
