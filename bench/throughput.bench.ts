/**
 * Throughput bench (issue 7, the method of BENCH.md): the gateway against nginx and against no
 * proxy at all, side by side in one run, with the ratios that the issue's targets are about.
 *
 *   npm run bench [-- --runs N] [--quick] [--duration S] [--large-mib N] [--workers N|auto]
 *   npm run bench -- --sizes 128KiB,1MiB,8MiB [--concurrency N] [--contenders a,b] [...]
 *
 * - **Sink**: an S3-like upstream that discards bodies and answers 200 with an ETag
 *   (bench/sink.c, compiled with gcc; bench/node-sink.ts when gcc is missing). For request targets
 *   containing `/verify/` it answers with the MD5 of the body instead.
 * - **Contenders**: `direct` (client → sink); `nginx-default` and `nginx-1m` (nginx as a reverse
 *   proxy with `proxy_request_buffering off`, default body buffer or 1 MiB, from
 *   bench/nginx.conf.template; installed from Debian with apt-get when missing, and run
 *   unprivileged with its own prefix and port, never as the system's service); `node-proxy`
 *   (bench/node-proxy.ts: a bare Node.js pipe proxy, the floor of what any Node proxy costs);
 *   `gateway-stream` (the built CLI with `ZERO_COPY=off`); `gateway-splice` (the built CLI with
 *   zero-copy on, as by default; skipped, with the reason, when /health/ready says
 *   `zero_copy.mode: stream`). Both gateways log at `warn` with tracing off, one route `/bench`
 *   to the sink as an S3 backend, one PutObject per body however large.
 * - **Workloads**: `large`, one 1 GiB PUT with a Content-Length from a preallocated buffer;
 *   `medium`, 1 MiB PUTs at concurrency 16; `small`, 4 KiB PUTs at concurrency 64. The concurrent
 *   ones run for a fixed time with wrk (installed from Debian; a Node keep-alive client if wrk
 *   cannot be had) and bench/wrk-put.lua.
 * - **Runs**: after an unmeasured warm-up, each run first verifies every contender (bodies of
 *   0 B to 32 MiB, odd sizes, keep-alive: every ETag must be the MD5 of what was sent, so a fast
 *   wrong path cannot win; a contender that fails, drops a connection or crashes is disqualified
 *   and the bench exits with status 2 after its report), then measures each workload
 *   for each contender in turn (the order rotates run by run), so drift hits each alike.
 * - **Measured**: MB/s, requests/s, p50/p99 latency (client side), CPU-seconds per GiB of the
 *   proxy's processes (utime+stime from /proc/PID/stat, nginx master + workers, every gateway
 *   process), peak RSS (VmHWM of its largest process, reset through /proc/PID/clear_refs before
 *   each phase), the share of the body the gateway spliced, and per phase the steal time
 *   (/proc/stat) and the CPU used by processes that are not this bench's. Every phase is checked
 *   against the sink's counts: each completed PUT carried exactly its body.
 * - **Sweep** (`--sizes`): instead of the three workloads, one per body size at `--concurrency`
 *   (16), optionally for some contenders only (`--contenders gateway-stream,gateway-splice`), with
 *   the splice gateway's `zero_copy.min_body_bytes` lowered to the smallest size so that it splices
 *   every one: where the splice path starts to beat the stream path is what
 *   `server.zero_copy.min_body_bytes` should be. The issue's targets read n/a then.
 * - **Report**: medians (phases with high steal or a busy machine left out when quiet ones
 *   remain), ratios to direct and to both nginx configs, and the issue's targets as PASS/MISS;
 *   everything, raw phases included, goes to bench/results/<timestamp>.json and latest.json.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as ts from 'typescript';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import * as http from 'node:http';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { delimiter, join } from 'node:path';
import { format as prettierFormat, resolveConfig as prettierConfig } from 'prettier';
import {
  ensureGatewayBuilt,
  GATEWAY_MAIN,
  memoryOf,
  REPO_ROOT,
  resetPeakRss,
} from '../test/helpers/gateway-process';
import { freePort, isolatedAwsEnv } from '../test/helpers/processes';
import { formatSize, parseSize } from '../src/config/scalars';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** The ETag the sink answers in fast mode (bench/sink.c FAST_ETAG). */
const FAST_ETAG = '"fa57fa57fa57fa57fa57fa57fa57fa57"';
/** A phase with this much steal time (% of all CPU time) is noisy (BENCH.md). */
const STEAL_LIMIT = 5;
/** A phase during which other processes used this much of the machine (%) is noisy too. */
const OTHER_LIMIT = 10;
/** The large body is written in slices of this size (views of one buffer, never copies). */
const WRITE_SLICE = 16 * MiB;
const RSS_LIMIT_MIB = 150;
/** A PUT with no progress for this long fails. */
const STALL_MS = 60_000;

const CONTENDERS = [
  'direct',
  'nginx-default',
  'nginx-1m',
  'node-proxy',
  'gateway-stream',
  'gateway-splice',
] as const;
type ContenderName = (typeof CONTENDERS)[number];
const GATEWAYS = ['gateway-stream', 'gateway-splice'] as const;

/** 'large', 'medium' and 'small', or one per size in a sweep. */
type WorkloadName = string;

interface Workload {
  name: WorkloadName;
  label: string;
  bodyBytes: number;
  concurrency: number;
}

interface Options {
  runs: number;
  quick: boolean;
  /** Seconds each concurrent workload runs. */
  durationSeconds: number;
  largeMiB: number;
  workers: number | 'auto';
  /** A sweep: one concurrent workload per body size instead of the standard three. */
  sizes?: number[];
  /** The concurrency of a sweep's workloads. */
  concurrency: number;
  /** Only these contenders (all by default). */
  only?: ReadonlySet<ContenderName>;
}

/** What the client saw during one phase. */
interface ClientResult {
  requests: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
}

/** One measurement: one workload through one contender in one run. */
interface Phase {
  run: number;
  workload: WorkloadName;
  contender: ContenderName;
  requests: number;
  bytes: number;
  seconds: number;
  mbPerSecond: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Proxy CPU (utime+stime of all its processes); NaN for direct. */
  cpuSeconds: number;
  cpuSecondsPerGiB: number;
  cpuMicrosPerRequest: number;
  /** Peak RSS of the proxy's largest process, and summed over its processes; NaN for direct. */
  peakRssMiB: number;
  peakRssSumMiB: number;
  peakWasReset: boolean;
  /** Resident size (VmRSS) of the proxy's largest process when the phase began; NaN for direct. */
  rssAtStartMiB: number;
  /** Bytes the gateway moved with splice, % of the body bytes; NaN unless a gateway. */
  splicedPercent: number;
  sinkCpuSecondsPerGiB: number;
  /** CPU of this bench process and its client child (wrk), % of one core. */
  clientPercent: number;
  /** Steal time, % of all CPU time during the phase. */
  stealPercent: number;
  /** CPU of processes that are not this bench's, % of the whole machine. */
  otherPercent: number;
  noisy: boolean;
}

/** One verification pass of one contender. */
interface Verification {
  run: number;
  contender: ContenderName;
  requests: number;
  bytes: number;
  splicedBytes: number;
  seconds: number;
}

function parseOptions(argv: string[]): Options {
  const options: Options = {
    runs: 5,
    quick: false,
    durationSeconds: 4,
    largeMiB: 1024,
    workers: 1,
    concurrency: 16,
  };
  let runsGiven = false;
  const usage =
    'usage: [--runs N] [--quick] [--duration S] [--large-mib N] [--workers N|auto] ' +
    '[--sizes SIZE,...] [--concurrency N] [--contenders NAME,...]';
  const positive = (flag: string, value: string | undefined): number => {
    const n = Number(value);
    if (value === undefined || !Number.isFinite(n) || n <= 0) {
      throw new Error(`${flag} takes a positive number (${usage})`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    switch (flag) {
      case '--quick':
        options.quick = true;
        continue;
      case '--runs':
        options.runs = Math.round(positive(flag, value));
        runsGiven = true;
        break;
      case '--duration':
        // wrk takes whole seconds.
        options.durationSeconds = Math.max(1, Math.round(positive(flag, value)));
        break;
      case '--large-mib':
        options.largeMiB = Math.round(positive(flag, value));
        break;
      case '--workers':
        options.workers = value === 'auto' ? 'auto' : Math.round(positive(flag, value));
        break;
      case '--sizes':
        options.sizes = (value ?? '').split(',').map((size) => bodySize(flag, size, usage));
        break;
      case '--concurrency':
        options.concurrency = Math.round(positive(flag, value));
        break;
      case '--contenders': {
        const names = (value ?? '').split(',');
        const unknown = names.filter((n) => !(CONTENDERS as readonly string[]).includes(n));
        if (unknown.length > 0 || names.length === 0) {
          throw new Error(`--contenders takes names among ${CONTENDERS.join(', ')} (${usage})`);
        }
        options.only = new Set(names as ContenderName[]);
        break;
      }
      default:
        throw new Error(`unknown argument ${flag} (${usage})`);
    }
    i++;
  }
  if (options.quick) {
    // A smoke run: small sizes, short phases; explicit flags after --quick still win.
    const explicit = (flag: string) => argv.includes(flag);
    if (!runsGiven) options.runs = 2;
    if (!explicit('--duration')) options.durationSeconds = 1;
    if (!explicit('--large-mib')) options.largeMiB = 64;
  }
  return options;
}

/** A body size of the command line ('256KiB', '1MiB', '300001'): positive, in bytes. */
function bodySize(flag: string, text: string, usage: string): number {
  let bytes = 0;
  try {
    bytes = parseSize(text);
  } catch {
    // Reported below, with the flag and the usage.
  }
  if (bytes <= 0) {
    throw new Error(`${flag} takes sizes such as 256KiB,1MiB (got '${text}'; ${usage})`);
  }
  return bytes;
}

/** A size as a short label without spaces, fit for a path: 256KiB, 1MiB, 300001bytes. */
function sizeLabel(bytes: number): string {
  return formatSize(bytes).replace(' ', '');
}

function workloads(options: Options): Workload[] {
  if (options.sizes !== undefined) {
    return options.sizes.map((bytes) => ({
      name: sizeLabel(bytes),
      label: `${sizeLabel(bytes)} x${options.concurrency}`,
      bodyBytes: bytes,
      concurrency: options.concurrency,
    }));
  }
  const large = options.largeMiB * MiB;
  return [
    {
      name: 'large',
      label: large >= GiB ? `${large / GiB} GiB` : `${options.largeMiB} MiB`,
      bodyBytes: large,
      concurrency: 1,
    },
    { name: 'medium', label: '1 MiB x16', bodyBytes: MiB, concurrency: 16 },
    { name: 'small', label: '4 KiB x64', bodyBytes: 4 * KiB, concurrency: 64 },
  ];
}

// ---- /proc -------------------------------------------------------------------------------------

/** Total, idle and steal jiffies of all CPUs, from /proc/stat. */
function cpuJiffies(): { total: number; steal: number } {
  const n = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1);
  const numbers = n.map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest is inside user.
  const total = numbers.slice(0, 8).reduce((a, b) => a + b, 0);
  return { total, steal: numbers[7] ?? 0 };
}

interface ProcessInfo {
  ppid: number;
  cpuSeconds: number;
}

/** Every process's parent and CPU time (utime+stime), from /proc/PID/stat. */
function processTable(): Map<number, ProcessInfo> {
  const table = new Map<number, ProcessInfo>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Fields after the command name: state ppid ... utime (14th overall) stime (15th).
      table.set(Number(entry), {
        ppid: Number(fields[1]),
        cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100,
      });
    } catch {
      // The process ended between readdir and read.
    }
  }
  return table;
}

/** `root` and all its descendants in `table`. */
function descendants(table: Map<number, ProcessInfo>, root: number): number[] {
  const found = [root];
  for (let i = 0; i < found.length; i++) {
    for (const [pid, info] of table) if (info.ppid === found[i]) found.push(pid);
  }
  return found.filter((pid) => table.has(pid));
}

/** CPU time of this process plus the children it has reaped (wrk), in seconds. */
function selfCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  return (fields[11] + fields[12] + fields[13] + fields[14]) / 100;
}

// ---- helpers -----------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
}

const fixed = (value: number, digits: number) =>
  Number.isFinite(value) ? value.toFixed(digits) : '-';

/** A wrong answer from a contender: it is disqualified, never measured further. */
class CorrectnessError extends Error {}

/** A child process whose output is kept, with a wait for a line it prints. */
class Child {
  private out = '';
  private ended = false;
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.stdout?.setEncoding('utf8').on('data', (text: string) => (this.out += text));
    child.stderr?.setEncoding('utf8').on('data', (text: string) => (this.out += text));
    this.exited = new Promise((resolve) => {
      child.on('close', () => {
        this.ended = true;
        resolve();
      });
      child.on('error', (err) => {
        this.out += String(err);
        this.ended = true;
        resolve();
      });
    });
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name} did not start: ${this.out}`);
    return this.child.pid;
  }

  output(): string {
    return this.out;
  }

  hasEnded(): boolean {
    return this.ended;
  }

  async waitFor(pattern: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.out);
      if (match) return match;
      if (this.ended || Date.now() > deadline) {
        throw new Error(`${this.name} never printed ${pattern}:\n${this.out}`);
      }
      await sleep(20);
    }
  }

  async waitUntil(ready: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await ready())) {
      if (this.ended || Date.now() > deadline) {
        throw new Error(`${this.name} did not become ready:\n${this.out}`);
      }
      await sleep(100);
    }
  }

  async stop(): Promise<void> {
    if (!this.ended) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Finds a program on PATH or in the sbin directories (nginx lives in /usr/sbin). */
function findProgram(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  return dirs
    .filter((dir) => dir.startsWith('/'))
    .map((dir) => join(dir, name))
    .find((path) => existsSync(path));
}

/**
 * Installs missing Debian packages with apt-get (as root, or through sudo), refreshing the
 * package lists once if the first attempt fails. Returns why it could not, if it could not.
 */
function aptInstall(packages: string[]): string | undefined {
  const root = process.getuid?.() === 0;
  if (!root && findProgram('sudo') === undefined) return 'not root and no sudo';
  const run = (args: string[]) => {
    const command = root ? 'apt-get' : 'sudo';
    const fullArgs = root ? args : ['-n', 'apt-get', ...args];
    console.log(`$ ${root ? '' : 'sudo '}apt-get ${args.join(' ')}`);
    return spawnSync(command, fullArgs, {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    }).status;
  };
  const install = [
    'install',
    '-y',
    '-q',
    '--no-install-recommends',
    '-o',
    'DPkg::Lock::Timeout=300',
    ...packages,
  ];
  if (run(install) === 0) return undefined;
  if (run(['update', '-q', '-o', 'DPkg::Lock::Timeout=300']) !== 0) return 'apt-get update failed';
  return run(install) === 0 ? undefined : `apt-get install ${packages.join(' ')} failed`;
}

function versionOf(program: string, args: string[]): string {
  const result = spawnSync(program, args, { encoding: 'utf8' });
  return `${result.stdout ?? ''}${result.stderr ?? ''}`.split('\n')[0].trim();
}

/** GET `url`; resolves with the status and body text (status 0 when unreachable). */
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

/** The value of a Prometheus sample whose labels include `labels` (0 when absent). */
async function metricValue(url: string, name: string, labels: string): Promise<number> {
  const { status, text } = await getText(url);
  // A proxy that stopped answering has failed, not spliced nothing.
  if (status !== 200) throw new CorrectnessError(`${url} answered HTTP ${status}`);
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`).exec(line);
    if (match && match[1].includes(labels)) sum += Number(match[2]);
  }
  return sum;
}

interface PutResult {
  status: number;
  etag: string | undefined;
  body: string;
  seconds: number;
}

/** PUTs `body` with a Content-Length, in large slices of the one buffer, on its own connection. */
function putBuffer(
  url: string,
  body: Buffer,
  agent: http.Agent | false = false,
): Promise<PutResult> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = http.request(url, {
      method: 'PUT',
      agent,
      headers: { 'content-length': String(body.length) },
    });
    // A connection the contender drops or stalls is its failure, like a wrong answer.
    req.setTimeout(STALL_MS, () => req.destroy(new Error(`no progress for ${STALL_MS / 1000} s`)));
    const fail = (err: Error) =>
      reject(new CorrectnessError(`PUT ${url} of ${body.length} B failed: ${err.message}`));
    req.on('error', fail);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (piece: string) => (text += piece));
      res.on('error', fail);
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          etag: res.headers.etag,
          body: text,
          seconds: Number(process.hrtime.bigint() - started) / 1e9,
        }),
      );
    });
    const send = async () => {
      for (let offset = 0; offset < body.length; offset += WRITE_SLICE) {
        if (req.destroyed) return;
        if (!req.write(body.subarray(offset, offset + WRITE_SLICE))) await once(req, 'drain');
      }
      req.end();
    };
    send().catch(() => undefined);
  });
}

/** Runs `worker` `concurrency` times in parallel until all return. */
async function inParallel(concurrency: number, worker: () => Promise<void>): Promise<void> {
  await Promise.all(Array.from({ length: concurrency }, worker));
}

// ---- the sink ----------------------------------------------------------------------------------

interface SinkStats {
  puts: number;
  bytes: number;
  verified: number;
}

class Sink {
  private constructor(
    readonly kind: string,
    readonly child: Child,
    readonly port: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Compiles and starts bench/sink.c; the Node sink if gcc is missing or the build fails. */
  static async start(workDir: string): Promise<Sink> {
    const gcc = findProgram('gcc') ?? findProgram('cc');
    let fallbackReason = 'gcc not found';
    if (gcc !== undefined) {
      const binary = join(workDir, 'sink');
      const build = spawnSync(
        gcc,
        ['-O2', '-pthread', '-o', binary, join(REPO_ROOT, 'bench', 'sink.c')],
        { encoding: 'utf8' },
      );
      if (build.status === 0) {
        const child = new Child(
          'sink',
          spawn(binary, ['0'], { stdio: ['ignore', 'pipe', 'pipe'] }),
        );
        const [, port] = await child.waitFor(/listening (\d+)/);
        const compiler = versionOf(gcc, ['--version']);
        return new Sink(
          `C (bench/sink.c: thread per connection, recv MSG_TRUNC; ${compiler})`,
          child,
          Number(port),
        );
      }
      fallbackReason = `gcc failed: ${build.stderr}`;
    }
    console.log(`sink: falling back to the Node sink (${fallbackReason})`);
    const child = new Child(
      'node sink',
      spawn(
        process.execPath,
        ['-r', 'ts-node/register/transpile-only', join('bench', 'node-sink.ts'), '0'],
        { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    );
    const [, port] = await child.waitFor(/listening (\d+)/);
    return new Sink(`Node (bench/node-sink.ts; ${fallbackReason})`, child, Number(port));
  }

  /** The stats once no PUT has completed for a while (at most 30 s). */
  async settled(quietMs = 300): Promise<SinkStats> {
    const deadline = Date.now() + 30_000;
    let last = await this.stats();
    for (;;) {
      await sleep(quietMs);
      const now = await this.stats();
      if ((now.puts === last.puts && now.bytes === last.bytes) || Date.now() > deadline) return now;
      last = now;
    }
  }

  async stats(): Promise<SinkStats> {
    const { status, text } = await getText(`${this.url}/__sink/stats`);
    if (status !== 200) throw new Error(`sink stats: HTTP ${status} ${text}`);
    return JSON.parse(text) as SinkStats;
  }
}

// ---- the contenders ----------------------------------------------------------------------------

interface Contender {
  name: ContenderName;
  description: string;
  /** Where keys go: `${base}/key`. */
  base: string;
  /** The proxy's main process (undefined for direct); its descendants count too. */
  rootPid?: number;
  /** The gateway's /metrics URL. */
  metricsUrl?: string;
  child?: Child;
}

/** uid and gid of `nobody`, for running nginx unprivileged when this bench runs as root. */
function nobody(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('nobody:'));
  const [, , uid, gid] = (line ?? 'nobody:x:65534:65534').split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

async function startNginx(
  nginx: string,
  name: 'nginx-default' | 'nginx-1m',
  workDir: string,
  sink: Sink,
  options: Options,
  version: string,
): Promise<Contender> {
  const prefix = join(workDir, name);
  mkdirSync(prefix, { mode: 0o755 });
  const port = await freePort();
  const bodyBuffer = name === 'nginx-1m' ? 'client_body_buffer_size 1m;' : '';
  const config = readFileSync(join(REPO_ROOT, 'bench', 'nginx.conf.template'), 'utf8')
    .replaceAll('{{PREFIX}}', prefix)
    .replaceAll('{{PORT}}', String(port))
    .replaceAll('{{SINK_PORT}}', String(sink.port))
    .replaceAll('{{WORKERS}}', String(options.workers))
    .replaceAll('{{BODY_BUFFER}}', bodyBuffer);
  const configFile = join(prefix, 'nginx.conf');
  writeFileSync(configFile, config);
  const root = process.getuid?.() === 0;
  const user = root ? nobody() : undefined;
  if (user) chownSync(prefix, user.uid, user.gid);
  const child = new Child(
    name,
    spawn(nginx, ['-p', prefix, '-c', configFile, '-e', join(prefix, 'error.log')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(user ?? {}),
    }),
  );
  const base = `http://127.0.0.1:${port}`;
  await child.waitUntil(async () => (await getText(`${base}/__sink/stats`)).status === 200);
  return {
    name,
    description:
      `${version}, proxy_request_buffering off, ` +
      `${bodyBuffer === '' ? 'default client_body_buffer_size (16k)' : bodyBuffer.slice(0, -1)}, ` +
      `${options.workers} worker(s), upstream keep-alive${user ? ', run as nobody' : ''}`,
    base: `${base}/sink`,
    rootPid: child.pid,
    child,
  };
}

interface ZeroCopyDetail {
  mode: string;
  reason: string;
}

/**
 * bench/node-proxy.ts in front of the sink, as plain JavaScript: run through ts-node it would
 * carry the TypeScript compiler in its memory.
 */
async function startNodeProxy(workDir: string, sink: Sink): Promise<Contender> {
  const source = readFileSync(join(REPO_ROOT, 'bench', 'node-proxy.ts'), 'utf8');
  const script = join(workDir, 'node-proxy.js');
  writeFileSync(
    script,
    ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS } }).outputText,
  );
  const child = new Child(
    'node-proxy',
    spawn(process.execPath, [script, String(sink.port)], {
      cwd: workDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const [, port] = await child.waitFor(/listening (\d+)/);
  return {
    name: 'node-proxy',
    description: `Node.js ${process.version} http.createServer piping each body to the sink (bench/node-proxy.ts)`,
    base: `http://127.0.0.1:${port}/sink`,
    rootPid: child.pid,
    child,
  };
}

async function startGatewayContender(
  name: 'gateway-stream' | 'gateway-splice',
  workDir: string,
  sink: Sink,
  options: Options,
): Promise<{ contender: Contender; zeroCopy: ZeroCopyDetail }> {
  const port = await freePort();
  const file = join(workDir, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      server: {
        address: `127.0.0.1:${port}`,
        workers: options.workers,
        // A sweep splices every size it measures.
        ...(options.sizes !== undefined
          ? { zero_copy: { min_body_bytes: Math.min(...options.sizes) } }
          : {}),
      },
      buckets: [
        {
          name: 'bench',
          path_prefix: '/bench',
          s3: {
            bucket: 'sink',
            endpoint: sink.url,
            region: 'us-east-1',
            access_key: 'k',
            secret_key: 's',
            force_path_style: true,
          },
          // One PutObject for the large body: the sink does not speak multipart.
          upload: { multipart_threshold: '5GiB' },
        },
      ],
      logging: { level: 'warn' },
      tracing: { enabled: false },
    }),
  );
  const env = isolatedAwsEnv({
    MIZUCHI_UPLOAD_ID_SECRET: 'throughput-bench-upload-id-secret-0123456789',
  });
  delete env.ZERO_COPY;
  if (name === 'gateway-stream') env.ZERO_COPY = 'off';
  const child = new Child(
    name,
    spawn(process.execPath, [GATEWAY_MAIN, '--config', file], {
      cwd: workDir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const base = `http://127.0.0.1:${port}`;
  // At level warn the gateway prints no "serving" line: poll liveness instead.
  await child.waitUntil(async () => (await getText(`${base}/health/live`)).status === 200);
  const ready = await getText(`${base}/health/ready`);
  let zeroCopy: ZeroCopyDetail = { mode: 'stream', reason: 'no zero_copy detail in /health/ready' };
  try {
    const detail = (JSON.parse(ready.text) as { details?: Record<string, Partial<ZeroCopyDetail>> })
      .details?.zero_copy;
    if (detail?.mode !== undefined) zeroCopy = { mode: detail.mode, reason: detail.reason ?? '' };
  } catch {
    zeroCopy.reason = `unreadable /health/ready (HTTP ${ready.status})`;
  }
  return {
    contender: {
      name,
      description:
        `node ${GATEWAY_MAIN.replace(`${REPO_ROOT}/`, '')}` +
        `${name === 'gateway-stream' ? ', ZERO_COPY=off' : ', zero-copy on (default)'}, ` +
        `${options.workers} worker(s), logging warn, tracing off; zero_copy.mode ` +
        `${zeroCopy.mode} (${zeroCopy.reason})`,
      base: `${base}/bench`,
      rootPid: child.pid,
      metricsUrl: `${base}/metrics`,
      child,
    },
    zeroCopy,
  };
}

// ---- clients -----------------------------------------------------------------------------------

interface WrkResult {
  requests: number;
  duration_us: number;
  errors: Record<string, number>;
  latency_us: { p50: number; p99: number };
}

/** The concurrent workloads' client: wrk with bench/wrk-put.lua, or Node when wrk is missing. */
class LoadClient {
  constructor(
    readonly wrk: string | undefined,
    readonly description: string,
  ) {}

  async run(url: string, bodyFile: string, concurrency: number, seconds: number) {
    return this.wrk !== undefined
      ? this.runWrk(this.wrk, url, bodyFile, concurrency, seconds)
      : this.runNode(url, readFileSync(bodyFile), concurrency, seconds);
  }

  private async runWrk(
    wrk: string,
    url: string,
    bodyFile: string,
    concurrency: number,
    seconds: number,
  ): Promise<ClientResult> {
    const args = [
      '-t1',
      `-c${concurrency}`,
      `-d${seconds}s`,
      '--timeout',
      '30s',
      '-s',
      join(REPO_ROOT, 'bench', 'wrk-put.lua'),
      url,
      '--',
      bodyFile,
    ];
    const child = new Child('wrk', spawn(wrk, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    await child.exited;
    const match = /WRK_RESULT (\{.*\})/.exec(child.output());
    if (!match) throw new CorrectnessError(`wrk ${url}: ${child.output().trim()}`);
    const result = JSON.parse(match[1]) as WrkResult;
    const errors = Object.entries(result.errors).filter(([, n]) => n > 0);
    if (errors.length > 0) {
      throw new CorrectnessError(
        `wrk ${url}: ${errors.map(([kind, n]) => `${n} ${kind} error(s)`).join(', ')}`,
      );
    }
    return {
      requests: result.requests,
      seconds: result.duration_us / 1e6,
      p50Ms: result.latency_us.p50 / 1000,
      p99Ms: result.latency_us.p99 / 1000,
    };
  }

  private async runNode(
    url: string,
    body: Buffer,
    concurrency: number,
    seconds: number,
  ): Promise<ClientResult> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const latencies: number[] = [];
    const started = process.hrtime.bigint();
    const deadline = Date.now() + seconds * 1000;
    try {
      await inParallel(concurrency, async () => {
        while (Date.now() < deadline) {
          const put = await putBuffer(url, body, agent);
          if (put.status !== 200 || put.etag !== FAST_ETAG) {
            throw new CorrectnessError(`${url}: HTTP ${put.status}, ETag ${put.etag} ${put.body}`);
          }
          latencies.push(put.seconds * 1000);
        }
      });
    } finally {
      agent.destroy();
    }
    latencies.sort((a, b) => a - b);
    return {
      requests: latencies.length,
      seconds: Number(process.hrtime.bigint() - started) / 1e9,
      p50Ms: percentile(latencies, 0.5),
      p99Ms: percentile(latencies, 0.99),
    };
  }
}

// ---- the bench ---------------------------------------------------------------------------------

interface VerifyBody {
  data: Buffer;
  md5: string;
}

class Bench {
  readonly phases: Phase[] = [];
  readonly verifications: Verification[] = [];
  readonly disqualified = new Map<ContenderName, string>();
  private readonly verifyBodies: VerifyBody[];
  private readonly large: Buffer;
  private readonly bodyFiles = new Map<WorkloadName, string>();

  constructor(
    private readonly options: Options,
    private readonly workloads: Workload[],
    private readonly sink: Sink,
    private readonly contenders: Contender[],
    private readonly client: LoadClient,
    workDir: string,
  ) {
    // Verification bodies: empty, one byte, many small ones (on keep-alive connections), odd
    // sizes around the splice threshold, and one large odd size.
    const sizes = [
      0,
      1,
      ...Array<number>(16).fill(4 * KiB),
      256 * KiB - 1,
      300_001,
      ...Array<number>(4).fill(MiB),
      (options.quick ? 8 : 32) * MiB + 7,
    ];
    this.verifyBodies = sizes.map((size) => {
      const data = randomBytes(size);
      return { data, md5: createHash('md5').update(data).digest('hex') };
    });
    // The large body: one preallocated buffer of copies of a random block, sent as it is.
    const block = randomBytes(MiB);
    const large = workloads.find((w) => w.name === 'large');
    this.large = Buffer.allocUnsafe(large?.bodyBytes ?? 0);
    for (let offset = 0; offset < this.large.length; offset += block.length) {
      block.copy(this.large, offset);
    }
    for (const workload of workloads.filter((w) => w.name !== 'large')) {
      const file = join(workDir, `body-${workload.name}.bin`);
      writeFileSync(file, randomBytes(workload.bodyBytes));
      this.bodyFiles.set(workload.name, file);
    }
  }

  private active(): Contender[] {
    return this.contenders.filter((c) => !this.disqualified.has(c.name));
  }

  private async spliced(contender: Contender): Promise<number> {
    if (contender.metricsUrl === undefined) return 0;
    return metricValue(contender.metricsUrl, 'mizuchi_zero_copy_bytes_total', 'mode="splice"');
  }

  /** PUTs every verification body; each ETag must be the MD5 of what was sent. */
  async verify(run: number, contender: Contender): Promise<Verification> {
    const before = await this.sink.stats();
    const splicedBefore = await this.spliced(contender);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const started = process.hrtime.bigint();
    let next = 0;
    try {
      await inParallel(4, async () => {
        while (next < this.verifyBodies.length) {
          const i = next++;
          const { data, md5 } = this.verifyBodies[i];
          const url = `${contender.base}/verify/run${run}-${i}-${data.length}.bin`;
          const put = await putBuffer(url, data, agent);
          if (put.status !== 200 || put.etag !== `"${md5}"`) {
            throw new CorrectnessError(
              `${contender.name}: PUT of ${data.length} B answered HTTP ${put.status}, ` +
                `ETag ${put.etag}, but the body's MD5 is ${md5} ${put.body.slice(0, 300)}`,
            );
          }
        }
      });
    } finally {
      agent.destroy();
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const after = await this.sink.stats();
    const bytes = this.verifyBodies.reduce((sum, b) => sum + b.data.length, 0);
    if (after.verified - before.verified !== this.verifyBodies.length) {
      throw new CorrectnessError(
        `${contender.name}: the sink hashed ${after.verified - before.verified} bodies for ` +
          `${this.verifyBodies.length} sent`,
      );
    }
    const verification: Verification = {
      run,
      contender: contender.name,
      requests: this.verifyBodies.length,
      bytes,
      splicedBytes: (await this.spliced(contender)) - splicedBefore,
      seconds,
    };
    this.verifications.push(verification);
    return verification;
  }

  /** Runs one workload through one contender, unmeasured (warm-up) or measured. */
  private async drive(contender: Contender, workload: Workload, seconds: number, tag: string) {
    if (workload.name === 'large') {
      const put = await putBuffer(`${contender.base}/${tag}-large.bin`, this.large);
      if (put.status !== 200 || put.etag !== FAST_ETAG) {
        throw new CorrectnessError(
          `${contender.name} large: HTTP ${put.status}, ETag ${put.etag} ${put.body.slice(0, 300)}`,
        );
      }
      const ms = put.seconds * 1000;
      return { requests: 1, seconds: put.seconds, p50Ms: ms, p99Ms: ms };
    }
    const file = this.bodyFiles.get(workload.name) ?? '';
    return this.client.run(
      `${contender.base}/${tag}-${workload.name}.bin`,
      file,
      workload.concurrency,
      seconds,
    );
  }

  /** The unmeasured warm-up: JIT, connection pools and page cache, for every contender. */
  async warmUp(): Promise<void> {
    for (const contender of this.active()) {
      await this.guard(contender, async () => {
        await this.verify(0, contender);
        for (const workload of this.workloads) {
          await this.drive(contender, workload, Math.min(1, this.options.durationSeconds), 'warm');
        }
      });
    }
    this.verifications.length = 0;
    await this.sink.settled();
  }

  /** Runs `step`; a wrong answer disqualifies the contender, anything else ends the bench. */
  async guard(contender: Contender, step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (err) {
      if (!(err instanceof CorrectnessError)) throw err;
      // A proxy that crashed says why in its last lines.
      await sleep(500);
      const crash = contender.child?.hasEnded()
        ? `; the process ended: ${contender.child.output().trim().split('\n').slice(-12).join(' | ')}`
        : '';
      this.disqualified.set(contender.name, err.message + crash);
      console.log(`!! ${contender.name} disqualified: ${err.message}${crash}`);
    }
  }

  /** One measured phase. */
  async measure(run: number, contender: Contender, workload: Workload): Promise<Phase> {
    if (contender.child?.hasEnded()) throw new CorrectnessError(`${contender.name} is not running`);
    const sinkBefore = await this.sink.stats();
    const splicedBefore = await this.spliced(contender);
    // The /proc scans stay outside the window in which this process's CPU is counted.
    const tableStart = processTable();
    const proxyPids =
      contender.rootPid !== undefined ? descendants(tableStart, contender.rootPid) : [];
    let peakWasReset = proxyPids.length > 0;
    for (const pid of proxyPids) peakWasReset = resetPeakRss(pid) && peakWasReset;
    const rssAtStart =
      proxyPids.length > 0 ? Math.max(...proxyPids.map((pid) => memoryOf(pid).rss)) : NaN;
    const selfBefore = selfCpuSeconds();
    const jiffiesBefore = cpuJiffies();

    const result = await this.drive(contender, workload, this.options.durationSeconds, `run${run}`);

    const jiffiesAfter = cpuJiffies();
    const selfSeconds = selfCpuSeconds() - selfBefore;
    const tableEnd = processTable();
    const memories = proxyPids.flatMap((pid) => {
      try {
        return [memoryOf(pid).peakRss];
      } catch {
        return [];
      }
    });
    // Requests whose body was sent before the client stopped still complete upstream: they
    // belong to this phase, and must not spill into the next one.
    const sinkAfter = await this.sink.settled();
    const splicedBytes = (await this.spliced(contender)) - splicedBefore;

    // Every PUT the sink completed carried exactly one body; wrk may leave up to one request per
    // connection unanswered when its time is up, which the sink may still have completed.
    const puts = sinkAfter.puts - sinkBefore.puts;
    const sinkBytes = sinkAfter.bytes - sinkBefore.bytes;
    if (
      puts < result.requests ||
      puts > result.requests + workload.concurrency ||
      sinkBytes !== puts * workload.bodyBytes
    ) {
      throw new CorrectnessError(
        `${contender.name} ${workload.label}: the client completed ${result.requests} PUT(s), ` +
          `the sink ${puts} with ${sinkBytes} bytes (${workload.bodyBytes} each expected)`,
      );
    }

    const cpuOf = (pids: number[]) =>
      pids.reduce(
        (sum, pid) =>
          sum + (tableEnd.get(pid)?.cpuSeconds ?? 0) - (tableStart.get(pid)?.cpuSeconds ?? 0),
        0,
      );
    const ours = new Set(descendants(tableEnd, process.pid));
    let otherSeconds = 0;
    for (const [pid, info] of tableEnd) {
      // Kernel threads (children of kthreadd, pid 2) do this bench's network work too.
      if (ours.has(pid) || pid === 2 || info.ppid === 2) continue;
      otherSeconds += info.cpuSeconds - (tableStart.get(pid)?.cpuSeconds ?? 0);
    }
    const cpuSeconds = contender.rootPid !== undefined ? cpuOf(proxyPids) : NaN;
    const sinkSeconds = cpuOf([this.sink.child.pid]);
    const bytes = result.requests * workload.bodyBytes;
    const jiffies = jiffiesAfter.total - jiffiesBefore.total;
    const machineSeconds = jiffies / 100;
    const stealPercent =
      jiffies > 0 ? (100 * (jiffiesAfter.steal - jiffiesBefore.steal)) / jiffies : 0;
    const otherPercent = machineSeconds > 0 ? (100 * otherSeconds) / machineSeconds : 0;
    const peakRss = memories.length > 0 ? Math.max(...memories) : NaN;
    const phase: Phase = {
      run,
      workload: workload.name,
      contender: contender.name,
      requests: result.requests,
      bytes,
      seconds: result.seconds,
      mbPerSecond: bytes / result.seconds / 1e6,
      requestsPerSecond: result.requests / result.seconds,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      cpuSeconds,
      cpuSecondsPerGiB: cpuSeconds / (bytes / GiB),
      cpuMicrosPerRequest: (cpuSeconds * 1e6) / result.requests,
      peakRssMiB: peakRss / MiB,
      peakRssSumMiB: memories.reduce((a, b) => a + b, 0) / MiB || NaN,
      peakWasReset,
      rssAtStartMiB: rssAtStart / MiB,
      splicedPercent: contender.metricsUrl !== undefined ? (100 * splicedBytes) / bytes : NaN,
      sinkCpuSecondsPerGiB: sinkSeconds / (bytes / GiB),
      clientPercent: (100 * selfSeconds) / result.seconds,
      stealPercent,
      otherPercent,
      noisy: stealPercent >= STEAL_LIMIT || otherPercent >= OTHER_LIMIT,
    };
    if (contender.name === 'gateway-stream' && splicedBytes > 0) {
      throw new CorrectnessError(`gateway-stream spliced ${splicedBytes} bytes with ZERO_COPY=off`);
    }
    this.phases.push(phase);
    return phase;
  }

  /** The warm-up, then `runs` interleaved runs; prints each phase as it ends. */
  async runAll(): Promise<void> {
    const warmStarted = Date.now();
    await this.warmUp();
    console.log(`warm-up done in ${((Date.now() - warmStarted) / 1000).toFixed(1)} s\n`);
    printPhaseHeader();
    for (let run = 1; run <= this.options.runs; run++) {
      // Rotate who goes first, so no contender always follows the same one.
      const shift = (run - 1) % this.contenders.length;
      const order = [...this.contenders.slice(shift), ...this.contenders.slice(0, shift)];
      for (const contender of order) {
        if (this.disqualified.has(contender.name)) continue;
        await this.guard(contender, async () => {
          const v = await this.verify(run, contender);
          const spliced =
            contender.metricsUrl !== undefined
              ? `, ${((100 * v.splicedBytes) / v.bytes).toFixed(0)}% of the bytes spliced`
              : '';
          console.log(
            `${String(run).padEnd(3)}  verify     ${contender.name.padEnd(14)}  ` +
              `${v.requests} PUTs, ` +
              `${(v.bytes / MiB).toFixed(1)} MiB, every ETag = MD5 of the body${spliced}`,
          );
        });
      }
      for (const workload of this.workloads) {
        for (const contender of order) {
          if (this.disqualified.has(contender.name)) continue;
          await this.guard(contender, async () => {
            printPhase(await this.measure(run, contender, workload), workload);
          });
        }
      }
    }
  }
}

// ---- report ------------------------------------------------------------------------------------

const PHASE_COLUMNS = [
  'run',
  'workload',
  'contender',
  'MB/s',
  'req/s',
  'p50 ms',
  'p99 ms',
  'CPU-s/GiB',
  'CPU us/req',
  'RSS MiB',
  'splice%',
  'client%',
  'steal%',
  'other%',
];
const PHASE_WIDTHS = [3, 9, 14, 8, 8, 7, 7, 9, 10, 7, 7, 7, 6, 6];

function phaseRow(cells: string[]): string {
  return cells
    .map((c, i) => (i < 3 ? c.padEnd(PHASE_WIDTHS[i]) : c.padStart(PHASE_WIDTHS[i])))
    .join('  ');
}

function printPhaseHeader(): void {
  console.log(phaseRow(PHASE_COLUMNS));
}

function printPhase(p: Phase, workload: Workload): void {
  const notes = [
    p.stealPercent >= STEAL_LIMIT ? `steal ${p.stealPercent.toFixed(0)}%` : '',
    p.otherPercent >= OTHER_LIMIT ? `busy machine (other ${p.otherPercent.toFixed(0)}%)` : '',
    p.contender !== 'direct' && !p.peakWasReset ? 'peak RSS not reset' : '',
  ].filter((n) => n !== '');
  console.log(
    phaseRow([
      String(p.run),
      workload.label,
      p.contender,
      fixed(p.mbPerSecond, 0),
      fixed(p.requestsPerSecond, 0),
      fixed(p.p50Ms, 2),
      fixed(p.p99Ms, 2),
      fixed(p.cpuSecondsPerGiB, 2),
      fixed(p.cpuMicrosPerRequest, 0),
      fixed(p.peakRssMiB, 1),
      fixed(p.splicedPercent, 0),
      fixed(p.clientPercent, 0),
      fixed(p.stealPercent, 1),
      fixed(p.otherPercent, 0),
    ]) + (notes.length > 0 ? `  (noisy: ${notes.join('; ')})` : ''),
  );
}

interface Medians {
  mbPerSecond: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  cpuSecondsPerGiB: number;
  cpuMicrosPerRequest: number;
  peakRssMiB: number;
  /** The largest peak RSS of every phase, noisy ones included. */
  maxPeakRssMiB: number;
  rssAtStartMiB: number;
  used: number;
  measured: number;
}

type MedianTable = Partial<Record<WorkloadName, Partial<Record<ContenderName, Medians>>>>;

function chosenPhases(phases: Phase[], workload: WorkloadName, contender: ContenderName): Phase[] {
  const all = phases.filter((p) => p.workload === workload && p.contender === contender);
  const quiet = all.filter((p) => !p.noisy);
  return quiet.length > 0 ? quiet : all;
}

function medians(phases: Phase[], workloadList: Workload[]): MedianTable {
  const table: MedianTable = {};
  for (const workload of workloadList) {
    const row: Partial<Record<ContenderName, Medians>> = {};
    for (const contender of CONTENDERS) {
      const all = phases.filter((p) => p.workload === workload.name && p.contender === contender);
      if (all.length === 0) continue;
      const chosen = chosenPhases(phases, workload.name, contender);
      const pick = (f: (p: Phase) => number) => median(chosen.map(f));
      row[contender] = {
        mbPerSecond: pick((p) => p.mbPerSecond),
        requestsPerSecond: pick((p) => p.requestsPerSecond),
        p50Ms: pick((p) => p.p50Ms),
        p99Ms: pick((p) => p.p99Ms),
        cpuSecondsPerGiB: pick((p) => p.cpuSecondsPerGiB),
        cpuMicrosPerRequest: pick((p) => p.cpuMicrosPerRequest),
        peakRssMiB: pick((p) => p.peakRssMiB),
        maxPeakRssMiB: Math.max(...all.map((p) => p.peakRssMiB)),
        rssAtStartMiB: pick((p) => p.rssAtStartMiB),
        used: chosen.length,
        measured: all.length,
      };
    }
    table[workload.name] = row;
  }
  return table;
}

/** Median over runs of the within-run ratio f(a)/f(b) (drift cancels within a run). */
function pairedRatio(
  phases: Phase[],
  workload: WorkloadName,
  a: ContenderName,
  b: ContenderName,
  f: (p: Phase) => number,
): number {
  const find = (run: number, c: ContenderName) =>
    phases.find((p) => p.run === run && p.workload === workload && p.contender === c);
  const pairs: Array<{ ratio: number; quiet: boolean }> = [];
  for (const run of new Set(phases.map((p) => p.run))) {
    const [pa, pb] = [find(run, a), find(run, b)];
    if (pa && pb) pairs.push({ ratio: f(pa) / f(pb), quiet: !pa.noisy && !pb.noisy });
  }
  const quiet = pairs.filter((p) => p.quiet);
  return median((quiet.length > 0 ? quiet : pairs).map((p) => p.ratio));
}

interface RatioRow {
  mbPerSecondVsDirect: number;
  mbPerSecondVsNginxDefault: number;
  mbPerSecondVsNginx1m: number;
  cpuVsNginxDefault: number;
  cpuVsNginx1m: number;
  p50AddedMs: number;
  p99AddedMs: number;
  pairedMbPerSecondVsNginxDefault: number;
  pairedMbPerSecondVsNginx1m: number;
  pairedCpuVsNginx1m: number;
}

type RatioTable = Partial<Record<WorkloadName, Partial<Record<ContenderName, RatioRow>>>>;

function ratios(table: MedianTable, phases: Phase[], workloadList: Workload[]): RatioTable {
  const out: RatioTable = {};
  for (const workload of workloadList) {
    const row = table[workload.name] ?? {};
    const reference = (c: ContenderName, f: (m: Medians) => number) => {
      const m = row[c];
      return m ? f(m) : NaN;
    };
    const ratioRows: Partial<Record<ContenderName, RatioRow>> = {};
    for (const contender of CONTENDERS) {
      const m = row[contender];
      if (!m) continue;
      ratioRows[contender] = {
        mbPerSecondVsDirect: m.mbPerSecond / reference('direct', (r) => r.mbPerSecond),
        mbPerSecondVsNginxDefault: m.mbPerSecond / reference('nginx-default', (r) => r.mbPerSecond),
        mbPerSecondVsNginx1m: m.mbPerSecond / reference('nginx-1m', (r) => r.mbPerSecond),
        cpuVsNginxDefault:
          m.cpuSecondsPerGiB / reference('nginx-default', (r) => r.cpuSecondsPerGiB),
        cpuVsNginx1m: m.cpuSecondsPerGiB / reference('nginx-1m', (r) => r.cpuSecondsPerGiB),
        p50AddedMs: m.p50Ms - reference('direct', (r) => r.p50Ms),
        p99AddedMs: m.p99Ms - reference('direct', (r) => r.p99Ms),
        pairedMbPerSecondVsNginxDefault: pairedRatio(
          phases,
          workload.name,
          contender,
          'nginx-default',
          (p) => p.mbPerSecond,
        ),
        pairedMbPerSecondVsNginx1m: pairedRatio(
          phases,
          workload.name,
          contender,
          'nginx-1m',
          (p) => p.mbPerSecond,
        ),
        pairedCpuVsNginx1m: pairedRatio(
          phases,
          workload.name,
          contender,
          'nginx-1m',
          (p) => p.cpuSecondsPerGiB,
        ),
      };
    }
    out[workload.name] = ratioRows;
  }
  return out;
}

interface TargetResult {
  target: string;
  status: 'PASS' | 'MISS' | 'n/a';
  detail: string;
}

function targets(
  table: MedianTable,
  ratioTable: RatioTable,
  workloadList: Workload[],
  unavailable: Map<ContenderName, string>,
): TargetResult[] {
  const label = (w: WorkloadName) => workloadList.find((x) => x.name === w)?.label ?? w;
  const missing = (...names: ContenderName[]) => {
    const gone = names.filter((n) => unavailable.has(n) || table.large?.[n] === undefined);
    return gone.length > 0
      ? gone.map((n) => `${n}: ${unavailable.get(n) ?? 'not measured'}`).join('; ')
      : undefined;
  };
  const results: TargetResult[] = [];
  const ratioTarget = (
    target: string,
    workload: WorkloadName,
    contender: ContenderName,
    reference: ContenderName,
    metric: 'mbPerSecond' | 'cpuSecondsPerGiB',
    bound: number,
    paired: (r: RatioRow) => number,
  ) => {
    const gone = missing(contender, reference);
    const a = table[workload]?.[contender]?.[metric];
    const b = table[workload]?.[reference]?.[metric];
    if (gone !== undefined || a === undefined || b === undefined) {
      results.push({ target, status: 'n/a', detail: gone ?? 'not measured' });
      return;
    }
    const ratio = a / b;
    const ok = metric === 'mbPerSecond' ? ratio >= bound : ratio <= bound;
    const unit = metric === 'mbPerSecond' ? 'MB/s' : 'CPU-s/GiB';
    const digits = metric === 'mbPerSecond' ? 0 : 3;
    const comparison = metric === 'mbPerSecond' ? '>=' : '<=';
    const missedBy = 100 * Math.abs(ratio / bound - 1);
    const pairedValue = paired(ratioTable[workload]?.[contender] ?? ({} as RatioRow));
    results.push({
      target,
      status: ok ? 'PASS' : 'MISS',
      detail:
        `${contender} ${a.toFixed(digits)} vs ${reference} ${b.toFixed(digits)} ${unit} = ` +
        `${ratio.toFixed(2)}x (paired ${fixed(pairedValue, 2)}x); bound ${comparison} ` +
        `${bound.toFixed(1)}x${ok ? '' : `, missed by ${missedBy.toFixed(0)}%`}`,
    });
  };
  const large = label('large');
  ratioTarget(
    `splice ${large} throughput >= 1.0 x nginx-1m`,
    'large',
    'gateway-splice',
    'nginx-1m',
    'mbPerSecond',
    1.0,
    (r) => r.pairedMbPerSecondVsNginx1m,
  );
  ratioTarget(
    `splice ${large} CPU-s/GiB <= 0.8 x nginx-1m`,
    'large',
    'gateway-splice',
    'nginx-1m',
    'cpuSecondsPerGiB',
    0.8,
    (r) => r.pairedCpuVsNginx1m,
  );
  ratioTarget(
    `stream ${large} throughput >= 0.6 x nginx-default`,
    'large',
    'gateway-stream',
    'nginx-default',
    'mbPerSecond',
    0.6,
    (r) => r.pairedMbPerSecondVsNginxDefault,
  );
  ratioTarget(
    `stream ${label('medium')} throughput >= 0.5 x nginx-default`,
    'medium',
    'gateway-stream',
    'nginx-default',
    'mbPerSecond',
    0.5,
    (r) => r.pairedMbPerSecondVsNginxDefault,
  );
  for (const gateway of GATEWAYS) {
    const target = `${gateway} ${label('small')} p99 added over direct <= 2 ms`;
    const gone = missing(gateway, 'direct');
    const g = table.small?.[gateway];
    const d = table.small?.direct;
    if (gone !== undefined || g === undefined || d === undefined) {
      results.push({ target, status: 'n/a', detail: gone ?? 'not measured' });
      continue;
    }
    const added = g.p99Ms - d.p99Ms;
    results.push({
      target,
      status: added <= 2 ? 'PASS' : 'MISS',
      detail:
        `p99 ${g.p99Ms.toFixed(2)} ms vs direct ${d.p99Ms.toFixed(2)} ms ` +
        `= +${added.toFixed(2)} ms` +
        `${added <= 2 ? '' : ` (${(added - 2).toFixed(2)} ms over)`}; ` +
        `${g.requestsPerSecond.toFixed(0)} req/s vs direct ${d.requestsPerSecond.toFixed(0)}, ` +
        `nginx-default ${fixed(table.small?.['nginx-default']?.requestsPerSecond ?? NaN, 0)}`,
    });
  }
  for (const gateway of GATEWAYS) {
    const target = `${gateway} peak RSS <= ${RSS_LIMIT_MIB} MiB in every workload`;
    const peaks = workloadList.map((w) => ({ w, m: table[w.name]?.[gateway] }));
    if (unavailable.has(gateway) || peaks.some((p) => p.m === undefined)) {
      results.push({
        target,
        status: 'n/a',
        detail: unavailable.get(gateway) ?? 'not measured',
      });
      continue;
    }
    const worst = Math.max(...peaks.map((p) => p.m?.maxPeakRssMiB ?? NaN));
    results.push({
      target,
      status: worst <= RSS_LIMIT_MIB ? 'PASS' : 'MISS',
      detail:
        `largest peak over all phases ${worst.toFixed(1)} MiB ` +
        `(${peaks.map((p) => `${p.w.label} ${fixed(p.m?.maxPeakRssMiB ?? NaN, 1)}`).join(', ')}); ` +
        `already resident when phases began: ` +
        `${peaks.map((p) => fixed(p.m?.rssAtStartMiB ?? NaN, 1)).join(', ')} MiB (medians)`,
    });
  }
  return results;
}

function printReport(
  table: MedianTable,
  ratioTable: RatioTable,
  targetResults: TargetResult[],
  workloadList: Workload[],
  quick: boolean,
): void {
  const widths = [9, 14, 8, 8, 7, 7, 9, 10, 7, 5];
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(
    `\nmedians (phases with >= ${STEAL_LIMIT}% steal or >= ${OTHER_LIMIT}% of the machine used ` +
      'by other processes left out when quiet ones remain; n = phases used/measured)',
  );
  console.log(
    line([
      'workload',
      'contender',
      'MB/s',
      'req/s',
      'p50 ms',
      'p99 ms',
      'CPU-s/GiB',
      'CPU us/req',
      'RSS MiB',
      'n',
    ]),
  );
  for (const workload of workloadList) {
    for (const contender of CONTENDERS) {
      const m = table[workload.name]?.[contender];
      if (!m) continue;
      console.log(
        line([
          workload.label,
          contender,
          fixed(m.mbPerSecond, 0),
          fixed(m.requestsPerSecond, 0),
          fixed(m.p50Ms, 2),
          fixed(m.p99Ms, 2),
          fixed(m.cpuSecondsPerGiB, 3),
          fixed(m.cpuMicrosPerRequest, 0),
          fixed(m.peakRssMiB, 1),
          `${m.used}/${m.measured}`,
        ]),
      );
    }
  }

  const rWidths = [9, 14, 8, 9, 9, 9, 9, 9, 9];
  const rLine = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(rWidths[i]) : c.padStart(rWidths[i]))).join('  ');
  console.log(
    '\nratios of the medians: MB/s and CPU-s/GiB as x the reference; latency as ms added over ' +
      'direct',
  );
  console.log(
    rLine([
      'workload',
      'contender',
      'MB/s/dir',
      'MB/s/ngx',
      'MB/s/1m',
      'CPU/ngx',
      'CPU/1m',
      'p50 +ms',
      'p99 +ms',
    ]),
  );
  for (const workload of workloadList) {
    for (const contender of CONTENDERS) {
      const r = ratioTable[workload.name]?.[contender];
      if (!r || contender === 'direct') continue;
      console.log(
        rLine([
          workload.label,
          contender,
          fixed(r.mbPerSecondVsDirect, 3),
          fixed(r.mbPerSecondVsNginxDefault, 3),
          fixed(r.mbPerSecondVsNginx1m, 3),
          fixed(r.cpuVsNginxDefault, 3),
          fixed(r.cpuVsNginx1m, 3),
          fixed(r.p50AddedMs, 2),
          fixed(r.p99AddedMs, 2),
        ]),
      );
    }
  }
  console.log('(ngx = nginx-default, 1m = nginx-1m, dir = direct)');

  console.log(
    `\ntargets (issue 7)${quick ? ' -- --quick run: reduced sizes, indicative only' : ''}`,
  );
  for (const t of targetResults) console.log(`${t.status.padEnd(4)}  ${t.target}: ${t.detail}`);
}

// ---- main --------------------------------------------------------------------------------------

function gitRevision(): { commit: string; dirty: boolean } {
  const commit = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' });
  const status = spawnSync('git', ['status', '--porcelain'], { cwd: REPO_ROOT, encoding: 'utf8' });
  return { commit: (commit.stdout ?? '').trim(), dirty: (status.stdout ?? '').trim() !== '' };
}

async function writeResults(results: object, startedAt: Date): Promise<string> {
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  // ISO 8601 basic format: no colons in file names.
  const stamp = startedAt
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const file = join(dir, `${stamp}.json`);
  // Non-finite numbers (a ratio without its reference) are written as null.
  const text = await prettierFormat(JSON.stringify(results), {
    ...((await prettierConfig(file)) ?? {}),
    parser: 'json',
  });
  writeFileSync(file, text);
  copyFileSync(file, join(dir, 'latest.json'));
  return file;
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const args = process.argv.slice(2);
  const options = parseOptions(args);
  const workloadList = workloads(options);
  await ensureGatewayBuilt();

  const missing = [
    ['nginx', 'nginx'],
    ['wrk', 'wrk'],
  ].filter(([program]) => findProgram(program) === undefined);
  let installProblem: string | undefined;
  if (missing.length > 0) {
    console.log(`installing from Debian: ${missing.map(([, pkg]) => pkg).join(' ')}`);
    installProblem = aptInstall(missing.map(([, pkg]) => pkg));
  }
  const nginx = findProgram('nginx');
  const wrk = findProgram('wrk');

  const workDir = mkdtempSync(join(tmpdir(), 'mizuchi-bench-throughput-'));
  // nginx may run as nobody: its prefix, under here, must be reachable.
  chmodSync(workDir, 0o755);
  const unavailable = new Map<ContenderName, string>();
  const started: Child[] = [];
  let exitCode = 0;
  try {
    const sink = await Sink.start(workDir);
    started.push(sink.child);
    const wanted = (name: ContenderName) => options.only === undefined || options.only.has(name);
    const contenders: Contender[] = [];
    if (wanted('direct')) {
      contenders.push({
        name: 'direct',
        description: 'the client straight to the sink',
        base: `${sink.url}/sink`,
      });
    }
    const nginxVersion = nginx !== undefined ? versionOf(nginx, ['-v']).replace(/^.*: /, '') : '';
    for (const name of ['nginx-default', 'nginx-1m'] as const) {
      if (!wanted(name)) continue;
      if (nginx === undefined) {
        unavailable.set(name, `nginx missing (${installProblem ?? 'not installed'})`);
        continue;
      }
      const contender = await startNginx(nginx, name, workDir, sink, options, nginxVersion);
      started.push(contender.child as Child);
      contenders.push(contender);
    }
    if (wanted('node-proxy')) {
      const nodeProxy = await startNodeProxy(workDir, sink);
      started.push(nodeProxy.child as Child);
      contenders.push(nodeProxy);
    }
    let zeroCopy: ZeroCopyDetail | undefined;
    for (const name of GATEWAYS.filter(wanted)) {
      const { contender, zeroCopy: detail } = await startGatewayContender(
        name,
        workDir,
        sink,
        options,
      );
      started.push(contender.child as Child);
      if (name === 'gateway-splice') {
        zeroCopy = detail;
        if (detail.mode !== 'splice') {
          unavailable.set(
            name,
            `skipped: /health/ready says zero_copy.mode is ${detail.mode} (${detail.reason})`,
          );
          await (contender.child as Child).stop();
          continue;
        }
      }
      contenders.push(contender);
    }

    const client = new LoadClient(
      wrk,
      wrk !== undefined
        ? `${versionOf(wrk, ['-v']).split(' [')[0]}, 1 thread, bench/wrk-put.lua`
        : `Node keep-alive client in this process (wrk missing: ${installProblem ?? 'not found'})`,
    );
    const machine = {
      node: process.version,
      nproc: availableParallelism(),
      kernel: release(),
      cpu: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Number((totalmem() / GiB).toFixed(1)),
      loadAverageAtStart: loadavg(),
    };
    console.log(
      `throughput bench: ${options.runs} interleaved run(s)${options.quick ? ' (--quick)' : ''}; ` +
        `node ${machine.node}, ${machine.nproc} CPU(s) (${machine.cpu}), ` +
        `kernel ${machine.kernel}, ` +
        `load ${machine.loadAverageAtStart.map((l) => l.toFixed(2)).join(' ')}`,
    );
    const large = workloadList.find((w) => w.name === 'large');
    const concurrent = workloadList.filter((w) => w !== large).map((w) => w.label);
    console.log(
      'workloads: ' +
        (large !== undefined
          ? `${large.label} = one PUT with a Content-Length from a preallocated buffer; `
          : `a sweep, the splice gateway splicing from ${sizeLabel(Math.min(...(options.sizes ?? [0])))}; `) +
        `${concurrent.join(', ')} = PUTs at that concurrency for ` +
        `${options.durationSeconds} s each (${client.description})`,
    );
    console.log(`sink: ${sink.kind}; /verify/ paths answer the body's MD5 as ETag`);
    console.log('contenders:');
    for (const c of contenders) console.log(`  ${c.name.padEnd(14)}  ${c.description}`);
    for (const [name, reason] of unavailable) console.log(`  ${name.padEnd(14)}  ${reason}`);
    console.log(
      `latency: client side${large !== undefined ? ` (for ${large.label}, the one PUT's duration)` : ''}; ` +
        'CPU-s/GiB and CPU us/req: utime+stime of all the proxy processes per GiB of body / per ' +
        'request; RSS: peak (VmHWM) of its largest process, reset before each phase; ' +
        "splice%: body bytes the gateway's mizuchi_zero_copy_bytes_total counted as spliced; " +
        'client%: this bench + wrk, % of one core; steal%: of all CPU time; ' +
        'other%: CPU of processes not this bench, % of the machine',
    );

    const bench = new Bench(options, workloadList, sink, contenders, client, workDir);
    await bench.runAll();
    for (const [name, reason] of bench.disqualified)
      unavailable.set(name, `disqualified: ${reason}`);

    const table = medians(bench.phases, workloadList);
    const ratioTable = ratios(table, bench.phases, workloadList);
    const targetResults = targets(table, ratioTable, workloadList, unavailable);
    printReport(table, ratioTable, targetResults, workloadList, options.quick);

    const finishedAt = new Date();
    const file = await writeResults(
      {
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        durationSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
        command: ['npm run bench', ...(args.length > 0 ? ['--', ...args] : [])].join(' '),
        options,
        machine,
        git: gitRevision(),
        tools: { sink: sink.kind, client: client.description, nginx: nginxVersion || null },
        limits: { stealPercent: STEAL_LIMIT, otherPercent: OTHER_LIMIT },
        workloads: workloadList,
        contenders: [
          ...contenders.map((c) => ({ name: c.name, description: c.description })),
          ...[...unavailable].map(([name, reason]) => ({ name, unavailable: reason })),
        ],
        zeroCopy: zeroCopy ?? null,
        verifications: bench.verifications,
        phases: bench.phases,
        medians: table,
        ratios: ratioTable,
        targets: targetResults,
      },
      startedAt,
    );
    console.log(
      `\nresults: ${file.replace(`${REPO_ROOT}/`, '')} (and bench/results/latest.json); ` +
        `${((finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(0)} s in all`,
    );
    if (bench.disqualified.size > 0) exitCode = 2;
  } finally {
    await Promise.all(started.map((child) => child.stop()));
    rmSync(workDir, { recursive: true, force: true });
  }
  process.exitCode = exitCode;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
