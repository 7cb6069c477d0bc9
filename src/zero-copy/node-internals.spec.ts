/**
 * Pins the Node.js HTTP internals the splice path relies on (node-internals.ts). If a Node
 * upgrade renames or changes any of them, these tests fail loudly, and the gateway's start-up
 * probe turns zero-copy off, instead of spliced uploads corrupting data.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import {
  missingInternals,
  resumeReading,
  skipBody,
  socketFd,
  stopReading,
  takeBuffered,
} from './node-internals';
import { probeNodeInternals } from './zero-copy.service';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function serve(handler: Handler): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A raw client connection that collects everything the server sends. */
async function rawClient(port: number): Promise<{ socket: Socket; received: () => string }> {
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  let text = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
  return { socket, received: () => text };
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!condition()) throw new Error('condition not reached');
}

describe('Node HTTP internals used by the splice path', () => {
  it('has every piece on a real server socket (the start-up probe agrees)', async () => {
    let missing: string[] | undefined;
    let fd: number | undefined;
    const { server, port } = await serve((req, res) => {
      missing = missingInternals(req.socket);
      fd = socketFd(req.socket);
      req.resume();
      res.end();
    });
    try {
      const client = await rawClient(port);
      client.socket.write('PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc');
      await until(() => missing !== undefined);
      client.socket.destroy();
    } finally {
      await close(server);
    }
    expect(missing).toEqual([]);
    expect(fd).toEqual(expect.any(Number));
    expect(await probeNodeInternals()).toEqual([]);
  });

  it('stops reading: body bytes sent after stopReading stay in the kernel, unseen by Node', async () => {
    let seen = -1;
    let handled!: () => void;
    const done = new Promise<void>((resolve) => (handled = resolve));
    const { server, port } = await serve((req, res) => {
      stopReading(req.socket);
      const before = takeBuffered(req).reduce((n, c) => n + c.length, 0);
      setTimeout(() => {
        // Nothing more arrived in Node, although the client has sent more meanwhile.
        seen = before + takeBuffered(req).reduce((n, c) => n + c.length, 0);
        res.end();
        handled();
      }, 200);
    });
    try {
      const client = await rawClient(port);
      client.socket.write('PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n');
      await new Promise((r) => setTimeout(r, 50));
      client.socket.write('0123456789');
      await done;
      client.socket.destroy();
    } finally {
      await close(server);
    }
    expect(seen).toBe(0);
  });

  it('takes the body bytes Node has already read', async () => {
    let taken = '';
    const { server, port } = await serve((req, res) => {
      setTimeout(() => {
        stopReading(req.socket);
        taken = Buffer.concat(takeBuffered(req)).toString();
        res.end();
      }, 100);
    });
    try {
      const client = await rawClient(port);
      client.socket.write('PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello');
      await until(() => client.received().includes('HTTP/1.1 200'));
      client.socket.destroy();
    } finally {
      await close(server);
    }
    expect(taken).toBe('hello');
  });

  it('skipBody walks past the body with no body callback in place, so Node copies none of it', async () => {
    // Node's parser copies each body chunk into a new Buffer only for a callback that is a
    // function; the accessor records what the parser found there while skipBody ran.
    const found: string[] = [];
    const { server, port } = await serve((req, res) => {
      setImmediate(() => {
        stopReading(req.socket);
        const parser = (req.socket as unknown as { parser: Record<number, unknown> }).parser;
        const index = (parser.constructor as unknown as { kOnBody: number }).kOnBody;
        let current = parser[index];
        Object.defineProperty(parser, index, {
          configurable: true,
          get: () => {
            found.push(typeof current);
            return current;
          },
          set: (value: unknown) => {
            found.push(`set ${typeof value}`);
            current = value;
          },
        });
        skipBody(req, 3 * 1024 * 1024 + 5);
        resumeReading(req.socket);
        req.resume();
        res.end('done');
      });
    });
    try {
      const client = await rawClient(port);
      client.socket.write('PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3145733\r\n\r\n');
      await until(() => client.received().includes('done'));
      client.socket.destroy();
    } finally {
      await close(server);
    }
    // skipBody saves the callback, removes it, the parser looks once per chunk (four chunks of
    // at most 1 MiB), and skipBody puts it back.
    expect(found).toEqual([
      'function',
      'set undefined',
      'undefined',
      'undefined',
      'undefined',
      'undefined',
      'set function',
    ]);
  });

  it('skipBody completes the message so the next request on the connection is served', async () => {
    const seen: Array<{ url: string | undefined; ended: boolean }> = [];
    const { server, port } = await serve((req, res) => {
      if (req.url === '/spliced') {
        // Handlers run after the parser returned (as the gateway's async guards ensure): the
        // parser cannot be driven from inside its own callback.
        setImmediate(() => {
          stopReading(req.socket);
          const buffered = takeBuffered(req);
          let ended = false;
          req.on('end', () => (ended = true));
          // The 6 body bytes went past Node (here: the client never sends them at all).
          skipBody(req, 6);
          resumeReading(req.socket);
          req.resume();
          setImmediate(() => {
            seen.push({ url: req.url, ended: ended && buffered.length === 0 });
            res.end('first');
          });
        });
      } else {
        req.resume();
        req.on('end', () => {
          seen.push({ url: req.url, ended: true });
          res.end('second');
        });
      }
    });
    try {
      const client = await rawClient(port);
      client.socket.write('PUT /spliced HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\n');
      await until(() => client.received().includes('first'));
      client.socket.write('PUT /next HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok');
      await until(() => client.received().includes('second'));
      client.socket.destroy();
    } finally {
      await close(server);
    }
    expect(seen).toEqual([
      { url: '/spliced', ended: true },
      { url: '/next', ended: true },
    ]);
  });
});
