/**
 * The Node.js HTTP server internals that splicing a request body relies on, in one place.
 * BENCH.md ("Pitfalls") explains each: Node's reader must be stopped in three ways at once, the
 * bytes Node already read must be taken from the request first, and after the body went past
 * Node, its HTTP parser must still be walked to the end of the message so that keep-alive works.
 * checkNodeInternals() runs at start-up (and in a regression test): if a Node upgrade changes
 * any of this, zero-copy turns itself off instead of corrupting data.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/** The parts of a TCP handle used here. */
interface TcpHandle {
  fd?: number;
  reading?: boolean;
  readStop(): number;
  readStart(): number;
}

/** The parts of Node's HTTP parser used here. */
interface HttpParser {
  execute(data: Buffer): number | Error;
  resume(): void;
  [callback: number]: unknown;
}

/** A server socket as Node's HTTP server keeps it. */
interface ServerSocket extends Socket {
  _handle: TcpHandle | null;
  _paused?: boolean;
  parser?: HttpParser | null;
}

function internals(socket: Socket): ServerSocket {
  return socket as ServerSocket;
}

/** Index of the body callback on an HTTP parser (HTTPParser.kOnBody, 3 in Node 20-24). */
function bodyCallbackIndex(parser: HttpParser): number | undefined {
  const index = (parser.constructor as { kOnBody?: unknown }).kOnBody;
  return typeof index === 'number' ? index : undefined;
}

/** The file descriptor of a plain TCP socket, or undefined (TLS, pipes, closed sockets). */
export function socketFd(socket: Socket): number | undefined {
  if ('encrypted' in socket) return undefined;
  const fd = internals(socket)._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Stops every way Node reads from a server socket, synchronously: the server's `_paused` flag
 * (so IncomingMessage's read() cannot restart the socket), the stream's pause, and the handle.
 */
export function stopReading(socket: Socket): void {
  const s = internals(socket);
  s._paused = true;
  socket.pause();
  const handle = s._handle;
  if (handle !== null) {
    handle.reading = false;
    handle.readStop();
  }
}

/** Restarts reading after stopReading(), so the next request on the connection is parsed. */
export function resumeReading(socket: Socket): void {
  const s = internals(socket);
  s._paused = false;
  socket.resume();
  const handle = s._handle;
  if (handle !== null && handle.reading !== true) {
    handle.reading = true;
    handle.readStart();
  }
}

/** Takes every body byte Node has already read into the request's buffer. */
export function takeBuffered(req: IncomingMessage): Buffer[] {
  const chunks: Buffer[] = [];
  for (;;) {
    const chunk = req.read() as Buffer | null;
    if (chunk === null) return chunks;
    chunks.push(chunk);
  }
}

const ZEROS = Buffer.alloc(1024 * 1024);

/**
 * Tells the request's HTTP parser that `remaining` body bytes went by (they were spliced past
 * it), without handing them to the request: the body callback is removed while zeros of that
 * length are parsed, then restored. The parser then completes the message as if it had read
 * the body, so the connection can carry the next request.
 *
 * Removed, not replaced by a no-op: for a function, Node's parser copies every body chunk into
 * a new Buffer before the call (node_http_parser.cc, on_body); for anything else it skips both.
 * With a no-op, walking past a 16 MiB body cost more CPU than splicing it saved.
 */
export function skipBody(req: IncomingMessage, remaining: number): void {
  const parser = internals(req.socket).parser;
  if (parser === undefined || parser === null) throw new Error('the request has no HTTP parser');
  const index = bodyCallbackIndex(parser);
  if (index === undefined) throw new Error('HTTPParser.kOnBody is unknown');
  const saved = parser[index];
  parser[index] = undefined;
  try {
    // Node pauses the parser itself when it ran while the socket was marked paused (our
    // stopReading); a paused parser would silently parse nothing.
    parser.resume();
    let left = remaining;
    while (left > 0) {
      const n = Math.min(left, ZEROS.length);
      const result = parser.execute(ZEROS.subarray(0, n));
      if (result instanceof Error) throw result;
      if (result !== n) throw new Error(`the HTTP parser took ${result} of ${n} skipped bytes`);
      left -= n;
    }
  } finally {
    parser[index] = saved;
  }
}

/**
 * Whether `socket`, a server-side request socket, has everything the splice path uses. Returns
 * the missing pieces (empty when all is there).
 */
export function missingInternals(socket: Socket): string[] {
  const s = internals(socket);
  const missing: string[] = [];
  if (!('_paused' in s)) missing.push('socket._paused');
  const handle = s._handle;
  if (handle === null || typeof handle.readStop !== 'function') missing.push('handle.readStop');
  if (handle === null || typeof handle.readStart !== 'function') missing.push('handle.readStart');
  if (handle === null || typeof handle.fd !== 'number') missing.push('handle.fd');
  if (handle === null || typeof handle.reading !== 'boolean') missing.push('handle.reading');
  const parser = s.parser;
  if (parser === undefined || parser === null || typeof parser.execute !== 'function') {
    missing.push('socket.parser.execute');
  } else if (bodyCallbackIndex(parser) === undefined) {
    missing.push('HTTPParser.kOnBody');
  } else if (typeof parser.resume !== 'function') {
    missing.push('socket.parser.resume');
  } else if (typeof parser[bodyCallbackIndex(parser)!] !== 'function') {
    missing.push('parser[kOnBody]');
  }
  return missing;
}
