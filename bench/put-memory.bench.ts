/**
 * PutObject memory and throughput bench: how much the gateway's resident memory grows while one
 * large body streams through it, for the filesystem backend and for Ceph.
 *
 *   npx ts-node -T -r tsconfig-paths/register bench/put-memory.bench.ts [--runs N] [--sizes 40,400]
 *
 * For every measurement a fresh gateway process (the built CLI, `node dist/src/main.js`) is
 * started with one filesystem route and one Ceph route, warmed up with a 1 MiB upload, and its
 * peak RSS is reset (`/proc/PID/clear_refs`). Then one body of SIZE MiB, generated chunk by chunk,
 * is PUT with a Content-Length; afterwards VmHWM (peak RSS), CPU time and the stored bytes are
 * read. Backends and sizes are interleaved run by run, so machine drift hits each equally
 * (BENCH.md, "Method"); medians are printed at the end. A run whose stored object does not have
 * the MD5 of what was sent fails the bench.
 *
 * Ceph is started with scripts/radosgw-up.sh unless MIZUCHI_TEST_S3_JSON names another backend.
 */
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import {
  cephSettings,
  closeDirectS3,
  createTestBucket,
  destroyTestBucket,
  directS3,
  storedObject,
} from '../test/helpers/ceph';
import {
  cpuSecondsOf,
  ensureGatewayBuilt,
  memoryOf,
  PatternBody,
  resetPeakRss,
  SERVING_LINE,
  startGateway,
  streamPut,
} from '../test/helpers/gateway-process';
import { rgwDir, runScript } from '../test/helpers/global-setup';
import { freePort, isolatedAwsEnv } from '../test/helpers/processes';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

type Backend = 'filesystem' | 'ceph';
const BACKENDS: Backend[] = ['filesystem', 'ceph'];
const PREFIX: Record<Backend, string> = { filesystem: 'fs', ceph: 'ceph' };

interface Options {
  runs: number;
  sizesMiB: number[];
}

interface Measurement {
  run: number;
  backend: Backend;
  sizeMiB: number;
  baselineMiB: number;
  peakMiB: number;
  growthMiB: number;
  mbPerSecond: number;
  cpuSecondsPerGiB: number;
  stealPercent: number;
  peakWasReset: boolean;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { runs: 3, sizesMiB: [40, 400] };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--runs' && value !== undefined) {
      options.runs = Number(value);
      i++;
    } else if (flag === '--sizes' && value !== undefined) {
      options.sizesMiB = value.split(',').map(Number);
      i++;
    } else {
      throw new Error(`unknown argument ${flag} (usage: [--runs N] [--sizes 40,400])`);
    }
  }
  const valid = (n: number) => Number.isInteger(n) && n > 0;
  if (!valid(options.runs) || !options.sizesMiB.every(valid)) {
    throw new Error('--runs and --sizes take positive integers');
  }
  return options;
}

/** Total and steal jiffies of all CPUs, from the first line of /proc/stat. */
function cpuJiffies(): { total: number; steal: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1);
  const numbers = fields.map(Number);
  return { total: numbers.reduce((a, b) => a + b, 0), steal: numbers[7] ?? 0 };
}

async function fileMd5(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function row(cells: Array<string | number>, widths: number[]): string {
  return cells
    .map((cell, i) => {
      const text = typeof cell === 'number' ? cell.toFixed(1) : cell;
      return i < 2 ? text.padEnd(widths[i]) : text.padStart(widths[i]);
    })
    .join('  ');
}

const COLUMNS = ['run', 'backend', 'MiB', 'base MiB', 'peak MiB', 'growth', 'MB/s', 'CPU-s/GiB'];
const WIDTHS = [4, 11, 5, 9, 9, 7, 7, 10];

class Bench {
  private readonly bodies = new Map<number, { body: PatternBody; md5: string }>();

  constructor(
    private readonly bucket: string,
    private readonly fsRoot: string,
    private readonly workDir: string,
  ) {}

  private body(sizeMiB: number) {
    let entry = this.bodies.get(sizeMiB);
    if (entry === undefined) {
      const body = new PatternBody(sizeMiB * MiB, MiB);
      entry = { body, md5: body.md5() };
      this.bodies.set(sizeMiB, entry);
    }
    return entry;
  }

  private writeConfig(port: number): string {
    const ceph = cephSettings();
    const file = join(this.workDir, `gateway-${port}.yaml`);
    writeFileSync(
      file,
      JSON.stringify({
        server: { address: `127.0.0.1:${port}` },
        buckets: [
          { name: 'fs', path_prefix: '/fs', filesystem: { path: this.fsRoot } },
          {
            name: 'ceph',
            path_prefix: '/ceph',
            s3: {
              bucket: this.bucket,
              endpoint: ceph.endpoint,
              region: ceph.region,
              access_key: ceph.accessKeyId,
              secret_key: ceph.secretAccessKey,
            },
          },
        ],
        logging: { level: 'info' },
      }),
    );
    return file;
  }

  private async storedMd5(backend: Backend, key: string): Promise<string | undefined> {
    if (backend === 'filesystem') return fileMd5(join(this.fsRoot, key));
    return (await storedObject(this.bucket, key))?.md5;
  }

  private async remove(backend: Backend, key: string): Promise<void> {
    if (backend === 'filesystem') rmSync(join(this.fsRoot, key), { force: true });
    else await directS3().send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  /** One measurement in a fresh gateway process. */
  async measure(run: number, backend: Backend, sizeMiB: number): Promise<Measurement> {
    const { body, md5 } = this.body(sizeMiB);
    const port = await freePort();
    const config = this.writeConfig(port);
    const gateway = startGateway(['--config', config], { env: isolatedAwsEnv() });
    try {
      const [, url] = await gateway.waitForStdout(SERVING_LINE);
      const base = `${url}/${PREFIX[backend]}`;
      const warmUp = await streamPut(`${base}/warm-up.bin`, new PatternBody(MiB));
      if (warmUp.status !== 200) throw new Error(`warm-up: HTTP ${warmUp.status} ${warmUp.body}`);

      const peakWasReset = resetPeakRss(gateway.pid);
      const baseline = memoryOf(gateway.pid).rss;
      const cpuBefore = cpuSecondsOf(gateway.pid);
      const stealBefore = cpuJiffies();
      const key = `bench-${sizeMiB}mib-run${run}.bin`;
      const put = await streamPut(`${base}/${key}`, body);
      const stealAfter = cpuJiffies();
      const cpu = cpuSecondsOf(gateway.pid) - cpuBefore;
      const peak = memoryOf(gateway.pid).peakRss;

      if (put.status !== 200) throw new Error(`${backend} ${key}: HTTP ${put.status} ${put.body}`);
      const stored = await this.storedMd5(backend, key);
      if (put.headers.etag !== `"${md5}"` || stored !== md5) {
        throw new Error(
          `${backend} ${key}: sent MD5 ${md5}, ETag ${put.headers.etag}, stored MD5 ${stored}`,
        );
      }
      await this.remove(backend, key);

      const bytes = sizeMiB * MiB;
      const jiffies = stealAfter.total - stealBefore.total;
      return {
        run,
        backend,
        sizeMiB,
        baselineMiB: baseline / MiB,
        peakMiB: peak / MiB,
        growthMiB: (peak - baseline) / MiB,
        mbPerSecond: bytes / put.seconds / 1e6,
        cpuSecondsPerGiB: cpu / (bytes / GiB),
        stealPercent: jiffies > 0 ? (100 * (stealAfter.steal - stealBefore.steal)) / jiffies : 0,
        peakWasReset,
      };
    } finally {
      await gateway.stop('SIGTERM');
    }
  }
}

function print(m: Measurement): void {
  const cells = [
    String(m.run),
    m.backend,
    String(m.sizeMiB),
    m.baselineMiB,
    m.peakMiB,
    m.growthMiB,
    m.mbPerSecond,
    m.cpuSecondsPerGiB,
  ];
  const notes = [
    m.stealPercent >= 5 ? `steal ${m.stealPercent.toFixed(0)}%: noisy run` : '',
    m.peakWasReset ? '' : 'peak not reset: includes start-up',
  ].filter((note) => note !== '');
  console.log(row(cells, WIDTHS) + (notes.length > 0 ? `  (${notes.join('; ')})` : ''));
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (!process.env.MIZUCHI_TEST_S3_JSON) {
    await runScript('scripts/radosgw-up.sh');
    process.env.MIZUCHI_TEST_S3_JSON = join(rgwDir(), 's3.json');
  }
  await ensureGatewayBuilt();

  const workDir = mkdtempSync(join(tmpdir(), 'mizuchi-bench-'));
  const fsRoot = join(workDir, 'data');
  const bucket = await createTestBucket('bench-put-memory');
  const results: Measurement[] = [];
  try {
    const bench = new Bench(bucket, fsRoot, workDir);
    console.log(
      `put-memory: ${options.runs} run(s) of ${options.sizesMiB.join(' and ')} MiB, ` +
        `filesystem (${fsRoot}) and Ceph (${cephSettings().endpoint}), node ${process.version}`,
    );
    console.log(row(COLUMNS, WIDTHS));
    for (let run = 1; run <= options.runs; run++) {
      for (const sizeMiB of options.sizesMiB) {
        for (const backend of BACKENDS) {
          const m = await bench.measure(run, backend, sizeMiB);
          results.push(m);
          print(m);
        }
      }
    }
  } finally {
    await destroyTestBucket(bucket);
    closeDirectS3();
    rmSync(workDir, { recursive: true, force: true });
  }

  console.log('\nmedians (runs with >= 5% steal time excluded when others remain)');
  console.log(row(['', ...COLUMNS.slice(1)], WIDTHS));
  for (const sizeMiB of options.sizesMiB) {
    for (const backend of BACKENDS) {
      const all = results.filter((m) => m.backend === backend && m.sizeMiB === sizeMiB);
      const quiet = all.filter((m) => m.stealPercent < 5);
      const chosen = quiet.length > 0 ? quiet : all;
      const pick = (f: (m: Measurement) => number) => median(chosen.map(f));
      console.log(
        row(
          [
            '',
            backend,
            String(sizeMiB),
            pick((m) => m.baselineMiB),
            pick((m) => m.peakMiB),
            pick((m) => m.growthMiB),
            pick((m) => m.mbPerSecond),
            pick((m) => m.cpuSecondsPerGiB),
          ],
          WIDTHS,
        ),
      );
    }
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
