/**
 * Plain-HTTP tools for e2e tests that need exact control over what goes on the wire: raw request
 * paths (percent-encoding kept as written), streamed bodies, chunked transfer, S3 error parsing,
 * and small stand-in backends that record every request they receive.
 */
import { createHash } from 'node:crypto';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';

/** A request as it should be written, byte for byte where it matters. */
export interface WireRequest {
  method: string;
  /** Raw request target: sent exactly as given, percent-escapes included. */
  path: string;
  headers?: OutgoingHttpHeaders;
  /**
   * A Buffer or string gets a Content-Length unless the headers already say how the body is
   * framed; a stream is piped as it is, so give it a Content-Length (or get chunked encoding).
   */
  body?: Buffer | string | Readable;
}

/** A response, read to its end. */
export interface WireResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

function hasFraming(headers: OutgoingHttpHeaders): boolean {
  return Object.keys(headers).some((name) =>
    ['content-length', 'transfer-encoding'].includes(name.toLowerCase()),
  );
}

/**
 * Sends one request on a fresh connection (no keep-alive pool, so a connection the server
 * closed is never reused) and reads the whole response. A server that answers before it has read
 * the body, and then closes, still yields its response.
 */
export function send(baseUrl: string, req: WireRequest): Promise<WireResponse> {
  const url = new URL(baseUrl);
  const headers: OutgoingHttpHeaders = { ...(req.headers ?? {}) };
  const body = req.body;
  if ((typeof body === 'string' || Buffer.isBuffer(body)) && !hasFraming(headers)) {
    headers['content-length'] = Buffer.byteLength(body);
  }
  return new Promise((resolve, reject) => {
    let answered = false;
    const outgoing = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: req.method,
        path: req.path,
        headers,
        agent: false,
      },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const all = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: all,
            text: all.toString('utf8'),
          });
        });
      },
    );
    outgoing.on('error', (err) => {
      // EPIPE/ECONNRESET while still writing a body the server chose not to read.
      if (!answered) reject(err);
    });
    if (body === undefined) outgoing.end();
    else if (typeof body === 'string' || Buffer.isBuffer(body)) outgoing.end(body);
    else {
      body.on('error', (err) => outgoing.destroy(err));
      body.pipe(outgoing);
    }
  });
}

/** The fields of an S3 `<Error>` document. */
export interface S3ErrorBody {
  code?: string;
  message?: string;
  resource?: string;
  requestId?: string;
}

function unescapeXml(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#34;/g, '"')
    .replace(/&amp;/g, '&');
}

/** The text of the first `<name>` element of an XML document, entities decoded. */
export function xmlField(xml: string, name: string): string | undefined {
  const match = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml);
  return match === null ? undefined : unescapeXml(match[1]);
}

/** Reads the fields of an S3 error body; absent fields stay undefined. */
export function parseS3Error(xml: string): S3ErrorBody {
  return {
    code: xmlField(xml, 'Code'),
    message: xmlField(xml, 'Message'),
    resource: xmlField(xml, 'Resource'),
    requestId: xmlField(xml, 'RequestId'),
  };
}

/** Hex MD5 of some bytes. */
export function md5Hex(data: Buffer | string): string {
  return createHash('md5').update(data).digest('hex');
}

/** Base64 MD5 of some bytes, as Content-MD5 carries it. */
export function md5Base64(data: Buffer | string): string {
  return createHash('md5').update(data).digest('base64');
}

/** Hex SHA-256 of some bytes, as x-amz-content-sha256 carries it. */
export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** One request as a stand-in backend saw it. */
export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Bytes of the body received. */
  size: number;
  /** Hex MD5 of the body received. */
  md5: string;
}

/** How a stand-in backend answers a request, once it has read the whole body. */
export type BackendReply = (req: RecordedRequest, res: ServerResponse) => void;

/** A tiny HTTP server on 127.0.0.1 that records every request it receives. */
export interface RecordingBackend {
  url: string;
  /** Every request received since start (or the last reset()). */
  requests: RecordedRequest[];
  /** Requests received since start, never reset. */
  total(): number;
  reset(): void;
  close(): Promise<void>;
}

/** Answers like S3 after a successful PutObject: 200 with the body's MD5 as ETag. */
export const acceptLikeS3: BackendReply = (req, res) => {
  res.writeHead(200, { ETag: `"${req.md5}"`, 'Content-Length': 0 });
  res.end();
};

/**
 * Starts a recording backend. Each request is read to its end and recorded before `reply`
 * answers it (by default like S3 after a successful PutObject).
 */
export async function startRecordingBackend(
  reply: BackendReply = acceptLikeS3,
): Promise<RecordingBackend> {
  let requests: RecordedRequest[] = [];
  let total = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    total++;
    const hash = createHash('md5');
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      size += chunk.length;
    });
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        size,
        md5: hash.digest('hex'),
      };
      requests.push(recorded);
      reply(recorded, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    total: () => total,
    reset() {
      requests = [];
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

/** A loopback port that nothing listens on (it was free a moment ago, and is closed again). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve, reject) =>
    server.close((err) => (err ? reject(err) : resolve())),
  );
  return port;
}

/**
 * Polls `condition` until it holds. There is deliberately no deadline of its own: the jest test
 * timeout bounds the wait, so no assertion depends on how fast the machine is.
 */
export async function eventually(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The shape of the gateway's request ids: 16 upper-case hex digits, as S3 writes them. */
export const REQUEST_ID = /^[0-9A-F]{16}$/;

/** Asserts a successful S3 response: 200, an empty body, and a request id. */
export function expectOk(res: WireResponse): void {
  // Status and body together, so a failure shows the gateway's error document.
  expect({ status: res.status, body: res.text }).toEqual({ status: 200, body: '' });
  expect(res.headers['x-amz-request-id']).toMatch(REQUEST_ID);
}

/**
 * Asserts an S3 XML error response with the given status and code, whose `<RequestId>` is the
 * `x-amz-request-id` header; returns the parsed document for further checks.
 */
export function expectS3Error(res: WireResponse, status: number, code: string): S3ErrorBody {
  const error = parseS3Error(res.text);
  expect({ status: res.status, code: error.code }).toEqual({ status, code });
  expect(res.headers['content-type']).toMatch(/^application\/xml\b/);
  expect(res.headers['x-amz-request-id']).toMatch(REQUEST_ID);
  expect(error.requestId).toBe(res.headers['x-amz-request-id']);
  return error;
}

/**
 * Writes `head` (a request line and headers, without the blank line) on a raw socket, so that no
 * HTTP client adds framing headers of its own, and reads the response until the server closes.
 */
export async function rawExchange(baseUrl: string, head: string): Promise<WireResponse> {
  const url = new URL(baseUrl);
  const socket = connect(Number(url.port), url.hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('close', () => resolve());
    socket.write(`${head}\r\nConnection: close\r\n\r\n`, 'latin1');
  });
  const raw = Buffer.concat(chunks);
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`no complete response head in ${JSON.stringify(raw.toString())}`);
  const [statusLine, ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const headers: IncomingHttpHeaders = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const body = raw.subarray(end + 4);
  return {
    status: Number(statusLine.split(' ')[1]),
    headers,
    body,
    text: body.toString('utf8'),
  };
}
