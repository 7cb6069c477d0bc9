/**
 * How long a pooled outgoing connection (to a backend, or to the trace collector) may idle before
 * the gateway closes it: under the 5 s keep-alive timeout of Node servers and the longer ones of
 * nginx, Ceph, S3 and OpenTelemetry collectors. Without it, Node reuses a connection however long
 * it idled, and one that the server is closing at that moment fails the request on it with a
 * reset.
 */
export const IDLE_CONNECTION_MS = 4_000;
