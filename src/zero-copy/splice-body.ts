/**
 * A request body that is moved by splice(2) instead of through Node. The S3 backend hands it to
 * the AWS SDK like any stream; the SDK's HTTP handler calls `body.pipe(request)`, and here that
 * pipe sends the request head and the bytes Node had already read, then splices the rest of the
 * body from the client's socket straight into the backend's, and ends the request. The SDK
 * still signs the request, parses the answer and maps errors.
 *
 * The client connection stays usable: Node's parser is walked past the spliced bytes
 * (skipBody) before anything answers the client. If the transfer fails midway, the client
 * connection is in an unknown state and is closed once its answer has been sent.
 */
import { once } from 'node:events';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Readable, type Writable } from 'node:stream';
import { markBodyBypassesNode } from '../common/lingering-close';
import { addBodyBytes } from '../observability/logging/access-log';
import { resumeReading, skipBody, socketFd, stopReading, takeBuffered } from './node-internals';
import { type SpliceAddon, spliceOnce } from './splice-addon';

/** Settings of a SpliceBody. */
export interface SpliceBodyOptions {
  addon: SpliceAddon;
  pipeSize: number;
  idleTimeoutMs: number;
  /** Called once with the bytes spliced and the bytes Node had already read (written by Node). */
  onDone?: (spliced: number, buffered: number) => void;
}

type SocketWithTimeout = Socket & { timeout?: number };

/** The client's request body, to be spliced into one backend request. */
export class SpliceBody extends Readable {
  private started = false;
  private failed = false;

  constructor(
    private readonly req: IncomingMessage,
    readonly length: number,
    /** The client's hex SHA-256 of the body, for the backend to verify (undefined: unsigned). */
    readonly payloadSha256: string | undefined,
    private readonly options: SpliceBodyOptions,
  ) {
    super();
  }

  /** True once the body began moving; the request stream must not be read by anyone else. */
  get consumed(): boolean {
    return this.started;
  }

  override _read(): void {
    // Only pipe() into a ClientRequest moves this body; reading it as a stream is a bug.
    this.destroy(new Error('a spliced body cannot be read as a stream'));
  }

  override pipe<T extends NodeJS.WritableStream>(destination: T): T {
    const request = destination as unknown as ClientRequest;
    this.started = true;
    this.spliceInto(request).then(
      () => this.push(null),
      (err: unknown) => {
        // The SDK learns of the failure through its request; nobody listens on this stream.
        request.destroy(err instanceof Error ? err : new Error(String(err)));
        this.destroy();
      },
    );
    return destination;
  }

  private async spliceInto(request: ClientRequest): Promise<void> {
    const clientSocket = this.req.socket;
    stopReading(clientSocket);
    markBodyBypassesNode(this.req);
    const buffered = Buffer.concat(takeBuffered(this.req));
    const remaining = this.length - buffered.length;
    if (remaining < 0) throw new Error('the client sent more body bytes than its Content-Length');

    const upstream = await connectedSocket(request);
    // Head (and the bytes Node read) must be in the kernel before splice writes behind them.
    await writeThrough(request, upstream, buffered);
    if (remaining > 0) {
      const inFd = socketFd(clientSocket);
      const outFd = socketFd(upstream);
      if (inFd === undefined || outFd === undefined) throw new Error('a socket has no fd');
      const clientTimeout = (clientSocket as SocketWithTimeout).timeout ?? 0;
      // Node sees no traffic while the kernel moves the bytes; the addon's idle timeout rules.
      clientSocket.setTimeout(0);
      const restoreUpstreamTimeout = suspendIdleTimeout(upstream);
      const cancel = new AbortController();
      let answeredEarly = false;
      // A backend answers as soon as it has the last byte, which can be before the addon's
      // completion reaches JS: only a refusal (an error status) cuts the transfer short.
      const onResponse = (res: IncomingMessage) => {
        if ((res.statusCode ?? 0) < 300) return;
        answeredEarly = true;
        cancel.abort();
      };
      const onClose = () => cancel.abort();
      // An early answer (e.g. 403) or a destroyed request ends the transfer at once.
      request.once('response', onResponse);
      request.once('close', onClose);
      try {
        await spliceOnce(
          this.options.addon,
          {
            inFd,
            outFd,
            length: remaining,
            pipeSize: this.options.pipeSize,
            idleTimeoutMs: this.options.idleTimeoutMs,
          },
          cancel.signal,
        );
      } catch (err) {
        // A client that went away, or went quiet for the idle timeout, gets no answer (as on the
        // stream path): its socket (which Node no longer reads, so Node would never notice the
        // close) goes now. Otherwise answer first, then close.
        if ((err as { side?: string }).side === 'in') {
          // Let Node see the close first, so the request counts as a client abort (the upload's
          // signal says IncompleteBody) rather than as a backend failure.
          const res = (this.req as IncomingMessage & { res?: Writable & { closed: boolean } }).res;
          const responseClosed =
            res !== undefined && !res.closed ? once(res, 'close') : Promise.resolve();
          clientSocket.destroy();
          await responseClosed;
        } else {
          this.abandonClientConnection();
        }
        // The backend refused before taking the whole body: the SDK reads its answer (and the
        // unfinished request's socket is never reused).
        if (answeredEarly) return;
        throw err;
      } finally {
        // The wait for the backend's answer gets its deadline back, from the end of the body.
        restoreUpstreamTimeout();
        request.off('response', onResponse);
        request.off('close', onClose);
      }
      skipBody(this.req, remaining);
      clientSocket.setTimeout(clientTimeout);
    }
    resumeReading(clientSocket);
    // The request has ended for Node too ('end' fires), as after a streamed body.
    this.req.resume();
    addBodyBytes(this.req, remaining);
    this.options.onDone?.(remaining, buffered.length);
    request.end();
  }

  /** The client still has unsent body bytes in flight: answer, then close the connection. */
  private abandonClientConnection(): void {
    if (this.failed) return;
    this.failed = true;
    const res = (this.req as IncomingMessage & { res?: Writable & { shouldKeepAlive?: boolean } })
      .res;
    if (res !== undefined) {
      res.shouldKeepAlive = false;
      res.once('finish', () => this.req.socket.destroy());
      res.once('close', () => this.req.socket.destroy());
    } else {
      this.req.socket.destroy();
    }
  }
}

/**
 * Turns a socket's idle timeout off until the returned function is called, which starts it
 * afresh with the last value asked for meanwhile (else the one it had). A setTimeout() in
 * between is remembered, not applied: its timer would run down while the bytes move past Node.
 * The AWS SDK's NodeHttpHandler arms its socketTimeout on the backend socket at connect when it
 * is below 6 s, else 3 s after the request starts, which can be in the middle of a splice:
 * without this, the first would stay off for the wait for the answer, and the second would fire
 * during a splice that outlasts it.
 */
function suspendIdleTimeout(socket: Socket): () => void {
  let wanted = (socket as SocketWithTimeout).timeout ?? 0;
  socket.setTimeout(0);
  const held = (msecs: number, callback?: () => void): Socket => {
    wanted = msecs;
    // What net.Socket#setTimeout does with a callback.
    if (callback !== undefined) {
      if (msecs === 0) socket.removeListener('timeout', callback);
      else socket.once('timeout', callback);
    }
    return socket;
  };
  socket.setTimeout = held;
  return () => {
    // Back to the prototype's setTimeout.
    delete (socket as unknown as { setTimeout?: unknown }).setTimeout;
    socket.setTimeout(wanted);
  };
}

/** The request's socket once it is connected. */
async function connectedSocket(request: ClientRequest): Promise<Socket> {
  const socket = request.socket ?? ((await once(request, 'socket')) as [Socket])[0];
  if ((socket as Socket & { connecting: boolean }).connecting) await once(socket, 'connect');
  return socket;
}

/** Writes `data` (maybe empty) through the request and waits until it reached the kernel. */
async function writeThrough(request: ClientRequest, socket: Socket, data: Buffer): Promise<void> {
  if (data.length > 0) {
    await new Promise<void>((resolve, reject) =>
      request.write(data, (err) => (err ? reject(err) : resolve())),
    );
  } else {
    request.flushHeaders();
  }
  // Writes complete in order: when this empty write is done, everything before it is sent.
  await new Promise<void>((resolve, reject) =>
    socket.write(Buffer.alloc(0), (err) => (err ? reject(err) : resolve())),
  );
}
