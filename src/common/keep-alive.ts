import { AsyncResource } from 'node:async_hooks';
import * as http from 'node:http';
import * as https from 'node:https';

/**
 * How long a pooled outgoing connection (to a backend, or to the trace collector) may idle before
 * the gateway closes it: under the 5 s keep-alive timeout of Node servers and the longer ones of
 * nginx, Ceph, S3 and OpenTelemetry collectors. Without it, Node reuses a connection however long
 * it idled, and one that the server is closing at that moment fails the request on it with a
 * reset.
 */
export const IDLE_CONNECTION_MS = 4_000;

/**
 * The pool name every gateway agent gives the origin it was made for. Not empty: Node's https
 * agent caches TLS sessions (for resuming them on new connections) only under a non-empty
 * name, and no name of Node's can be this one (they all hold a colon).
 */
export const HOME_POOL = 'home';

/**
 * An agent's pool names: its first origin (the endpoint it was made for) is `HOME_POOL`, any
 * other keeps Node's name. Node's agent keeps its sockets and waiting requests in objects keyed
 * by pool name, and the gateway runs several agents (one per backend endpoint, one for the
 * trace collector): with a name per endpoint, those keyed loads in Node's agent code saw several
 * names and went megamorphic for every request of every agent (docs/TRACING.md, "Tracing
 * overhead"). One name for each agent's own origin keeps them monomorphic.
 */
class PoolNames {
  private home: string | undefined;

  of(nodeName: string): string {
    this.home ??= nodeName;
    return nodeName === this.home ? HOME_POOL : nodeName;
  }
}

/**
 * Where the agents open connections: in no request's async context (this scope is made when the
 * module loads, at start-up). AsyncLocalStorage gives every new socket the context it was made
 * in, and a pooled connection outlives the request that happened to open it: it would keep that
 * request's context (its spans, its logger store) alive for as long as it stays in the pool, and
 * run its own later events (a server closing it while idle) under that request's ids. What a
 * request does with the connection still runs in its own context: Node gives each request's
 * response parsing an async resource of its own, and promises resume where they were awaited.
 */
const POOL_SCOPE = new AsyncResource('mizuchi.connection-pool');

/**
 * Runs `call` where the agents open their connections, for the clients whose pool the gateway
 * does not make: the global `fetch` (undici's pool), which the OPA provider and the JWKS refresh
 * use. Whatever `call` opens keeps no request's context; the caller's `await` still resumes in
 * its own.
 */
export function inPoolScope<T>(call: () => T): T {
  return POOL_SCOPE.runInAsyncScope(call);
}

/** A keep-alive agent over http that names its home origin's pool `HOME_POOL`. */
class HomeAgent extends http.Agent {
  private readonly pools = new PoolNames();

  override getName(options?: http.ClientRequestArgs): string {
    return this.pools.of(super.getName(options));
  }

  override createConnection(...args: Parameters<http.Agent['createConnection']>) {
    return inPoolScope(() => super.createConnection(...args));
  }
}

/** The same over https (Node's name there also covers the TLS options, servername included). */
class SecureHomeAgent extends https.Agent {
  private readonly pools = new PoolNames();

  override getName(options?: https.AgentOptions): string {
    return this.pools.of(super.getName(options));
  }

  override createConnection(...args: Parameters<https.Agent['createConnection']>) {
    return inPoolScope(() => super.createConnection(...args));
  }
}

/**
 * A keep-alive agent for `protocol` ('http:' or 'https:'), as every HTTP client of the gateway
 * has (the backends', the trace collector's): at most `maxSockets` connections per origin, closed
 * after `idleMs` idle. One kind of agent with one set of options for all, so that their sockets
 * take the same shapes in the Node code they share.
 */
export function keepAliveAgent(
  protocol: 'https:',
  maxSockets: number,
  idleMs?: number,
): https.Agent;
export function keepAliveAgent(protocol: string, maxSockets: number, idleMs?: number): http.Agent;
export function keepAliveAgent(
  protocol: string,
  maxSockets: number,
  idleMs = IDLE_CONNECTION_MS,
): http.Agent {
  const options: http.AgentOptions = { keepAlive: true, maxSockets, timeout: idleMs };
  return protocol === 'https:' ? new SecureHomeAgent(options) : new HomeAgent(options);
}
