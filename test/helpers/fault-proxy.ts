/**
 * An HTTP proxy between the gateway and the test Ceph that breaks on command. It forwards like
 * tap-proxy.ts (requests unchanged, so the gateway's SigV4 signatures still verify at Ceph) until
 * told to inject a fault, per request or per connection:
 *
 * - refuse: the listener closes, so new connections get ECONNREFUSED (`refuseConnections`), or
 *   new connections are accepted and reset at once (`resetConnections`, `setConnectionRule`);
 * - reset: the connection is reset (RST) after N bytes of the request body have passed;
 * - error: an S3 XML error (500 InternalError, 503 SlowDown) instead of the backend's answer;
 * - stall: the request is taken (its body read, or left unread) and never answered;
 * - delay-answer: the request reaches Ceph, but its answer is held for a while;
 * - slow-body: the request reaches Ceph, but its body is taken slowly (slow, never idle).
 *
 * Except for delay-answer and slow-body, a faulted request never completes at the backend: an error or stall
 * answers without asking Ceph, and a reset cuts the upstream request before its body is whole.
 * So whatever the gateway is told by such a fault, Ceph has stored nothing for that request.
 */
import {
  Agent,
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { forwardRequest } from './tap-proxy';

/** The S3 operation a backend request performs (path-style addressing). */
export type S3Operation =
  | 'PutObject'
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'ListParts'
  | 'ListMultipartUploads'
  | 'HeadBucket'
  | 'Other';

/** What happens to one request instead of being forwarded. */
export type Fault =
  /**
   * Reset the connection once `afterBytes` body bytes have been forwarded (0: right after the
   * head; never the whole body of a request with a Content-Length).
   */
  | { kind: 'reset'; afterBytes: number }
  /** Answer an S3 error document, after reading the body unless `readBody` is false. */
  | { kind: 'error'; status: number; code: string; readBody?: boolean }
  /** Never answer; the body is read (and dropped) unless `readBody` is false. */
  | { kind: 'stall'; readBody?: boolean }
  /** Forward the request (so the backend does the work), but hold its answer for `ms`. */
  | { kind: 'delay-answer'; ms: number }
  /** Forward the request, taking its body no faster than `bytesPerSecond`: slow, not stalled. */
  | { kind: 'slow-body'; bytesPerSecond: number };

/** 500 InternalError, as a backend with a broken disk answers. */
export const INTERNAL_ERROR = { kind: 'error', status: 500, code: 'InternalError' } as const;
/** 503 SlowDown, as a throttling backend answers. */
export const SLOW_DOWN = { kind: 'error', status: 503, code: 'SlowDown' } as const;

/** One request as the proxy saw it, before deciding what to do with it. */
export interface ProxiedRequest {
  method: string;
  url: string;
  operation: S3Operation;
  /** For UploadPart. */
  partNumber?: number;
  /** Declared body length (0 when the request has no body). */
  contentLength: number;
  /** Which connection it came on (connections are numbered from 1 in accept order). */
  connection: number;
}

/** A request and what the proxy did with it. */
export interface ProxyLogEntry extends ProxiedRequest {
  outcome: 'forwarded' | Fault['kind'];
  /** For a forwarded request: ms from its arrival to the end of its body and to the answer. */
  timing?: { bodyMs?: number; answerMs?: number };
}

/** Chooses a fault for a request, or undefined to forward it. */
export type FaultRule = (req: ProxiedRequest) => Fault | undefined;

/** Which requests a queued fault applies to. */
export type RequestMatch =
  S3Operation | readonly S3Operation[] | ((req: ProxiedRequest) => boolean);

/** A running fault proxy. */
export interface FaultProxy {
  /** Base URL to give the gateway as the backend endpoint. */
  readonly url: string;
  readonly port: number;
  /** Every request received, in order, with what was done with it. */
  readonly log: readonly ProxyLogEntry[];
  /** Applies `fault` to the next `times` requests that match (queued faults go first). */
  failNext(match: RequestMatch, fault: Fault, times?: number): void;
  /** Consulted for every request no queued fault took (for random faults); undefined clears it. */
  setRule(rule: FaultRule | undefined): void;
  /** Resets the next `count` new connections as soon as they are accepted. */
  resetConnections(count: number): void;
  /** Consulted for every new connection: true resets it at once; undefined clears it. */
  setConnectionRule(rule: ((connection: number) => boolean) | undefined): void;
  /** Stops listening (new connections: ECONNREFUSED) and closes idle keep-alive connections. */
  refuseConnections(): void;
  /** Listens again on the same port. */
  acceptConnections(): Promise<void>;
  /** Clears every queued fault, rule and connection reset, releases stalls, listens again. */
  heal(): Promise<void>;
  /** Drops every stalled request's connection. */
  releaseStalled(): void;
  /** Closes connections with no request in progress, so keep-alive pools must reconnect. */
  dropIdle(): void;
  /** Connections open now; `busy` have a request in progress, `stalled` are held by a fault. */
  connections(): { open: number; busy: number; stalled: number };
  /** How many requests met each outcome so far. */
  counts(): Record<ProxyLogEntry['outcome'], number>;
  close(): Promise<void>;
}

/** Classifies a path-style S3 request (`/bucket/key?query`). */
export function s3OperationOf(
  method: string,
  url: string,
): { operation: S3Operation; partNumber?: number } {
  const query = new URL(url, 'http://proxy').searchParams;
  const path = url.split('?')[0];
  const hasKey = path.replace(/^\/+/, '').includes('/');
  switch (method) {
    case 'PUT':
      if (query.has('uploadId') && query.has('partNumber')) {
        return { operation: 'UploadPart', partNumber: Number(query.get('partNumber')) };
      }
      return { operation: hasKey ? 'PutObject' : 'Other' };
    case 'POST':
      if (query.has('uploads')) return { operation: 'CreateMultipartUpload' };
      if (query.has('uploadId')) return { operation: 'CompleteMultipartUpload' };
      return { operation: 'Other' };
    case 'DELETE':
      return { operation: query.has('uploadId') ? 'AbortMultipartUpload' : 'Other' };
    case 'GET':
      if (query.has('uploadId')) return { operation: 'ListParts' };
      if (query.has('uploads')) return { operation: 'ListMultipartUploads' };
      return { operation: 'Other' };
    case 'HEAD':
      return { operation: hasKey ? 'Other' : 'HeadBucket' };
    default:
      return { operation: 'Other' };
  }
}

function matches(match: RequestMatch, req: ProxiedRequest): boolean {
  if (typeof match === 'function') return match(req);
  if (typeof match === 'string') return req.operation === match;
  return match.includes(req.operation);
}

function s3ErrorXml(code: string, resource: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    `<Error><Code>${code}</Code><Message>injected by the fault proxy</Message>` +
    `<Resource>${resource.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</Resource>` +
    '<RequestId>FAULT-PROXY</RequestId></Error>'
  );
}

/** Lets `limit` bytes through, then calls `cut` (once). */
class CutAfter extends Transform {
  private passed = 0;
  private done = false;

  constructor(
    private readonly limit: number,
    private readonly cut: () => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    if (this.done) {
      callback();
      return;
    }
    const room = this.limit - this.passed;
    if (chunk.length < room) {
      this.passed += chunk.length;
      callback(null, chunk);
      return;
    }
    this.done = true;
    this.passed = this.limit;
    callback(null, chunk.subarray(0, room));
    // Let the bytes before the cut reach the backend first.
    setImmediate(this.cut);
  }
}

/** Passes bytes on no faster than `bytesPerSecond`; backpressure slows the sender to match. */
class Pace extends Transform {
  constructor(private readonly bytesPerSecond: number) {
    super({ highWaterMark: 16 * 1024 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    setTimeout(() => callback(null, chunk), (chunk.length / this.bytesPerSecond) * 1000);
  }
}

/** Starts a fault proxy on a free loopback port in front of `target` (e.g. Ceph's endpoint). */
export async function startFaultProxy(
  target: string,
  options: { keepLog?: boolean } = {},
): Promise<FaultProxy> {
  const upstream = new URL(target);
  // Upstream connections close after each request: the proxy keeps no pool of its own, so the
  // only pooled connections are the gateway's (towards the proxy).
  const agent = new Agent({ keepAlive: false });
  const log: ProxyLogEntry[] = [];
  const counts: Record<ProxyLogEntry['outcome'], number> = {
    forwarded: 0,
    reset: 0,
    error: 0,
    stall: 0,
    'delay-answer': 0,
    'slow-body': 0,
  };
  const queue: Array<{ match: RequestMatch; fault: Fault; left: number }> = [];
  let rule: FaultRule | undefined;
  let connectionRule: ((connection: number) => boolean) | undefined;
  let resetsLeft = 0;
  let listening = false;
  let connectionCount = 0;
  const sockets = new Map<Socket, { id: number; busy: number }>();
  const stalled = new Set<ServerResponse>();

  const choose = (req: ProxiedRequest): Fault | undefined => {
    const queued = queue.find((entry) => entry.left > 0 && matches(entry.match, req));
    if (queued !== undefined) {
      queued.left -= 1;
      if (queued.left === 0) queue.splice(queue.indexOf(queued), 1);
      return queued.fault;
    }
    return rule?.(req);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket;
    const state = sockets.get(socket);
    if (state !== undefined) {
      state.busy += 1;
      res.once('close', () => (state.busy -= 1));
    }
    const method = req.method ?? '';
    const url = req.url ?? '/';
    const length = Number(req.headers['content-length'] ?? 0);
    const seen: ProxiedRequest = {
      method,
      url,
      ...s3OperationOf(method, url),
      contentLength: Number.isFinite(length) ? length : 0,
      connection: state?.id ?? 0,
    };
    const fault = choose(seen);
    const outcome = fault?.kind ?? 'forwarded';
    counts[outcome] += 1;
    const entry: ProxyLogEntry = { ...seen, outcome };
    if (options.keepLog !== false) log.push(entry);

    if (fault === undefined) {
      const arrived = Date.now();
      const timing: NonNullable<ProxyLogEntry['timing']> = {};
      entry.timing = timing;
      req.once('end', () => (timing.bodyMs = Date.now() - arrived));
      forwardRequest(upstream, req, res, { agent }).once(
        'response',
        () => (timing.answerMs = Date.now() - arrived),
      );
      return;
    }
    switch (fault.kind) {
      case 'reset': {
        const hasBody = seen.contentLength > 0 || req.headers['transfer-encoding'] !== undefined;
        // Never the whole body: the backend must not be able to complete the request.
        const limit =
          seen.contentLength > 0
            ? Math.min(fault.afterBytes, seen.contentLength - 1)
            : fault.afterBytes;
        if (!hasBody || limit <= 0) {
          socket.resetAndDestroy();
          return;
        }
        const cutter = new CutAfter(limit, () => {
          forward.destroy();
          socket.resetAndDestroy();
        });
        req.pipe(cutter);
        const forward = forwardRequest(upstream, req, res, { agent, body: cutter });
        return;
      }
      case 'error': {
        const answer = () => {
          const xml = s3ErrorXml(fault.code, url.split('?')[0]);
          res.writeHead(fault.status, {
            'content-type': 'application/xml',
            'content-length': Buffer.byteLength(xml),
            'x-amz-request-id': 'FAULT-PROXY',
            ...(fault.readBody === false ? { connection: 'close' } : {}),
          });
          res.end(xml);
        };
        if (fault.readBody === false) {
          answer();
        } else {
          req.resume();
          req.once('end', answer);
        }
        return;
      }
      case 'delay-answer':
        forwardRequest(upstream, req, res, { agent, answerDelayMs: fault.ms });
        return;
      case 'slow-body': {
        const paced = new Pace(fault.bytesPerSecond);
        req.pipe(paced);
        forwardRequest(upstream, req, res, { agent, body: paced });
        return;
      }
      case 'stall':
        stalled.add(res);
        res.once('close', () => stalled.delete(res));
        if (fault.readBody === false) req.pause();
        else req.resume();
        return;
    }
  };

  const server: Server = createServer(handle);
  // Requests are held for as long as the gateway waits; never time them out here.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket: Socket) => {
    connectionCount += 1;
    const id = connectionCount;
    socket.on('error', () => undefined);
    if (resetsLeft > 0 || connectionRule?.(id) === true) {
      if (resetsLeft > 0) resetsLeft -= 1;
      socket.resetAndDestroy();
      return;
    }
    sockets.set(socket, { id, busy: 0 });
    socket.once('close', () => sockets.delete(socket));
  });

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        listening = true;
        resolve();
      });
    });
  await listen(0);
  const { port } = server.address() as AddressInfo;

  const releaseStalled = () => {
    for (const res of stalled) res.socket?.destroy();
    stalled.clear();
  };

  const proxy: FaultProxy = {
    url: `http://127.0.0.1:${port}`,
    port,
    log,
    failNext(match, fault, times = 1) {
      queue.push({ match, fault, left: times });
    },
    setRule(next) {
      rule = next;
    },
    resetConnections(count) {
      resetsLeft = count;
    },
    setConnectionRule(next) {
      connectionRule = next;
    },
    refuseConnections() {
      if (listening) {
        listening = false;
        server.close();
      }
      server.closeIdleConnections();
    },
    async acceptConnections() {
      if (!listening) await listen(port);
    },
    async heal() {
      queue.length = 0;
      rule = undefined;
      connectionRule = undefined;
      resetsLeft = 0;
      releaseStalled();
      await proxy.acceptConnections();
    },
    releaseStalled,
    dropIdle() {
      server.closeIdleConnections();
    },
    connections() {
      let busy = 0;
      for (const state of sockets.values()) if (state.busy > 0) busy += 1;
      return { open: sockets.size, busy, stalled: stalled.size };
    },
    counts: () => ({ ...counts }),
    close: () =>
      new Promise<void>((resolve) => {
        queue.length = 0;
        rule = undefined;
        releaseStalled();
        for (const socket of sockets.keys()) socket.destroy();
        agent.destroy();
        if (!listening) {
          resolve();
          return;
        }
        listening = false;
        server.close(() => resolve());
      }),
  };
  return proxy;
}
