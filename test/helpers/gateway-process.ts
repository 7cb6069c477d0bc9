/**
 * The gateway as its own operating-system process, exactly as users run it:
 * `node dist/src/main.js [--config FILE]`. Used by the CLI and memory tests and by bench/.
 *
 * - ensureGatewayBuilt() runs `npx nest build` when dist/ is missing or older than the sources.
 * - startGateway() spawns it and lets callers wait for lines it prints.
 * - memoryOf() reads its resident set size from /proc.
 * - PatternBody and streamPut() send large bodies generated chunk by chunk, never held whole.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { join, resolve } from 'node:path';
import { cephSettings } from './ceph';
import { freePort, isolatedAwsEnv, runOk } from './processes';

/** The repository root. */
export const REPO_ROOT = resolve(__dirname, '..', '..');
/** The built CLI entry point. */
export const GATEWAY_MAIN = join(REPO_ROOT, 'dist', 'src', 'main.js');

const SOURCE_DIRS = ['src', 'libs'];
const BUILD_FILES = ['tsconfig.json', 'tsconfig.build.json', 'nest-cli.json', 'package.json'];

function newestMtime(path: string): number {
  const info = statSync(path);
  if (!info.isDirectory()) {
    return /\.spec\.ts$/.test(path) ? 0 : info.mtimeMs;
  }
  let newest = 0;
  for (const entry of readdirSync(path)) {
    if (entry === 'node_modules') continue;
    newest = Math.max(newest, newestMtime(join(path, entry)));
  }
  return newest;
}

/** Whether dist/src/main.js is missing or older than any source or build file. */
export function gatewayBuildIsStale(): boolean {
  if (!existsSync(GATEWAY_MAIN)) return true;
  const built = statSync(GATEWAY_MAIN).mtimeMs;
  const sources = [...SOURCE_DIRS, ...BUILD_FILES]
    .map((name) => join(REPO_ROOT, name))
    .filter((path) => existsSync(path));
  return sources.some((path) => newestMtime(path) > built);
}

/** Builds the gateway (`npx nest build`) unless dist/ is already up to date. */
export async function ensureGatewayBuilt(): Promise<void> {
  if (gatewayBuildIsStale()) {
    await runOk('npx', ['nest', 'build'], { cwd: REPO_ROOT });
    if (!existsSync(GATEWAY_MAIN)) {
      throw new Error(`npx nest build succeeded but ${GATEWAY_MAIN} does not exist`);
    }
  }
  // The package's bin, executable as `npm run build` leaves it.
  chmodSync(GATEWAY_MAIN, 0o755);
}

/** How a gateway process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running `node dist/src/main.js`. */
export interface GatewayProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout; rejects if the process ends first. */
  waitForStdout(pattern: RegExp): Promise<RegExpMatchArray>;
  /** Resolves when the process has ended. */
  readonly exited: Promise<Exit>;
  /** Sends `signal` (SIGTERM by default) and waits for the process to end. */
  stop(signal?: NodeJS.Signals): Promise<Exit>;
}

/** Spawns the built gateway with `args`. */
export function startGateway(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): GatewayProcess {
  const child = spawn(process.execPath, [GATEWAY_MAIN, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${GATEWAY_MAIN}`);
  let out = '';
  let err = '';
  let exit: Exit | undefined;
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((listener) => listener());
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    out += text;
    notify();
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => (err += text));
  const exited = new Promise<Exit>((done) => {
    child.on('close', (code, signal) => {
      exit = { code, signal };
      notify();
      done(exit);
    });
  });

  const waitForStdout = (pattern: RegExp) =>
    new Promise<RegExpMatchArray>((done, fail) => {
      const check = () => {
        const match = pattern.exec(out);
        if (match) {
          listeners.delete(check);
          done(match);
        } else if (exit !== undefined) {
          listeners.delete(check);
          fail(
            new Error(
              `the gateway ended (${exit.signal ?? `exit code ${exit.code}`}) before printing ` +
                `${pattern}\n--- stdout ---\n${out}\n--- stderr ---\n${err}`,
            ),
          );
        }
      };
      listeners.add(check);
      check();
    });

  return {
    child,
    pid: child.pid,
    stdout: () => out,
    stderr: () => err,
    waitForStdout,
    exited,
    stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (exit === undefined) child.kill(signal);
      return exited;
    },
  };
}

/** The line main.ts logs once it listens: `serving N route(s) on http://host:port`. */
export const SERVING_LINE = /serving \d+ route\(s\) on (http:\/\/\S+)/;

/** Resident memory of a process, from /proc/<pid>/status, in bytes. */
export interface Memory {
  /** VmRSS: resident now. */
  rss: number;
  /** VmHWM: the peak resident size since start or since resetPeakRss(). */
  peakRss: number;
}

/** Reads VmRSS and VmHWM of `pid`. */
export function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (!match) throw new Error(`/proc/${pid}/status has no ${name}`);
    return Number(match[1]) * 1024;
  };
  return { rss: field('VmRSS'), peakRss: field('VmHWM') };
}

/**
 * Resets the peak RSS (VmHWM) of `pid` to its current RSS (`echo 5 > /proc/PID/clear_refs`,
 * Linux 4.0+). Returns false when the kernel or permissions do not allow it; the peak then
 * still counts start-up, which can only overstate later growth.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** CPU time (user + system) used so far by `pid`, in seconds, from /proc/<pid>/stat. */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticksPerSecond = 100; // USER_HZ, 100 on every Linux this runs on
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/**
 * A reproducible body of `size` bytes, produced chunk by chunk from one random block whose
 * copies are stamped with their index (so reordered or repeated chunks change the MD5).
 */
export class PatternBody {
  private readonly block: Buffer;

  constructor(
    readonly size: number,
    private readonly chunkBytes = 256 * 1024,
  ) {
    this.block = randomBytes(chunkBytes);
  }

  /** The chunks, freshly allocated one at a time. */
  *chunks(): Generator<Buffer> {
    for (let offset = 0, index = 0; offset < this.size; offset += this.chunkBytes, index++) {
      const length = Math.min(this.chunkBytes, this.size - offset);
      const chunk = Buffer.allocUnsafe(length);
      this.block.copy(chunk, 0, 0, length);
      if (length >= 8) chunk.writeDoubleBE(index, 0);
      yield chunk;
    }
  }

  /** Hex MD5 of the whole body (generated again, chunk by chunk). */
  md5(): string {
    const hash = createHash('md5');
    for (const chunk of this.chunks()) hash.update(chunk);
    return hash.digest('hex');
  }
}

/** What the gateway answered to a streamed PUT. */
export interface PutOutcome {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** From the first byte sent to the end of the response. */
  seconds: number;
}

/** PUTs `body` to `url` with a Content-Length, writing chunk by chunk under backpressure. */
export function streamPut(
  url: string,
  body: PatternBody,
  headers: Record<string, string> = {},
): Promise<PutOutcome> {
  return new Promise((done, fail) => {
    const started = process.hrtime.bigint();
    const req = http.request(url, {
      method: 'PUT',
      agent: false,
      headers: { 'content-length': String(body.size), ...headers },
    });
    req.on('error', fail);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (piece: string) => (text += piece));
      res.on('error', fail);
      res.on('end', () =>
        done({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: text,
          seconds: Number(process.hrtime.bigint() - started) / 1e9,
        }),
      );
    });
    const send = async () => {
      for (const chunk of body.chunks()) {
        if (req.destroyed) return;
        if (!req.write(chunk)) await once(req, 'drain');
      }
      req.end();
    };
    // A failed write surfaces as the request's 'error', which rejects above.
    send().catch(() => undefined);
  });
}

/** A built gateway process serving one Ceph route at `/mem`, warmed up, its peak RSS reset. */
export interface MeasuredGateway {
  gateway: GatewayProcess;
  url: string;
  /** RSS after the warm-up upload, the base that growth is measured from. */
  baseline: number;
  peakReset: boolean;
}

/**
 * Writes a config with one Ceph route (`/mem` → `bucket`, `upload` settings as given), starts the
 * built gateway on a free port, uploads 1 MiB to load every code path and pool an upload needs,
 * then resets the peak RSS so only what follows counts.
 */
export async function startMeasuredGateway(
  dir: string,
  bucket: string,
  upload: Record<string, unknown> = {},
): Promise<MeasuredGateway> {
  const ceph = cephSettings();
  const port = await freePort();
  const config = join(dir, 'measured.yaml');
  writeFileSync(
    config,
    JSON.stringify({
      server: { address: `127.0.0.1:${port}` },
      buckets: [
        {
          name: 'memory',
          path_prefix: '/mem',
          s3: {
            bucket,
            endpoint: ceph.endpoint,
            region: ceph.region,
            access_key: ceph.accessKeyId,
            secret_key: ceph.secretAccessKey,
          },
          upload,
        },
      ],
      logging: { level: 'info' },
    }),
  );
  const gateway = startGateway(['--config', config], { env: isolatedAwsEnv(), cwd: dir });
  const [, url] = await gateway.waitForStdout(SERVING_LINE);
  const warmUp = await streamPut(`${url}/mem/warm-up.bin`, new PatternBody(1024 * 1024));
  if (warmUp.status !== 200) throw new Error(`warm-up upload answered ${warmUp.status}`);
  const peakReset = resetPeakRss(gateway.pid);
  return { gateway, url: url ?? '', baseline: memoryOf(gateway.pid).rss, peakReset };
}
