/**
 * Soak test: the built gateway as its own process, in front of Ceph with the fault proxy
 * (test/helpers/fault-proxy.ts) between them injecting random faults, under mixed load with
 * random client aborts, for a bounded time and count, on loopback only.
 *
 *   npm run soak -- [--minutes 2] [--concurrency 32] [--fault-rate 0.05] [--abort-rate 0.03]
 *                   [--max-uploads N] [--max-size-mib 40] [--outage-every 60] [--seed N]
 *                   [--sigterm-after SECONDS] [--grace 10] [--json FILE]
 *
 * Load: PutObject with a Content-Length (spliced by the gateway when it can), with an
 * x-amz-checksum-crc32 (streamed), with Transfer-Encoding: chunked (unknown length), from the AWS
 * SDK with default settings (a Buffer body, and a stream body, which the SDK sends aws-chunked
 * with a trailer checksum), presigned PUTs, client multipart uploads done by hand and by
 * @aws-sdk/lib-storage; sizes from 1 KiB to tens of MiB, some above the route's
 * multipart_threshold (auto-multipart).
 *
 * Faults: each backend request is, at --fault-rate, reset mid-body, answered 500 InternalError or
 * 503 SlowDown (after or before reading the body) or stalled past the backend timeout; new
 * connections to the backend are reset at a quarter of that rate; every --outage-every seconds
 * the backend refuses connections for a second. At --abort-rate a client hangs up mid-body.
 *
 * Checks: every object the gateway confirmed is read back from Ceph directly and its MD5 compared
 * with what was sent (during the run, then deleted, so Ceph's memstore stays small); every upload
 * that failed or was aborted must have left no object (checked at the end), or else the whole
 * body: a backend that answers after the gateway's timeout may still have stored it, as with S3
 * itself (reported as "stored after a failure, intact"); no multipart upload may be left that the
 * gateway owned (auto-multipart) or whose abort it confirmed. Exits 1 on any lost, corrupted or
 * partial object, or such a leftover. The gateway's RSS is sampled every 5 s.
 *
 * --sigterm-after S sends SIGTERM to the gateway after S seconds of load (faults stop then, so the
 * shutdown is judged on its own): every upload must have finished and be stored intact, or have
 * been refused or aborted leaving nothing, and the gateway must exit 0 within its grace.
 *
 * Ceph: the running test cluster ($MIZUCHI_TEST_S3_JSON, or $RGW_DIR/s3.json), started with
 * scripts/radosgw-up.sh when it is not up.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { checksumBase64 } from '@mizuchi/s3-protocol';
import {
  cephSettings,
  closeDirectS3,
  createTestBucket,
  destroyTestBucket,
  directS3,
  listMultipartUploads,
  storedObject,
} from '../test/helpers/ceph';
import {
  type Fault,
  type FaultProxy,
  INTERNAL_ERROR,
  SLOW_DOWN,
  startFaultProxy,
} from '../test/helpers/fault-proxy';
import {
  ensureGatewayBuilt,
  type GatewayProcess,
  memoryOf,
  PatternBody,
  startGateway,
} from '../test/helpers/gateway-process';
import { rgwDir, runScript } from '../test/helpers/global-setup';
import { freePort, isolatedAwsEnv } from '../test/helpers/processes';

const KiB = 1024;
const MiB = 1024 * KiB;
const PART = 5 * MiB;
const THRESHOLD_MIB = 16;
const REGION = 'us-east-1';
const SIGNED_ROUTE = 'soak-sig';
/** Confirmed bytes that may wait to be read back before the load pauses for the checks. */
const VERIFY_BACKLOG_BYTES = 512 * MiB;
/**
 * The route's backend timeout: what one stalled backend request costs. Not much shorter, as the
 * fault proxy shares this process with the load and the checks, and an event loop busy for
 * seconds looks to the gateway like a backend that stopped reading.
 */
const BACKEND_TIMEOUT_SECONDS = 15;

interface Options {
  minutes: number;
  concurrency: number;
  faultRate: number;
  abortRate: number;
  maxUploads: number;
  maxSizeMiB: number;
  outageEvery: number;
  seed: number;
  sigtermAfter?: number;
  grace: number;
  json?: string;
}

function parseOptions(argv: string[]): Options {
  const options: Options = {
    minutes: 2,
    concurrency: 32,
    faultRate: 0.05,
    abortRate: 0.03,
    maxUploads: 1_000_000,
    maxSizeMiB: 40,
    outageEvery: 60,
    seed: Date.now() % 1_000_000_007,
    grace: 10,
  };
  const numeric: Record<string, keyof Options> = {
    '--minutes': 'minutes',
    '--concurrency': 'concurrency',
    '--fault-rate': 'faultRate',
    '--abort-rate': 'abortRate',
    '--max-uploads': 'maxUploads',
    '--max-size-mib': 'maxSizeMiB',
    '--outage-every': 'outageEvery',
    '--seed': 'seed',
    '--sigterm-after': 'sigtermAfter',
    '--grace': 'grace',
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--json') {
      options.json = value;
    } else if (flag in numeric) {
      const number = Number(value);
      if (!Number.isFinite(number) || number < 0)
        throw new Error(`${flag}: not a number: ${value}`);
      (options as unknown as Record<string, number>)[numeric[flag]] = number;
    } else {
      throw new Error(`unknown argument ${flag}`);
    }
    i++;
  }
  if (options.concurrency < 1 || options.minutes <= 0) {
    throw new Error('--concurrency must be at least 1 and --minutes above 0');
  }
  if (options.faultRate > 1 || options.abortRate > 1) {
    throw new Error('--fault-rate and --abort-rate are probabilities (0..1)');
  }
  return options;
}

/** mulberry32: seeded, so a run's choices can be replayed with --seed. */
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

type Op =
  | 'put'
  | 'put-crc'
  | 'put-chunked'
  | 'sdk-put'
  | 'sdk-put-stream'
  | 'presigned'
  | 'multipart'
  | 'lib-storage';

/** Share of each operation in the load. */
const MIX: Array<[Op, number]> = [
  ['put', 0.3],
  ['put-crc', 0.1],
  ['put-chunked', 0.1],
  ['sdk-put', 0.1],
  ['sdk-put-stream', 0.1],
  ['presigned', 0.1],
  ['multipart', 0.1],
  ['lib-storage', 0.1],
];

/** How one upload ended for its client. */
type Outcome =
  /** The gateway confirmed it. */
  | { kind: 'ok' }
  /** An S3 error answer, or a broken connection ('network <code>'). */
  | { kind: 'error'; code: string }
  /** The client hung up on purpose. */
  | { kind: 'client-abort' };

interface UploadRecord {
  key: string;
  op: Op;
  size: number;
  /** MD5 of the bytes sent (complete only for a confirmed upload). */
  md5: string;
  outcome: Outcome;
  /** A client multipart upload: whether its client got an abort confirmed, if it tried. */
  clientMultipart?: { uploadId?: string; abortConfirmed: boolean };
}

/** The answer to one raw request. */
type RawAnswer =
  | { kind: 'answer'; status: number; code?: string; etag?: string; text: string }
  | { kind: 'network'; code: string }
  | { kind: 'client-abort' };

function xmlField(xml: string, name: string): string | undefined {
  return new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
}

/**
 * One request with a body written chunk by chunk (hashed into `hash` on the way); `abortAt`
 * hangs up after that many body bytes. A fresh connection each time, as a separate client.
 */
function rawRequest(
  url: string,
  method: string,
  chunks: Iterable<Buffer>,
  options: { headers?: Record<string, string>; abortAt?: number; hash?: Hash } = {},
): Promise<RawAnswer> {
  return new Promise((resolve) => {
    let settled = false;
    let aborting = false;
    const done = (answer: RawAnswer) => {
      if (!settled) {
        settled = true;
        resolve(answer);
      }
    };
    const req = http.request(url, { method, agent: false, headers: options.headers });
    req.on('error', (err: NodeJS.ErrnoException) =>
      done(aborting ? { kind: 'client-abort' } : { kind: 'network', code: err.code ?? err.name }),
    );
    req.on('close', () => {
      if (aborting) done({ kind: 'client-abort' });
    });
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.on('error', (err: NodeJS.ErrnoException) =>
        done({ kind: 'network', code: err.code ?? err.name }),
      );
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        const status = res.statusCode ?? 0;
        done({
          kind: 'answer',
          status,
          code: status >= 300 ? (xmlField(text, 'Code') ?? `HTTP${status}`) : undefined,
          etag: res.headers.etag,
          text,
        });
      });
    });
    void (async () => {
      let sent = 0;
      for (const chunk of chunks) {
        if (req.destroyed || settled) return;
        let piece = chunk;
        if (options.abortAt !== undefined && sent + piece.length >= options.abortAt) {
          piece = piece.subarray(0, options.abortAt - sent);
          if (piece.length > 0) req.write(piece);
          aborting = true;
          req.destroy();
          return;
        }
        options.hash?.update(piece);
        sent += piece.length;
        if (!req.write(piece)) {
          await new Promise<void>((drained) => {
            const finish = () => {
              req.off('drain', finish);
              req.off('close', finish);
              drained();
            };
            req.on('drain', finish);
            req.on('close', finish);
          });
        }
      }
      req.end();
    })();
  });
}

/** The error code an answer stands for ('network ECONNRESET', '503 SlowDown' ...). */
function answerCode(answer: RawAnswer): string {
  switch (answer.kind) {
    case 'answer':
      return `${answer.status} ${answer.code ?? ''}`.trim();
    case 'network':
      return `network ${answer.code}`;
    case 'client-abort':
      return 'client abort';
  }
}

function sdkCode(err: unknown): string {
  if (err instanceof S3ServiceException) {
    return `${err.$metadata.httpStatusCode ?? '?'} ${err.name}`;
  }
  const e = err as { code?: string; name?: string };
  return `network ${e.code ?? e.name ?? 'unknown'}`;
}

/** Yields Buffers of at most `size` bytes assembled from `chunks`. */
function* regroup(chunks: Iterable<Buffer>, size: number): Generator<Buffer> {
  let pending: Buffer[] = [];
  let filled = 0;
  for (const chunk of chunks) {
    pending.push(chunk);
    filled += chunk.length;
    while (filled >= size) {
      const all = Buffer.concat(pending);
      yield all.subarray(0, size);
      pending = [all.subarray(size)];
      filled -= size;
    }
  }
  if (filled > 0) yield Buffer.concat(pending);
}

/** Per-upload statistics and the records the checks need. */
class Tally {
  started = 0;
  confirmed = 0;
  confirmedBytes = 0;
  clientAborts = 0;
  readonly errors = new Map<string, number>();
  readonly byOp = new Map<Op, { ok: number; failed: number }>();
  readonly failed: UploadRecord[] = [];
  readonly multipart: UploadRecord[] = [];

  add(record: UploadRecord): void {
    const op = this.byOp.get(record.op) ?? { ok: 0, failed: 0 };
    this.byOp.set(record.op, op);
    if (record.clientMultipart !== undefined) this.multipart.push(record);
    switch (record.outcome.kind) {
      case 'ok':
        op.ok += 1;
        this.confirmed += 1;
        this.confirmedBytes += record.size;
        return;
      case 'client-abort':
        op.failed += 1;
        this.clientAborts += 1;
        this.failed.push(record);
        return;
      case 'error':
        op.failed += 1;
        this.errors.set(record.outcome.code, (this.errors.get(record.outcome.code) ?? 0) + 1);
        this.failed.push(record);
        return;
    }
  }
}

/** Reads confirmed objects back from Ceph (then deletes them, keeping memstore small). */
class Verifier {
  verified = 0;
  verifiedBytes = 0;
  readonly lost: string[] = [];
  readonly corrupted: string[] = [];
  private readonly queue: UploadRecord[] = [];
  private waiting: Array<() => void> = [];
  /** Bytes confirmed but not yet read back (and deleted). */
  private pendingBytes = 0;
  private roomWaiters: Array<() => void> = [];
  private closed = false;
  private readonly loops: Promise<void>[];

  constructor(
    private readonly bucket: string,
    lanes: number,
  ) {
    this.loops = Array.from({ length: lanes }, () => this.loop());
  }

  add(record: UploadRecord): void {
    this.queue.push(record);
    this.pendingBytes += record.size;
    this.wake();
  }

  /**
   * Resolves once the objects waiting to be checked hold less than `limit` bytes. The load waits
   * for it, so Ceph (whose memstore keeps every object in memory) never holds much more.
   */
  room(limit: number): Promise<void> {
    if (this.pendingBytes < limit) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (this.pendingBytes < limit) resolve();
        else this.roomWaiters.push(check);
      };
      this.roomWaiters.push(check);
    });
  }

  private checked(record: UploadRecord): void {
    this.pendingBytes -= record.size;
    for (const check of this.roomWaiters.splice(0)) check();
  }

  async finish(): Promise<void> {
    this.closed = true;
    this.wake();
    await Promise.all(this.loops);
  }

  private wake(): void {
    for (const resume of this.waiting.splice(0)) resume();
  }

  private async loop(): Promise<void> {
    for (;;) {
      const record = this.queue.shift();
      if (record === undefined) {
        if (this.closed) return;
        await new Promise<void>((resume) => this.waiting.push(resume));
        continue;
      }
      const stored = await storedObject(this.bucket, record.key);
      if (stored === undefined) this.lost.push(record.key);
      else if (stored.md5 !== record.md5 || stored.size !== record.size) {
        this.corrupted.push(record.key);
      } else {
        this.verified += 1;
        this.verifiedBytes += stored.size;
        // Checked: it may go (memstore keeps every object in memory). A failed delete only
        // leaves it for destroyTestBucket at the end.
        await directS3()
          .send(new DeleteObjectCommand({ Bucket: this.bucket, Key: record.key }))
          .catch(() => undefined);
      }
      this.checked(record);
    }
  }
}

/** The gateway process under test and what it is configured with. */
interface Harness {
  gateway: GatewayProcess;
  url: string;
  bucket: string;
  proxy: FaultProxy;
  sdk: S3Client;
}

async function startHarness(options: Options, workDir: string): Promise<Harness> {
  if (!process.env.MIZUCHI_TEST_S3_JSON) {
    await runScript('scripts/radosgw-up.sh');
    process.env.MIZUCHI_TEST_S3_JSON = join(rgwDir(), 's3.json');
  }
  const ceph = cephSettings();
  const bucket = await createTestBucket('soak');
  const proxy = await startFaultProxy(ceph.endpoint);
  await ensureGatewayBuilt();
  const port = await freePort();
  const credential = {
    access_key: 'SOAKKEY0001',
    secret_key: randomBytes(24).toString('base64url'),
    subject: 'soak',
  };
  const upload = {
    multipart_threshold: `${THRESHOLD_MIB}MiB`,
    part_size: '5MiB',
    concurrent_parts: 4,
  };
  const s3 = {
    bucket,
    endpoint: proxy.url,
    region: ceph.region,
    access_key: ceph.accessKeyId,
    secret_key: ceph.secretAccessKey,
    timeout_seconds: BACKEND_TIMEOUT_SECONDS,
  };
  const config = join(workDir, 'soak.yaml');
  writeFileSync(
    config,
    JSON.stringify({
      server: {
        address: `127.0.0.1:${port}`,
        shutdown_grace_seconds: options.grace,
        upload_id_secret: randomBytes(32).toString('hex'),
      },
      buckets: [
        { name: 'soak', path_prefix: '/soak', s3, upload },
        {
          name: SIGNED_ROUTE,
          path_prefix: `/${SIGNED_ROUTE}`,
          s3,
          upload,
          auth: { enabled: true, sigv4: { region: REGION, credentials: [credential] } },
        },
      ],
      // Warnings and errors only: the harness keeps what the gateway prints.
      logging: { level: 'warn' },
    }),
  );
  const gateway = startGateway(['--config', config], { env: isolatedAwsEnv(), cwd: workDir });
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    const live = await rawRequest(`${url}/health/live`, 'GET', []);
    if (live.kind === 'answer' && live.status === 200) break;
    const exit = await Promise.race([gateway.exited, sleep(100).then(() => undefined)]);
    if (exit !== undefined) {
      throw new Error(`the gateway ended at start-up:\n${gateway.stdout()}\n${gateway.stderr()}`);
    }
  }
  const quiet = () => undefined;
  const sdk = new S3Client({
    endpoint: url,
    region: REGION,
    forcePathStyle: true,
    // Failures are counted by code; the SDK's own warnings about them would only be noise.
    logger: { trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet },
    credentials: { accessKeyId: credential.access_key, secretAccessKey: credential.secret_key },
  });
  return { gateway, url, bucket, proxy, sdk };
}

/** Drives one kind of upload after another until told to stop. */
class Load {
  private readonly random: () => number;

  constructor(
    private readonly harness: Harness,
    private readonly options: Options,
    private readonly tally: Tally,
    private readonly verifier: Verifier,
  ) {
    this.random = prng(options.seed);
  }

  private between(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min));
  }

  /** Mostly small, some mid-sized, a few above the auto-multipart threshold. */
  private size(max = this.options.maxSizeMiB * MiB): number {
    const r = this.random();
    const pick =
      r < 0.45
        ? this.between(KiB, 256 * KiB)
        : r < 0.8
          ? this.between(256 * KiB, 4 * MiB)
          : r < 0.93
            ? this.between(4 * MiB, THRESHOLD_MIB * MiB)
            : this.between(THRESHOLD_MIB * MiB + 1, Math.max(max, THRESHOLD_MIB * MiB + 2));
    return Math.min(pick, max);
  }

  private op(): Op {
    let r = this.random();
    for (const [op, share] of MIX) {
      if (r < share) return op;
      r -= share;
    }
    return 'put';
  }

  /** Where a client hangs up, or undefined for most uploads. */
  private abortAt(size: number): number | undefined {
    return size > 1 && this.random() < this.options.abortRate ? this.between(0, size) : undefined;
  }

  /** Uploads running now: key -> when they started. */
  readonly running = new Map<string, number>();

  /** Uploads that have run for longer than `seconds`, for the progress line. */
  stuck(seconds: number): string[] {
    const now = Date.now();
    return [...this.running]
      .filter(([, since]) => now - since > seconds * 1000)
      .map(([key, since]) => `${key} (${Math.round((now - since) / 1000)} s)`);
  }

  async run(stop: () => boolean): Promise<void> {
    while (!stop() && this.tally.started < this.options.maxUploads) {
      await this.verifier.room(VERIFY_BACKLOG_BYTES);
      if (stop()) return;
      this.tally.started += 1;
      const op = this.op();
      const key = `${op}/${this.tally.started}-${randomBytes(4).toString('hex')}.bin`;
      this.running.set(key, Date.now());
      const record = await this.upload(op, key);
      this.running.delete(key);
      this.tally.add(record);
      if (record.outcome.kind === 'ok') this.verifier.add(record);
    }
  }

  private async upload(op: Op, key: string): Promise<UploadRecord> {
    switch (op) {
      case 'put':
        return this.rawPut(op, key, this.size(), {});
      case 'put-crc':
        return this.rawPut(op, key, this.size(8 * MiB), { crc: true });
      case 'put-chunked':
        return this.rawPut(op, key, this.size(), { chunked: true });
      case 'presigned':
        return this.rawPut(op, key, this.size(), { presigned: true });
      case 'sdk-put':
        return this.sdkPut(key, this.size(8 * MiB), false);
      case 'sdk-put-stream':
        return this.sdkPut(key, this.size(THRESHOLD_MIB * MiB), true);
      case 'multipart':
        return this.rawMultipart(key, this.between(PART + 1, 30 * MiB));
      case 'lib-storage':
        return this.libStorage(key, this.between(PART + 1, 30 * MiB));
    }
  }

  private async rawPut(
    op: Op,
    key: string,
    size: number,
    how: { crc?: boolean; chunked?: boolean; presigned?: boolean },
  ): Promise<UploadRecord> {
    const body = new PatternBody(size, 64 * KiB);
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (!how.chunked) headers['content-length'] = String(size);
    let chunks: Iterable<Buffer> = body.chunks();
    if (how.crc) {
      const whole = Buffer.concat([...body.chunks()]);
      headers['x-amz-checksum-crc32'] = checksumBase64('CRC32', whole);
      chunks = [whole];
    }
    let url = `${this.harness.url}/soak/${key}`;
    if (how.presigned) {
      url = await getSignedUrl(
        this.harness.sdk,
        new PutObjectCommand({ Bucket: SIGNED_ROUTE, Key: key }),
        { expiresIn: 900 },
      );
    }
    const hash = createHash('md5');
    const answer = await rawRequest(url, 'PUT', chunks, {
      headers,
      abortAt: this.abortAt(size),
      hash,
    });
    const outcome = outcomeOf(answer);
    // A failed upload is judged against the whole body: if anything is stored, it must be that.
    return { key, op, size, md5: outcome.kind === 'ok' ? hash.digest('hex') : body.md5(), outcome };
  }

  private async sdkPut(key: string, size: number, stream: boolean): Promise<UploadRecord> {
    const body = new PatternBody(size, 64 * KiB);
    const hash = createHash('md5');
    const op: Op = stream ? 'sdk-put-stream' : 'sdk-put';
    try {
      if (stream) {
        const chunks = function* () {
          for (const chunk of body.chunks()) {
            hash.update(chunk);
            yield chunk;
          }
        };
        await this.harness.sdk.send(
          new PutObjectCommand({
            Bucket: SIGNED_ROUTE,
            Key: key,
            Body: Readable.from(chunks()),
            ContentLength: size,
          }),
        );
      } else {
        const whole = Buffer.concat([...body.chunks()]);
        hash.update(whole);
        await this.harness.sdk.send(
          new PutObjectCommand({ Bucket: SIGNED_ROUTE, Key: key, Body: whole }),
        );
      }
      return { key, op, size, md5: hash.digest('hex'), outcome: { kind: 'ok' } };
    } catch (err) {
      return { key, op, size, md5: body.md5(), outcome: { kind: 'error', code: sdkCode(err) } };
    }
  }

  /** Retries like an SDK: network failures and 5xx, three attempts with backoff. */
  private async retrying(send: () => Promise<RawAnswer>): Promise<RawAnswer> {
    for (let attempt = 1; ; attempt++) {
      const answer = await send();
      const retryable =
        answer.kind === 'network' || (answer.kind === 'answer' && answer.status >= 500);
      if (!retryable || attempt >= 3) return answer;
      await sleep(100 * 2 ** attempt * (0.5 + this.random()));
    }
  }

  /** A client that gives up aborts its upload, and insists: up to ten attempts. */
  private async abortUpload(path: string, uploadId: string): Promise<boolean> {
    const url = `${this.harness.url}${path}?uploadId=${encodeURIComponent(uploadId)}`;
    for (let attempt = 1; attempt <= 10; attempt++) {
      const answer = await rawRequest(url, 'DELETE', []);
      if (answer.kind === 'answer' && (answer.status === 204 || answer.code === 'NoSuchUpload')) {
        return true;
      }
      await sleep(Math.min(2000, 100 * 2 ** attempt));
    }
    return false;
  }

  private async rawMultipart(key: string, size: number): Promise<UploadRecord> {
    const path = `/soak/${key}`;
    const record: UploadRecord = { key, op: 'multipart', size, md5: '', outcome: { kind: 'ok' } };
    const fail = (code: string): UploadRecord => ({ ...record, outcome: { kind: 'error', code } });
    const created = await this.retrying(() =>
      rawRequest(`${this.harness.url}${path}?uploads`, 'POST', []),
    );
    const uploadId = created.kind === 'answer' ? xmlField(created.text, 'UploadId') : undefined;
    if (created.kind !== 'answer' || created.status !== 200 || uploadId === undefined) {
      // Nothing was sent: nothing may be stored (an empty MD5 matches no object).
      return fail(`create ${answerCode(created)}`);
    }
    record.clientMultipart = { uploadId, abortConfirmed: false };
    const body = new PatternBody(size, 256 * KiB);
    const giveUp = async (outcome: Outcome) => {
      record.outcome = outcome;
      record.md5 = body.md5();
      record.clientMultipart = {
        uploadId,
        abortConfirmed: await this.abortUpload(path, uploadId),
      };
      return record;
    };
    const hash = createHash('md5');
    const parts = Math.ceil(size / PART);
    const cutPart = this.random() < this.options.abortRate ? this.between(1, parts + 1) : 0;
    const etags: string[] = [];
    let partNumber = 0;
    for (const part of regroup(body.chunks(), PART)) {
      partNumber += 1;
      const url = `${this.harness.url}${path}?partNumber=${partNumber}&uploadId=${encodeURIComponent(uploadId)}`;
      const headers = { 'content-length': String(part.length) };
      if (partNumber === cutPart) {
        await rawRequest(url, 'PUT', [part], { headers, abortAt: this.between(0, part.length) });
        return giveUp({ kind: 'client-abort' });
      }
      const answer = await this.retrying(() => rawRequest(url, 'PUT', [part], { headers }));
      if (answer.kind !== 'answer' || answer.status !== 200 || answer.etag === undefined) {
        return giveUp({ kind: 'error', code: `part ${answerCode(answer)}` });
      }
      hash.update(part);
      etags.push(answer.etag);
    }
    const xml =
      '<CompleteMultipartUpload>' +
      etags
        .map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e}</ETag></Part>`)
        .join('') +
      '</CompleteMultipartUpload>';
    const done = await this.retrying(() =>
      rawRequest(`${this.harness.url}${path}?uploadId=${encodeURIComponent(uploadId)}`, 'POST', [
        Buffer.from(xml),
      ]),
    );
    if (
      done.kind !== 'answer' ||
      done.status !== 200 ||
      xmlField(done.text, 'Code') !== undefined
    ) {
      return giveUp({ kind: 'error', code: `complete ${answerCode(done)}` });
    }
    record.md5 = hash.digest('hex');
    record.clientMultipart = undefined;
    return record;
  }

  private async libStorage(key: string, size: number): Promise<UploadRecord> {
    const body = new PatternBody(size, 256 * KiB);
    const hash = createHash('md5');
    const chunks = function* () {
      for (const chunk of body.chunks()) {
        hash.update(chunk);
        yield chunk;
      }
    };
    const upload = new Upload({
      client: this.harness.sdk,
      params: { Bucket: SIGNED_ROUTE, Key: key, Body: Readable.from(chunks()) },
      partSize: PART,
      queueSize: 2,
      // The harness aborts a failed upload itself, insisting, so that what it leaves is known.
      leavePartsOnError: true,
    });
    try {
      await upload.done();
      return { key, op: 'lib-storage', size, md5: hash.digest('hex'), outcome: { kind: 'ok' } };
    } catch (err) {
      const record: UploadRecord = {
        key,
        op: 'lib-storage',
        size,
        md5: body.md5(),
        outcome: { kind: 'error', code: sdkCode(err) },
      };
      const uploadId = (upload as unknown as { uploadId?: string }).uploadId;
      if (uploadId !== undefined) {
        let abortConfirmed = false;
        for (let attempt = 1; attempt <= 10 && !abortConfirmed; attempt++) {
          abortConfirmed = await this.harness.sdk
            .send(
              new AbortMultipartUploadCommand({
                Bucket: SIGNED_ROUTE,
                Key: key,
                UploadId: uploadId,
              }),
            )
            .then(
              () => true,
              (abortErr: unknown) =>
                abortErr instanceof S3ServiceException && abortErr.name === 'NoSuchUpload',
            );
          if (!abortConfirmed) await sleep(Math.min(2000, 100 * 2 ** attempt));
        }
        record.clientMultipart = { uploadId, abortConfirmed };
      }
      return record;
    }
  }
}

function answerOf(outcome: Outcome): string {
  return outcome.kind === 'error' ? outcome.code : outcome.kind;
}

function outcomeOf(answer: RawAnswer): Outcome {
  if (answer.kind === 'client-abort') return { kind: 'client-abort' };
  if (answer.kind === 'answer' && answer.status === 200) return { kind: 'ok' };
  return { kind: 'error', code: answerCode(answer) };
}

/** Random backend faults at `rate`, and a one-second outage every `outageEvery` seconds. */
function injectFaults(proxy: FaultProxy, options: Options): () => void {
  const random = prng(options.seed ^ 0x5eed);
  proxy.setRule((req) => {
    if (random() >= options.faultRate) return undefined;
    const r = random();
    let fault: Fault;
    if (r < 0.3) {
      fault = { kind: 'reset', afterBytes: Math.floor(random() * req.contentLength) };
    } else if (r < 0.55) fault = INTERNAL_ERROR;
    else if (r < 0.75) fault = SLOW_DOWN;
    else if (r < 0.9) fault = { ...SLOW_DOWN, readBody: false };
    else fault = { kind: 'stall' };
    return fault;
  });
  proxy.setConnectionRule(() => random() < options.faultRate / 4);
  const outages =
    options.faultRate > 0 && options.outageEvery > 0
      ? setInterval(() => {
          proxy.refuseConnections();
          setTimeout(() => void proxy.acceptConnections(), 1000);
        }, options.outageEvery * 1000)
      : undefined;
  return () => clearInterval(outages);
}

/** The gateway's uploads in flight, from its /metrics. */
async function uploadsInFlight(url: string): Promise<number> {
  const answer = await rawRequest(`${url}/metrics`, 'GET', []);
  if (answer.kind !== 'answer') return Number.NaN;
  const match = /^mizuchi_uploads_in_flight(?:\{[^}]*\})? (\S+)$/m.exec(answer.text);
  return match === null ? 0 : Number(match[1]);
}

/** Open descriptors of a process, by kind (socket, pipe, anon_inode:[eventpoll], file ...). */
function descriptorsOf(pid: number): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    const kind = /^(socket|pipe):/.exec(target)?.[1] ?? (target.startsWith('/') ? 'file' : target);
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return kinds;
}

function describeDescriptors(kinds: Record<string, number>): string {
  const total = Object.values(kinds).reduce((sum, n) => sum + n, 0);
  return `${total} (${Object.entries(kinds)
    .map(([kind, n]) => `${kind} ${n}`)
    .join(', ')})`;
}

function mib(bytes: number): string {
  return (bytes / MiB).toFixed(1);
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const workDir = mkdtempSync(join(tmpdir(), 'mizuchi-soak-'));
  process.stdout.write(
    `soak: ${options.minutes} min, concurrency ${options.concurrency}, fault rate ` +
      `${options.faultRate}, abort rate ${options.abortRate}, seed ${options.seed}` +
      (options.sigtermAfter !== undefined ? `, SIGTERM after ${options.sigtermAfter} s` : '') +
      '\n',
  );
  const harness = await startHarness(options, workDir);
  const loopDelay = monitorEventLoopDelay({ resolution: 20 });
  loopDelay.enable();
  const { gateway, proxy } = harness;
  const tally = new Tally();
  const verifier = new Verifier(harness.bucket, 2);
  const started = Date.now();
  const rss: Array<{ t: number; mib: number }> = [];
  const sampleRss = () => {
    try {
      rss.push({
        t: Math.round((Date.now() - started) / 1000),
        mib: memoryOf(gateway.pid).rss / MiB,
      });
    } catch {
      // The process has gone (SIGTERM mode).
    }
  };
  sampleRss();
  const fds: { start: Record<string, number>; end?: Record<string, number> } = {
    start: descriptorsOf(gateway.pid),
  };
  const sampler = setInterval(sampleRss, 5000);
  const stopFaults = injectFaults(proxy, options);

  let exited = false;
  let exitedAt = 0;
  let sigtermAt: number | undefined;
  void gateway.exited.then(() => {
    exited = true;
    exitedAt = Date.now();
  });
  const deadline = started + options.minutes * 60_000;
  let inFlightAtSigterm: number | undefined;
  const sendSigterm = async () => {
    // Mid-load means with uploads in flight: wait (briefly) for a moment with several.
    const wanted = Math.min(8, Math.ceil(options.concurrency / 2));
    const until = Date.now() + 30_000;
    let inFlight = await uploadsInFlight(harness.url);
    while (inFlight < wanted && Date.now() < until) {
      await sleep(20);
      inFlight = await uploadsInFlight(harness.url);
    }
    stopFaults();
    await proxy.heal();
    inFlightAtSigterm = inFlight;
    sigtermAt = Date.now();
    gateway.child.kill('SIGTERM');
  };
  const sigterm =
    options.sigtermAfter !== undefined
      ? setTimeout(() => void sendSigterm(), options.sigtermAfter * 1000)
      : undefined;
  const load = new Load(harness, options, tally, verifier);
  const progress = setInterval(() => {
    const stuck = load.stuck(60);
    process.stdout.write(
      `  ${Math.round((Date.now() - started) / 1000)} s: ${tally.started} started, ` +
        `${tally.confirmed} confirmed, ${tally.failed.length} failed, ` +
        `${verifier.verified} verified, RSS ${rss.at(-1)?.mib.toFixed(0) ?? '?'} MiB` +
        (stuck.length > 0
          ? `; running for over a minute: ${stuck.join(', ')}; backend connections ` +
            JSON.stringify(proxy.connections())
          : '') +
        '\n',
    );
  }, 30_000);

  // Stop on time; in SIGTERM mode, keep knocking until the gateway is gone.
  const stop = () =>
    options.sigtermAfter !== undefined ? exited || Date.now() > deadline : Date.now() > deadline;
  await Promise.all(Array.from({ length: options.concurrency }, () => load.run(stop)));
  const loadSeconds = (Date.now() - started) / 1000;
  clearInterval(progress);
  process.stdout.write(`  load over after ${Math.round(loadSeconds)} s; settling and checking\n`);
  clearTimeout(sigterm);
  stopFaults();
  await proxy.heal();

  // Settle: the gateway finishes (or aborts) what it still holds, then every check runs.
  let exit: { code: number | null; signal: NodeJS.Signals | null };
  let exitSeconds: number | undefined;
  if (options.sigtermAfter !== undefined) {
    if (sigtermAt === undefined) {
      sigtermAt = Date.now();
      gateway.child.kill('SIGTERM');
    }
    exit = await gateway.exited;
    exitSeconds = (exitedAt - sigtermAt) / 1000;
  } else {
    const settleBy = Date.now() + 120_000;
    while ((await uploadsInFlight(harness.url)) !== 0 && Date.now() < settleBy) await sleep(200);
    sampleRss();
    // Descriptors once the keep-alive connections (the SDK's to the gateway, the gateway's to
    // the backend) are closed: what is left is held.
    harness.sdk.destroy();
    for (let i = 0; i < 20; i++) {
      proxy.dropIdle();
      await sleep(100);
    }
    fds.end = descriptorsOf(gateway.pid);
    exit = await gateway.stop('SIGTERM');
  }
  clearInterval(sampler);
  await verifier.finish();

  const phantomIntact: string[] = [];
  const phantomPartial: string[] = [];
  for (const record of tally.failed) {
    const stored = await storedObject(harness.bucket, record.key);
    if (stored === undefined) continue;
    // Stored although the client was not told so: whole (a lost answer) or a partial object.
    if (stored.md5 === record.md5 && stored.size === record.size) {
      const seen = proxy.log
        .filter((r) => r.url.includes(record.key))
        .map(
          (r) =>
            `${r.operation}${r.partNumber ?? ''}:${r.outcome}` +
            (r.timing !== undefined
              ? `(body ${r.timing.bodyMs ?? '-'} ms, answer ${r.timing.answerMs ?? '-'} ms)`
              : ''),
        );
      phantomIntact.push(
        `${record.key} (${answerOf(record.outcome)}; backend saw ${seen.join(' ')})`,
      );
    } else {
      phantomPartial.push(
        `${record.key} (${answerOf(record.outcome)}; body ${record.size} bytes, MD5 ` +
          `${record.md5}; stored ${stored.size} bytes, MD5 ${stored.md5})`,
      );
    }
  }
  const leftovers = await listMultipartUploads(harness.bucket);
  const clientOwned = new Map(
    tally.multipart
      .filter((r) => r.clientMultipart !== undefined && !r.clientMultipart.abortConfirmed)
      .map((r) => [r.key, r]),
  );
  const gatewayLeftovers = leftovers.filter((u) => !clientOwned.has(u.key));
  const clientLeftovers = leftovers.filter((u) => clientOwned.has(u.key));

  const peak = Math.max(...rss.map((s) => s.mib));
  const summary = {
    options,
    seconds: Math.round(loadSeconds),
    uploads: {
      started: tally.started,
      confirmed: tally.confirmed,
      confirmedMiB: Number(mib(tally.confirmedBytes)),
      failed: tally.failed.length - tally.clientAborts,
      clientAborts: tally.clientAborts,
      byOperation: Object.fromEntries(tally.byOp),
    },
    errorsByCode: Object.fromEntries([...tally.errors].sort((a, b) => b[1] - a[1])),
    backendFaults: proxy.counts(),
    verified: verifier.verified,
    lost: verifier.lost.length,
    corrupted: verifier.corrupted.length,
    storedAfterFailure: { intact: phantomIntact.length, partial: phantomPartial.length },
    leftoverMultipartUploads: {
      gatewayOwned: gatewayLeftovers.length,
      clientOwnedAbortFailed: clientLeftovers.length,
    },
    rssMiB: {
      start: Number(rss[0]?.mib.toFixed(1)),
      peak: Number(peak.toFixed(1)),
      end: Number(rss.at(-1)?.mib.toFixed(1)),
      samples: rss.map((s) => [s.t, Number(s.mib.toFixed(0))]),
    },
    harnessEventLoopDelayMs: {
      p99: Math.round(loopDelay.percentile(99) / 1e6),
      max: Math.round(loopDelay.max / 1e6),
    },
    gatewayDescriptors: fds,
    gatewayExit: {
      code: exit.code,
      signal: exit.signal,
      secondsAfterSigterm: exitSeconds,
      uploadsInFlightAtSigterm: inFlightAtSigterm,
    },
  };

  const problems: string[] = [];
  if (verifier.lost.length > 0) problems.push(`lost: ${verifier.lost.slice(0, 5).join(', ')}`);
  if (verifier.corrupted.length > 0) {
    problems.push(`corrupted: ${verifier.corrupted.slice(0, 5).join(', ')}`);
  }
  if (phantomPartial.length > 0) {
    problems.push(`partial objects after a failure: ${phantomPartial.slice(0, 5).join(', ')}`);
  }
  if (gatewayLeftovers.length > 0) {
    problems.push(
      `multipart uploads left: ${gatewayLeftovers
        .slice(0, 5)
        .map((u) => u.key)
        .join(', ')}`,
    );
  }
  if (exit.code !== 0) problems.push(`the gateway exited with ${exit.signal ?? exit.code}`);
  // The drain waits `grace`, then aborts what runs (each abort may retry through a backend
  // hiccup): allow a few seconds beyond the grace for that and for closing.
  if (exitSeconds !== undefined && exitSeconds > options.grace + 10) {
    problems.push(`the gateway took ${exitSeconds.toFixed(1)} s to exit after SIGTERM`);
  }

  const line = (label: string, value: unknown) =>
    process.stdout.write(`${label.padEnd(28)} ${String(value)}\n`);
  process.stdout.write('\n--- soak results ---\n');
  line('load time (s)', summary.seconds);
  line('uploads started', tally.started);
  line('uploads confirmed', `${tally.confirmed} (${mib(tally.confirmedBytes)} MiB)`);
  line('failed (S3 error/network)', summary.uploads.failed);
  line('client aborts', tally.clientAborts);
  for (const [op, counts] of tally.byOp)
    line(`  ${op}`, `${counts.ok} ok, ${counts.failed} failed`);
  line('errors by code', '');
  for (const [code, count] of Object.entries(summary.errorsByCode)) line(`  ${code}`, count);
  line('backend requests (proxy)', JSON.stringify(summary.backendFaults));
  line('verified intact', `${verifier.verified} (${mib(verifier.verifiedBytes)} MiB)`);
  line('lost', verifier.lost.length);
  line('corrupted', verifier.corrupted.length);
  line(
    'stored after a failure',
    `${phantomIntact.length} intact, ${phantomPartial.length} partial` +
      (phantomIntact.length > 0 ? ` (${phantomIntact.slice(0, 5).join(', ')})` : ''),
  );
  line('leftover multipart uploads', `${gatewayLeftovers.length} (gateway's or confirmed aborted)`);
  line('  client gave up aborting', clientLeftovers.length);
  line(
    'gateway RSS (MiB)',
    `start ${summary.rssMiB.start}, peak ${summary.rssMiB.peak}, end ${summary.rssMiB.end}`,
  );
  line('RSS samples (s:MiB)', rss.map((s) => `${s.t}:${s.mib.toFixed(0)}`).join(' '));
  if (fds.end !== undefined) {
    line('gateway descriptors', `start ${describeDescriptors(fds.start)}`);
    line('', `end ${describeDescriptors(fds.end)}`);
  }
  line(
    'harness event-loop delay',
    `p99 ${summary.harnessEventLoopDelayMs.p99} ms, max ${summary.harnessEventLoopDelayMs.max} ms`,
  );
  line(
    'gateway exit',
    `${exit.signal ?? exit.code}` +
      (exitSeconds !== undefined
        ? ` ${exitSeconds.toFixed(1)} s after SIGTERM, sent with ${inFlightAtSigterm ?? '?'} ` +
          'upload(s) in flight'
        : ''),
  );
  if (options.json !== undefined)
    writeFileSync(options.json, `${JSON.stringify(summary, null, 2)}\n`);

  // Clean up what the clients left, then the bucket.
  for (const upload of clientLeftovers) {
    await directS3().send(
      new AbortMultipartUploadCommand({
        Bucket: harness.bucket,
        Key: upload.key,
        UploadId: upload.uploadId,
      }),
    );
  }
  await destroyTestBucket(harness.bucket);
  closeDirectS3();
  harness.sdk.destroy();
  await proxy.close();
  rmSync(workDir, { recursive: true, force: true });

  if (problems.length > 0) {
    process.stdout.write(`\nFAILED:\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
    if (exit.code !== 0) process.stdout.write(`${gateway.stderr().slice(-4000)}\n`);
    return 1;
  }
  process.stdout.write('\nOK: nothing lost, corrupted, partial or left behind\n');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `soak failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
