import * as http from 'node:http';

/**
 * The host of `url` as sockets take it: an IPv6 literal without the brackets that URLs put
 * around it (`http://[::1]:8000` connects to `::1`). Requests built from options rather than
 * from a URL (new http.ClientRequest) need it, or the lookup of `[::1]` fails.
 */
export function socketHost(url: URL): string {
  const { hostname } = url;
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/** Where the requests to one endpoint go, and the agent (of its scheme) that pools them. */
export interface HttpTarget {
  readonly protocol: string;
  readonly hostname: string;
  readonly port: string;
  readonly agent: http.Agent;
}

/** The target of `url`'s scheme, host and port, pooled by `agent` (an https.Agent for https). */
export function httpTarget(url: URL, agent: http.Agent): HttpTarget {
  return { protocol: url.protocol, hostname: socketHost(url), port: url.port, agent };
}

/**
 * A request to `target`. The gateway's own HTTP clients (the lean backend client, the OTLP/HTTP
 * exporter) all build theirs here, so Node's client code, which they share, sees one shape of
 * request options: an exporter whose options differed made that code's property loads
 * megamorphic for every upload (docs/TRACING.md). Header values are strings only: Node checks
 * each with a regular expression, and one number among them (an exporter's content-length)
 * turned that check onto V8's generic path for every backend request. ClientRequest rather than
 * http.request: the http instrumentation wraps http.request, and these requests make their own
 * spans or none.
 */
export function requestTo(
  target: HttpTarget,
  method: string,
  path: string,
  headers: Record<string, string>,
  onResponse: (res: http.IncomingMessage) => void,
): http.ClientRequest {
  return new http.ClientRequest(
    {
      protocol: target.protocol,
      hostname: target.hostname,
      port: target.port,
      method,
      path,
      headers,
      agent: target.agent,
    },
    onResponse,
  );
}
