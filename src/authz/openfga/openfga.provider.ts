/**
 * OpenFGA: checks `user:<id>` `<relation>` `file:<bucket>/<key>` with @openfga/sdk. The object
 * usually does not exist yet, so contextual tuples chain it to its folders and bucket
 * (`file → folder:<bucket>/<dir>/ → … → bucket:<bucket>`); with the shipped model a grant on a
 * folder or the bucket then covers every key below it.
 * @see https://openfga.dev/api/service#/Relationship%20Queries/Check
 */
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { CredentialsMethod, OpenFgaClient, type TupleKey } from '@openfga/sdk';
import type { RouteConfig } from '../../config/config.schema';
import type { OpenFgaConfig } from '../authz.schema';
import { AuthzProvider, type AuthzDecision, type AuthzInput } from '../authz-provider';

/** The contextual tuples that place `file:<bucket>/<key>` under its folders and bucket. */
export function parentTuples(bucket: string, key: string): TupleKey[] {
  const segments = key.split('/');
  const tuples: TupleKey[] = [];
  let child = `file:${bucket}/${key}`;
  for (let depth = segments.length - 1; depth >= 1; depth--) {
    const folder = `folder:${bucket}/${segments.slice(0, depth).join('/')}/`;
    tuples.push({ user: folder, relation: 'parent', object: child });
    child = folder;
  }
  tuples.push({ user: `bucket:${bucket}`, relation: 'parent', object: child });
  return tuples;
}

/** The OpenFGA user of a principal: the configured claim, else the subject. */
export function fgaUser(input: AuthzInput, userClaim: string): string {
  const claim = input.claims[userClaim];
  const id = typeof claim === 'string' || typeof claim === 'number' ? String(claim) : input.subject;
  return `user:${id}`;
}

/** Asks an OpenFGA server; one client per distinct server settings. */
@Injectable()
export class OpenFgaProvider extends AuthzProvider implements OnApplicationShutdown {
  private readonly clients = new Map<string, OpenFgaClient>();

  async decide(input: AuthzInput, route: RouteConfig): Promise<AuthzDecision> {
    const cfg = route.authz.openfga;
    if (cfg === undefined) throw new Error(`route ${route.name} has no authz.openfga settings`);
    const response = await this.client(cfg).check({
      user: fgaUser(input, cfg.user_claim),
      relation: cfg.relation,
      object: `file:${input.bucket}/${input.key}`,
      contextualTuples: parentTuples(input.bucket, input.key),
    });
    return {
      allow: response.allowed === true,
      reason: response.allowed === true ? undefined : `no ${cfg.relation} relation`,
    };
  }

  private client(cfg: OpenFgaConfig): OpenFgaClient {
    const id = JSON.stringify([cfg.url, cfg.store_id, cfg.model_id, cfg.api_token, cfg.timeout_ms]);
    let client = this.clients.get(id);
    if (client === undefined) {
      client = new OpenFgaClient({
        apiUrl: cfg.url,
        storeId: cfg.store_id,
        authorizationModelId: cfg.model_id,
        credentials:
          cfg.api_token !== undefined
            ? { method: CredentialsMethod.ApiToken, config: { token: cfg.api_token } }
            : undefined,
        // A slow engine must not hold uploads: the route's fail mode answers after the timeout.
        baseOptions: { timeout: cfg.timeout_ms },
        retryParams: { maxRetry: 1, minWaitInMs: 50 },
      });
      this.clients.set(id, client);
    }
    return client;
  }

  onApplicationShutdown(): void {
    this.clients.clear();
  }
}
