import type { AgentOptions } from 'node:http';

/**
 * How long a pooled outgoing connection (to a backend, or to the trace collector) may idle before
 * the gateway closes it: under the 5 s keep-alive timeout of Node servers and the longer ones of
 * nginx, Ceph, S3 and OpenTelemetry collectors. Without it, Node reuses a connection however long
 * it idled, and one that the server is closing at that moment fails the request on it with a
 * reset.
 */
export const IDLE_CONNECTION_MS = 4_000;

/**
 * The options of every agent of the gateway's own HTTP clients: kept-alive connections, closed
 * after `idleMs` idle. One set of options for all, so their sockets take the same shapes in the
 * Node code they share.
 */
export function keepAliveAgentOptions(
  maxSockets: number,
  idleMs = IDLE_CONNECTION_MS,
): AgentOptions {
  return { keepAlive: true, maxSockets, timeout: idleMs };
}
