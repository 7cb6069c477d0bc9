/**
 * Tracing overhead bench: what OpenTelemetry tracing costs the gateway, with every span sampled
 * (the ratio sampler at 1.0, as issue 6 asks) and exported over OTLP/HTTP protobuf, against the
 * same gateway with tracing off. Target (issue 6): under 5 % overhead.
 *
 *   npx ts-node -T -r tsconfig-paths/register bench/tracing-overhead.bench.ts [--runs N]
 *     [--requests 3000] [--large-mib 256] [--warm-up 20000]
 *
 * Two built gateway processes (`node dist/src/main.js`) run for the whole bench, one with
 * `tracing.enabled: false` and one traced, both with `logging.level: warn` so access logs do not
 * dominate. Both route `/x` to one in-process S3-like sink (test/helpers/wire.ts) that reads each
 * body, records its MD5 and answers 200 with ETag = MD5; the traced one exports to an in-process
 * counting OTLP sink that only reads and counts (decoding happens after each phase, off the
 * clock). Each run measures, for each gateway, interleaved and alternating which goes first
 * (BENCH.md, "Method"):
 *
 * - small PUTs: 1 KiB bodies at concurrency 16 over a keep-alive agent, after a warm-up
 *   → requests/s, p50/p99 latency, gateway CPU-ms per request;
 * - one large PUT streamed with a Content-Length → MB/s and gateway CPU-s/GiB.
 *
 * The client sending straight to the sink is measured too, as the sink's ceiling. Every response
 * ETag must be the MD5 of what was sent, and the sink must have recorded exactly those bodies,
 * so a fast wrong path cannot win. Steal time and the CPU used by processes other than the gateway
 * and this bench are read from /proc/stat per phase: phases with steal are flagged noisy and left
 * out of the medians when quiet ones remain; a busy machine is flagged only. The paired ratio
 * (median of the per-run on/off ratios) is the figure least moved by drift.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cpuSecondsOf,
  ensureGatewayBuilt,
  type GatewayProcess,
  PatternBody,
  startGateway,
  streamPut,
} from '../test/helpers/gateway-process';
import { decodeExportTraceRequest } from '../test/helpers/otlp-receiver';
import { freePort, isolatedAwsEnv } from '../test/helpers/processes';
import { acceptLikeS3, type RecordingBackend, startRecordingBackend } from '../test/helpers/wire';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

const SMALL_BYTES = KiB;
const CONCURRENCY = 16;
/**
 * Small PUTs before each run's measured ones. The first runs are preceded by `--warm-up` of them
 * (default 20,000): a traced gateway reaches its steady rate only after several seconds of load
 * (5 to 20 s on the reference VM, the untraced one 4 to 6 s), and runs measured before would
 * count V8's warm-up as tracing's cost (docs/TRACING.md, "Tracing overhead").
 */
const WARM_UP_REQUESTS = 300;
/** The slices the first warm-up is cut into, taken by the two gateways in turn. */
const WARM_UP_SLICES = 10;
/** Distinct small bodies, cycled, so a mixed-up body shows as a wrong ETag. */
const SMALL_BODY_COUNT = 64;
const SCHEDULED_DELAY_MS = 200;
/** A phase ends once the OTLP sink has been quiet this long, so trailing exports are counted. */
const QUIET_MS = 2 * SCHEDULED_DELAY_MS + 100;
const STEAL_LIMIT = 5;
const OTHER_LIMIT = 25;

type Gateway = 'off' | 'on';
type Contender = Gateway | 'direct';
type Workload = 'small' | 'large';

interface Options {
  runs: number;
  requests: number;
  largeMiB: number;
  /** Small PUTs that warm each gateway up before the first run. */
  warmUp: number;
}

interface Phase {
  run: number;
  workload: Workload;
  contender: Contender;
  /** small: requests/s; large: MB/s. */
  rate: number;
  p50Ms: number;
  p99Ms: number;
  /** Gateway CPU: small, ms per request; large, s per GiB. NaN for direct. */
  cpu: number;
  /** Spans exported per request (NaN when tracing is off). */
  spansPerRequest: number;
  otlpRequests: number;
  otlpBytes: number;
  droppedSpans: number;
  /** CPU of this bench process (client and both sinks), % of one core. */
  benchPercent: number;
  stealPercent: number;
  /** Busy CPU not used by the gateway or this process, % of all CPUs. */
  otherPercent: number;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { runs: 5, requests: 3000, largeMiB: 256, warmUp: 20_000 };
  const flags: Record<string, keyof Options> = {
    '--runs': 'runs',
    '--requests': 'requests',
    '--large-mib': 'largeMiB',
    '--warm-up': 'warmUp',
  };
  for (let i = 0; i < argv.length; i++) {
    const key = flags[argv[i]];
    const value = Number(argv[i + 1]);
    if (key === undefined || !Number.isInteger(value) || value <= 0) {
      throw new Error(
        `bad argument ${argv[i]} (usage: [--runs N] [--requests N] [--large-mib N] ` +
          '[--warm-up N], positive integers)',
      );
    }
    options[key] = value;
    i++;
  }
  return options;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Jiffies of all CPUs from the first line of /proc/stat: total, steal, and busy (not idle). */
function cpuJiffies(): { total: number; steal: number; busy: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1);
  const n = fields.map(Number);
  const total = n.reduce((a, b) => a + b, 0);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest is inside user.
  const idle = (n[3] ?? 0) + (n[4] ?? 0);
  return { total, steal: n[7] ?? 0, busy: total - idle - (n[8] ?? 0) - (n[9] ?? 0) };
}

function benchCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
}

/** An OTLP/HTTP sink that only reads and counts; bodies are kept for decoding after a phase. */
class CountingOtlpSink {
  requests = 0;
  bytes = 0;
  private bodies: Buffer[] = [];
  private lastAt = 0;
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.method === 'POST' && req.url === '/v1/traces') {
        this.requests++;
        this.bytes += body.length;
        this.bodies.push(body);
        this.lastAt = Date.now();
      }
      res.writeHead(200, { 'Content-Type': 'application/x-protobuf', 'Content-Length': 0 });
      res.end();
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Waits at least QUIET_MS, and until no export has arrived for QUIET_MS. */
  async quiet(): Promise<void> {
    await sleep(QUIET_MS);
    const deadline = Date.now() + 30_000;
    while (Date.now() - this.lastAt < QUIET_MS && Date.now() < deadline) await sleep(50);
  }

  /** Counts since the last take(), with the spans decoded by name; then forgets them. */
  take(): { requests: number; bytes: number; spans: number; names: Map<string, number> } {
    const names = new Map<string, number>();
    let spans = 0;
    for (const body of this.bodies) {
      for (const span of decodeExportTraceRequest(body)) {
        spans++;
        names.set(span.name, (names.get(span.name) ?? 0) + 1);
      }
    }
    const taken = { requests: this.requests, bytes: this.bytes, spans, names };
    this.requests = 0;
    this.bytes = 0;
    this.bodies = [];
    return taken;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

interface SmallBody {
  data: Buffer;
  md5: string;
}

function smallBodies(): SmallBody[] {
  return Array.from({ length: SMALL_BODY_COUNT }, () => {
    const data = randomBytes(SMALL_BYTES);
    return { data, md5: createHash('md5').update(data).digest('hex') };
  });
}

/** One PUT of a small buffer; resolves with the status, ETag and response body. */
function putSmall(
  base: URL,
  path: string,
  data: Buffer,
  agent: http.Agent,
): Promise<{ status: number; etag: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: base.hostname,
        port: base.port,
        path,
        method: 'PUT',
        agent,
        headers: { 'content-length': String(data.length) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (piece: string) => (body += piece));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, etag: res.headers.etag, body }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** Sends `count` small PUTs at CONCURRENCY and returns each one's latency in ms. */
async function smallLoad(
  base: URL,
  prefix: string,
  count: number,
  bodies: SmallBody[],
  agent: http.Agent,
): Promise<number[]> {
  const latencies: number[] = new Array<number>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const body = bodies[i % bodies.length];
      const started = process.hrtime.bigint();
      const res = await putSmall(base, `${prefix}-${i}.bin`, body.data, agent);
      latencies[i] = Number(process.hrtime.bigint() - started) / 1e6;
      if (res.status !== 200 || res.etag !== `"${body.md5}"`) {
        throw new Error(
          `${prefix}-${i}: HTTP ${res.status}, ETag ${res.etag} for MD5 ${body.md5} ${res.body}`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return latencies;
}

function getText(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (piece: string) => (text += piece));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', () => resolve({ status: 0, text }));
    });
    req.on('error', () => resolve({ status: 0, text: '' }));
  });
}

/** Sum of a Prometheus counter over all its label sets (0 when absent). */
async function counterValue(url: string, name: string): Promise<number> {
  const { text } = await getText(`${url}/metrics`);
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`).exec(line);
    if (match) sum += Number(match[1]);
  }
  return sum;
}

interface RunningGateway {
  process: GatewayProcess;
  url: string;
}

class Bench {
  private readonly gateways = new Map<Gateway, RunningGateway>();
  private readonly small = smallBodies();
  private readonly smallMd5s = new Set(this.small.map((b) => b.md5));
  private readonly large: PatternBody;
  private readonly largeMd5: string;
  readonly spanNames = new Map<Workload, Map<string, number>>();

  constructor(
    private readonly options: Options,
    private readonly workDir: string,
    private readonly s3Sink: RecordingBackend,
    private readonly otlpSink: CountingOtlpSink,
    private readonly otlpUrl: string,
  ) {
    this.large = new PatternBody(options.largeMiB * MiB, MiB);
    this.largeMd5 = this.large.md5();
  }

  private async startOne(name: Gateway): Promise<RunningGateway> {
    const port = await freePort();
    const file = join(this.workDir, `gateway-${name}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        server: { address: `127.0.0.1:${port}` },
        buckets: [
          {
            name: 'sink',
            path_prefix: '/x',
            s3: {
              bucket: 'sink',
              endpoint: this.s3Sink.url,
              region: 'us-east-1',
              access_key: 'k',
              secret_key: 's',
            },
            // One PutObject for the large body: the sink does not speak multipart.
            upload: { multipart_threshold: '5GiB' },
          },
        ],
        logging: { level: 'warn' },
        tracing:
          name === 'on'
            ? {
                enabled: true,
                otlp: { endpoint: this.otlpUrl },
                sampling: { strategy: 'ratio', ratio: 1.0 },
                batch: { scheduled_delay_millis: SCHEDULED_DELAY_MS },
              }
            : { enabled: false },
      }),
    );
    const gateway = startGateway(['--config', file], {
      cwd: this.workDir,
      env: isolatedAwsEnv({
        MIZUCHI_UPLOAD_ID_SECRET: 'tracing-bench-upload-id-secret-0123456789',
      }),
    });
    const url = `http://127.0.0.1:${port}`;
    // At level warn the gateway does not print its "serving" line, so poll liveness instead.
    let ended = false;
    void gateway.exited.then(() => (ended = true));
    const deadline = Date.now() + 60_000;
    while ((await getText(`${url}/health/live`)).status !== 200) {
      if (ended || Date.now() > deadline) {
        await gateway.stop('SIGKILL');
        throw new Error(`gateway ${name} did not start\n${gateway.stdout()}\n${gateway.stderr()}`);
      }
      await sleep(100);
    }
    return { process: gateway, url };
  }

  /**
   * Starts both gateways and warms each up with small PUTs and one 16 MiB PUT. The small PUTs go
   * in slices taken in turn: warmed one after the other, two untraced gateways differed by 9 %
   * in favour of the one warmed last (tracing-pinned.sh's noise floor, docs/TRACING.md).
   */
  async start(): Promise<void> {
    const [off, on] = await Promise.all([this.startOne('off'), this.startOne('on')]);
    this.gateways.set('off', off);
    this.gateways.set('on', on);
    const agent = () => new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const agents: Record<Gateway, http.Agent> = { off: agent(), on: agent() };
    const sliceRequests = Math.ceil(this.options.warmUp / WARM_UP_SLICES);
    for (let slice = 0; slice < WARM_UP_SLICES; slice++) {
      const order: Gateway[] = slice % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
      for (const name of order) {
        const url = new URL(this.gateway(name).url);
        await smallLoad(url, `/x/warm-${name}-${slice}`, sliceRequests, this.small, agents[name]);
        this.s3Sink.reset();
      }
    }
    for (const [name, gateway] of this.gateways) {
      agents[name].destroy();
      const put = await streamPut(`${gateway.url}/x/warm-${name}.bin`, new PatternBody(16 * MiB));
      if (put.status !== 200) throw new Error(`warm-up ${name}: HTTP ${put.status} ${put.body}`);
      this.s3Sink.reset();
    }
    await this.otlpSink.quiet();
    this.otlpSink.take();
  }

  private gateway(name: Gateway): RunningGateway {
    const gateway = this.gateways.get(name);
    if (gateway === undefined) throw new Error(`gateway ${name} is not running`);
    return gateway;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.gateways.values()].map((g) => g.process.stop('SIGTERM')));
  }

  /**
   * Measures one workload of one contender: `warmUp` runs first, unmeasured; `measure` returns
   * the client-side results; the gateway's CPU and /proc/stat are read around `measure` only.
   */
  private async phase(
    run: number,
    workload: Workload,
    contender: Contender,
    steps: {
      warmUp?: (base: string) => Promise<void>;
      measure: (base: string) => Promise<{ rate: number; p50Ms: number; p99Ms: number }>;
    },
    operations: number,
    cpuUnit: number,
  ): Promise<Phase> {
    const gateway = contender === 'direct' ? undefined : this.gateways.get(contender);
    const base = gateway ? `${gateway.url}/x` : `${this.s3Sink.url}/sink`;
    const dropsBefore = gateway
      ? await counterValue(gateway.url, 'mizuchi_tracing_spans_dropped_total')
      : 0;
    await steps.warmUp?.(base);
    // Spans of the warm-up go out before the measurement starts (both gateways wait alike).
    await this.otlpSink.quiet();
    this.otlpSink.take();
    this.s3Sink.reset();

    const gatewayBefore = gateway ? cpuSecondsOf(gateway.process.pid) : 0;
    const benchBefore = benchCpuSeconds();
    const jiffiesBefore = cpuJiffies();
    const startedAt = process.hrtime.bigint();
    const result = await steps.measure(base);
    const wallSeconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
    const jiffiesAfter = cpuJiffies();
    const benchSeconds = benchCpuSeconds() - benchBefore;
    const gatewayAtEnd = gateway ? cpuSecondsOf(gateway.process.pid) : 0;
    // Trailing exports belong to the phase: wait for them before reading the gateway's CPU.
    if (contender === 'on') await this.otlpSink.quiet();
    const gatewaySeconds = gateway ? cpuSecondsOf(gateway.process.pid) - gatewayBefore : NaN;
    const exported = this.otlpSink.take();
    const dropped = gateway
      ? (await counterValue(gateway.url, 'mizuchi_tracing_spans_dropped_total')) - dropsBefore
      : 0;

    if (contender === 'on' && exported.requests === 0) {
      throw new Error(`run ${run} ${workload}: the traced gateway exported no spans`);
    }
    if (contender !== 'on' && exported.requests > 0) {
      throw new Error(
        `run ${run} ${workload}: ${exported.requests} OTLP export(s) with tracing off`,
      );
    }
    if (contender === 'on') {
      const names = this.spanNames.get(workload) ?? new Map<string, number>();
      for (const [name, count] of exported.names) names.set(name, (names.get(name) ?? 0) + count);
      this.spanNames.set(workload, names);
    }

    const jiffies = jiffiesAfter.total - jiffiesBefore.total;
    const busySeconds = (jiffiesAfter.busy - jiffiesBefore.busy) / 100;
    const otherSeconds = Math.max(0, busySeconds - benchSeconds - (gatewayAtEnd - gatewayBefore));
    return {
      run,
      workload,
      contender,
      ...result,
      cpu: gatewaySeconds / cpuUnit,
      spansPerRequest: contender === 'on' ? exported.spans / operations : NaN,
      otlpRequests: exported.requests,
      otlpBytes: exported.bytes,
      droppedSpans: dropped,
      benchPercent: (100 * benchSeconds) / wallSeconds,
      stealPercent: jiffies > 0 ? (100 * (jiffiesAfter.steal - jiffiesBefore.steal)) / jiffies : 0,
      otherPercent: jiffies > 0 ? (100 * otherSeconds) / (jiffies / 100) : 0,
    };
  }

  /** Small PUTs: warm-up, then the measured requests; every ETag and sink record is checked. */
  async smallPhase(run: number, contender: Contender): Promise<Phase> {
    const count = this.options.requests;
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const prefix = (base: string) => `${new URL(base).pathname}/small-${contender}-run${run}`;
    try {
      return await this.phase(
        run,
        'small',
        contender,
        {
          warmUp: async (base) => {
            await smallLoad(
              new URL(base),
              `${prefix(base)}-warm`,
              WARM_UP_REQUESTS,
              this.small,
              agent,
            );
            this.s3Sink.reset();
          },
          measure: async (base) => {
            const started = process.hrtime.bigint();
            const latencies = await smallLoad(
              new URL(base),
              prefix(base),
              count,
              this.small,
              agent,
            );
            const seconds = Number(process.hrtime.bigint() - started) / 1e9;
            this.checkSmallRecords(count, `run ${run} small ${contender}`);
            latencies.sort((a, b) => a - b);
            return {
              rate: count / seconds,
              p50Ms: percentile(latencies, 0.5),
              p99Ms: percentile(latencies, 0.99),
            };
          },
        },
        count,
        count / 1000,
      );
    } finally {
      agent.destroy();
    }
  }

  private checkSmallRecords(count: number, what: string): void {
    const records = this.s3Sink.requests;
    const wrong = records.filter((r) => r.size !== SMALL_BYTES || !this.smallMd5s.has(r.md5));
    if (records.length !== count || wrong.length > 0) {
      throw new Error(
        `${what}: the sink recorded ${records.length} PUT(s) for ${count} sent, ` +
          `${wrong.length} with a body that was never sent`,
      );
    }
    this.s3Sink.reset();
  }

  /** One large streamed PUT; its ETag and the sink's record must carry the MD5 of the body. */
  largePhase(run: number, contender: Contender): Promise<Phase> {
    const bytes = this.large.size;
    return this.phase(
      run,
      'large',
      contender,
      {
        measure: async (base) => {
          const key = `${base}/large-${contender}-run${run}.bin`;
          const put = await streamPut(key, this.large);
          const records = this.s3Sink.requests;
          if (
            put.status !== 200 ||
            put.headers.etag !== `"${this.largeMd5}"` ||
            records.length !== 1 ||
            records[0].md5 !== this.largeMd5 ||
            records[0].size !== bytes
          ) {
            throw new Error(
              `${key}: HTTP ${put.status}, ETag ${put.headers.etag}, sent MD5 ${this.largeMd5}, ` +
                `sink saw ${records.map((r) => `${r.size} B ${r.md5}`).join(', ') || 'nothing'}`,
            );
          }
          this.s3Sink.reset();
          return { rate: bytes / put.seconds / 1e6, p50Ms: NaN, p99Ms: NaN };
        },
      },
      1,
      bytes / GiB,
    );
  }
}

const COLUMNS = [
  'run',
  'workload',
  'gateway',
  'rate',
  'p50 ms',
  'p99 ms',
  'gateway CPU',
  'spans/op',
  'OTLP req',
  'OTLP kB',
  'bench%',
  'steal%',
  'other%',
];
const WIDTHS = [3, 8, 7, 13, 7, 7, 14, 8, 8, 8, 6, 6, 6];

function row(cells: string[]): string {
  return cells.map((c, i) => (i < 3 ? c.padEnd(WIDTHS[i]) : c.padStart(WIDTHS[i]))).join('  ');
}

const fixed = (value: number, digits: number) =>
  Number.isNaN(value) ? '-' : value.toFixed(digits);

/** Steal time makes a phase noisy (BENCH.md); other processes' load is shown, not filtered. */
function isNoisy(p: Phase): boolean {
  return p.stealPercent >= STEAL_LIMIT;
}

function print(p: Phase): void {
  const small = p.workload === 'small';
  const cells = [
    String(p.run),
    p.workload,
    p.contender,
    small ? `${p.rate.toFixed(0)} req/s` : `${p.rate.toFixed(1)} MB/s`,
    fixed(p.p50Ms, 2),
    fixed(p.p99Ms, 2),
    Number.isNaN(p.cpu) ? '-' : small ? `${p.cpu.toFixed(3)} ms/req` : `${p.cpu.toFixed(2)} s/GiB`,
    fixed(p.spansPerRequest, 1),
    p.contender === 'on' ? String(p.otlpRequests) : '-',
    p.contender === 'on' ? (p.otlpBytes / 1000).toFixed(0) : '-',
    p.benchPercent.toFixed(0),
    p.stealPercent.toFixed(1),
    p.otherPercent.toFixed(0),
  ];
  const notes = [
    isNoisy(p) ? `steal ${p.stealPercent.toFixed(0)}%: noisy` : '',
    p.otherPercent >= OTHER_LIMIT ? 'busy machine' : '',
    p.droppedSpans > 0 ? `${p.droppedSpans} span(s) dropped` : '',
  ].filter((n) => n !== '');
  console.log(row(cells) + (notes.length > 0 ? `  (${notes.join('; ')})` : ''));
}

function summarize(results: Phase[], options: Options, spanNames: Bench['spanNames']): void {
  const chosen = (workload: Workload, contender: Contender) => {
    const all = results.filter((p) => p.workload === workload && p.contender === contender);
    const quiet = all.filter((p) => !isNoisy(p));
    return quiet.length > 0 ? quiet : all;
  };
  const med = (workload: Workload, contender: Contender, f: (p: Phase) => number) =>
    median(chosen(workload, contender).map(f));
  /** Median over runs of the on/off ratio within each run (drift cancels within a run). */
  const paired = (workload: Workload, f: (p: Phase) => number) => {
    const ratios: number[] = [];
    for (let run = 1; run <= options.runs; run++) {
      const pick = (c: Gateway) =>
        results.find((p) => p.run === run && p.workload === workload && p.contender === c);
      const [off, on] = [pick('off'), pick('on')];
      if (off && on) ratios.push(f(on) / f(off));
    }
    return median(ratios);
  };

  const lines: Array<[string, Workload, (p: Phase) => number, number]> = [
    ['small req/s', 'small', (p) => p.rate, 0],
    ['small p50 ms', 'small', (p) => p.p50Ms, 2],
    ['small p99 ms', 'small', (p) => p.p99Ms, 2],
    ['small CPU ms/request', 'small', (p) => p.cpu, 3],
    ['large MB/s', 'large', (p) => p.rate, 1],
    ['large CPU-s/GiB', 'large', (p) => p.cpu, 3],
  ];
  const widths = [22, 9, 9, 9, 8, 13];
  const format = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(
    `\nmedians (phases with >= ${STEAL_LIMIT}% steal excluded when quiet ones remain); ` +
      'paired = median of the per-run on/off ratios',
  );
  console.log(format(['', 'off', 'on', 'direct', 'on/off', 'paired on/off']));
  const ratio: Record<string, number> = {};
  const pairedRatio: Record<string, number> = {};
  for (const [label, workload, f, digits] of lines) {
    const off = med(workload, 'off', f);
    const on = med(workload, 'on', f);
    const direct = label.includes('CPU') ? NaN : med(workload, 'direct', f);
    ratio[label] = on / off;
    pairedRatio[label] = paired(workload, f);
    console.log(
      format([
        label,
        fixed(off, digits),
        fixed(on, digits),
        fixed(direct, digits),
        fixed(on / off, 3),
        fixed(pairedRatio[label], 3),
      ]),
    );
  }
  for (const workload of ['small', 'large'] as const) {
    const on = results.filter((p) => p.workload === workload && p.contender === 'on');
    const dropped = on.reduce((sum, p) => sum + p.droppedSpans, 0);
    const names = [...(spanNames.get(workload) ?? new Map<string, number>())]
      .sort((a, b) => b[1] - a[1])
      .map(
        ([name, count]) =>
          `${name} ${(count / on.length / (workload === 'small' ? options.requests : 1)).toFixed(2)}`,
      )
      .join(', ');
    console.log(
      `spans per ${workload} PUT (traced): ${fixed(median(on.map((p) => p.spansPerRequest)), 2)} ` +
        `[${names}]; dropped: ${dropped}`,
    );
  }
  const pct = (value: number) => `${(100 * value).toFixed(1)}%`;
  const verdict = (r: Record<string, number>) =>
    `${pct(1 - r['small req/s'])} req/s, ${pct(1 - r['large MB/s'])} MB/s, ` +
    `${pct(r['small CPU ms/request'] - 1)} CPU/request`;
  console.log(`tracing overhead: ${verdict(ratio)} (target < 5%)`);
  console.log(
    `  paired: ${verdict(pairedRatio)}; p99 x${fixed(ratio['small p99 ms'], 3)}, ` +
      `CPU-s/GiB ${pct(ratio['large CPU-s/GiB'] - 1)} (positive = tracing costs more)`,
  );
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  await ensureGatewayBuilt();
  const workDir = mkdtempSync(join(tmpdir(), 'mizuchi-bench-tracing-'));
  const s3Sink = await startRecordingBackend(acceptLikeS3);
  const otlpSink = new CountingOtlpSink();
  const otlpUrl = await otlpSink.start();
  const bench = new Bench(options, workDir, s3Sink, otlpSink, otlpUrl);
  const results: Phase[] = [];
  try {
    await bench.start();
    console.log(
      `tracing-overhead: ${options.runs} run(s); small = ${options.requests} x 1 KiB PUT at ` +
        `concurrency ${CONCURRENCY} (after ${options.warmUp} warm-up at the start and ` +
        `${WARM_UP_REQUESTS} per run), large = one ` +
        `${options.largeMiB} MiB PUT; node ${process.version}, ${cpus().length} CPU(s), ` +
        `load ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
    );
    console.log(
      'gateways: off = tracing disabled; on = the ratio sampler at 1.0, OTLP http/protobuf ' +
        `to an in-process counting sink, batch delay ${SCHEDULED_DELAY_MS} ms. Both log at ` +
        "'warn' (access logs would otherwise dominate). direct = client straight to the S3 sink.",
    );
    console.log(
      'gateway CPU = utime+stime of the gateway process; bench% = this process (client + sinks), ' +
        '% of one core; other% = busy CPU of everything else, % of all CPUs',
    );
    console.log(row(COLUMNS));
    for (let run = 1; run <= options.runs; run++) {
      const order: Contender[] = run % 2 === 1 ? ['off', 'on', 'direct'] : ['on', 'off', 'direct'];
      for (const contender of order) {
        const p = await bench.smallPhase(run, contender);
        results.push(p);
        print(p);
      }
      for (const contender of order) {
        const p = await bench.largePhase(run, contender);
        results.push(p);
        print(p);
      }
    }
    summarize(results, options, bench.spanNames);
  } finally {
    await bench.stop();
    await otlpSink.close();
    await s3Sink.close();
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
