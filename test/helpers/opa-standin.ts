/**
 * An in-process stand-in for an OPA server's Data API, driven by policies written in TypeScript,
 * so authorization tests need no Rego engine. It speaks the wire protocol of
 * `POST /v1/data/{path}` exactly:
 *
 *   request   {"input": <any JSON>}                     (Content-Type: application/json)
 *   response  200 {"result": <document>}                 when the document is defined
 *             200 {}                                      when it is undefined (no `result` key)
 *             200 {..., "warning": {...}}                 when the request carries no `input`
 *             400 {"code": "invalid_parameter", ...}      for a body that is not a JSON object
 *             500 {"code": "internal_error", ...}         (switchable, see `failWith`)
 *
 * A path names a document below `data`: a rule's value, a value inside it (`.../decision/allow`),
 * or an object made of every defined rule below a package path, as OPA answers.
 * @see https://www.openpolicyagent.org/docs/latest/rest-api/#get-a-document-with-input
 */
import { randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** A rule: its value for an input, or `undefined` when the rule is undefined for it. */
export type OpaRule = (input: unknown) => unknown;

/** Rules by their full path below `data`, slash-separated: `mizuchi/upload/allow`. */
export type OpaPolicy = Record<string, OpaRule>;

/** One Data API call as the stand-in received it. */
export interface OpaCall {
  method: string;
  /** The document path below `data`, without leading or trailing slashes ('' for the root). */
  path: string;
  /** The query string, without '?'. */
  query: string;
  headers: IncomingHttpHeaders;
  /** The parsed request body (undefined when it was empty or not JSON). */
  body: unknown;
  /** `body.input`, the document a policy decides on. */
  input: unknown;
}

/** How the stand-in answers, switchable while it runs. */
export type OpaBehaviour =
  /** Evaluate the policy (the default). */
  | { kind: 'policy' }
  /** Answer every call with this status and OPA's error body. */
  | { kind: 'error'; status: number }
  /** Hold every call without answering until the behaviour changes or the stand-in closes. */
  | { kind: 'stall' };

/** A running stand-in. */
export interface OpaStandIn {
  /** Base URL, e.g. `http://127.0.0.1:41234`: what a route's `authz.opa.url` names. */
  url: string;
  /** Every Data API call received, in order (including failed and held ones). */
  readonly calls: readonly OpaCall[];
  /** Calls received for one document path. */
  callsTo(path: string): OpaCall[];
  /** Replaces the rules. */
  setPolicy(policy: OpaPolicy): void;
  /** Answers with OPA's error body and `status` (500 by default) until `recover()`. */
  failWith(status?: number): void;
  /** Holds every call unanswered (so clients time out) until `recover()` or `close()`. */
  stall(): void;
  /** Evaluates the policy again; held calls are answered now. */
  recover(): void;
  /** When true, answers carry a `decision_id`, as with decision logging enabled. */
  decisionIds: boolean;
  /** Stops listening and drops every connection; later calls are refused. */
  close(): Promise<void>;
}

function splitPath(path: string): string[] {
  return path.split('/').filter((segment) => segment !== '');
}

/**
 * The document at `path` below `data`: a rule's value (or something inside it), or the object of
 * every defined rule below it. `undefined` when nothing is defined there.
 */
export function evaluateDocument(policy: OpaPolicy, path: string, input: unknown): unknown {
  const wanted = splitPath(path);
  // A rule at the path or above it: its value, walked down the remaining segments.
  for (const [rulePath, rule] of Object.entries(policy)) {
    const ruleSegments = splitPath(rulePath);
    if (ruleSegments.length > wanted.length) continue;
    if (!ruleSegments.every((segment, i) => segment === wanted[i])) continue;
    let value = rule(input);
    for (const segment of wanted.slice(ruleSegments.length)) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
      value = (value as Record<string, unknown>)[segment];
    }
    return value;
  }
  // A package: the object of every defined rule below it ({} when none is defined for `input`).
  let isPackage = false;
  const document: Record<string, unknown> = {};
  for (const [rulePath, rule] of Object.entries(policy)) {
    const ruleSegments = splitPath(rulePath);
    if (ruleSegments.length <= wanted.length) continue;
    if (!wanted.every((segment, i) => segment === ruleSegments[i])) continue;
    isPackage = true;
    const value = rule(input);
    if (value === undefined) continue;
    let node = document;
    const rest = ruleSegments.slice(wanted.length);
    for (const segment of rest.slice(0, -1)) {
      node[segment] ??= {};
      node = node[segment] as Record<string, unknown>;
    }
    node[rest[rest.length - 1]] = value;
  }
  return isPackage || wanted.length === 0 ? document : undefined;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** Starts a stand-in on a free loopback port with `policy`. */
export async function startOpaStandIn(policy: OpaPolicy = {}): Promise<OpaStandIn> {
  let rules = policy;
  let behaviour: OpaBehaviour = { kind: 'policy' };
  const calls: OpaCall[] = [];
  const held: Array<() => void> = [];
  const sockets = new Set<Socket>();

  const answer = (call: OpaCall, res: ServerResponse, parseError: string | undefined) => {
    if (behaviour.kind === 'stall') {
      held.push(() => answer(call, res, parseError));
      return;
    }
    if (res.destroyed) return;
    if (behaviour.kind === 'error') {
      reply(res, behaviour.status, {
        code: 'internal_error',
        message: 'stand-in switched to fail',
      });
      return;
    }
    if (parseError !== undefined) {
      reply(res, 400, { code: 'invalid_parameter', message: parseError });
      return;
    }
    const body = call.body as Record<string, unknown> | undefined;
    const out: Record<string, unknown> = {};
    if (stand.decisionIds) out.decision_id = randomUUID();
    const result = evaluateDocument(rules, call.path, call.input);
    if (result !== undefined) out.result = result;
    if (body === undefined || !('input' in body)) {
      out.warning = { code: 'api_usage_warning', message: "'input' key missing from the request" };
    }
    reply(res, 200, out);
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const target = req.url ?? '/';
      const q = target.indexOf('?');
      const pathname = q === -1 ? target : target.slice(0, q);
      const match = /^\/v1\/data(?:\/(.*))?$/.exec(pathname);
      if (match === null) {
        reply(res, 404, { code: 'resource_not_found', message: `${pathname} not found` });
        return;
      }
      if (req.method !== 'POST') {
        reply(res, 405, { code: 'invalid_parameter', message: 'the stand-in serves POST only' });
        return;
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      let parseError: string | undefined;
      if (raw.trim() !== '') {
        try {
          body = JSON.parse(raw);
          if (body === null || typeof body !== 'object' || Array.isArray(body)) {
            parseError = 'body must be a JSON object';
            body = undefined;
          }
        } catch (err) {
          parseError = `body contains malformed input document: ${(err as Error).message}`;
        }
      }
      const call: OpaCall = {
        method: req.method,
        path: splitPath(decodeURIComponent(match[1] ?? '')).join('/'),
        query: q === -1 ? '' : target.slice(q + 1),
        headers: req.headers,
        body,
        input: (body as Record<string, unknown> | undefined)?.input,
      };
      calls.push(call);
      answer(call, res, parseError);
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

  const stand: OpaStandIn = {
    url: `http://127.0.0.1:${port}`,
    calls,
    callsTo: (path) => calls.filter((call) => call.path === splitPath(path).join('/')),
    setPolicy(next) {
      rules = next;
    },
    failWith(status = 500) {
      behaviour = { kind: 'error', status };
      release();
    },
    stall() {
      behaviour = { kind: 'stall' };
    },
    recover() {
      behaviour = { kind: 'policy' };
      release();
    },
    decisionIds: false,
    close: () =>
      new Promise<void>((resolve, reject) => {
        held.length = 0;
        for (const socket of sockets) socket.destroy();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
  return stand;
}
