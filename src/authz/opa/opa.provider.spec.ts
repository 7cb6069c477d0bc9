import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connectionsOpenedBy } from '../../common/async-context.testing';
import type { RouteConfig } from '../../config/config.schema';
import type { AuthzInput } from '../authz-provider';
import { opaSchema } from '../authz.schema';
import { interpretOpaResult, OpaProvider } from './opa.provider';

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

describe('OpaProvider', () => {
  // A server per test, so that each test's first call opens a connection of its own.
  let server: Server;
  let route: RouteConfig;
  /** What the server received: path and parsed body of each call. */
  let calls: Array<{ url: string | undefined; body: unknown }>;
  let answer: (res: ServerResponse) => void;

  beforeEach(async () => {
    calls = [];
    server = createServer((req: IncomingMessage, res) => {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (text += chunk));
      req.on('end', () => {
        calls.push({ url: req.url, body: JSON.parse(text) as unknown });
        answer(res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const opa = opaSchema.parse({ url: `http://127.0.0.1:${port}/`, policy_path: 'mizuchi/allow' });
    route = { name: 'uploads', authz: { opa } } as unknown as RouteConfig;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const json = (status: number, body: unknown) => (res: ServerResponse) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

  it('posts the input to the Data API and reads the decision', async () => {
    answer = json(200, { result: { allow: false, reason: 'not in the group' } });

    await expect(new OpaProvider().decide(input, route)).resolves.toEqual({
      allow: false,
      reason: 'not in the group',
    });
    expect(calls).toEqual([{ url: '/v1/data/mizuchi/allow', body: { input } }]);
  });

  it('fails when OPA answers an error, so the route’s fail mode decides', async () => {
    answer = json(500, { code: 'internal_error', message: 'boom' });

    await expect(new OpaProvider().decide(input, route)).rejects.toThrow('OPA answered 500');
  });

  it('opens its pooled connection in no request’s async context', async () => {
    answer = json(200, { result: true });
    let decision: unknown;

    const opened = await connectionsOpenedBy(async () => {
      decision = await new OpaProvider().decide(input, route);
    });

    expect(decision).toEqual({ allow: true });
    expect(opened).toEqual({ connects: 1, inTheRequest: 0 });
  });
});

describe('interpretOpaResult', () => {
  it('reads a boolean, {allow, reason} and denies anything else', () => {
    expect(interpretOpaResult(true)).toEqual({ allow: true });
    expect(interpretOpaResult(false)).toEqual({ allow: false });
    expect(interpretOpaResult({ allow: true })).toEqual({ allow: true, reason: undefined });
    expect(interpretOpaResult({ allow: 'yes', reason: 7 })).toEqual({
      allow: false,
      reason: undefined,
    });
    expect(interpretOpaResult(undefined)).toEqual({
      allow: false,
      reason: 'policy result is undefined',
    });
    expect(interpretOpaResult(['allow'])).toEqual({
      allow: false,
      reason: 'policy result is not a decision',
    });
  });
});
