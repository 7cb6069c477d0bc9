import { IncomingMessage, type Server, ServerResponse, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import type { Express, Request, Response } from 'express';
import { GatewayExpressAdapter, onPrototypeOf } from './express-adapter';

// V8's own test of hidden classes; the flag applies to functions compiled after it is set.
setFlagsFromString('--allow-natives-syntax');
// eslint-disable-next-line @typescript-eslint/no-implied-eval -- %-syntax is not TypeScript
const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (
  a: object,
  b: object,
) => boolean;

interface Seen {
  req: Request;
  res: Response;
  /** The request's prototype when Node's server emitted it, before Express ran. */
  protoBefore: object | null;
}

async function serve(): Promise<{ app: Express; server: Server; seen: Seen[]; port: number }> {
  const adapter = new GatewayExpressAdapter();
  adapter.initHttpServer({});
  const app = adapter.getInstance<Express>();
  const server = adapter.getHttpServer() as Server;
  const seen: Seen[] = [];
  let protoBefore: object | null = null;
  server.prependListener('request', (req: IncomingMessage) => {
    protoBefore = Object.getPrototypeOf(req) as object | null;
  });
  app.put('/o/:key', (req: Request, res: Response) => {
    (req as Request & { added?: number }).added = 1;
    seen.push({ req, res, protoBefore });
    req.resume();
    req.on('end', () => res.status(201).set('x-key', req.params.key).end(req.get('x-note')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { app, server, seen, port: (server.address() as AddressInfo).port };
}

function put(port: number, key: string): Promise<{ status: number; key?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { port, host: '127.0.0.1', method: 'PUT', path: `/o/${key}`, headers: { 'x-note': key } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, key: res.headers['x-key'] as string, body }),
        );
      },
    );
    req.on('error', reject);
    req.end('body');
  });
}

describe('GatewayExpressAdapter', () => {
  let ctx: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    ctx = await serve();
  });
  afterAll(() => new Promise<void>((resolve) => ctx.server.close(() => resolve())));

  it('serves Express routes with its request and response methods', async () => {
    expect(await put(ctx.port, 'first')).toEqual({ status: 201, key: 'first', body: 'first' });
    const { req, res } = ctx.seen[0];
    expect(req).toBeInstanceOf(IncomingMessage);
    expect(res).toBeInstanceOf(ServerResponse);
    expect(req.app).toBe(ctx.app);
    expect(res.app).toBe(ctx.app);
    expect(req.res).toBe(res);
    expect(res.req).toBe(req);
  });

  it("builds requests on Express's request prototype, so Express changes no prototype", async () => {
    await put(ctx.port, 'second');
    const { req, res, protoBefore } = ctx.seen[ctx.seen.length - 1];
    expect(protoBefore).toBe(ctx.app.request);
    expect(Object.getPrototypeOf(req)).toBe(ctx.app.request);
    expect(Object.getPrototypeOf(res)).toBe(ctx.app.response);
  });

  it('gives every request and response the same hidden class', async () => {
    await put(ctx.port, 'a');
    await put(ctx.port, 'b');
    const [a, b] = ctx.seen.slice(-2);
    expect(sameMap(a.req, b.req)).toBe(true);
    expect(sameMap(a.res, b.res)).toBe(true);
  });
});

describe('onPrototypeOf', () => {
  it("takes the stand-in's own properties and prototype", () => {
    class Base {
      base = true;
    }
    // As Express's request methods, which inherit from IncomingMessage.
    const methods = Object.create(Base.prototype, { hello: { value: () => 'hi' } }) as object;
    const current = Object.create(methods, { app: { value: 'app', enumerable: true } }) as object;
    const Shaped = onPrototypeOf(Base, current);
    const made = new Shaped() as Base & { hello(): string; app: string };
    expect(Object.getPrototypeOf(made)).toBe(Shaped.prototype);
    expect(made).toBeInstanceOf(Base);
    expect(made.base).toBe(true);
    expect(made.hello()).toBe('hi');
    expect(made.app).toBe('app');
    expect(Object.getPrototypeOf(Shaped.prototype)).toBe(methods);
  });
});
