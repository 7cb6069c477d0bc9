/**
 * Graceful shutdown (src/shutdown.ts): uploads that finish within the grace period are stored
 * whole, uploads still running after it are aborted and leave nothing behind, and no new
 * connection is accepted once shutdown has started. Last, the built gateway gets a real SIGTERM
 * with uploads of every kind in flight.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { shutdownGracefully } from '../src/shutdown';
import { InFlightUploads } from '../src/upload/in-flight-uploads';
import { AbortMultipartUploadCommand, ListPartsCommand } from '@aws-sdk/client-s3';
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
import { cephRoute, createTestApp, filesystemRoute, type TestApp } from './helpers/create-test-app';
import { type FaultProxy, startFaultProxy } from './helpers/fault-proxy';
import {
  ensureGatewayBuilt,
  type GatewayProcess,
  SERVING_LINE,
  startGateway,
} from './helpers/gateway-process';
import { freePort, isolatedAwsEnv } from './helpers/processes';

const KiB = 1024;

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

/** How a request ended from the client's side: a response, or a broken connection. */
type ClientOutcome = { status: number; etag?: string; body: string } | { error: string };

/** A PUT whose body the test writes piece by piece, as a slow client would. */
interface SlowUpload {
  write(piece: Buffer): Promise<void>;
  end(): void;
  /** Settles once the client has a response or lost the connection. */
  outcome: Promise<ClientOutcome>;
  destroy(): void;
}

function slowUpload(url: string, size: number): SlowUpload {
  const req = http.request(url, {
    method: 'PUT',
    agent: false,
    headers: { 'content-length': String(size), 'content-type': 'application/octet-stream' },
  });
  const outcome = new Promise<ClientOutcome>((resolve) => {
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (text: string) => (body += text));
      res.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, etag: res.headers.etag, body }));
    });
  });
  req.flushHeaders();
  return {
    write: (piece) =>
      new Promise<void>((resolve, reject) =>
        req.write(piece, (err) => (err ? reject(err) : resolve())),
      ),
    end: () => req.end(),
    outcome,
    destroy: () => req.destroy(),
  };
}

/** Resolves once the gateway has `count` uploads in progress. */
async function untilInFlight(gw: TestApp, count: number): Promise<void> {
  const uploads = gw.app.get(InFlightUploads);
  while (uploads.size !== count) await sleep(5);
}

/** Resolves with the error code of a TCP connection attempt, or 'connected'. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** Sends `rest` in small pieces with pauses, then ends the body. */
async function trickle(upload: SlowUpload, rest: Buffer, pieces = 8): Promise<void> {
  const step = Math.ceil(rest.length / pieces);
  for (let offset = 0; offset < rest.length; offset += step) {
    await sleep(20);
    await upload.write(rest.subarray(offset, offset + step));
  }
  upload.end();
}

interface Backend {
  /** Route config under the prefix `/up`. */
  route(): Record<string, unknown>;
  /** Bytes stored under `key`, as an MD5, or undefined when there is no object. */
  stored(key: string): Promise<string | undefined>;
  /** Asserts that an aborted upload of `key` left nothing at all behind. */
  expectNothingLeft(key: string): Promise<void>;
}

describe('Graceful shutdown', () => {
  let bucket: string;
  let fsRoot: string;
  let gw: TestApp | undefined;
  let shutDown = false;

  const backends: Record<string, Backend> = {
    filesystem: {
      route: () => filesystemRoute('up', fsRoot),
      stored: (key) => {
        const file = join(fsRoot, key);
        return Promise.resolve(existsSync(file) ? md5(readFileSync(file)) : undefined);
      },
      expectNothingLeft: (key) => {
        expect(existsSync(join(fsRoot, key))).toBe(false);
        // Temporary files of unfinished uploads live here; an aborted one must be removed.
        expect(readdirSync(join(fsRoot, '.mizuchi', 'tmp'))).toEqual([]);
        return Promise.resolve();
      },
    },
    Ceph: {
      route: () => cephRoute('up', bucket),
      stored: async (key) => (await storedObject(bucket, key))?.md5,
      expectNothingLeft: async (key) => {
        expect(await storedObject(bucket, key)).toBeUndefined();
        expect(await listKeys(bucket)).not.toContain(key);
        expect(await listMultipartUploads(bucket)).toEqual([]);
      },
    },
  };

  async function startGateway(backend: Backend): Promise<TestApp> {
    gw = await createTestApp({ buckets: [backend.route()] });
    shutDown = false;
    return gw;
  }

  function shutdown(app: TestApp, graceMs: number) {
    shutDown = true;
    return shutdownGracefully(app.app, graceMs);
  }

  beforeAll(async () => {
    bucket = await createTestBucket('shutdown');
    fsRoot = mkdtempSync(join(tmpdir(), 'mizuchi-shutdown-'));
  });

  afterEach(async () => {
    if (gw !== undefined && !shutDown) await gw.close();
    gw = undefined;
  });

  afterAll(async () => {
    if (bucket !== undefined) await destroyTestBucket(bucket);
    closeDirectS3();
    if (fsRoot !== undefined) rmSync(fsRoot, { recursive: true, force: true });
  });

  describe.each(Object.keys(backends))('with the %s backend', (name) => {
    const backend = backends[name];

    it('lets an upload in progress finish within the grace period and stores it whole', async () => {
      const app = await startGateway(backend);
      const body = randomBytes(2 * 1024 * KiB + 5);
      const upload = slowUpload(`${app.url}/up/finishes-${name}.bin`, body.length);
      await upload.write(body.subarray(0, 256 * KiB));
      await untilInFlight(app, 1);

      const stopping = shutdown(app, 30_000);
      await trickle(upload, body.subarray(256 * KiB));

      expect(await upload.outcome).toMatchObject({ status: 200, etag: `"${md5(body)}"` });
      expect(await stopping).toEqual({ aborted: 0 });
      expect(await backend.stored(`finishes-${name}.bin`)).toBe(md5(body));
    });

    it('aborts an upload still running when a short grace period ends, leaving nothing behind', async () => {
      const app = await startGateway(backend);
      const body = randomBytes(2 * 1024 * KiB);
      const upload = slowUpload(`${app.url}/up/aborted-${name}.bin`, body.length);
      await upload.write(body.subarray(0, 512 * KiB));
      await untilInFlight(app, 1);

      // The client stalls: it never sends the rest within the 200 ms of grace.
      expect(await shutdown(app, 200)).toEqual({ aborted: 1 });

      // The client has sent everything the gateway read, so the answer reaches it intact.
      expect(await upload.outcome).toMatchObject({
        status: 503,
        body: expect.stringContaining('<Code>ServiceUnavailable</Code>'),
      });
      upload.destroy();
      await backend.expectNothingLeft(`aborted-${name}.bin`);
    });

    it('refuses new connections once shutdown has started', async () => {
      const app = await startGateway(backend);
      const body = randomBytes(512 * KiB);
      const upload = slowUpload(`${app.url}/up/during-${name}.bin`, body.length);
      await upload.write(body.subarray(0, 64 * KiB));
      await untilInFlight(app, 1);
      expect(await tryConnect(app.port)).toBe('connected');

      const stopping = shutdown(app, 30_000);

      expect(await tryConnect(app.port)).toBe('ECONNREFUSED');
      // The upload that was already running is still served to the end.
      await trickle(upload, body.subarray(64 * KiB), 2);
      expect(await upload.outcome).toMatchObject({ status: 200 });
      expect(await stopping).toEqual({ aborted: 0 });
      expect(await backend.stored(`during-${name}.bin`)).toBe(md5(body));
    });
  });
});

describe('SIGTERM with uploads of every kind in flight', () => {
  const GRACE_SECONDS = 2;
  let bucket: string;
  let proxy: FaultProxy;
  let dir: string;
  let gateway: GatewayProcess | undefined;
  let url: string;

  beforeAll(async () => {
    await ensureGatewayBuilt();
    bucket = await createTestBucket('sigterm');
    const ceph = cephSettings();
    // The proxy lets the test hold one backend answer past the grace period.
    proxy = await startFaultProxy(ceph.endpoint);
    dir = mkdtempSync(join(tmpdir(), 'mizuchi-sigterm-'));
    const port = await freePort();
    const config = join(dir, 'gateway.yaml');
    writeFileSync(
      config,
      JSON.stringify({
        server: {
          address: `127.0.0.1:${port}`,
          shutdown_grace_seconds: GRACE_SECONDS,
          upload_id_secret: randomBytes(32).toString('hex'),
        },
        buckets: [
          {
            name: 'up',
            path_prefix: '/up',
            s3: {
              bucket,
              endpoint: proxy.url,
              region: ceph.region,
              access_key: ceph.accessKeyId,
              secret_key: ceph.secretAccessKey,
            },
            upload: { multipart_threshold: '8MiB', part_size: '5MiB' },
          },
        ],
      }),
    );
    gateway = startGateway(['--config', config], { env: isolatedAwsEnv(), cwd: dir });
    [, url] = await gateway.waitForStdout(SERVING_LINE);
  });

  afterAll(async () => {
    await gateway?.stop('SIGKILL');
    await proxy?.close();
    if (bucket !== undefined) await destroyTestBucket(bucket);
    closeDirectS3();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** The gateway's uploads in flight, from its /metrics. */
  async function inFlight(): Promise<number> {
    const text = await new Promise<string>((resolve, reject) => {
      http
        .get(`${url}/metrics`, { agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (piece: string) => (body += piece));
          res.on('end', () => resolve(body));
        })
        .on('error', reject);
    });
    return Number(/^mizuchi_uploads_in_flight (\S+)$/m.exec(text)?.[1] ?? 0);
  }

  it('stores what finishes (or was already sent) whole, aborts the rest leaving nothing, and exits 0', async () => {
    const MiB = 1024 * KiB;
    const started = new Promise<string>((resolve, reject) => {
      const req = http.request(`${url}/up/part.bin?uploads`, { method: 'POST', agent: false });
      req.on('error', reject);
      req.on('response', (res) => {
        let xml = '';
        res.setEncoding('utf8');
        res.on('data', (piece: string) => (xml += piece));
        res.on('end', () => resolve(/<UploadId>([^<]+)<\/UploadId>/.exec(xml)?.[1] ?? ''));
      });
      req.end();
    });
    const uploadId = await started;
    const backendId = (await listMultipartUploads(bucket)).find((u) => u.key === 'part.bin');

    // Finish after SIGTERM, within the grace period.
    const finishing = [0, 1, 2].map((i) => ({
      key: `finishing-${i}.bin`,
      body: randomBytes(2 * MiB),
    }));
    // Never finish: their clients stall.
    const stalled = [
      { key: 'stalled-put.bin', body: randomBytes(2 * MiB), sent: 512 * KiB },
      { key: 'stalled-auto.bin', body: randomBytes(12 * MiB), sent: 6 * MiB },
      {
        key: `part.bin?partNumber=1&uploadId=${encodeURIComponent(uploadId)}`,
        body: randomBytes(5 * MiB),
        sent: MiB,
      },
    ];
    // Sent whole before SIGTERM; the backend's answer (to the PutObject, and to the
    // CompleteMultipartUpload of an auto-multipart upload) is held past the grace period.
    const held = { key: 'held-answer.bin', body: randomBytes(MiB) };
    const heldAuto = { key: 'held-auto.bin', body: randomBytes(12 * MiB) };
    const holdAnswer = { kind: 'delay-answer', ms: (GRACE_SECONDS + 2) * 1000 } as const;
    proxy.failNext((req) => req.url.includes('held-answer'), holdAnswer);
    proxy.failNext(
      (req) => req.operation === 'CompleteMultipartUpload' && req.url.includes('held-auto'),
      holdAnswer,
    );

    const finishingUploads = finishing.map(({ key, body }) =>
      slowUpload(`${url}/up/${key}`, body.length),
    );
    const stalledUploads = stalled.map(({ key, body }) =>
      slowUpload(`${url}/up/${key}`, body.length),
    );
    const heldUploads = [held, heldAuto].map(({ key, body }) =>
      slowUpload(`${url}/up/${key}`, body.length),
    );
    await Promise.all([
      ...finishing.map(({ body }, i) =>
        finishingUploads[i].write(body.subarray(0, body.length / 2)),
      ),
      ...stalled.map(({ body, sent }, i) => stalledUploads[i].write(body.subarray(0, sent))),
      ...[held, heldAuto].map(({ body }, i) => heldUploads[i].write(body)),
    ]);
    heldUploads.forEach((upload) => upload.end());
    // Everything is in the gateway's hands, the auto-multipart upload has begun in Ceph, and the
    // held upload is waiting for the answer to its Complete.
    while ((await inFlight()) !== finishing.length + stalled.length + 2) await sleep(20);
    while (!(await listMultipartUploads(bucket)).some((u) => u.key === 'stalled-auto.bin')) {
      await sleep(20);
    }
    while (!proxy.log.some((r) => r.operation === 'CompleteMultipartUpload')) await sleep(20);

    gateway!.child.kill('SIGTERM');
    for (const [i, { body }] of finishing.entries()) {
      await finishingUploads[i].write(body.subarray(body.length / 2));
      finishingUploads[i].end();
    }

    for (const [i, { key, body }] of finishing.entries()) {
      expect(await finishingUploads[i].outcome).toMatchObject({
        status: 200,
        etag: `"${md5(body)}"`,
      });
      expect(await storedObject(bucket, key)).toMatchObject({ md5: md5(body) });
    }
    // Their bodies were with the backend before the grace ended: its answer decides, not the
    // abort, so that the client is never told of a failure for an object that is stored.
    for (const [i, { key, body }] of [held, heldAuto].entries()) {
      expect(await heldUploads[i].outcome).toMatchObject({ status: 200 });
      expect(await storedObject(bucket, key)).toMatchObject({ md5: md5(body) });
    }
    for (const upload of stalledUploads) {
      expect(await upload.outcome).toMatchObject({
        status: 503,
        body: expect.stringContaining('<Code>ServiceUnavailable</Code>'),
      });
      upload.destroy();
    }
    expect(await gateway!.exited).toEqual({ code: 0, signal: null });

    expect(await storedObject(bucket, 'stalled-put.bin')).toBeUndefined();
    expect(await storedObject(bucket, 'stalled-auto.bin')).toBeUndefined();
    // The part never landed; the client's own upload is the client's to abort.
    const parts = await directS3().send(
      new ListPartsCommand({ Bucket: bucket, Key: 'part.bin', UploadId: backendId?.uploadId }),
    );
    expect(parts.Parts ?? []).toEqual([]);
    expect((await listMultipartUploads(bucket)).map((u) => u.key)).toEqual(['part.bin']);
    await directS3().send(
      new AbortMultipartUploadCommand({
        Bucket: bucket,
        Key: 'part.bin',
        UploadId: backendId?.uploadId,
      }),
    );
  });
});
