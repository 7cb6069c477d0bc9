import { AsyncLocalStorage } from 'node:async_hooks';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { HOME_POOL, IDLE_CONNECTION_MS, keepAliveAgent } from './keep-alive';
import { selfSignedCertificate } from './tls.testing';

/** Starts `server` on a free loopback port and returns the port. */
async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function close(server: http.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('keepAliveAgent', () => {
  it('makes an agent of the scheme with the gateway options', () => {
    const plain = keepAliveAgent('http:', 7);
    const secure = keepAliveAgent('https:', 3, 500);

    expect(plain).toBeInstanceOf(http.Agent);
    expect(plain).not.toBeInstanceOf(https.Agent);
    expect(secure).toBeInstanceOf(https.Agent);
    // What Node keeps of the options (its types do not declare all of them).
    const settings = (agent: http.Agent) => {
      const kept = agent as http.Agent & { keepAlive: boolean; options: http.AgentOptions };
      return [kept.keepAlive, kept.maxSockets, kept.options.timeout];
    };
    expect(settings(plain)).toEqual([true, 7, IDLE_CONNECTION_MS]);
    expect(settings(secure)).toEqual([true, 3, 500]);
    plain.destroy();
    secure.destroy();
  });

  it('names the pool of its first origin HOME_POOL and any other as Node does', () => {
    const agent = keepAliveAgent('http:', 1);
    const home = { host: 'ceph.internal', port: 7480 };
    const other = { host: 'minio.internal', port: 9000 };

    expect(agent.getName(home)).toBe(HOME_POOL);
    expect(agent.getName(other)).toBe(new http.Agent().getName(other));
    expect(agent.getName(home)).toBe(HOME_POOL);
    // Another agent has a home of its own.
    expect(keepAliveAgent('http:', 1).getName(other)).toBe(HOME_POOL);
  });

  it('tells TLS origins apart by their server name too', () => {
    const agent = keepAliveAgent('https:', 1);
    const home = { host: 'ceph.internal', port: 443, servername: 'bucket-a.ceph.internal' };
    const other = { ...home, servername: 'bucket-b.ceph.internal' };

    expect(agent.getName(home)).toBe(HOME_POOL);
    expect(agent.getName(other)).not.toBe(HOME_POOL);
    expect(agent.getName(other)).toBe(new https.Agent().getName(other));
  });

  describe('with two servers', () => {
    const servers: http.Server[] = [];
    const ports: number[] = [];
    /** Remote ports each server saw, one per connection. */
    const connections: number[][] = [[], []];

    beforeAll(async () => {
      for (const index of [0, 1]) {
        const server = http.createServer((req, res) => {
          res.end(`server ${index}, connection ${req.socket.remotePort}`);
        });
        server.on('connection', (socket) => connections[index].push(socket.remotePort ?? 0));
        ports.push(await listen(server));
        servers.push(server);
      }
    });

    afterAll(async () => {
      await Promise.all(servers.map(close));
    });

    function get(agent: http.Agent, port: number): Promise<string> {
      return new Promise((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, agent }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (body += chunk));
            res.on('end', () => resolve(body));
          })
          .on('error', reject);
      });
    }

    it('sends each request to its own origin and keeps one connection to each', async () => {
      const agent = keepAliveAgent('http:', 4);
      const bodies: string[] = [];
      for (const index of [0, 1, 0, 1, 1, 0]) bodies.push(await get(agent, ports[index]));

      expect(connections.map((seen) => seen.length)).toEqual([1, 1]);
      expect(bodies).toEqual(
        [0, 1, 0, 1, 1, 0].map((index) => `server ${index}, connection ${connections[index][0]}`),
      );
      agent.destroy();
    });
  });

  it.each(['http:', 'https:'] as const)(
    'opens %s connections in no request’s async context, so a pooled one keeps none alive',
    async (protocol) => {
      const { key, cert } = selfSignedCertificate();
      const answer = (_req: http.IncomingMessage, res: http.ServerResponse) => res.end('ok');
      const server =
        protocol === 'https:'
          ? https.createServer({ key, cert }, answer)
          : http.createServer(answer);
      const port = await listen(server);
      const agent = keepAliveAgent(protocol, 1);
      const client = protocol === 'https:' ? https : http;
      const storage = new AsyncLocalStorage<string>();
      let storeOnClose: string | undefined = 'not closed';
      let socketClosed = (): void => undefined;
      const closed = new Promise<void>((resolve) => (socketClosed = resolve));
      try {
        // The request that happens to open the connection runs with a store of its own.
        await storage.run(
          'the first request',
          () =>
            new Promise<void>((resolve, reject) => {
              client
                .get({ host: '127.0.0.1', port, ca: cert, agent }, (res) => {
                  res.socket.on('close', () => {
                    storeOnClose = storage.getStore();
                    socketClosed();
                  });
                  res.resume();
                  res.on('end', resolve);
                })
                .on('error', reject);
            }),
        );
        // The pooled socket's own later events (here the server closing it) see no request.
        server.closeAllConnections();
        await closed;
      } finally {
        agent.destroy();
        await close(server);
      }

      expect(storeOnClose).toBeUndefined();
    },
  );

  it('resumes the TLS session of its home origin on a new connection', async () => {
    const { key, cert } = selfSignedCertificate();
    // Each answer closes its connection, so that every request connects anew.
    const server = https.createServer({ key, cert }, (_req, res) => {
      res.setHeader('connection', 'close');
      res.end('ok');
    });
    const port = await listen(server);
    const agent = keepAliveAgent('https:', 1);
    const reused: boolean[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        await new Promise<void>((resolve, reject) => {
          https
            .get({ host: '127.0.0.1', port, ca: cert, agent }, (res) => {
              reused.push((res.socket as TLSSocket).isSessionReused());
              res.resume();
              res.on('end', resolve);
            })
            .on('error', reject);
        });
        // The session (a TLS 1.3 ticket) arrives after the handshake: let the agent keep it.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      agent.destroy();
      await close(server);
    }

    expect(reused).toEqual([false, true, true]);
  });
});
