/**
 * The Nest HTTP adapter of the gateway: Express, with each request and response built directly on
 * Express's prototypes.
 *
 * For every request, Express (5) calls `Object.setPrototypeOf` on `req` and `res` to give them its
 * methods (`res.status`, `req.get` ...). In V8, an object whose prototype is changed after it was
 * built gets a hidden class (map) of its own: every property that Node, the router and the
 * gateway then add creates a new map, and every property access that sees many kinds of object
 * misses V8's shared inline cache. With a small upload that was about a quarter of the gateway's
 * CPU per request (bench/throughput.bench.ts, 4 KiB × 64; docs/OPERATIONS.md).
 *
 * Here Node's server constructs requests and responses from subclasses of IncomingMessage and
 * ServerResponse whose prototypes are what Express would set (`app.request` and `app.response`
 * become those prototypes), so Express's `setPrototypeOf` finds the prototype already in place and
 * changes nothing, and all requests share their maps.
 */
import { IncomingMessage, ServerResponse, createServer } from 'node:http';
import type { NestApplicationOptions } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import type { Express } from 'express';

/** A constructor of Node's HTTP messages. */
type MessageClass<T> = new (...args: never[]) => T;

/**
 * A subclass of `Base` whose prototype stands in for `current`: it has `current`'s own properties
 * (Express's `app` link) and `current`'s prototype (Express's request or response methods).
 */
export function onPrototypeOf<T extends object>(
  Base: MessageClass<T>,
  current: object,
): MessageClass<T> {
  const Shaped = class extends (Base as new (...args: never[]) => object) {};
  Object.setPrototypeOf(Shaped.prototype, Object.getPrototypeOf(current) as object | null);
  for (const key of Reflect.ownKeys(current)) {
    Object.defineProperty(
      Shaped.prototype,
      key,
      Object.getOwnPropertyDescriptor(current, key) as PropertyDescriptor,
    );
  }
  return Shaped as unknown as MessageClass<T>;
}

/** ExpressAdapter whose plain-HTTP server makes requests and responses on Express's prototypes. */
export class GatewayExpressAdapter extends ExpressAdapter {
  override initHttpServer(options: NestApplicationOptions): void {
    // HTTPS and connection tracking keep Nest's own server (the gateway uses neither).
    if (options.httpsOptions !== undefined || options.forceCloseConnections === true) {
      super.initHttpServer(options);
      return;
    }
    const app = this.getInstance<Express>();
    const Request = onPrototypeOf(IncomingMessage, app.request);
    const Response = onPrototypeOf(ServerResponse, app.response);
    app.request = Request.prototype as Express['request'];
    app.response = Response.prototype as Express['response'];
    this.setHttpServer(
      createServer(
        {
          IncomingMessage: Request as unknown as typeof IncomingMessage,
          ServerResponse: Response as unknown as typeof ServerResponse,
        },
        app,
      ),
    );
  }
}
