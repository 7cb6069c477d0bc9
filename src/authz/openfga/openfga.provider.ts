/**
 * OpenFGA: checks `user:<id>` `<relation>` `file:<bucket>/<key>` with @openfga/sdk. The object
 * usually does not exist yet, so contextual tuples chain it to its folders and bucket
 * (`file → folder:<bucket>/<dir>/ → … → bucket:<bucket>`); with the shipped model a grant on a
 * folder or the bucket then covers every key below it.
 * @see https://openfga.dev/api/service#/Relationship%20Queries/Check
 */
import { createHash } from 'node:crypto';
import type { Agent } from 'node:http';
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { OpenFgaClient, TupleKey } from '@openfga/sdk';
import { keepAliveAgent } from '../../common/keep-alive';
import type { RouteConfig } from '../../config/config.schema';
import type { OpenFgaConfig } from '../authz.schema';
import { AuthzProvider, type AuthzDecision, type AuthzInput } from '../authz-provider';

/** The OpenFGA SDK, loaded on first use: about 23 MB resident that routes without it never pay. */
function openFgaSdk(): typeof import('@openfga/sdk') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@openfga/sdk') as typeof import('@openfga/sdk');
}

/** OpenFGA's limits on an object id and on the contextual tuples of one check. */
export const MAX_FGA_ID_LENGTH = 256;
export const MAX_CONTEXTUAL_TUPLES = 100;

/**
 * Escapes what OpenFGA refuses in an id (whitespace, `:`, `#`) and `%` itself, so every S3 key
 * has exactly one id. Grants on folders must be written the same way (`docs/AUTHZ.md`).
 */
export function fgaId(text: string): string {
  return text.replace(/[%:#\s]/gu, (c) => encodeURIComponent(c).replace(/[!'()*]/g, ''));
}

/**
 * An object id within OpenFGA's length limit: a longer one becomes `sha256~<hex>` of itself. Its
 * parent tuples still chain it to its folders and bucket, so grants there keep covering it.
 */
export function boundedId(id: string): string {
  return id.length <= MAX_FGA_ID_LENGTH
    ? id
    : `sha256~${createHash('sha256').update(id).digest('hex')}`;
}

/** The contextual tuples that place `file:<bucket>/<key>` under its folders and bucket. */
export function parentTuples(bucket: string, key: string): TupleKey[] {
  const segments = fgaId(key).split('/');
  const b = fgaId(bucket);
  const tuples: TupleKey[] = [];
  let child = `file:${boundedId(`${b}/${segments.join('/')}`)}`;
  for (let depth = segments.length - 1; depth >= 1; depth--) {
    const folder = `folder:${boundedId(`${b}/${segments.slice(0, depth).join('/')}/`)}`;
    tuples.push({ user: folder, relation: 'parent', object: child });
    child = folder;
  }
  tuples.push({ user: `bucket:${b}`, relation: 'parent', object: child });
  return tuples;
}

/** The OpenFGA user of a principal: the configured claim, else the subject. */
export function fgaUser(input: AuthzInput, userClaim: string): string {
  const claim = input.claims[userClaim];
  const id = typeof claim === 'string' || typeof claim === 'number' ? String(claim) : input.subject;
  return `user:${fgaId(id)}`;
}

/** An SDK client and the connection pool it sends through. */
interface Engine {
  client: OpenFgaClient;
  agent: Agent;
}

/** Asks an OpenFGA server; one client per distinct server settings. */
@Injectable()
export class OpenFgaProvider extends AuthzProvider implements OnApplicationShutdown {
  private readonly engines = new Map<string, Engine>();

  async decide(input: AuthzInput, route: RouteConfig): Promise<AuthzDecision> {
    const cfg = route.authz.openfga;
    if (cfg === undefined) throw new Error(`route ${route.name} has no authz.openfga settings`);
    const object = `file:${boundedId(`${fgaId(input.bucket)}/${fgaId(input.key)}`)}`;
    const user = fgaUser(input, cfg.user_claim);
    const tuples = parentTuples(input.bucket, input.key);
    // Ids OpenFGA would refuse are a denial, never an engine failure that fail_mode open lets by.
    if (
      object.length - 'file:'.length > MAX_FGA_ID_LENGTH ||
      user.length - 'user:'.length > MAX_FGA_ID_LENGTH
    ) {
      return { allow: false, reason: 'the key or user is too long for an OpenFGA id' };
    }
    if (tuples.length > MAX_CONTEXTUAL_TUPLES) {
      return { allow: false, reason: 'the key is nested too deeply for an OpenFGA check' };
    }
    let response: Awaited<ReturnType<OpenFgaClient['check']>>;
    try {
      response = await this.client(cfg).check({
        user,
        relation: cfg.relation,
        object,
        contextualTuples: tuples,
      });
    } catch (err) {
      if (err instanceof openFgaSdk().FgaApiValidationError) {
        return { allow: false, reason: 'OpenFGA refused the check as invalid' };
      }
      throw err;
    }
    return {
      allow: response.allowed === true,
      reason: response.allowed === true ? undefined : `no ${cfg.relation} relation`,
    };
  }

  private client(cfg: OpenFgaConfig): OpenFgaClient {
    const id = JSON.stringify([cfg.url, cfg.store_id, cfg.model_id, cfg.api_token, cfg.timeout_ms]);
    let engine = this.engines.get(id);
    if (engine === undefined) {
      const { OpenFgaClient, CredentialsMethod } = openFgaSdk();
      // The gateway's own agent rather than the SDK's: its connections keep no request's context
      // while pooled, and close before a server's idle timeout would reset one in use.
      const secure = new URL(cfg.url).protocol === 'https:';
      const agent = keepAliveAgent(secure ? 'https:' : 'http:', Infinity);
      const client = new OpenFgaClient({
        apiUrl: cfg.url,
        storeId: cfg.store_id,
        authorizationModelId: cfg.model_id,
        credentials:
          cfg.api_token !== undefined
            ? { method: CredentialsMethod.ApiToken, config: { token: cfg.api_token } }
            : undefined,
        // A slow engine must not hold uploads: the route's fail mode answers after the timeout.
        baseOptions: { timeout: cfg.timeout_ms, [secure ? 'httpsAgent' : 'httpAgent']: agent },
        retryParams: { maxRetry: 1, minWaitInMs: 50 },
      });
      engine = { client, agent };
      this.engines.set(id, engine);
    }
    return engine.client;
  }

  onApplicationShutdown(): void {
    for (const { agent } of this.engines.values()) agent.destroy();
    this.engines.clear();
  }
}
