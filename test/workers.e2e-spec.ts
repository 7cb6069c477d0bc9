/**
 * `server.workers` (src/cluster/): the built gateway as a primary and its worker processes on one
 * port. One banner once every worker listens; uploads spread over the workers and stored whole;
 * one /metrics view that sums every worker; a worker killed with SIGKILL replaced; SIGTERM
 * stopping everything with exit code 0; and a config that cannot work with several processes
 * refused. Which worker served a request comes from its access line (`pid`, `request_id`), and
 * the workers themselves from /proc: nothing is exposed for the tests.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { filesystemRoute } from './helpers/create-test-app';
import { storedFile } from './helpers/filesystem-backend';
import {
  ensureGatewayBuilt,
  GATEWAY_MAIN,
  type GatewayProcess,
  SERVING_LINE,
  startGateway,
} from './helpers/gateway-process';
import { KiB, MiB, md5Hex } from './helpers/landing';
import { freePort, isolatedAwsEnv, runProcess } from './helpers/processes';
import { send, type WireResponse } from './helpers/wire';

const tempDirs: string[] = [];
function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `mizuchi-workers-${label}-`));
  tempDirs.push(dir);
  return dir;
}

/** Writes `config` (JSON is YAML) to a file in `dir` and returns its path. */
function writeConfig(dir: string, config: Record<string, unknown>): string {
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** The live (not zombie) children of `ppid`, from /proc/<pid>/stat, sorted. */
function childPids(ppid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // ended while we looked
    }
    // After the parenthesised command name: state, then the parent's pid.
    const [state, parent] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(parent) === ppid && state !== 'Z') pids.push(Number(entry));
  }
  return pids.sort((a, b) => a - b);
}

/** Whether `pid` is still a gateway process (not gone, not a zombie, not a reused pid). */
function isGatewayProcess(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z' && cmdline.includes(GATEWAY_MAIN);
  } catch {
    return false;
  }
}

/** The pid whose access line carries each request id, waiting for lines not yet printed. */
async function servedBy(gateway: GatewayProcess, responses: WireResponse[]): Promise<number[]> {
  const pids: number[] = [];
  for (const res of responses) {
    const id = String(res.headers['x-amz-request-id']);
    const [line] = await gateway.waitForStdout(
      new RegExp(`^(?=.*"request_id":"${id}")(?=.*"context":"AccessLog").*$`, 'm'),
    );
    pids.push((JSON.parse(line) as { pid: number }).pid);
  }
  return pids;
}

/** Each PUT on its own connection, so the primary's round-robin spreads them over the workers. */
function put(url: string, key: string, body: Buffer): Promise<WireResponse> {
  return send(url, { method: 'PUT', path: `/files/${key}`, body });
}

/** A PUT whose body the test writes piece by piece, on its own connection. */
function slowPut(url: string, size: number) {
  const req = http.request(url, {
    method: 'PUT',
    agent: false,
    headers: { 'content-length': String(size) },
  });
  const status = new Promise<number>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
  });
  req.flushHeaders();
  return {
    write: (piece: Buffer) =>
      new Promise<void>((resolve, reject) =>
        req.write(piece, (err) => (err ? reject(err) : resolve())),
      ),
    end: () => req.end(),
    status,
  };
}

/** One sample of an exposition, 0 when absent. */
function sample(text: string, name: string, labels: string): number {
  const prefix = labels === '' ? `${name} ` : `${name}{${labels}} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

const PUT_200 = 'bucket="files",operation="PutObject",status="200"';

async function scrape(url: string, path = '/metrics'): Promise<string> {
  const res = await send(url, { method: 'GET', path });
  expect(res.status).toBe(200);
  return res.text;
}

/** Sizes around chunk and buffer edges, and a few MiB. */
function bodies(count: number): Buffer[] {
  const sizes = [0, 1, 4095, 65537, MiB + 3, 3 * MiB];
  return Array.from({ length: count }, (_, i) =>
    randomBytes(i < sizes.length ? sizes[i] : 1 + ((i * 7919 * KiB) % (2 * MiB))),
  );
}

describe('server.workers', () => {
  const running = new Set<GatewayProcess>();

  function start(config: string, cwd: string): GatewayProcess {
    const gateway = startGateway(['--config', config], { env: isolatedAwsEnv(), cwd });
    running.add(gateway);
    void gateway.exited.then(() => running.delete(gateway));
    return gateway;
  }

  beforeAll(async () => {
    await ensureGatewayBuilt();
  });

  afterAll(async () => {
    // Workers end with their primary: cluster exits a worker whose IPC channel closes.
    await Promise.all([...running].map((gateway) => gateway.stop('SIGKILL')));
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });

  describe('with two workers', () => {
    let gateway: GatewayProcess;
    let url: string;
    let root: string;

    beforeAll(async () => {
      const dir = tempDir('two');
      const route = filesystemRoute('files', tempDir('data'));
      root = route.filesystem.path;
      const port = await freePort();
      const config = writeConfig(dir, {
        server: { address: `127.0.0.1:${port}`, workers: 2, shutdown_grace_seconds: 5 },
        buckets: [route],
        logging: { level: 'info' },
      });
      gateway = start(config, dir);
      [, url] = await gateway.waitForStdout(SERVING_LINE);
    });

    it('prints the serving line and the Try it block once, after both workers listen', async () => {
      await gateway.waitForStdout(/Try it:\n(?: {2}.+\n)+\n/);
      const out = gateway.stdout();
      expect(out.match(new RegExp(SERVING_LINE.source, 'g'))).toHaveLength(1);
      expect(out.match(/Try it:/g)).toHaveLength(1);
      expect(out).toContain(`curl -sS -T hello.txt ${url}/files/hello.txt`);
      const serving = out.search(SERVING_LINE);
      expect(out.indexOf('worker 1 (pid ')).toBeLessThan(serving);
      expect(out.indexOf('worker 2 (pid ')).toBeLessThan(serving);
      expect(out.slice(serving)).toMatch(/^serving 1 route\(s\) on \S+ from \S+ \(2 workers\)/);
      expect(childPids(gateway.pid)).toHaveLength(2);
    });

    it('stores many concurrent uploads byte-exact, served by more than one worker', async () => {
      const sent = bodies(40);
      const responses = await Promise.all(sent.map((body, i) => put(url, `many/${i}.bin`, body)));
      expect(responses.map((res) => res.status)).toEqual(sent.map(() => 200));
      for (const [i, body] of sent.entries()) {
        const stored = await storedFile(root, `many/${i}.bin`);
        expect({ key: i, size: stored?.size, md5: stored?.md5 }).toEqual({
          key: i,
          size: body.length,
          md5: md5Hex(body),
        });
      }
      const pids = new Set(await servedBy(gateway, responses));
      expect(pids.size).toBe(2);
      expect([...pids].sort((a, b) => a - b)).toEqual(childPids(gateway.pid));
    });

    it("answers /metrics with every worker's uploads summed, whichever worker is scraped", async () => {
      const before = sample(await scrape(url), 'mizuchi_uploads_total', PUT_200);
      const sent = bodies(12);
      const responses = await Promise.all(sent.map((body, i) => put(url, `sum/${i}.bin`, body)));
      expect(responses.map((res) => res.status)).toEqual(sent.map(() => 200));
      expect(new Set(await servedBy(gateway, responses)).size).toBe(2);

      // Each scrape is a new connection, so round-robin sends them to alternate workers.
      for (let i = 0; i < 4; i++) {
        const text = await scrape(url);
        expect(sample(text, 'mizuchi_uploads_total', PUT_200) - before).toBe(sent.length);
        expect(text).toContain('process_resident_memory_bytes');
      }
    });

    it('completes a multipart upload whose requests land on different workers', async () => {
      const path = '/files/multipart/whole.bin';
      const created = await send(url, { method: 'POST', path: `${path}?uploads` });
      expect(created.status).toBe(200);
      const uploadId = encodeURIComponent(
        /<UploadId>([^<]+)<\/UploadId>/.exec(created.text)?.[1] ?? '',
      );
      const parts = [randomBytes(5 * MiB), randomBytes(1000)];
      const uploaded: WireResponse[] = [];
      for (const [i, part] of parts.entries()) {
        const res = await send(url, {
          method: 'PUT',
          path: `${path}?partNumber=${i + 1}&uploadId=${uploadId}`,
          body: part,
        });
        expect(res.status).toBe(200);
        uploaded.push(res);
      }
      const completed = await send(url, {
        method: 'POST',
        path: `${path}?uploadId=${uploadId}`,
        headers: { 'content-type': 'application/xml' },
        body:
          '<CompleteMultipartUpload>' +
          uploaded
            .map(
              (res, i) =>
                `<Part><PartNumber>${i + 1}</PartNumber><ETag>${res.headers.etag}</ETag></Part>`,
            )
            .join('') +
          '</CompleteMultipartUpload>',
      });
      expect({ status: completed.status, body: completed.text }).toMatchObject({ status: 200 });

      const stored = await storedFile(root, 'multipart/whole.bin');
      expect(stored?.md5).toBe(md5Hex(Buffer.concat(parts)));
      // The upload id is bound with a secret every worker shares, so a hop is no problem.
      const pids = await servedBy(gateway, [created, ...uploaded, completed]);
      expect(new Set(pids).size).toBe(2);
    });

    it('replaces a worker killed with SIGKILL, and uploads keep succeeding', async () => {
      const [victim, survivor] = childPids(gateway.pid);
      process.kill(victim, 'SIGKILL');
      const [, replacement] = await gateway.waitForStdout(
        new RegExp(`worker \\d \\(pid (\\d+)\\) is serving, replacing pid ${victim}\\b`),
      );
      expect(gateway.stdout()).toMatch(
        new RegExp(`worker \\d \\(pid ${victim}\\) exited unexpectedly \\(signal SIGKILL\\)`),
      );
      expect(childPids(gateway.pid)).toEqual([survivor, Number(replacement)].sort((a, b) => a - b));

      const sent = bodies(16);
      const responses = await Promise.all(sent.map((body, i) => put(url, `after/${i}.bin`, body)));
      expect(responses.map((res) => res.status)).toEqual(sent.map(() => 200));
      for (const [i, body] of sent.entries()) {
        expect((await storedFile(root, `after/${i}.bin`))?.md5).toBe(md5Hex(body));
      }
      expect(new Set(await servedBy(gateway, responses))).toEqual(
        new Set([survivor, Number(replacement)]),
      );
    });

    it('on SIGTERM lets a running upload finish, stops every worker and exits 0', async () => {
      const workers = childPids(gateway.pid);
      expect(workers).toHaveLength(2);
      const body = randomBytes(2 * MiB);
      const upload = slowPut(`${url}/files/during-shutdown.bin`, body.length);
      await upload.write(body.subarray(0, MiB));
      // The aggregated gauge sees the upload in whichever worker holds it.
      while (sample(await scrape(url), 'mizuchi_uploads_in_flight', '') < 1) await sleep(20);

      gateway.child.kill('SIGTERM');
      await gateway.waitForStdout(/waiting up to 5s for 1 upload\(s\)/);
      await upload.write(body.subarray(MiB));
      upload.end();
      expect(await upload.status).toBe(200);
      expect((await storedFile(root, 'during-shutdown.bin'))?.md5).toBe(md5Hex(body));

      expect(await gateway.exited).toEqual({ code: 0, signal: null });
      expect(workers.filter(isGatewayProcess)).toEqual([]);
      const out = gateway.stdout();
      expect(out).toContain('SIGTERM received; stopping 2 worker(s)');
      for (const pid of workers) expect(out).toContain(`(pid ${pid}) stopped`);
    });
  });

  it('serves the same aggregate on metrics.port, and runs the janitor in one worker only', async () => {
    const dir = tempDir('metrics-port');
    const [port, metricsPort] = [await freePort(), await freePort()];
    const route = filesystemRoute('files', tempDir('data'));
    const config = writeConfig(dir, {
      server: { address: `127.0.0.1:${port}`, workers: 2, janitor: { enabled: true } },
      metrics: { port: metricsPort },
      buckets: [route],
      logging: { level: 'info' },
    });
    const gateway = start(config, dir);
    const [, url] = await gateway.waitForStdout(SERVING_LINE);
    const metricsUrl = `http://127.0.0.1:${metricsPort}`;

    const sent = bodies(10);
    const responses = await Promise.all(sent.map((body, i) => put(url, `m/${i}.bin`, body)));
    expect(responses.map((res) => res.status)).toEqual(sent.map(() => 200));
    expect(new Set(await servedBy(gateway, responses)).size).toBe(2);
    for (let i = 0; i < 4; i++) {
      expect(sample(await scrape(metricsUrl), 'mizuchi_uploads_total', PUT_200)).toBe(sent.length);
    }
    expect((await send(url, { method: 'GET', path: '/metrics' })).status).not.toBe(200);
    expect(gateway.stdout().match(/aborting multipart uploads older than/g)).toHaveLength(1);

    expect(await gateway.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });

  it('refuses workers: 2 with the in-memory SigV4 replay store, pointing to Redis', async () => {
    const dir = tempDir('replay');
    const config = writeConfig(dir, {
      server: { address: `127.0.0.1:${await freePort()}`, workers: 2 },
      buckets: [
        {
          ...filesystemRoute('signed', tempDir('data')),
          auth: {
            enabled: true,
            sigv4: {
              credentials: [
                { access_key: 'AKIDWORKERS01', secret_key: 'secret-key', subject: 's' },
              ],
            },
          },
        },
      ],
    });
    const expected =
      /buckets\[0\]\.auth\.sigv4\.replay_store: the in-memory replay store is per process.*configure the Redis replay store/;

    const gateway = start(config, dir);
    expect(await gateway.exited).toEqual({ code: 1, signal: null });
    expect(gateway.stderr()).toMatch(expected);
    expect(gateway.stdout()).not.toMatch(SERVING_LINE);
    expect(gateway.stdout()).not.toContain('worker 1');

    const validated = await runProcess(
      process.execPath,
      [GATEWAY_MAIN, '--config', config, '--validate'],
      {
        env: isolatedAwsEnv(),
        cwd: dir,
      },
    );
    expect(validated.code).toBe(1);
    expect(validated.stderr).toMatch(expected);
  });
});
