/**
 * Fault injection: the backend, the client, the policy engines and the trace collector fail at
 * awkward moments. Whatever happens, the client gets a clear S3 error or a success, Ceph holds
 * nothing the client was not told was stored, no multipart upload is left, no descriptor leaks,
 * and the gateway keeps serving. Backend faults come from a proxy between the gateway and Ceph
 * (helpers/fault-proxy.ts); what landed is always read from Ceph directly.
 *
 * After every case (afterEach): the proxy is healed, a normal upload succeeds, every object in
 * the bucket is one the client was told was stored (byte for byte), no multipart upload is left,
 * and the process's descriptors return to their count before the suite (keep-alive pools are
 * closed first and the count is polled until it settles).
 *
 * Random client cuts are seeded; the seed is printed, and MIZUCHI_FAULT_SEED replays it.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AbortMultipartUploadCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import { checksumBase64 } from '@mizuchi/s3-protocol';
import { metrics } from '../src/observability/metrics';
import { tracingSchema } from '../src/observability/observability.schema';
import { startTracing, type TracingHandle } from '../src/observability/tracing/start-tracing';
import { InFlightUploads } from '../src/upload/in-flight-uploads';
import {
  cephSettings,
  closeDirectS3,
  createTestBucket,
  destroyTestBucket,
  directS3,
  listKeys,
  listMultipartUploads,
  storedObject,
} from './helpers/ceph';
import { cephRoute, createTestApp, type TestApp } from './helpers/create-test-app';
import {
  type Fault,
  type FaultProxy,
  INTERNAL_ERROR,
  type RequestMatch,
  SLOW_DOWN,
  startFaultProxy,
} from './helpers/fault-proxy';
import { xmlField } from './helpers/landing';
import { startOpaStandIn, type OpaStandIn } from './helpers/opa-standin';
import { startOpenFgaStandIn, type OpenFgaStandIn } from './helpers/openfga-standin';
import { startOtlpReceiver, type OtlpReceiver } from './helpers/otlp-receiver';
import {
  closedPort,
  expectOk,
  expectS3Error,
  md5Hex,
  parseS3Error,
  send,
  type WireResponse,
} from './helpers/wire';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Auto-multipart from 8 MiB on, in parts of 5 MiB, two at a time. */
const UPLOAD = { multipart_threshold: '8MiB', part_size: '5MiB', concurrent_parts: 2 };
/** A body above the threshold: three parts (5 + 5 + 2 MiB). */
const AUTO_SIZE = 12 * MiB;
/** The faulty route's backend timeout: what one stalled backend request costs. */
const BACKEND_TIMEOUT_SECONDS = 3;
/** How long "eventually" may take before a poll gives up and reports what it saw. */
const SETTLE_MS = 60_000;

/** mulberry32: a small seeded PRNG, so that a failing random cut can be replayed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.MIZUCHI_FAULT_SEED ?? Date.now() % 1_000_000);
const random = prng(SEED);

/** An integer in [min, max). */
function between(min: number, max: number): number {
  return min + Math.floor(random() * (max - min));
}

/** This process's descriptors by kind: socket, pipe, file, anon_inode:[eventfd] ... */
function fdSummary(): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the listing's own descriptor, closed by now
    }
    const kind = /^(socket|pipe):/.exec(target)?.[1] ?? (target.startsWith('/') ? 'file' : target);
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return kinds;
}

function sameCounts(a: Record<string, number>, b: Record<string, number>): boolean {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...names].every((name) => (a[name] ?? 0) === (b[name] ?? 0));
}

/** Where this process's TCP sockets lead and in what state: what a leak report shows. */
function socketStates(): string {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (match) inodes.add(match[1]);
    } catch {
      // closed meanwhile
    }
  }
  const port = (address: string) => parseInt(address.split(':')[1], 16);
  const lines: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const row of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = row.trim().split(/\s+/);
      if (f.length > 9 && inodes.has(f[9])) {
        lines.push(`  ${port(f[1])} -> ${port(f[2])} (TCP state 0x${f[3]})`);
      }
    }
  }
  return `gateway port ${gw.port}, proxy port ${proxy.port}, Ceph ${cephSettings().endpoint}:\n${lines.join('\n')}`;
}

/** Polls `condition` until it holds or `SETTLE_MS` pass; returns whether it held. */
async function settles(condition: () => boolean | Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + SETTLE_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
  return true;
}

/** S3's ETag of a multipart object made of `parts`. */
function multipartEtag(parts: Buffer[]): string {
  const md5s = Buffer.concat(parts.map((p) => createHash('md5').update(p).digest()));
  return `${createHash('md5').update(md5s).digest('hex')}-${parts.length}`;
}

const JWT_SECRET = 'faults-e2e-jwt-secret-that-is-long-enough';
const JWT_AUTH = { enabled: true, jwt: { algorithms: ['HS256'], secret: JWT_SECRET } };

/** An Authorization header carrying a fresh HS256 token for `sub`. */
function bearer(sub: string): Record<string, string> {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const signed = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, iat: now, exp: now + 600 })}`;
  const signature = createHmac('sha256', JWT_SECRET).update(signed).digest('base64url');
  return { authorization: `Bearer ${signed}.${signature}` };
}

let bucket: string;
let proxy: FaultProxy;
let gw: TestApp;
let opa: OpaStandIn;
let fga: OpenFgaStandIn;
let baseline: Record<string, number>;
/** Objects the client was told were stored: key -> MD5. Anything else in the bucket is a bug. */
const confirmed = new Map<string, string>();
/** Confirmed keys already read back intact. */
const verified = new Set<string>();
/** Keys found without confirmation, already reported by the case that left them. */
const reported = new Set<string>();
let keyCount = 0;

/** A key no earlier case used. */
function freshKey(label: string): string {
  keyCount += 1;
  return `${label}/${keyCount}-${randomBytes(3).toString('hex')}.bin`;
}

function put(
  prefix: string,
  key: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<WireResponse> {
  return send(gw.url, {
    method: 'PUT',
    path: `/${prefix}/${key}`,
    headers: { 'content-type': 'application/octet-stream', ...headers },
    body,
  });
}

/** Asserts a 200 and records the object as one the client was told was stored. */
function expectAccepted(res: WireResponse, key: string, body: Buffer | Buffer[]): void {
  // Status and body together, so that a failure shows the gateway's error document.
  expect({ status: res.status, error: parseS3Error(res.text).code }).toEqual({
    status: 200,
    error: undefined,
  });
  confirmed.set(key, md5Hex(Buffer.isBuffer(body) ? body : Buffer.concat(body)));
}

async function createUpload(prefix: string, key: string): Promise<string> {
  const res = await send(gw.url, { method: 'POST', path: `/${prefix}/${key}?uploads` });
  expect(res.status).toBe(200);
  const uploadId = xmlField(res.text, 'UploadId');
  if (uploadId === undefined) throw new Error(`no UploadId in ${res.text}`);
  return uploadId;
}

function uploadPart(
  prefix: string,
  key: string,
  uploadId: string,
  partNumber: number,
  body: Buffer,
): Promise<WireResponse> {
  return send(gw.url, {
    method: 'PUT',
    path: `/${prefix}/${key}?partNumber=${partNumber}&uploadId=${encodeURIComponent(uploadId)}`,
    body,
  });
}

function completeUpload(
  prefix: string,
  key: string,
  uploadId: string,
  etags: string[],
): Promise<WireResponse> {
  const xml =
    '<CompleteMultipartUpload>' +
    etags
      .map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${etag}</ETag></Part>`)
      .join('') +
    '</CompleteMultipartUpload>';
  return send(gw.url, {
    method: 'POST',
    path: `/${prefix}/${key}?uploadId=${encodeURIComponent(uploadId)}`,
    body: xml,
  });
}

function abortUpload(prefix: string, key: string, uploadId: string): Promise<WireResponse> {
  return send(gw.url, {
    method: 'DELETE',
    path: `/${prefix}/${key}?uploadId=${encodeURIComponent(uploadId)}`,
  });
}

/** The gateway's open client connections. */
function gatewayConnections(): Promise<number> {
  const server: Server = gw.app.getHttpServer();
  return new Promise((resolve, reject) =>
    server.getConnections((err, count) => (err ? reject(err) : resolve(count))),
  );
}

/** Waits until no upload runs and no client is connected, three polls in a row. */
async function gatewayIdle(): Promise<void> {
  const inFlight = gw.app.get(InFlightUploads);
  let quiet = 0;
  const idle = await settles(async () => {
    const now = inFlight.size === 0 && (await gatewayConnections()) === 0;
    quiet = now ? quiet + 1 : 0;
    return quiet >= 3;
  });
  expect({ idle, inFlight: inFlight.size, connections: await gatewayConnections() }).toEqual({
    idle: true,
    inFlight: 0,
    connections: 0,
  });
}

/** Closes keep-alive pools (the gateway's towards the proxy, the test's towards Ceph). */
function closePools(): void {
  proxy.dropIdle();
  closeDirectS3();
}

/** The descriptor counts once pools are closed and nothing changes for a while. */
async function settledFds(): Promise<Record<string, number>> {
  let last = fdSummary();
  let stable = 0;
  await settles(async () => {
    closePools();
    await sleep(100);
    const now = fdSummary();
    stable = sameCounts(now, last) ? stable + 1 : 0;
    last = now;
    return stable >= 3;
  });
  return last;
}

/** Asserts that the descriptors are back at the baseline and no connection is left open. */
async function expectNoLeaks(): Promise<void> {
  let fds = fdSummary();
  let connections = 0;
  await settles(async () => {
    closePools();
    fds = fdSummary();
    connections = await gatewayConnections();
    return sameCounts(fds, baseline) && connections === 0 && proxy.connections().open === 0;
  });
  if (!sameCounts(fds, baseline)) {
    throw new Error(
      `descriptors did not return to the baseline ${JSON.stringify(baseline)}: ` +
        `${JSON.stringify(fds)}; open sockets, ${socketStates()}`,
    );
  }
  expect({ fds, connections, proxy: proxy.connections() }).toEqual({
    fds: baseline,
    connections: 0,
    proxy: { open: 0, busy: 0, stalled: 0 },
  });
}

/** Every object in the bucket was confirmed to its client and is intact; nothing else is there. */
async function expectOnlyConfirmedObjects(): Promise<void> {
  const keys = await listKeys(bucket);
  const unexpected = keys.filter((key) => !confirmed.has(key) && !reported.has(key));
  // Reported once: a later case must not fail for what an earlier one left.
  unexpected.forEach((key) => reported.add(key));
  const leftovers = await listMultipartUploads(bucket);
  for (const upload of leftovers) {
    await directS3().send(
      new AbortMultipartUploadCommand({
        Bucket: bucket,
        Key: upload.key,
        UploadId: upload.uploadId,
      }),
    );
  }
  expect({ unexpected, leftovers }).toEqual({ unexpected: [], leftovers: [] });
  expect([...confirmed.keys()].filter((key) => !keys.includes(key))).toEqual([]);
  for (const key of keys) {
    if (verified.has(key) || reported.has(key)) continue;
    expect({ key, md5: (await storedObject(bucket, key))?.md5 }).toEqual({
      key,
      md5: confirmed.get(key),
    });
    verified.add(key);
  }
}

/** One upload of each kind, all expected to succeed: single (spliced and streamed), parts, auto. */
async function normalUploads(label: string): Promise<void> {
  const spliced = randomBytes(MiB);
  const splicedKey = freshKey(`${label}-spliced`);
  expectAccepted(await put('faulty', splicedKey, spliced), splicedKey, spliced);

  const streamed = randomBytes(300 * KiB);
  const streamedKey = freshKey(`${label}-streamed`);
  const crc = { 'x-amz-checksum-crc32': checksumBase64('CRC32', streamed) };
  expectAccepted(await put('faulty', streamedKey, streamed, crc), streamedKey, streamed);

  const auto = randomBytes(AUTO_SIZE);
  const autoKey = freshKey(`${label}-auto`);
  const res = await put('faulty', autoKey, auto);
  expectAccepted(res, autoKey, auto);
  expect(res.headers.etag).toBe(
    `"${multipartEtag([auto.subarray(0, 5 * MiB), auto.subarray(5 * MiB, 10 * MiB), auto.subarray(10 * MiB)])}"`,
  );

  const parts = [randomBytes(5 * MiB), randomBytes(64 * KiB)];
  const partsKey = freshKey(`${label}-parts`);
  const uploadId = await createUpload('faulty', partsKey);
  const etags: string[] = [];
  for (const [i, part] of parts.entries()) {
    const answer = await uploadPart('faulty', partsKey, uploadId, i + 1, part);
    expectOk(answer);
    etags.push(String(answer.headers.etag));
  }
  expectAccepted(await completeUpload('faulty', partsKey, uploadId, etags), partsKey, parts);
}

beforeAll(async () => {
  process.stdout.write(`fault suite seed ${SEED} (MIZUCHI_FAULT_SEED=${SEED} replays it)\n`);
  bucket = await createTestBucket('faults');
  proxy = await startFaultProxy(cephSettings().endpoint);
  // Both engines would refuse every upload: one that passes was let through by fail_mode open.
  opa = await startOpaStandIn({ 'mizuchi/allow': () => false });
  fga = await startOpenFgaStandIn({
    model: join(__dirname, '..', 'examples', 'openfga', 'model.json'),
  });
  const gone = `http://127.0.0.1:${await closedPort()}`;
  const viaProxy = (prefix: string, extra: Record<string, unknown> = {}) =>
    cephRoute(prefix, bucket, {
      s3: { endpoint: proxy.url, timeout_seconds: BACKEND_TIMEOUT_SECONDS },
      upload: UPLOAD,
      ...extra,
    });
  const withOpa = (url: string, failMode: string) => ({
    authz: {
      enabled: true,
      provider: 'opa',
      fail_mode: failMode,
      opa: { url, policy_path: 'mizuchi/allow', timeout_ms: 300, cache_ttl_seconds: 0 },
    },
  });
  const withFga = (url: string, failMode: string) => ({
    auth: JWT_AUTH,
    authz: {
      enabled: true,
      provider: 'openfga',
      fail_mode: failMode,
      openfga: {
        url,
        store_id: fga.storeId,
        model_id: fga.modelId,
        timeout_ms: 300,
        cache_ttl_seconds: 0,
      },
    },
  });
  gw = await createTestApp({
    // Short, so that a stalled client costs seconds, not a minute.
    server: { limits: { idle_timeout_seconds: 5 } },
    buckets: [
      viaProxy('faulty'),
      viaProxy('opa-slow-closed', withOpa(opa.url, 'closed')),
      viaProxy('opa-slow-open', withOpa(opa.url, 'open')),
      viaProxy('opa-down-closed', withOpa(gone, 'closed')),
      viaProxy('opa-down-open', withOpa(gone, 'open')),
      viaProxy('fga-slow-closed', withFga(fga.url, 'closed')),
      viaProxy('fga-slow-open', withFga(fga.url, 'open')),
      viaProxy('fga-down-closed', withFga(gone, 'closed')),
      viaProxy('fga-down-open', withFga(gone, 'open')),
    ],
  });
  // Every path once, so that what a first use opens for good (the splice addon's epoll thread,
  // lazily loaded modules) is part of the baseline.
  await normalUploads('warm-up');
  baseline = await settledFds();
});

afterEach(async () => {
  await proxy.heal();
  opa.recover();
  fga.recover();
  await gatewayIdle();
  // The gateway keeps serving.
  const body = randomBytes(MiB);
  const key = freshKey('after');
  expectAccepted(await put('faulty', key, body), key, body);
  await expectOnlyConfirmedObjects();
  await expectNoLeaks();
});

afterAll(async () => {
  await gw?.close();
  await proxy?.close();
  await opa?.close();
  await fga?.close();
  if (bucket !== undefined) await destroyTestBucket(bucket);
  closeDirectS3();
});

/** A backend fault, how to switch it on for matching requests, and what the client must see. */
interface BackendFault {
  name: string;
  /** Switches the fault on for the next `times` matching requests (or connections). */
  arm(match: RequestMatch, times: number): void;
  status: number;
  code: string;
  /** Another code the client may get instead, for a reason the case explains. */
  orCode?: string;
  /** A stalled backend costs the backend timeout per attempt. */
  slow?: boolean;
}

/** Asserts the S3 error a backend fault must produce, with a Retry-After where one is due. */
function expectFaultAnswer(res: WireResponse, fault: BackendFault): void {
  const code = parseS3Error(res.text).code;
  expectS3Error(
    res,
    fault.status,
    fault.orCode !== undefined && code === fault.orCode ? code : fault.code,
  );
  if (fault.status === 503) expect(res.headers['retry-after']).toMatch(/^[1-9]\d*$/);
}

function requestFault(fault: Fault): BackendFault['arm'] {
  return (match, times) => proxy.failNext(match, fault, times);
}

const FAULTS: BackendFault[] = [
  {
    name: 'refuses connections',
    arm: () => proxy.refuseConnections(),
    status: 503,
    code: 'ServiceUnavailable',
  },
  {
    name: 'resets new connections at once',
    arm: (_match, times) => {
      proxy.dropIdle();
      proxy.resetConnections(times);
    },
    status: 503,
    code: 'ServiceUnavailable',
  },
  {
    name: 'resets the connection 64 KiB into the body',
    arm: requestFault({ kind: 'reset', afterBytes: 64 * KiB }),
    status: 503,
    code: 'ServiceUnavailable',
  },
  {
    name: 'answers 500 InternalError',
    arm: requestFault(INTERNAL_ERROR),
    status: 502,
    code: 'BadGateway',
  },
  {
    name: 'answers 503 SlowDown after reading the body',
    arm: requestFault(SLOW_DOWN),
    status: 503,
    code: 'SlowDown',
  },
  {
    name: 'answers 503 SlowDown before reading the body',
    arm: requestFault({ ...SLOW_DOWN, readBody: false }),
    status: 503,
    code: 'SlowDown',
    // A streamed body may still be on its way when the backend answers and closes: the write
    // then fails before the answer is read, and the client hears of a lost connection instead.
    orCode: 'ServiceUnavailable',
  },
  {
    name: 'stalls after reading the body',
    arm: requestFault({ kind: 'stall' }),
    status: 504,
    code: 'GatewayTimeout',
    slow: true,
  },
  {
    name: 'stalls without reading the body',
    arm: requestFault({ kind: 'stall', readBody: false }),
    status: 504,
    code: 'GatewayTimeout',
    slow: true,
  },
];

describe('a backend fault during a single PutObject', () => {
  const BODIES = [
    { name: 'a body the gateway splices', headers: (_body: Buffer) => ({}) },
    {
      name: 'a body the gateway streams (x-amz-checksum-crc32)',
      headers: (body: Buffer) => ({ 'x-amz-checksum-crc32': checksumBase64('CRC32', body) }),
    },
  ];

  describe.each(BODIES)('with $name', ({ headers }) => {
    it.each(FAULTS)('the backend $name: $status $code, nothing stored', async (fault) => {
      const body = randomBytes(MiB);
      const key = freshKey('put');
      fault.arm('PutObject', 1);

      const res = await put('faulty', key, body, headers(body));

      expectFaultAnswer(res, fault);
      expect(await storedObject(bucket, key)).toBeUndefined();
    });
  });
});

/** A part travels like a PutObject, whose stall without reading is covered above: once is enough. */
const PART_FAULTS = FAULTS.filter((f) => f.name !== 'stalls without reading the body');

describe('a backend fault during UploadPart of a client multipart upload', () => {
  it.each(PART_FAULTS)(
    'the backend $name: the part gets $status $code, and a retry of it completes the object intact',
    async (fault) => {
      const key = freshKey('part');
      const parts = [randomBytes(5 * MiB), randomBytes(MiB + 17)];
      const uploadId = await createUpload('faulty', key);
      const first = await uploadPart('faulty', key, uploadId, 1, parts[0]);
      expectOk(first);
      fault.arm('UploadPart', 1);

      const failed = await uploadPart('faulty', key, uploadId, 2, parts[1]);

      expectFaultAnswer(failed, fault);
      await proxy.heal();
      const retried = await uploadPart('faulty', key, uploadId, 2, parts[1]);
      expectOk(retried);
      const done = await completeUpload('faulty', key, uploadId, [
        String(first.headers.etag),
        String(retried.headers.etag),
      ]);
      expectAccepted(done, key, parts);
      expect(xmlField(done.text, 'ETag')).toBe(`"${multipartEtag(parts)}"`);
    },
  );

  it('a part that fails leaves no part behind: the client can abort and nothing remains', async () => {
    const key = freshKey('part-abort');
    const uploadId = await createUpload('faulty', key);
    proxy.failNext('UploadPart', { kind: 'reset', afterBytes: MiB });

    expectS3Error(
      await uploadPart('faulty', key, uploadId, 1, randomBytes(2 * MiB)),
      503,
      'ServiceUnavailable',
    );

    const backendId = (await listMultipartUploads(bucket)).find((u) => u.key === key)?.uploadId;
    const listed = await directS3().send(
      new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: backendId }),
    );
    expect(listed.Parts ?? []).toEqual([]);
    expect((await abortUpload('faulty', key, uploadId)).status).toBe(204);
  });
});

describe('a backend fault during auto-multipart (a PutObject above multipart_threshold)', () => {
  const transient = PART_FAULTS.filter((f) => f.name !== 'refuses connections');

  it.each(transient)(
    'the backend $name once: the part is retried and the object stored intact',
    async (fault) => {
      const body = randomBytes(AUTO_SIZE);
      const key = freshKey('auto-retried');
      const mark = proxy.log.length;
      fault.arm((req) => req.operation === 'UploadPart' && req.partNumber === 2, 1);

      const res = await put('faulty', key, body);

      expectAccepted(res, key, body);
      const faulted = proxy.log
        .slice(mark)
        .filter((r) => r.operation === 'UploadPart' && r.partNumber === 2);
      // The connection reset happens before a request is seen: then the part simply reconnects.
      if (fault.name !== 'resets new connections at once') {
        expect(faulted.map((r) => r.outcome)).toEqual([
          expect.not.stringMatching(/^forwarded$/),
          'forwarded',
        ]);
      }
    },
  );

  // Faults on connections would stop the abort too: see the outage case below.
  it.each(FAULTS.filter((f) => !f.slow && !f.name.includes('connections')))(
    'the backend $name on every part: $status $code, the backend upload is aborted',
    async (fault) => {
      const body = randomBytes(AUTO_SIZE);
      const key = freshKey('auto-failed');
      const mark = proxy.log.length;
      fault.arm('UploadPart', 1000);

      const res = await put('faulty', key, body);

      expectFaultAnswer(res, fault);
      expect(await storedObject(bucket, key)).toBeUndefined();
      const aborts = proxy.log.slice(mark).filter((r) => r.operation === 'AbortMultipartUpload');
      expect(aborts.map((r) => r.outcome)).toEqual(['forwarded']);
    },
  );

  it.each([
    ['CreateMultipartUpload', INTERNAL_ERROR, 502, 'BadGateway'],
    ['CreateMultipartUpload', { kind: 'reset', afterBytes: 0 }, 503, 'ServiceUnavailable'],
    ['CompleteMultipartUpload', INTERNAL_ERROR, 502, 'BadGateway'],
    ['CompleteMultipartUpload', { kind: 'reset', afterBytes: 10 }, 503, 'ServiceUnavailable'],
  ] as const)(
    'the backend fails %s every time (%j): %d %s, nothing left behind',
    async (operation, fault, status, code) => {
      const body = randomBytes(AUTO_SIZE);
      const key = freshKey('auto-control');
      proxy.failNext(operation, fault, 1000);

      const res = await put('faulty', key, body);

      expectS3Error(res, status, code);
      expect(await storedObject(bucket, key)).toBeUndefined();
    },
  );

  it.each(['CreateMultipartUpload', 'CompleteMultipartUpload'] as const)(
    'the backend stalls %s once: the gateway gives up on it after timeout_seconds, tries again, and stores the object intact',
    async (operation) => {
      const body = randomBytes(AUTO_SIZE);
      const key = freshKey('auto-control-stall');
      const mark = proxy.log.length;
      proxy.failNext(operation, { kind: 'stall' });

      const res = await put('faulty', key, body);

      expectAccepted(res, key, body);
      const calls = proxy.log.slice(mark).filter((r) => r.operation === operation);
      expect(calls.map((r) => r.outcome)).toEqual(['stall', 'forwarded']);
    },
  );

  it('the backend takes a part slowly, never idle for timeout_seconds: no timeout, stored intact', async () => {
    const body = randomBytes(AUTO_SIZE);
    const key = freshKey('auto-slow-part');
    const mark = proxy.log.length;
    // 5 MiB at 1.25 MiB/s: four seconds for the part, more than the backend timeout of three.
    proxy.failNext((req) => req.operation === 'UploadPart' && req.partNumber === 1, {
      kind: 'slow-body',
      bytesPerSecond: 1.25 * MiB,
    });

    const res = await put('faulty', key, body);

    expectAccepted(res, key, body);
    const first = proxy.log.slice(mark).filter((r) => r.partNumber === 1);
    expect(first.map((r) => r.outcome)).toEqual(['slow-body']);
  });

  it('the backend fails the abort of a failed upload once: the gateway aborts again', async () => {
    const body = randomBytes(AUTO_SIZE);
    const key = freshKey('auto-abort-retried');
    const mark = proxy.log.length;
    proxy.failNext('UploadPart', INTERNAL_ERROR, 1000);
    proxy.failNext('AbortMultipartUpload', INTERNAL_ERROR, 1);

    expectS3Error(await put('faulty', key, body), 502, 'BadGateway');

    const aborts = proxy.log.slice(mark).filter((r) => r.operation === 'AbortMultipartUpload');
    expect(aborts.map((r) => r.outcome)).toEqual(['error', 'forwarded']);
  });

  it('the backend becomes unreachable in the middle: 503, and the upload is aborted once it is back', async () => {
    const body = randomBytes(AUTO_SIZE);
    const key = freshKey('auto-outage');
    // The outage begins with the first part and lasts a second: longer than the part retries.
    proxy.setRule((req) => {
      if (req.operation !== 'UploadPart') return undefined;
      proxy.setRule(undefined);
      proxy.refuseConnections();
      setTimeout(() => void proxy.acceptConnections(), 1000);
      return { kind: 'reset', afterBytes: 0 };
    });

    const res = await put('faulty', key, body);

    expectS3Error(res, 503, 'ServiceUnavailable');
    expect(await storedObject(bucket, key)).toBeUndefined();
    // The gateway answers once the abort went through.
    expect(await listMultipartUploads(bucket)).toEqual([]);
  });
});

/** What a raw client sends: the request head and its body. */
interface RawUpload {
  head: string;
  body: Buffer;
}

/**
 * Writes the first `cut` bytes of head + body on a raw socket, gives the gateway a moment to act
 * on them, then hangs up: with a FIN (destroy) or a RST (resetAndDestroy).
 */
async function hangUpAfter(upload: RawUpload, cut: number, reset: boolean): Promise<void> {
  const bytes = Buffer.concat([Buffer.from(upload.head, 'latin1'), upload.body]);
  const socket: Socket = connect(gw.port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.resume();
  const closed = once(socket, 'close');
  await once(socket, 'connect');
  for (let offset = 0; offset < cut && !socket.destroyed; offset += 64 * KiB) {
    const piece = bytes.subarray(offset, Math.min(cut, offset + 64 * KiB));
    await new Promise<void>((resolve) => socket.write(piece, () => resolve()));
  }
  await sleep(between(0, 30));
  if (reset) socket.resetAndDestroy();
  else socket.destroy();
  await closed;
  await gatewayIdle();
}

function rawPut(path: string, body: Buffer, headers: Record<string, string> = {}): RawUpload {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  return {
    head:
      `PUT ${path} HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\n${lines.join('')}` +
      `Content-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n`,
    body,
  };
}

/** Three cut points: inside the head, in the first half of the body, in the second half. */
function cutPoints(upload: RawUpload): Array<{ cut: number; where: string }> {
  const head = Buffer.byteLength(upload.head, 'latin1');
  const half = Math.floor(upload.body.length / 2);
  return [
    { cut: between(1, head), where: 'in the head' },
    { cut: head + between(0, half), where: 'in the first half of the body' },
    { cut: head + between(half, upload.body.length), where: 'in the second half of the body' },
  ];
}

describe('a client that disconnects at a random point', () => {
  it.each([
    ['a single PUT the gateway splices', MiB, (_body: Buffer) => ({})],
    [
      'a single PUT the gateway streams',
      MiB,
      (body: Buffer) => ({ 'x-amz-checksum-crc32': checksumBase64('CRC32', body) }),
    ],
    ['an auto-multipart PUT', AUTO_SIZE, (_body: Buffer) => ({})],
  ])('stores nothing of %s, wherever it hangs up', async (_name, size, headers) => {
    for (const [i, reset] of [false, true].entries()) {
      const body = randomBytes(size);
      const key = freshKey(`cut-${i}`);
      const upload = rawPut(`/faulty/${key}`, body, headers(body));
      for (const { cut, where } of cutPoints(upload)) {
        await hangUpAfter(upload, cut, reset);
        expect({ where, cut, stored: await storedObject(bucket, key) }).toEqual({
          where,
          cut,
          stored: undefined,
        });
        expect(await listMultipartUploads(bucket)).toEqual([]);
      }
    }
  });

  it('stores no part of an UploadPart, wherever it hangs up, and the upload can still complete', async () => {
    const key = freshKey('cut-part');
    const uploadId = await createUpload('faulty', key);
    const part = randomBytes(5 * MiB);
    const path = `/faulty/${key}?partNumber=1&uploadId=${encodeURIComponent(uploadId)}`;
    const upload = rawPut(path, part);
    const backendId = (await listMultipartUploads(bucket)).find((u) => u.key === key)?.uploadId;
    for (const [i, { cut, where }] of cutPoints(upload).entries()) {
      await hangUpAfter(upload, cut, i % 2 === 1);
      const listed = await directS3().send(
        new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: backendId }),
      );
      expect({ where, cut, parts: listed.Parts ?? [] }).toEqual({ where, cut, parts: [] });
    }
    const stored = await uploadPart('faulty', key, uploadId, 1, part);
    expectOk(stored);
    expectAccepted(
      await completeUpload('faulty', key, uploadId, [String(stored.headers.etag)]),
      key,
      part,
    );
  });

  it('either stores the whole object or nothing when it hangs up right after the last byte', async () => {
    for (const size of [MiB, AUTO_SIZE]) {
      const body = randomBytes(size);
      const key = freshKey('cut-end');
      const upload = rawPut(`/faulty/${key}`, body);
      await hangUpAfter(upload, Buffer.byteLength(upload.head) + body.length, false);
      // The client sent the object whole; whether the backend finished before the gateway saw
      // the hang-up is a race no gateway can win. A stored object must be the whole body.
      const stored = await storedObject(bucket, key);
      if (stored !== undefined) {
        expect(stored.md5).toBe(md5Hex(body));
        confirmed.set(key, md5Hex(body));
      }
      expect(await listMultipartUploads(bucket)).toEqual([]);
    }
  });
});

describe.each([
  ['OPA', 'opa', () => opa.stall()],
  ['OpenFGA', 'fga', () => fga.stall()],
])('%s down or slow', (_engine, prefix, stall) => {
  const auth = prefix === 'fga' ? bearer('alice') : {};

  it('answering in time, it refuses every upload (403), even in fail_mode open', async () => {
    const key = freshKey(`${prefix}-up`);

    const res = await put(`${prefix}-slow-open`, key, randomBytes(64 * KiB), auth);

    expectS3Error(res, 403, 'AccessDenied');
  });

  describe.each([
    ['refusing connections', 'down', () => undefined],
    ['slower than timeout_ms', 'slow', stall],
  ])('%s', (_what, state, breakIt) => {
    it('fail_mode closed refuses with 503 ServiceUnavailable and stores nothing', async () => {
      breakIt();
      const key = freshKey(`${prefix}-${state}-closed`);

      const res = await put(`${prefix}-${state}-closed`, key, randomBytes(64 * KiB), auth);

      expectS3Error(res, 503, 'ServiceUnavailable');
      expect(res.headers['retry-after']).toMatch(/^\d+$/);
      expect(await storedObject(bucket, key)).toBeUndefined();
    });

    it('fail_mode open lets an auto-multipart upload through, stored intact', async () => {
      breakIt();
      const body = randomBytes(AUTO_SIZE);
      const key = freshKey(`${prefix}-${state}-open`);

      const res = await put(`${prefix}-${state}-open`, key, body, auth);

      expectAccepted(res, key, body);
    });
  });
});

describe('an OTLP collector that is slow or down', () => {
  let receiver: OtlpReceiver;
  let tracing: TracingHandle | undefined;

  /** Export attempts that failed so far (the gateway's own counter). */
  async function exportFailures(): Promise<number> {
    const value = await metrics().tracingExportFailures.get();
    return value.values.reduce((sum, v) => sum + v.value, 0);
  }

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    tracing = startTracing(
      tracingSchema.parse({
        enabled: true,
        otlp: { endpoint: receiver.endpoint, timeout_seconds: 1 },
        sampling: { strategy: 'always' },
        batch: { scheduled_delay_millis: 50 },
        resilience: { max_attempts: 2, initial_backoff_millis: 20, max_backoff_millis: 50 },
      }),
      {},
    );
    // The receiver's listener is new; it stays until the second case stops it.
    baseline = await settledFds();
  });

  afterAll(async () => {
    await tracing?.shutdown();
    await receiver?.stop();
  });

  it('leaves uploads of every kind unaffected while it answers only after 5 s', async () => {
    receiver.delay(5000);
    const failures = await exportFailures();

    await normalUploads('traced-slow');

    // The exporter really was at work, and gave up on the slow answers.
    expect(await settles(() => receiver.requests().length > 0)).toBe(true);
    expect(await settles(async () => (await exportFailures()) > failures)).toBe(true);
  });

  it('leaves uploads of every kind unaffected while it refuses connections', async () => {
    await receiver.stop();
    baseline = await settledFds();
    const failures = await exportFailures();

    await normalUploads('traced-down');

    expect(await settles(async () => (await exportFailures()) > failures)).toBe(true);
  });
});
