/**
 * A transparent HTTP proxy in front of a real backend (Ceph) that records the headers of every
 * request it forwards. Requests pass unchanged, Host included, so SigV4 signatures made for the
 * proxy's address still verify at the backend, and the bytes really land there.
 * `forwardRequest` is the forwarding step on its own, for proxies that do more (fault-proxy.ts).
 */
import {
  type Agent,
  type ClientRequest,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';

/** One forwarded request. */
export interface TappedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** A running tap. */
export interface TapProxy {
  /** Base URL to give the gateway as the backend endpoint. */
  url: string;
  requests: TappedRequest[];
  close(): Promise<void>;
}

/**
 * Sends `req` on to `upstream` unchanged (method, target, headers) with `body` (by default the
 * request itself) and relays the answer into `res` (after `answerDelayMs`, if given). A failure on the way up destroys `res`, so
 * the caller sees a broken connection, as it would from the backend itself, and a caller that
 * goes away cancels the upstream request. Returns the
 * upstream request, so a caller can cut it short.
 */
export function forwardRequest(
  upstream: URL,
  req: IncomingMessage,
  res: ServerResponse,
  options: { body?: Readable; agent?: Agent; answerDelayMs?: number } = {},
): ClientRequest {
  const forward = httpRequest(
    {
      hostname: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
      agent: options.agent,
    },
    (answer) => {
      const relay = () => {
        if (res.destroyed) return;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      };
      if (options.answerDelayMs === undefined) relay();
      else setTimeout(relay, options.answerDelayMs);
    },
  );
  forward.on('error', () => res.destroy());
  // A caller that goes away mid-request takes the upstream request with it; left alone, it would
  // wait for the rest of a body that never comes.
  res.on('close', () => {
    if (!res.writableFinished) forward.destroy();
  });
  (options.body ?? req).pipe(forward);
  return forward;
}

/** Starts a tap on a free loopback port, forwarding to `target` (e.g. http://127.0.0.1:7480). */
export async function startTapProxy(target: string): Promise<TapProxy> {
  const upstream = new URL(target);
  const requests: TappedRequest[] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } });
    forwardRequest(upstream, req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
