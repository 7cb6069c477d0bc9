// The tracing work of one small PutObject, without the rest of the gateway: the built gateway's
// own span code (dist/), called as the upload path calls it, N times in a row. The server span
// middleware and then the access log's middleware (a pino logger at warn, as the benches run the
// gateway), in the order app.setup.ts installs them, with a stand-in request and response; the
// route's name on the server span, the upload span of nestjs-otel's @Span, its attributes, the
// backend client span with its traceparent, and the ends of all three. Every sampled span is
// encoded and exported to the OTLP/HTTP sink at ENDPOINT. With `off` the server span middleware
// passes straight through and the access log keeps its store in nestjs-pino's
// AsyncLocalStorage, as in an untraced gateway. bench/span-instructions.sh counts its
// instructions.
//
//   node bench/span-pipeline.js off|never|always N ENDPOINT
require('reflect-metadata'); // nestjs-otel's @Span copies the method's metadata, as in the app
const { EventEmitter } = require('node:events');
const { join } = require('node:path');

const [mode, n, endpoint] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
const dist = (path) => join(__dirname, '..', 'dist', 'src', path);
const { tracingSchema } = require(dist('observability/observability.schema'));
const { startTracing } = require(dist('observability/tracing/start-tracing'));
const { serverSpan } = require(dist('observability/tracing/server-span'));
const { startClientSpan } = require(dist('observability/tracing/client-span'));
const spans = require(dist('observability/tracing/spans'));
const { accessLog } = require(dist('observability/logging/access-log'));
const { Span } = require('nestjs-otel/lib/tracing/decorators/span');
const pino = require('pino');

if (mode !== 'off') {
  startTracing(
    tracingSchema.parse({
      enabled: true,
      sampling: { strategy: mode },
      otlp: { endpoint },
      // Room for every span of a burst: the loop ends spans faster than a gateway would.
      batch: { max_queue_size: 100000, max_export_batch_size: 512 },
    }),
    {},
  );
}

const quiet = ['/health', '/metrics'];
const spanMiddleware = serverSpan(quiet);
const logMiddleware = accessLog(pino({ level: 'warn' }, pino.destination('/dev/null')), quiet);
const target = { scheme: 'http', host: '127.0.0.1', port: 9000 };
const s3 = { route: { name: 'bench' }, operation: 'PutObject', key: 'k' };

/** The upload service's shape: an async method under nestjs-otel's @Span. */
class Uploads {
  async putObject(bytes) {
    spans.traceOperation(s3);
    const client = startClientSpan('PUT', target);
    await null; // the backend's answer
    client?.end({ status: 200 });
    spans.annotateOne(spans.ATTR.bytes, bytes);
    return 200;
  }
}
const descriptor = Object.getOwnPropertyDescriptor(Uploads.prototype, 'putObject');
Span('upload.put_object')(Uploads.prototype, 'putObject', descriptor);
Object.defineProperty(Uploads.prototype, 'putObject', descriptor);
const uploads = new Uploads();

const socket = { localPort: 8080, encrypted: false };
function request(i) {
  const req = {
    method: 'PUT',
    path: '/bench/k',
    headers: {},
    httpVersion: '1.1',
    socket,
    requestId: `req-${i & 31}`,
    readableLength: 0,
    push: () => true,
  };
  const res = new EventEmitter();
  res.headersSent = false;
  res.statusCode = 200;
  res.writableFinished = false;
  res.locals = {};
  return new Promise((resolve) => {
    spanMiddleware(req, res, () =>
      logMiddleware(req, res, () => {
        spans.nameServerSpan(req.method, s3, req.requestId);
        uploads.putObject(4096).then(() => {
          res.headersSent = true;
          res.writableFinished = true;
          res.emit('close');
          resolve();
        });
      }),
    );
  });
}

(async () => {
  for (let i = 0; i < n; i++) {
    await request(i);
    // Let the exporter's timers and sockets run now and then, as between a gateway's requests.
    if (i % 64 === 63) await new Promise((resolve) => setImmediate(resolve));
  }
  process.exit(0);
})();
