/**
 * Closing a connection whose request body the gateway answered before reading it whole: a
 * refusal by auth, policy or limits, or a failure mid-body. Closing a TCP socket with unread
 * input makes the kernel send a reset instead of a FIN; the client, still writing, gets EPIPE or
 * ECONNRESET, and a reset that overtakes the answer (a lost segment, some TCP stacks, proxies)
 * takes the answer with it. RFC 9112 §9.6 ("Tear-down") asks servers to close in stages
 * instead: half-close after the answer, keep reading until the client is done or has surely had
 * the answer, then close. Here that reading is bounded in bytes and time; the bytes are dropped.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/**
 * How much of the rest of a body is read and dropped after an early answer. It lets a client
 * that writes its whole body before it reads (a blocking client: botocore, so boto3 and the aws
 * CLI) finish a body of typical part size (8 MiB for those, 5 MiB for lib-storage) and more,
 * and read the answer without a reset; a client sending more is cut off here.
 */
export const LINGER_MAX_BYTES = 16 * 1024 * 1024;

/** How long after an early answer the connection may stay open, at most, whatever it carries. */
export const LINGER_MAX_MS = 5_000;

/** Requests whose socket Node's HTTP parser no longer reads (a spliced body): never lingered on. */
const bypassed = new WeakSet<IncomingMessage>();
/** Sockets already lingering. */
const lingering = new WeakSet<Socket>();

/** Marks a request whose body is read past Node: what is left of it cannot be drained here. */
export function markBodyBypassesNode(req: IncomingMessage): void {
  bypassed.add(req);
}

/**
 * Call before answering a request whose body has not been read to its end, with a response that
 * closes the connection (`Connection: close`). Once the answer is sent the gateway half-closes,
 * which tells most clients to stop sending, and reads and drops the rest of the body; the socket
 * is destroyed when the body ends, the client closes, LINGER_MAX_BYTES more bytes came in or
 * LINGER_MAX_MS passed, whichever comes first (or when the idle timeout cuts a silent client).
 */
export function lingerAfterAnswer(req: IncomingMessage): void {
  const socket = req.socket;
  if (bypassed.has(req) || req.readableEnded || socket.destroyed || lingering.has(socket)) return;
  lingering.add(socket);
  let drained = 0;
  let bodyEnded = false;
  let answered = false;
  const cut = () => socket.destroy();
  const close = () => {
    // Node's own destroySoon: end, then destroy once the answer is flushed.
    delete (socket as unknown as { destroySoon?: unknown }).destroySoon;
    socket.destroySoon();
  };
  const timer = setTimeout(cut, LINGER_MAX_MS);
  const onData = (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > LINGER_MAX_BYTES) cut();
  };
  const onEnd = () => {
    bodyEnded = true;
    if (answered) close();
  };
  // A listener of our own keeps Node from dumping the request, which would remove it.
  req.on('data', onData);
  req.once('end', onEnd);
  socket.once('close', () => {
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', onEnd);
  });
  // Node's HTTP server calls this once a response that closes the connection is flushed; its
  // own version would destroy the socket as soon as the FIN is written.
  socket.destroySoon = () => {
    answered = true;
    if (socket.writable) socket.end();
    if (bodyEnded) close();
  };
  // Whatever read the body before (a verifier, a backend request) gets none of the rest.
  req.unpipe();
  req.resume();
}
