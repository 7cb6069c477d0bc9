/**
 * A transparent HTTP proxy in front of a real backend (Ceph) that records the headers of every
 * request it forwards. Requests pass unchanged, Host included, so SigV4 signatures made for the
 * proxy's address still verify at the backend, and the bytes really land there.
 */
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type Server,
} from 'node:http';
import type { AddressInfo } from 'node:net';

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

/** Starts a tap on a free loopback port, forwarding to `target` (e.g. http://127.0.0.1:7480). */
export async function startTapProxy(target: string): Promise<TapProxy> {
  const upstream = new URL(target);
  const requests: TappedRequest[] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } });
    const forward = httpRequest(
      {
        hostname: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
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
