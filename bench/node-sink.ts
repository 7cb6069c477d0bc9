/**
 * The throughput bench's S3-like upstream when gcc is missing: the same protocol as
 * bench/sink.c (see there), in Node. It costs more CPU than the C sink, since every body passes
 * through user space, so the bench says which one ran.
 *
 *   node -r ts-node/register/transpile-only bench/node-sink.ts [PORT]
 */
import { createHash, type Hash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a fast-mode PUT answers as its ETag (as the C sink). */
const FAST_ETAG = '"fa57fa57fa57fa57fa57fa57fa57fa57"';

const stats = { puts: 0, bytes: 0, verified: 0 };

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/__sink/stats') {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
    return;
  }
  if (req.headers['transfer-encoding'] !== undefined) {
    res.writeHead(501, { 'content-length': 0, connection: 'close' }).end();
    req.destroy();
    return;
  }
  const hash: Hash | undefined = req.url?.includes('/verify/') ? createHash('md5') : undefined;
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    hash?.update(chunk);
  });
  req.on('end', () => {
    const headers: Record<string, string | number> = {
      server: 'bench-sink',
      'x-amz-request-id': 'sink',
      'content-length': 0,
    };
    if (req.method === 'PUT') {
      stats.puts++;
      stats.bytes += bytes;
      if (hash !== undefined) stats.verified++;
      headers.etag = hash !== undefined ? `"${hash.digest('hex')}"` : FAST_ETAG;
    }
    res.writeHead(200, headers).end();
  });
});
// Bodies of 1 GiB through a slow proxy must never time out, and keep-alive must last the bench.
server.requestTimeout = 0;
server.headersTimeout = 0;
server.keepAliveTimeout = 600_000;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  console.log(`listening ${(server.address() as AddressInfo).port}`);
});
