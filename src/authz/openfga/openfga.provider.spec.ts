import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { connectionsOpenedBy } from '../../common/async-context.testing';
import type { RouteConfig } from '../../config/config.schema';
import type { AuthzInput } from '../authz-provider';
import { openFgaSchema } from '../authz.schema';
import { OpenFgaProvider } from './openfga.provider';

const STORE = '01HVMMBCMGZNT3SED4Z17ECXCA';

const input: AuthzInput = {
  subject: 'alice',
  auth_method: 'jwt',
  claims: { sub: 'alice' },
  action: 's3:PutObject',
  bucket: 'uploads',
  key: 'a/b.txt',
  path: '/uploads/a/b.txt',
  method: 'PUT',
  content_length: 3,
  content_type: 'text/plain',
  client_ip: '127.0.0.1',
};

describe('OpenFgaProvider', () => {
  // A server per test, so that each test's first check opens a connection of its own.
  let server: Server;
  let route: RouteConfig;
  let checks: Array<{ url: string | undefined; body: unknown }>;
  let sockets: Socket[];
  let allowed: boolean;

  beforeEach(async () => {
    checks = [];
    sockets = [];
    allowed = true;
    server = createServer((req, res) => {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (text += chunk));
      req.on('end', () => {
        checks.push({ url: req.url, body: JSON.parse(text) as unknown });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ allowed, resolution: '' }));
      });
    });
    server.on('connection', (socket: Socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const openfga = openFgaSchema.parse({ url: `http://127.0.0.1:${port}`, store_id: STORE });
    route = { name: 'uploads', authz: { openfga } } as unknown as RouteConfig;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('checks the file against its folder and bucket, and reads the answer', async () => {
    const provider = new OpenFgaProvider();
    try {
      await expect(provider.decide(input, route)).resolves.toEqual({ allow: true });
      allowed = false;
      await expect(provider.decide(input, route)).resolves.toEqual({
        allow: false,
        reason: 'no editor relation',
      });
    } finally {
      provider.onApplicationShutdown();
    }

    expect(checks).toHaveLength(2);
    expect(checks[0].url).toBe(`/stores/${STORE}/check`);
    expect(checks[0].body).toMatchObject({
      tuple_key: { user: 'user:alice', relation: 'editor', object: 'file:uploads/a/b.txt' },
      contextual_tuples: {
        tuple_keys: [
          { user: 'folder:uploads/a/', relation: 'parent', object: 'file:uploads/a/b.txt' },
          { user: 'bucket:uploads', relation: 'parent', object: 'folder:uploads/a/' },
        ],
      },
    });
  });

  it('opens its pooled connection in no request’s async context, and closes it at shutdown', async () => {
    const provider = new OpenFgaProvider();
    let decision: unknown;

    const opened = await connectionsOpenedBy(async () => {
      decision = await provider.decide(input, route);
    });
    expect(decision).toEqual({ allow: true });
    expect(opened).toEqual({ connects: 1, inTheRequest: 0 });

    // The connection stays pooled until the gateway shuts down, which closes it.
    expect(sockets).toHaveLength(1);
    const closed = new Promise((resolve) => sockets[0].on('close', resolve));
    provider.onApplicationShutdown();
    await closed;
  });
});
