/**
 * An in-process stand-in for an OpenFGA server: enough of its HTTP API for the gateway's
 * provider (@openfga/sdk's `check`), evaluating a real authorization model (the JSON that
 * `fga model transform` writes, e.g. examples/openfga/model.json) over stored plus contextual
 * tuples. Served:
 *
 *   POST /stores/{store_id}/check
 *        {tuple_key: {user, relation, object}, contextual_tuples?: {tuple_keys: [...]},
 *         authorization_model_id?, context?, consistency?}  ->  200 {allowed, resolution: ""}
 *   GET  /stores/{store_id}/authorization-models[/{id}]    (the SDK's readAuthorizationModel(s))
 *
 * Requests are validated as OpenFGA validates them (ULID ids, the proto field rules, at most 100
 * contextual tuples, object/user syntax, types, relations and each contextual tuple's allowed
 * user types), and refused with OpenFGA's error body `{code, message}` and status.
 * The rewrites understood are those of schema 1.1 without conditions: `this` (direct, with
 * `type:*` wildcards and `type:id#relation` usersets), computedUserset, tupleToUserset, union,
 * intersection and difference.
 * @see https://openfga.dev/api/service#/Relationship%20Queries/Check
 */
import { readFileSync } from 'node:fs';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** A relationship tuple: `object#relation@user`. */
export interface TupleKey {
  user: string;
  relation: string;
  object: string;
}

/** A userset rewrite of an authorization model (schema 1.1, JSON form). */
export interface Userset {
  this?: Record<string, never>;
  computedUserset?: { object?: string; relation: string };
  tupleToUserset?: {
    tupleset: { object?: string; relation: string };
    computedUserset: { object?: string; relation: string };
  };
  union?: { child: Userset[] };
  intersection?: { child: Userset[] };
  difference?: { base: Userset; subtract: Userset };
}

/** A reference to a type a relation may be assigned to directly. */
export interface RelationReference {
  type: string;
  relation?: string;
  wildcard?: Record<string, never>;
}

/** One type of an authorization model. */
export interface TypeDefinition {
  type: string;
  relations?: Record<string, Userset>;
  metadata?: {
    relations?: Record<string, { directly_related_user_types?: RelationReference[] }>;
  } | null;
}

/** An authorization model as `fga model transform` writes it. */
export interface AuthorizationModel {
  schema_version: string;
  type_definitions: TypeDefinition[];
  conditions?: Record<string, unknown>;
}

/** One Check call as the stand-in received it. */
export interface CheckCall {
  storeId: string;
  headers: IncomingHttpHeaders;
  /** The parsed request body. */
  body: {
    tuple_key?: TupleKey;
    contextual_tuples?: { tuple_keys?: TupleKey[] };
    authorization_model_id?: string;
    [field: string]: unknown;
  };
}

/** A running stand-in. */
export interface OpenFgaStandIn {
  /** Base URL: what a route's `authz.openfga.url` names. */
  url: string;
  /** The store it serves (a ULID). */
  storeId: string;
  /** The id of the loaded model (a ULID). */
  modelId: string;
  /** Every Check call received (including failed and held ones). */
  readonly checks: readonly CheckCall[];
  /** Stores a tuple, as the Write API would. */
  write(tuple: TupleKey): void;
  /** Removes every stored tuple. */
  clearTuples(): void;
  /** Answers every call with `status` (500 by default) and OpenFGA's error body until `recover()`. */
  failWith(status?: number): void;
  /** Holds every call unanswered until `recover()` or `close()`. */
  stall(): void;
  /** Answers normally again; held calls are answered now. */
  recover(): void;
  /** Connections open now. */
  readonly openConnections: number;
  /** Resolves once every connection open now has closed (closed by the client, say). */
  connectionsClosed(): Promise<void>;
  /** Stops listening and drops every connection; later calls are refused. */
  close(): Promise<void>;
}

/** Options of a stand-in. */
export interface OpenFgaStandInOptions {
  /** The model to evaluate, or the path of its JSON file. */
  model: AuthorizationModel | string;
  /** Stored tuples to start with. */
  tuples?: TupleKey[];
  /** When set, every call must carry `Authorization: Bearer <apiToken>`. */
  apiToken?: string;
}

/** An OpenFGA API error: status and body. */
class FgaError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
// Field rules of the API's protobuf messages (openfga/api openfga.proto, openfga_service.proto).
const PROTO_OBJECT = /^[^\s]{2,256}$/u;
const PROTO_RELATION = /^[^:#@\s]{1,50}$/u;
const PROTO_USER = /^[^\s]{2,512}$/u;
const MAX_CONTEXTUAL_TUPLES = 100;
// Semantic rules of the server (openfga/openfga pkg/tuple/tuple.go).
const OBJECT = /^[^:#\s]+:[^#:\s]+$/;
const USER_ID = /^[^:#\s]+$/;
const USERSET = /^[^:#\s]+:[^#\s]+#[^:#\s]+$/;
/** OpenFGA's default resolve depth (OPENFGA_RESOLVE_NODE_LIMIT). */
const RESOLVE_NODE_LIMIT = 25;

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A fresh, well-formed ULID (time part from the clock, random part from Math.random). */
export function newUlid(): string {
  let time = Date.now();
  let head = '';
  for (let i = 0; i < 10; i++) {
    head = CROCKFORD[time % 32] + head;
    time = Math.floor(time / 32);
  }
  let tail = '';
  for (let i = 0; i < 16; i++) tail += CROCKFORD[Math.floor(Math.random() * 32)];
  return head + tail;
}

function typeOf(objectOrUser: string): string {
  const colon = objectOrUser.indexOf(':');
  return colon === -1 ? '' : objectOrUser.slice(0, colon);
}

function isValidUser(user: string): boolean {
  if ((user.match(/:/g) ?? []).length > 1 || (user.match(/#/g) ?? []).length > 1) return false;
  return user === '*' || USER_ID.test(user) || OBJECT.test(user) || USERSET.test(user);
}

function tupleString(t: TupleKey): string {
  return `${t.object}#${t.relation}@${t.user}`;
}

/** Evaluates Check requests against one model and a set of tuples. */
export class ModelEvaluator {
  private readonly types = new Map<string, TypeDefinition>();

  constructor(readonly model: AuthorizationModel) {
    for (const definition of model.type_definitions) this.types.set(definition.type, definition);
  }

  /** Throws an FgaError unless `tuple` is valid for the request field `field`. */
  validateTupleKey(tuple: unknown, field: string, contextual: boolean): asserts tuple is TupleKey {
    const t = tuple as Partial<TupleKey> | undefined;
    for (const name of ['user', 'relation', 'object'] as const) {
      if (typeof t?.[name] !== 'string' || t[name] === '') {
        throw new FgaError(400, 'validation_error', `invalid ${field}.${name}: value is required`);
      }
    }
    const { user, relation, object } = t as TupleKey;
    if (!PROTO_OBJECT.test(object)) {
      throw new FgaError(
        400,
        'validation_error',
        `invalid ${field}.Object: value does not match regex pattern "^[^\\s]{2,256}$"`,
      );
    }
    if (!PROTO_RELATION.test(relation)) {
      throw new FgaError(
        400,
        'validation_error',
        `invalid ${field}.Relation: value does not match regex pattern "^[^:#@\\s]{1,50}$"`,
      );
    }
    if (Buffer.byteLength(user) > 512 || (!contextual && !PROTO_USER.test(user))) {
      throw new FgaError(
        400,
        'validation_error',
        `invalid ${field}.User: value is not a valid user`,
      );
    }
    const key = tupleString({ user, relation, object });
    if (!OBJECT.test(object)) {
      throw new FgaError(
        400,
        'validation_error',
        `Invalid tuple '${key}'. Reason: invalid 'object' field format`,
      );
    }
    if (!isValidUser(user)) {
      throw new FgaError(
        400,
        'validation_error',
        `Invalid tuple '${key}'. Reason: the 'user' field is malformed`,
      );
    }
    const definition = this.types.get(typeOf(object));
    if (definition === undefined) {
      throw new FgaError(400, 'type_not_found', `type '${typeOf(object)}' not found`);
    }
    const rewrite = definition.relations?.[relation];
    if (rewrite === undefined) {
      throw new FgaError(
        400,
        'relation_not_found',
        `relation '${definition.type}#${relation}' not found`,
      );
    }
    if (!contextual) return;
    // A contextual tuple is a tuple like a written one: its user must be a directly related type.
    const allowed = definition.metadata?.relations?.[relation]?.directly_related_user_types ?? [];
    const userType = typeOf(user);
    const userRelation = user.includes('#') ? user.slice(user.indexOf('#') + 1) : undefined;
    const wildcard = user.endsWith(':*');
    const fits = allowed.some((ref) =>
      wildcard
        ? ref.type === userType && ref.wildcard !== undefined
        : ref.type === userType && ref.relation === userRelation && ref.wildcard === undefined,
    );
    if (allowed.length === 0) {
      throw new FgaError(
        400,
        'validation_error',
        `Invalid tuple '${key}'. Reason: relation '${definition.type}#${relation}' cannot be assigned directly`,
      );
    }
    if (!fits) {
      throw new FgaError(
        400,
        'validation_error',
        `Invalid tuple '${key}'. Reason: type '${userType}${userRelation !== undefined ? `#${userRelation}` : ''}' is not an allowed type restriction for '${definition.type}#${relation}'`,
      );
    }
  }

  /** Whether `user` has `relation` with `object` given `tuples`. */
  check(tuples: readonly TupleKey[], user: string, relation: string, object: string): boolean {
    return this.resolve(tuples, user, relation, object, 0);
  }

  private resolve(
    tuples: readonly TupleKey[],
    user: string,
    relation: string,
    object: string,
    depth: number,
  ): boolean {
    if (depth >= RESOLVE_NODE_LIMIT) {
      throw new FgaError(
        400,
        'authorization_model_resolution_too_complex',
        'Authorization Model resolution required too many rewrite rules to be resolved. Try simplifying the Authorization Model.',
      );
    }
    // A userset always has its own relation with its own object.
    if (user === `${object}#${relation}`) return true;
    const rewrite = this.types.get(typeOf(object))?.relations?.[relation];
    if (rewrite === undefined) return false;
    return this.rewrite(tuples, user, relation, object, rewrite, depth);
  }

  private rewrite(
    tuples: readonly TupleKey[],
    user: string,
    relation: string,
    object: string,
    rewrite: Userset,
    depth: number,
  ): boolean {
    if (rewrite.this !== undefined) {
      return tuples.some((t) => {
        if (t.object !== object || t.relation !== relation) return false;
        if (t.user === user) return true;
        if (t.user === `${typeOf(user)}:*` && !user.includes('#')) return true;
        if (t.user.includes('#')) {
          const hash = t.user.indexOf('#');
          return this.resolve(
            tuples,
            user,
            t.user.slice(hash + 1),
            t.user.slice(0, hash),
            depth + 1,
          );
        }
        return false;
      });
    }
    if (rewrite.computedUserset !== undefined) {
      return this.resolve(tuples, user, rewrite.computedUserset.relation, object, depth + 1);
    }
    if (rewrite.tupleToUserset !== undefined) {
      const { tupleset, computedUserset } = rewrite.tupleToUserset;
      return tuples.some(
        (t) =>
          t.object === object &&
          t.relation === tupleset.relation &&
          !t.user.includes('#') &&
          this.types.get(typeOf(t.user))?.relations?.[computedUserset.relation] !== undefined &&
          this.resolve(tuples, user, computedUserset.relation, t.user, depth + 1),
      );
    }
    if (rewrite.union !== undefined) {
      return rewrite.union.child.some((child) =>
        this.rewrite(tuples, user, relation, object, child, depth),
      );
    }
    if (rewrite.intersection !== undefined) {
      return rewrite.intersection.child.every((child) =>
        this.rewrite(tuples, user, relation, object, child, depth),
      );
    }
    if (rewrite.difference !== undefined) {
      return (
        this.rewrite(tuples, user, relation, object, rewrite.difference.base, depth) &&
        !this.rewrite(tuples, user, relation, object, rewrite.difference.subtract, depth)
      );
    }
    return false;
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** Reads an authorization model from a JSON file. */
export function loadModel(file: string): AuthorizationModel {
  return JSON.parse(readFileSync(file, 'utf8')) as AuthorizationModel;
}

/** Starts a stand-in on a free loopback port with one store and one model. */
export async function startOpenFgaStandIn(options: OpenFgaStandInOptions): Promise<OpenFgaStandIn> {
  const model = typeof options.model === 'string' ? loadModel(options.model) : options.model;
  const evaluator: ModelEvaluator = new ModelEvaluator(model);
  const storeId = newUlid();
  const modelId = newUlid();
  const stored: TupleKey[] = [...(options.tuples ?? [])];
  for (const tuple of stored) evaluator.validateTupleKey(tuple, 'tuple', true);
  const checks: CheckCall[] = [];
  let behaviour: { kind: 'normal' } | { kind: 'error'; status: number } | { kind: 'stall' } = {
    kind: 'normal',
  };
  const held: Array<() => void> = [];
  const sockets = new Set<Socket>();

  const check = (call: CheckCall): { allowed: boolean; resolution: string } => {
    const body = call.body;
    const modelIdAsked = body.authorization_model_id;
    if (modelIdAsked !== undefined && modelIdAsked !== '') {
      if (typeof modelIdAsked !== 'string' || !ULID.test(modelIdAsked)) {
        throw new FgaError(
          400,
          'validation_error',
          'invalid CheckRequest.AuthorizationModelId: value does not match regex pattern "^[ABCDEFGHJKMNPQRSTVWXYZ0-9]{26}$"',
        );
      }
      if (modelIdAsked !== modelId) {
        throw new FgaError(
          400,
          'authorization_model_not_found',
          `Authorization Model '${modelIdAsked}' not found`,
        );
      }
    }
    evaluator.validateTupleKey(body.tuple_key, 'CheckRequest.TupleKey', false);
    const contextual = body.contextual_tuples?.tuple_keys ?? [];
    if (!Array.isArray(contextual) || contextual.length > MAX_CONTEXTUAL_TUPLES) {
      throw new FgaError(
        400,
        'validation_error',
        `invalid CheckRequest.ContextualTuples: value must contain no more than ${MAX_CONTEXTUAL_TUPLES} item(s)`,
      );
    }
    contextual.forEach((tuple, i) =>
      evaluator.validateTupleKey(tuple, `ContextualTupleKeys.TupleKeys[${i}]`, true),
    );
    const { user, relation, object } = body.tuple_key;
    return {
      allowed: evaluator.check([...stored, ...contextual], user, relation, object),
      resolution: '',
    };
  };

  const answer = (res: ServerResponse, work: () => { status: number; body: unknown }) => {
    if (behaviour.kind === 'stall') {
      held.push(() => answer(res, work));
      return;
    }
    if (res.destroyed) return;
    if (behaviour.kind === 'error') {
      reply(res, behaviour.status, {
        code: behaviour.status >= 500 ? 'internal_error' : 'validation_error',
        message: 'stand-in switched to fail',
      });
      return;
    }
    try {
      const { status, body } = work();
      reply(res, status, body);
    } catch (err) {
      if (err instanceof FgaError) reply(res, err.status, { code: err.code, message: err.message });
      else reply(res, 500, { code: 'internal_error', message: String(err) });
    }
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0];
      const checkMatch = /^\/stores\/([^/]+)\/check$/.exec(path);
      const modelsMatch = /^\/stores\/([^/]+)\/authorization-models(?:\/([^/]+))?$/.exec(path);
      const authorized = () => {
        if (
          options.apiToken !== undefined &&
          req.headers.authorization !== `Bearer ${options.apiToken}`
        ) {
          throw new FgaError(401, 'unauthenticated', 'unauthenticated');
        }
      };
      const knownStore = (id: string) => {
        if (!ULID.test(id)) {
          throw new FgaError(
            400,
            'validation_error',
            'invalid StoreId: value does not match regex pattern "^[ABCDEFGHJKMNPQRSTVWXYZ0-9]{26}$"',
          );
        }
        if (id !== storeId) throw new FgaError(404, 'store_id_not_found', 'store_id not found');
      };
      if (checkMatch !== null && req.method === 'POST') {
        let body: CheckCall['body'] = {};
        let parseError: string | undefined;
        try {
          const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
          if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
            parseError = 'request body must be a JSON object';
          } else body = parsed as CheckCall['body'];
        } catch (err) {
          parseError = (err as Error).message;
        }
        const call: CheckCall = { storeId: checkMatch[1], headers: req.headers, body };
        checks.push(call);
        answer(res, () => {
          authorized();
          knownStore(call.storeId);
          if (parseError !== undefined) throw new FgaError(400, 'validation_error', parseError);
          return { status: 200, body: check(call) };
        });
        return;
      }
      if (modelsMatch !== null && req.method === 'GET') {
        answer(res, () => {
          authorized();
          knownStore(modelsMatch[1]);
          const document = { id: modelId, ...model };
          if (modelsMatch[2] === undefined) {
            return {
              status: 200,
              body: { authorization_models: [document], continuation_token: '' },
            };
          }
          if (modelsMatch[2] !== modelId) {
            throw new FgaError(
              404,
              'latest_authorization_model_not_found',
              `Authorization Model '${modelsMatch[2]}' not found`,
            );
          }
          return { status: 200, body: { authorization_model: document } };
        });
        return;
      }
      reply(res, 404, { code: 'undefined_endpoint', message: 'Not Found' });
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const release = () => {
    for (const run of held.splice(0)) run();
  };

  return {
    url: `http://127.0.0.1:${port}`,
    storeId,
    modelId,
    checks,
    write(tuple) {
      evaluator.validateTupleKey(tuple, 'tuple', true);
      stored.push(tuple);
    },
    clearTuples() {
      stored.length = 0;
    },
    failWith(status = 500) {
      behaviour = { kind: 'error', status };
      release();
    },
    stall() {
      behaviour = { kind: 'stall' };
    },
    recover() {
      behaviour = { kind: 'normal' };
      release();
    },
    get openConnections() {
      return sockets.size;
    },
    connectionsClosed: async () => {
      const open = [...sockets].map((s) => new Promise((resolve) => s.once('close', resolve)));
      await Promise.all(open);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        held.length = 0;
        for (const socket of sockets) socket.destroy();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
