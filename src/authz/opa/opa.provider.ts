/**
 * OPA: `POST {url}/v1/data/{policy_path}` with `{input}` (the Data API). `{result: true|false}`
 * and `{result: {allow, reason}}` are understood; an undefined result denies, as OPA's own
 * convention has it. Node's fetch keeps connections alive between calls; they are opened in the
 * pool scope, so a pooled one keeps no request's context.
 * @see https://www.openpolicyagent.org/docs/latest/rest-api/#get-a-document-with-input
 */
import { Injectable } from '@nestjs/common';
import { inPoolScope } from '../../common/keep-alive';
import type { RouteConfig } from '../../config/config.schema';
import { AuthzProvider, type AuthzDecision, type AuthzInput } from '../authz-provider';

/** Asks an OPA server. */
@Injectable()
export class OpaProvider extends AuthzProvider {
  async decide(input: AuthzInput, route: RouteConfig): Promise<AuthzDecision> {
    const opa = route.authz.opa;
    if (opa === undefined) throw new Error(`route ${route.name} has no authz.opa settings`);
    const url = `${opa.url.replace(/\/+$/, '')}/v1/data/${opa.policy_path}`;
    const res = await inPoolScope(() =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ input }),
        signal: AbortSignal.timeout(opa.timeout_ms),
      }),
    );
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`OPA answered ${res.status}`);
    }
    const body = (await res.json()) as { result?: unknown };
    return interpretOpaResult(body.result);
  }
}

/** Reads an OPA result: a boolean, `{allow, reason}`, or anything else (deny). */
export function interpretOpaResult(result: unknown): AuthzDecision {
  if (typeof result === 'boolean') return { allow: result };
  if (result !== null && typeof result === 'object' && 'allow' in result) {
    const { allow, reason } = result as { allow: unknown; reason?: unknown };
    return {
      allow: allow === true,
      reason: typeof reason === 'string' ? reason : undefined,
    };
  }
  return {
    allow: false,
    reason: result === undefined ? 'policy result is undefined' : 'policy result is not a decision',
  };
}
