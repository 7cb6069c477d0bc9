/**
 * The throughput bench's `node-proxy` contender: the least a Node.js HTTP proxy can do, as a
 * floor for the gateway. Every request goes to the sink as it came (method, path, headers), over
 * a keep-alive agent, with the body piped through; the sink's answer comes back as it is. No
 * routing, authentication, signing, metrics or logging: what is left is Node's own HTTP cost,
 * which the gateway pays too.
 *
 *   node -r ts-node/register/transpile-only bench/node-proxy.ts SINK_PORT [PORT]
 */
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

const sinkPort = Number(process.argv[2]);
if (!Number.isInteger(sinkPort) || sinkPort <= 0) {
  throw new Error('usage: node-proxy.ts SINK_PORT [PORT]');
}
const agent = new Agent({ keepAlive: true, maxSockets: 128 });

const server = createServer((req, res) => {
  const upstream = request(
    {
      host: '127.0.0.1',
      port: sinkPort,
      method: req.method,
      path: req.url,
      headers: req.headers,
      agent,
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', () => {
    if (!res.headersSent) res.writeHead(502, { 'content-length': 0 });
    res.end();
  });
  req.pipe(upstream);
});
server.listen(Number(process.argv[3] ?? 0), '127.0.0.1', () => {
  console.log(`listening ${(server.address() as AddressInfo).port}`);
});
