/**
 * Issue 6 acceptance, tracing: the gateway runs as its own process (the http instrumentation must
 * patch `http` before Nest loads, as in production) and exports to an in-process OTLP/HTTP
 * receiver. Ceph sits behind a tap proxy that records the headers the backend receives, so the
 * test sees the traceparent the gateway really sent, and the bytes still land in Ceph.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import jwt from 'jsonwebtoken';
import { stringify } from 'yaml';
import {
  cephSettings,
  closeDirectS3,
  createTestBucket,
  destroyTestBucket,
  storedObject,
} from './helpers/ceph';
import { cephRoute, filesystemRoute } from './helpers/create-test-app';
import { storedKeys } from './helpers/filesystem-backend';
import {
  ensureGatewayBuilt,
  type GatewayProcess,
  SERVING_LINE,
  startGateway,
} from './helpers/gateway-process';
import { startOpaStandIn, type OpaStandIn } from './helpers/opa-standin';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from './helpers/otlp-receiver';
import { freePort } from './helpers/processes';
import { startTapProxy, type TapProxy } from './helpers/tap-proxy';
import { send } from './helpers/wire';

const REGION = 'us-east-1';
const MiB = 1024 * 1024;
const KEY = {
  access_key: 'MIZUCHITRACE00000001',
  secret_key: 'tracing-e2e-secret-0123456789abcdefghij',
  subject: 'alice@example.com',
};
const JWT_SECRET = 'tracing-e2e-jwt-secret-0123456789abcdef';
const JWT_SUBJECT = 'carol-the-uploader';
const CLAIM_VALUE = 'claim-value-that-must-not-leak';
const SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;

function hashOf(subject: string): string {
  return createHash('sha256').update(subject).digest('hex').slice(0, 16);
}

function md5(data: Buffer | string): string {
  return createHash('md5').update(data).digest('hex');
}

/** Every string an exported span carries: name, attribute and event values. */
function spanStrings(span: ReceivedSpan): string[] {
  const values = [
    span.name,
    ...Object.values(span.attributes),
    ...span.events.flatMap((e) => [e.name, ...Object.values(e.attributes)]),
  ];
  return values.map((v) =>
    typeof v === 'string'
      ? v
      : JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)),
  );
}

function statusOf(span: ReceivedSpan): unknown {
  return span.attributes['http.response.status_code'] ?? span.attributes['http.status_code'];
}

/** Writes a config file for a gateway process and starts it; resolves with its base URL. */
async function startTracedGateway(
  dir: string,
  name: string,
  config: Record<string, unknown>,
): Promise<{ gateway: GatewayProcess; url: string }> {
  const port = await freePort();
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      server: { address: `127.0.0.1:${port}` },
      logging: { level: 'info', format: 'json' },
      ...config,
    }),
  );
  const gateway = startGateway(['--config', file], {
    env: { ...process.env, MIZUCHI_UPLOAD_ID_SECRET: 'tracing-e2e-upload-id-secret-0123456789' },
  });
  const [, url] = await gateway.waitForStdout(SERVING_LINE);
  return { gateway, url };
}

describe('Tracing: one trace from the client through the gateway to the backend', () => {
  let dir: string;
  let bucket: string;
  let receiver: OtlpReceiver;
  let tap: TapProxy;
  let opa: OpaStandIn;
  let gateway: GatewayProcess | undefined;
  let url: string;
  let client: S3Client;

  /** An SDK client whose requests carry `traceparent` (when set) as a caller's would. */
  let outgoingTraceparent: string | undefined;

  beforeAll(async () => {
    await ensureGatewayBuilt();
    dir = mkdtempSync(join(tmpdir(), 'mizuchi-tracing-'));
    bucket = await createTestBucket('tracing');
    receiver = await startOtlpReceiver();
    tap = await startTapProxy(cephSettings().endpoint);
    opa = await startOpaStandIn({ 'mizuchi/upload/allow': () => true });
    const viaTap = { endpoint: tap.url };
    ({ gateway, url } = await startTracedGateway(dir, 'traced', {
      buckets: [
        cephRoute('signed', bucket, {
          s3: viaTap,
          auth: { enabled: true, sigv4: { region: REGION, credentials: [KEY] } },
          authz: {
            enabled: true,
            provider: 'opa',
            opa: { url: opa.url, policy_path: 'mizuchi/upload/allow', cache_ttl_seconds: 0 },
          },
          upload: { multipart_threshold: '5MiB', part_size: '5MiB' },
        }),
        cephRoute('tokens', bucket, {
          s3: viaTap,
          auth: { enabled: true, jwt: { algorithms: ['HS256'], secret: JWT_SECRET } },
        }),
      ],
      tracing: {
        enabled: true,
        otlp: { endpoint: receiver.endpoint },
        // The default: every request is sampled (ratio 1) unless its caller says it is not.
        sampling: { strategy: 'parent_based' },
        batch: { scheduled_delay_millis: 100 },
      },
    }));
    client = new S3Client({
      endpoint: url,
      forcePathStyle: true,
      region: REGION,
      credentials: { accessKeyId: KEY.access_key, secretAccessKey: KEY.secret_key },
    });
    client.middlewareStack.add(
      (next) => (args) => {
        const request = args.request as { headers: Record<string, string> };
        if (outgoingTraceparent !== undefined) request.headers.traceparent = outgoingTraceparent;
        return next(args);
      },
      { step: 'build', name: 'traceparentForTests' },
    );
  });

  afterAll(async () => {
    client?.destroy();
    await gateway?.stop('SIGKILL');
    await tap?.close();
    await opa?.close();
    await receiver?.stop();
    if (bucket !== undefined) await destroyTestBucket(bucket);
    closeDirectS3();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    outgoingTraceparent = undefined;
  });

  /** The spans of one trace, once the server span and `names` have all arrived. */
  async function traceOf(traceId: string, names: string[]): Promise<ReceivedSpan[]> {
    const spans = await receiver.waitForSpans((all) => {
      const mine = all.filter((s) => s.traceId === traceId);
      return names.every((n) => mine.some((s) => s.name === n));
    });
    return spans.filter((s) => s.traceId === traceId);
  }

  function only(spans: ReceivedSpan[], name: string): ReceivedSpan {
    const found = spans.filter((s) => s.name === name);
    expect(found.map((s) => s.name)).toEqual([name]);
    return found[0];
  }

  it('continues the caller trace: server, auth, authz, upload and backend spans share its trace id', async () => {
    const traceId = randomBytes(16).toString('hex');
    const callerSpanId = randomBytes(8).toString('hex');
    outgoingTraceparent = `00-${traceId}-${callerSpanId}-01`;
    const body = `traced body ${randomBytes(8).toString('hex')}`;
    tap.requests.length = 0;

    await client.send(
      new PutObjectCommand({ Bucket: 'signed', Key: 'traced/one.txt', Body: body }),
    );

    const spans = await traceOf(traceId, [
      'PUT signed',
      'auth.sigv4',
      'authz.opa',
      'upload.put_object',
    ]);
    const server = only(spans, 'PUT signed');
    expect(server.kind).toBe(SPAN_KIND.SERVER);
    expect(server.parentSpanId).toBe(callerSpanId);
    expect(server.attributes['mizuchi.route']).toBe('signed');
    expect(server.attributes['mizuchi.operation']).toBe('PutObject');
    expect(Number(statusOf(server))).toBe(200);

    const auth = only(spans, 'auth.sigv4');
    expect(auth.parentSpanId).toBe(server.spanId);
    expect(auth.attributes['mizuchi.auth.method']).toBe('sigv4');
    expect(auth.attributes['mizuchi.auth.result']).toBe('success');
    expect(auth.attributes['mizuchi.subject.hash']).toBe(hashOf(KEY.subject));

    const authz = only(spans, 'authz.opa');
    expect(authz.parentSpanId).toBe(server.spanId);
    expect(authz.attributes['mizuchi.authz.decision']).toBe('allow');
    expect(authz.attributes['mizuchi.authz.provider']).toBe('opa');

    const upload = only(spans, 'upload.put_object');
    expect(upload.parentSpanId).toBe(server.spanId);
    expect(upload.attributes['mizuchi.operation']).toBe('PutObject');
    expect(Number(upload.attributes['mizuchi.upload.bytes'])).toBe(Buffer.byteLength(body));
    // Keys are not recorded by default.
    expect(upload.attributes['mizuchi.object.key']).toBeUndefined();

    // The backend client span is the upload span's child, and its id is what the backend got.
    const backend = spans.filter(
      (s) => s.kind === SPAN_KIND.CLIENT && s.parentSpanId === upload.spanId,
    );
    expect(backend.map((s) => s.name)).toEqual(['PUT']);
    expect(Number(statusOf(backend[0]))).toBe(200);
    // The lean data client's own span (client-span.ts), not the http instrumentation's.
    expect(Object.keys(backend[0].attributes).sort()).toEqual([
      'http.request.method',
      'http.response.status_code',
      'server.address',
      'server.port',
      'url.scheme',
    ]);
    const seen = tap.requests.filter((r) => r.method === 'PUT' && r.url.includes('traced/one.txt'));
    expect(seen).toHaveLength(1);
    expect(seen[0].headers.traceparent).toBe(`00-${traceId}-${backend[0].spanId}-01`);

    const stored = await storedObject(bucket, 'traced/one.txt');
    expect(stored?.md5).toBe(md5(body));

    for (const span of spans) {
      for (const value of spanStrings(span)) {
        expect(value).not.toContain(KEY.secret_key);
        expect(value).not.toContain(KEY.subject);
        expect(value).not.toContain('traced/one.txt');
      }
    }
  });

  it('traces client multipart uploads: create, part, complete and abort', async () => {
    const traceIds: Record<string, string> = {};
    const traced = async <T>(label: string, run: () => Promise<T>): Promise<T> => {
      traceIds[label] = randomBytes(16).toString('hex');
      outgoingTraceparent = `00-${traceIds[label]}-${randomBytes(8).toString('hex')}-01`;
      return run();
    };
    const key = 'traced/multi.bin';
    const partOne = randomBytes(5 * MiB);
    const partTwo = randomBytes(1234);
    const created = await traced('create', () =>
      client.send(new CreateMultipartUploadCommand({ Bucket: 'signed', Key: key })),
    );
    const one = await traced('part1', () =>
      client.send(
        new UploadPartCommand({
          Bucket: 'signed',
          Key: key,
          UploadId: created.UploadId,
          PartNumber: 1,
          Body: partOne,
        }),
      ),
    );
    const two = await traced('part2', () =>
      client.send(
        new UploadPartCommand({
          Bucket: 'signed',
          Key: key,
          UploadId: created.UploadId,
          PartNumber: 2,
          Body: partTwo,
        }),
      ),
    );
    await traced('complete', () =>
      client.send(
        new CompleteMultipartUploadCommand({
          Bucket: 'signed',
          Key: key,
          UploadId: created.UploadId,
          MultipartUpload: {
            Parts: [
              { PartNumber: 1, ETag: one.ETag },
              { PartNumber: 2, ETag: two.ETag },
            ],
          },
        }),
      ),
    );
    const abandoned = await traced('create2', () =>
      client.send(new CreateMultipartUploadCommand({ Bucket: 'signed', Key: 'traced/gone.bin' })),
    );
    await traced('abort', () =>
      client.send(
        new AbortMultipartUploadCommand({
          Bucket: 'signed',
          Key: 'traced/gone.bin',
          UploadId: abandoned.UploadId,
        }),
      ),
    );

    const expected: Array<[string, string, string]> = [
      ['create', 'upload.multipart.create', 'CreateMultipartUpload'],
      ['part1', 'upload.multipart.part', 'UploadPart'],
      ['part2', 'upload.multipart.part', 'UploadPart'],
      ['complete', 'upload.multipart.complete', 'CompleteMultipartUpload'],
      ['abort', 'upload.multipart.abort', 'AbortMultipartUpload'],
    ];
    for (const [label, name, operation] of expected) {
      const spans = await traceOf(traceIds[label], [name]);
      const span = only(spans, name);
      expect(span.attributes['mizuchi.operation']).toBe(operation);
      const server = spans.find((s) => s.kind === SPAN_KIND.SERVER);
      expect(server?.attributes['mizuchi.operation']).toBe(operation);
      expect(span.parentSpanId).toBe(server?.spanId);
      // Every one of them reached the backend inside the same trace.
      expect(spans.some((s) => s.kind === SPAN_KIND.CLIENT && s.parentSpanId === span.spanId)).toBe(
        true,
      );
    }
    const [part1] = (await traceOf(traceIds.part1, ['upload.multipart.part'])).filter(
      (s) => s.name === 'upload.multipart.part',
    );
    expect(Number(part1.attributes['mizuchi.upload.part_number'])).toBe(1);
    expect(Number(part1.attributes['mizuchi.upload.bytes'])).toBe(5 * MiB);

    const stored = await storedObject(bucket, key);
    expect(stored?.size).toBe(partOne.length + partTwo.length);
  });

  it('traces auto-multipart: one upload.auto_multipart span over every backend call', async () => {
    const traceId = randomBytes(16).toString('hex');
    outgoingTraceparent = `00-${traceId}-${randomBytes(8).toString('hex')}-01`;
    const body = randomBytes(6 * MiB);
    await client.send(
      new PutObjectCommand({ Bucket: 'signed', Key: 'traced/auto.bin', Body: body }),
    );
    const spans = await traceOf(traceId, ['upload.put_object', 'upload.auto_multipart']);
    const auto = only(spans, 'upload.auto_multipart');
    expect(auto.parentSpanId).toBe(only(spans, 'upload.put_object').spanId);
    expect(Number(auto.attributes['mizuchi.upload.parts'])).toBe(2);
    // The same operation attributes as its parent; the key only with record_object_keys.
    expect(auto.attributes['mizuchi.route']).toBe('signed');
    expect(auto.attributes['mizuchi.operation']).toBe('PutObject');
    expect(auto.attributes['mizuchi.object.key']).toBeUndefined();
    const calls = spans
      .filter((s) => s.kind === SPAN_KIND.CLIENT && s.parentSpanId === auto.spanId)
      .map((s) => s.name)
      .sort();
    // CreateMultipartUpload, two UploadPart, CompleteMultipartUpload.
    expect(calls).toEqual(['POST', 'POST', 'PUT', 'PUT']);
    expect((await storedObject(bucket, 'traced/auto.bin'))?.md5).toBe(md5(body));
  });

  it.each([
    ['garbage', 'not-a-traceparent'],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${'1'.repeat(16)}-01`],
    ['an unknown version ff', `ff-${'a'.repeat(32)}-${'b'.repeat(16)}-01`],
  ])(
    'uploads with an invalid traceparent (%s) and starts a new root; no secret reaches a span',
    async (_label, traceparent) => {
      const token = jwt.sign({ sub: JWT_SUBJECT, department: CLAIM_VALUE }, JWT_SECRET, {
        algorithm: 'HS256',
        expiresIn: 300,
      });
      const key = `invalid/${randomBytes(4).toString('hex')}.txt`;
      const body = 'body under an invalid traceparent';
      const res = await send(url, {
        method: 'PUT',
        path: `/tokens/${key}`,
        headers: {
          authorization: `Bearer ${token}`,
          traceparent,
          tracestate: 'vendor=value',
          baggage: 'tenant=must-not-travel',
        },
        body,
      });
      expect(res.status).toBe(200);
      const requestId = String(res.headers['x-amz-request-id']);

      const all = await receiver.waitForSpans((spans) =>
        spans.some((s) => s.attributes['mizuchi.request_id'] === requestId),
      );
      const server = all.find((s) => s.attributes['mizuchi.request_id'] === requestId)!;
      expect(server.parentSpanId).toBe('');
      expect(server.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(server.traceId).not.toBe('0'.repeat(32));
      expect(traceparent).not.toContain(server.traceId);
      expect(server.status.code).not.toBe(2);
      const spans = await traceOf(server.traceId, ['auth.jwt', 'upload.put_object']);
      const auth = only(spans, 'auth.jwt');
      expect(auth.attributes['mizuchi.subject.hash']).toBe(hashOf(JWT_SUBJECT));
      for (const span of spans) {
        for (const value of spanStrings(span)) {
          expect(value).not.toContain(token);
          expect(value).not.toContain(token.split('.')[2]);
          expect(value).not.toContain(JWT_SECRET);
          expect(value).not.toContain(JWT_SUBJECT);
          expect(value).not.toContain(CLAIM_VALUE);
          expect(value).not.toContain(key);
        }
      }
      expect((await storedObject(bucket, key))?.md5).toBe(md5(body));
      // The backend gets the gateway's own trace context, never the client's baggage.
      const backendPut = tap.requests.find((r) => r.method === 'PUT' && r.url.includes(key));
      expect(backendPut?.headers.traceparent).toMatch(new RegExp(`^00-${server.traceId}-`));
      expect(backendPut?.headers.baggage).toBeUndefined();
    },
  );

  it('follows the caller’s unsampled decision: the backend gets its trace id, unsampled, and no span is exported', async () => {
    const unsampled = randomBytes(16).toString('hex');
    const callerSpanId = randomBytes(8).toString('hex');
    outgoingTraceparent = `00-${unsampled}-${callerSpanId}-00`;
    const body = `unsampled body ${randomBytes(8).toString('hex')}`;
    tap.requests.length = 0;

    await client.send(new PutObjectCommand({ Bucket: 'signed', Key: 'quiet/one.txt', Body: body }));

    const seen = tap.requests.filter((r) => r.method === 'PUT' && r.url.includes('quiet/one.txt'));
    expect(seen).toHaveLength(1);
    const sent = /^00-([0-9a-f]{32})-([0-9a-f]{16})-00$/.exec(String(seen[0].headers.traceparent));
    expect(sent?.[1]).toBe(unsampled);
    expect(sent?.[2]).not.toBe(callerSpanId);
    expect((await storedObject(bucket, 'quiet/one.txt'))?.md5).toBe(md5(body));

    // A sampled request after it: once its spans have arrived, any of the first would have too.
    const sampled = randomBytes(16).toString('hex');
    outgoingTraceparent = `00-${sampled}-${randomBytes(8).toString('hex')}-01`;
    await client.send(new PutObjectCommand({ Bucket: 'signed', Key: 'loud/two.txt', Body: 'two' }));
    await traceOf(sampled, ['PUT signed', 'auth.sigv4', 'authz.opa', 'upload.put_object']);
    expect(receiver.spans().filter((s) => s.traceId === unsampled)).toEqual([]);
  });

  it('writes the trace id on the log lines of a traced request', async () => {
    const traceId = randomBytes(16).toString('hex');
    outgoingTraceparent = `00-${traceId}-${randomBytes(8).toString('hex')}-01`;
    await client.send(
      new PutObjectCommand({ Bucket: 'signed', Key: 'traced/logged.txt', Body: 'logged' }),
    );
    await traceOf(traceId, ['upload.put_object']);
    const lines = gateway!
      .stdout()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const mine = lines.filter((line) => line.trace_id === traceId);
    expect(mine.length).toBeGreaterThan(0);
  });
});

describe('Tracing: a failing collector never touches uploads', () => {
  let dir: string;
  let root: string;
  let receiver: OtlpReceiver;
  let gateway: GatewayProcess | undefined;
  let url: string;

  beforeAll(async () => {
    await ensureGatewayBuilt();
    dir = mkdtempSync(join(tmpdir(), 'mizuchi-tracing-faults-'));
    root = mkdtempSync(join(tmpdir(), 'mizuchi-tracing-fs-'));
    receiver = await startOtlpReceiver();
    await receiver.stop();
    ({ gateway, url } = await startTracedGateway(dir, 'faults', {
      buckets: [filesystemRoute('resilient', root)],
      tracing: {
        enabled: true,
        otlp: { endpoint: receiver.endpoint, timeout_seconds: 1 },
        sampling: { strategy: 'always' },
        batch: { scheduled_delay_millis: 50, max_export_batch_size: 64, max_queue_size: 256 },
        resilience: {
          max_attempts: 2,
          initial_backoff_millis: 20,
          max_backoff_millis: 50,
          failure_threshold: 2,
          cooldown_seconds: 2,
        },
      },
    }));
  });

  afterAll(async () => {
    await gateway?.stop('SIGKILL');
    await receiver?.stop();
    for (const path of [dir, root])
      if (path !== undefined) rmSync(path, { recursive: true, force: true });
  });

  async function metricValue(name: string): Promise<number> {
    const res = await send(url, { method: 'GET', path: '/metrics' });
    const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(res.text);
    return match === null ? 0 : Number(match[1]);
  }

  async function readiness(): Promise<{ status: number; tracing: Record<string, unknown> }> {
    const res = await send(url, { method: 'GET', path: '/health/ready' });
    const body = JSON.parse(res.text) as { details: { tracing: Record<string, unknown> } };
    return { status: res.status, tracing: body.details.tracing };
  }

  async function uploadMany(prefix: string, count: number, concurrency = 8): Promise<number[]> {
    const statuses: number[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const i = next++;
          const res = await send(url, {
            method: 'PUT',
            path: `/resilient/${prefix}/${i}.txt`,
            body: `object ${i}`,
          });
          statuses.push(res.status);
        }
      }),
    );
    return statuses;
  }

  async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('with the collector unreachable: 200 uploads succeed, failures count, the breaker opens, readiness stays 200 and degraded', async () => {
    const statuses = await uploadMany('down', 200);
    expect(statuses).toHaveLength(200);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect((await storedKeys(root)).filter((k) => k.startsWith('down/'))).toHaveLength(200);

    await until(
      async () => (await metricValue('mizuchi_tracing_breaker_open')) === 1,
      'the breaker to open',
    );
    expect(await metricValue('mizuchi_tracing_export_failures_total')).toBeGreaterThanOrEqual(2);
    const ready = await readiness();
    expect(ready.status).toBe(200);
    expect(ready.tracing).toMatchObject({ status: 'up', exporter: 'degraded', breaker: 'open' });
    // Failures are logged at most once a minute.
    const reports = (gateway!.stdout() + gateway!.stderr())
      .split('\n')
      .filter((line) => line.includes('span export to'));
    expect(reports).toHaveLength(1);
    // Export runs in no request's context: the line names no request and no trace.
    const report = JSON.parse(reports[0]) as Record<string, unknown>;
    expect(report.context).toBe('Tracing');
    expect(report).not.toHaveProperty('request_id');
    expect(report).not.toHaveProperty('trace_id');
  });

  it('resumes exporting once the collector is back and the cool-down has passed', async () => {
    await receiver.restart();
    let round = 0;
    await until(async () => {
      await uploadMany(`back-${round++}`, 1, 1);
      return receiver.spans().some((s) => s.attributes['mizuchi.route'] === 'resilient');
    }, 'spans to reach the restarted receiver');
    await until(
      async () => (await metricValue('mizuchi_tracing_breaker_open')) === 0,
      'the breaker to close',
    );
    expect((await readiness()).tracing).toMatchObject({ exporter: 'ok', breaker: 'closed' });
  });

  it('keeps uploading while the collector answers 500, and counts the failures', async () => {
    const before = await metricValue('mizuchi_tracing_export_failures_total');
    receiver.respondWith(500);
    const statuses = await uploadMany('five-hundred', 40);
    expect(statuses.every((s) => s === 200)).toBe(true);
    await until(
      () => Promise.resolve(receiver.requests().some((r) => r.status === 500)),
      'an export answered 500',
    );
    await until(
      async () => (await metricValue('mizuchi_tracing_export_failures_total')) > before,
      'the failure counter to rise',
    );
    expect((await readiness()).status).toBe(200);
    receiver.respondWith(200);
  });

  it('keeps uploading while the collector is too slow to answer', async () => {
    // The breaker opened during the 500s; a trial export after the cool-down closes it again.
    let round = 0;
    await until(async () => {
      await uploadMany(`reclose-${round++}`, 1, 1);
      return (await metricValue('mizuchi_tracing_breaker_open')) === 0;
    }, 'the breaker to close');
    const before = await metricValue('mizuchi_tracing_export_failures_total');
    receiver.delay(3000);
    const statuses = await uploadMany('slow', 40);
    expect(statuses.every((s) => s === 200)).toBe(true);
    await until(
      async () => (await metricValue('mizuchi_tracing_export_failures_total')) > before,
      'a timed-out export to count as a failure',
    );
    receiver.delay(0);
    expect((await storedKeys(root)).filter((k) => k.startsWith('slow/'))).toHaveLength(40);
  });
});
