// The splice(2) addon against real loopback TCP sockets: byte-exact transfers, exact length,
// failures, cancellation, idle timeout, fd hygiene, the shared epoll thread under slow clients,
// and process teardown. No assertion depends on timing.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { available, loadError, splice, stats, SpliceOptions, SpliceTransfer } from '../index';

const packageDir = path.join(__dirname, '..');
const MiB = 1024 * 1024;

/** libuv's TCP handle, private to Node: the fd, and the switch for its reader. */
interface TcpHandle {
  fd: number;
  reading: boolean;
  readStop(): number;
}

function handleOf(socket: net.Socket): TcpHandle {
  return (socket as unknown as { _handle: TcpHandle })._handle;
}

function fdOf(socket: net.Socket): number {
  return handleOf(socket).fd;
}

/**
 * Node reads a socket whenever it is allowed to, and whatever it reads is lost to splice. The
 * source sockets are accepted with pauseOnConnect, so Node has read nothing; this makes it
 * explicit the way the gateway must: pause the stream, then stop libuv's reader and tell Node it
 * stopped, so that a later resume() starts it again (BENCH.md, pitfall 1).
 */
function stopReading(socket: net.Socket): void {
  socket.pause();
  const handle = handleOf(socket);
  handle.reading = false;
  handle.readStop();
}

interface Pair {
  /** The connecting side. */
  client: net.Socket;
  /** The accepted side, paused before Node read anything from it. */
  accepted: net.Socket;
}

const openSockets = new Set<net.Socket>();

function connectedPair(): Promise<Pair> {
  return new Promise((resolve, reject) => {
    let client: net.Socket | undefined;
    const server = net.createServer({ pauseOnConnect: true }, (accepted) => {
      server.close();
      openSockets.add(accepted);
      if (client) resolve({ client, accepted });
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      client = net.connect(port, '127.0.0.1');
      openSockets.add(client);
      client.on('error', () => undefined);
    });
  });
}

/** A connection whose accepted side is the splice input, fed by `sender`. */
async function source(): Promise<{ sender: net.Socket; input: net.Socket }> {
  const { client, accepted } = await connectedPair();
  stopReading(accepted);
  accepted.on('error', () => undefined);
  return { sender: client, input: accepted };
}

interface Sink {
  /** The socket splice writes to. */
  output: net.Socket;
  /** Bytes the far end has received so far. */
  received(): number;
  /** Resolves when `received()` reaches `bytes`. */
  reach(bytes: number): Promise<void>;
  /** Ends the output and resolves with what the far end got. */
  finish(): Promise<{ bytes: number; md5: string; data: Buffer | undefined }>;
}

/** A connection whose far end counts, hashes and (for small bodies) keeps what arrives. */
async function sink(keep = false): Promise<Sink> {
  const { client, accepted } = await connectedPair();
  const hash = createHash('md5');
  const chunks: Buffer[] = [];
  let bytes = 0;
  const waiters: Array<{ bytes: number; resolve: () => void }> = [];
  const ended = new Promise<void>((resolve) => accepted.on('end', resolve));
  accepted.on('error', () => undefined);
  accepted.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
    if (keep) chunks.push(chunk);
    for (const waiter of waiters.filter((w) => bytes >= w.bytes)) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  });
  accepted.resume();
  return {
    output: client,
    received: () => bytes,
    reach: (target) =>
      bytes >= target
        ? Promise.resolve()
        : new Promise((resolve) => waiters.push({ bytes: target, resolve })),
    finish: async () => {
      client.end();
      await ended;
      return { bytes, md5: hash.digest('hex'), data: keep ? Buffer.concat(chunks) : undefined };
    },
  };
}

interface Outcome {
  error: (Error & { code?: string; side?: string }) | null;
  moved: number;
}

/** Starts a transfer; `result` settles on `done`, and `calls()` counts how often it ran. */
function start(
  options: Partial<SpliceOptions> & Pick<SpliceOptions, 'inFd' | 'outFd' | 'length'>,
): { transfer: SpliceTransfer; result: Promise<Outcome>; calls: () => number; sync: boolean } {
  let calls = 0;
  let returned = false;
  let sync = false;
  let resolve: (outcome: Outcome) => void = () => undefined;
  const result = new Promise<Outcome>((r) => (resolve = r));
  const transfer = splice(
    { pipeSize: MiB, idleTimeoutMs: 0, ...options },
    (error: Error | null, moved: number) => {
      calls += 1;
      if (!returned) sync = true;
      resolve({ error, moved });
    },
  );
  returned = true;
  return {
    transfer,
    result,
    calls: () => calls,
    get sync() {
      return sync;
    },
  };
}

/** Waits a full turn of the event loop, so that a second `done` call would have arrived. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 20));
}

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

async function closeAll(): Promise<void> {
  const closing = [...openSockets].map(
    (socket) =>
      new Promise<void>((resolve) => {
        if (socket.closed) return resolve();
        socket.once('close', () => resolve());
        socket.destroy();
      }),
  );
  openSockets.clear();
  await Promise.all(closing);
}

/** Runs a Node script in a child process and reports how it ended. */
function runNode(
  script: string,
): Promise<{ code: number | null; signal: string | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', script], {
      env: { ...process.env, NATIVE_SPLICE_DIR: packageDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('close', (code, signal) => resolve({ code, signal, output }));
  });
}

/** Shared by the child-process scripts: a loopback pair whose accepted side is not read. */
const CHILD_PRELUDE = `
const net = require('node:net');
const ns = require(process.env.NATIVE_SPLICE_DIR);
function pair() {
  return new Promise((resolve) => {
    let client;
    const server = net.createServer({ pauseOnConnect: true }, (accepted) => {
      server.close();
      resolve({ client, accepted });
    });
    server.listen(0, '127.0.0.1', () => {
      client = net.connect(server.address().port, '127.0.0.1');
    });
  });
}
`;

afterEach(closeAll);

describe('native-splice', () => {
  it('loads the compiled addon on Linux and reports no load error', () => {
    expect(process.platform).toBe('linux');
    expect(loadError).toBeUndefined();
    expect(available).toBe(true);
  });

  it('completes a 0-byte transfer with done(null, 0), never synchronously', async () => {
    const { input } = await source();
    const out = await sink();
    const run = start({ inFd: fdOf(input), outFd: fdOf(out.output), length: 0 });
    expect(run.calls()).toBe(0);
    expect(await run.result).toEqual({ error: null, moved: 0 });
    expect(run.sync).toBe(false);
    await settle();
    expect(run.calls()).toBe(1);
  });

  it.each([1, 4095, 65537, MiB + 7])('moves exactly %i bytes byte-for-byte', async (size) => {
    const { sender, input } = await source();
    const out = await sink(true);
    const body = randomBytes(size);
    sender.write(body);
    const run = start({ inFd: fdOf(input), outFd: fdOf(out.output), length: size });
    expect(await run.result).toEqual({ error: null, moved: size });
    const got = await out.finish();
    expect(got.bytes).toBe(size);
    expect(got.data?.equals(body)).toBe(true);
    await settle();
    expect(run.calls()).toBe(1);
  });

  it('moves 64 MiB intact, checked by MD5 at the receiver', async () => {
    const size = 64 * MiB;
    const { sender, input } = await source();
    const out = await sink();
    const body = randomBytes(size);
    sender.write(body);
    const run = start({ inFd: fdOf(input), outFd: fdOf(out.output), length: size });
    expect(await run.result).toEqual({ error: null, moved: size });
    const got = await out.finish();
    expect(got.bytes).toBe(size);
    expect(got.md5).toBe(md5(body));
  });

  it('takes exactly `length` bytes, leaving what follows readable by Node', async () => {
    const { sender, input } = await source();
    const first = randomBytes(70000);
    const second = randomBytes(3000);
    const next = Buffer.from('PUT /next-request HTTP/1.1\r\n\r\n');
    sender.write(Buffer.concat([first, second, next]));

    // Two bodies back to back on one connection, as with keep-alive uploads.
    const out1 = await sink(true);
    const run1 = start({ inFd: fdOf(input), outFd: fdOf(out1.output), length: first.length });
    expect(await run1.result).toEqual({ error: null, moved: first.length });
    const out2 = await sink(true);
    const run2 = start({ inFd: fdOf(input), outFd: fdOf(out2.output), length: second.length });
    expect(await run2.result).toEqual({ error: null, moved: second.length });
    expect((await out1.finish()).data?.equals(first)).toBe(true);
    expect((await out2.finish()).data?.equals(second)).toBe(true);

    const rest = await new Promise<Buffer>((resolve) => {
      input.once('data', (chunk: Buffer) => resolve(chunk));
      input.resume();
    });
    expect(rest.toString()).toBe(next.toString());
  });

  it('writes a socket body into a regular file at its current offset', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'native-splice-'));
    const file = path.join(dir, 'body.bin');
    try {
      const prefix = Buffer.from('prefix:');
      const body = randomBytes(3 * MiB + 3);
      const fd = fs.openSync(file, 'w');
      fs.writeSync(fd, prefix);
      const { sender, input } = await source();
      sender.write(body);
      const run = start({ inFd: fdOf(input), outFd: fd, length: body.length });
      const outcome = await run.result;
      fs.closeSync(fd);
      expect(outcome).toEqual({ error: null, moved: body.length });
      expect(fs.readFileSync(file).equals(Buffer.concat([prefix, body]))).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a file opened with O_APPEND, which splice(2) cannot write', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'native-splice-'));
    try {
      const fd = fs.openSync(path.join(dir, 'append.bin'), 'a');
      const { sender, input } = await source();
      sender.write('0123456789');
      const outcome = await start({ inFd: fdOf(input), outFd: fd, length: 10 }).result;
      fs.closeSync(fd);
      expect(outcome.error?.code).toBe('ERR_SPLICE_UNSUPPORTED_FD');
      expect(outcome.error?.side).toBe('out');
      expect(outcome.moved).toBe(0);
      // Nothing was taken from the input.
      const rest = await new Promise<Buffer>((resolve) => {
        input.once('data', (chunk: Buffer) => resolve(chunk));
        input.resume();
      });
      expect(rest.toString()).toBe('0123456789');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a premature end of input with the bytes that arrived', async () => {
    const { sender, input } = await source();
    const out = await sink(true);
    const body = randomBytes(1000);
    sender.end(body);
    const { error, moved } = await start({
      inFd: fdOf(input),
      outFd: fdOf(out.output),
      length: 5000,
    }).result;
    expect(error?.message).toBe('premature end of input after 1000 bytes');
    expect(error?.code).toBe('ERR_SPLICE_PREMATURE_EOF');
    expect(moved).toBe(1000);
    expect((await out.finish()).data?.equals(body)).toBe(true);
  });

  it('fails with EPIPE or ECONNRESET when the receiver goes away, without crashing', async () => {
    const { sender, input } = await source();
    const { client: output, accepted: receiver } = await connectedPair();
    receiver.on('error', () => undefined);
    receiver.destroy();
    sender.write(randomBytes(8 * MiB));
    const { error, moved } = await start({
      inFd: fdOf(input),
      outFd: fdOf(output),
      length: 8 * MiB,
    }).result;
    expect(['EPIPE', 'ECONNRESET']).toContain(error?.code);
    expect(error?.side).toBe('out');
    expect(moved).toBeLessThan(8 * MiB);
  });

  it('stops on cancel() with the bytes moved so far, and ignores later cancels', async () => {
    const { sender, input } = await source();
    const out = await sink();
    sender.write(randomBytes(256 * 1024));
    const run = start({ inFd: fdOf(input), outFd: fdOf(out.output), length: 4 * MiB });
    await out.reach(256 * 1024);
    run.transfer.cancel();
    const { error, moved } = await run.result;
    expect(error?.message).toBe('cancelled');
    expect(error?.code).toBe('ERR_SPLICE_CANCELLED');
    expect(moved).toBe(256 * 1024);
    run.transfer.cancel();
    await settle();
    expect(run.calls()).toBe(1);
  });

  it('treats cancel() after completion as a no-op', async () => {
    const { sender, input } = await source();
    const out = await sink();
    sender.write(Buffer.from('abc'));
    const run = start({ inFd: fdOf(input), outFd: fdOf(out.output), length: 3 });
    expect(await run.result).toEqual({ error: null, moved: 3 });
    run.transfer.cancel();
    await settle();
    expect(run.calls()).toBe(1);
  });

  it('fails with "idle timeout" when no byte moves for idleTimeoutMs', async () => {
    const { sender, input } = await source();
    const out = await sink();
    await new Promise<void>((resolve) => sender.write(Buffer.from('0123456789'), () => resolve()));
    const { error, moved } = await start({
      inFd: fdOf(input),
      outFd: fdOf(out.output),
      length: MiB,
      idleTimeoutMs: 150,
    }).result;
    expect(error?.message).toBe('idle timeout');
    expect(error?.code).toBe('ERR_SPLICE_IDLE_TIMEOUT');
    // The pipe was empty: the input is the side that went quiet.
    expect(error?.side).toBe('in');
    expect(moved).toBe(10);
  });

  it('blames the output for an idle timeout when the pipe holds bytes it does not take', async () => {
    const { sender, input } = await source();
    // A far end that never reads: once the socket buffers are full, bytes stay in the pipe.
    const { client: output, accepted: stalled } = await connectedPair();
    stopReading(stalled);
    const running = start({
      inFd: fdOf(input),
      outFd: fdOf(output),
      length: 64 * MiB,
      pipeSize: 64 * 1024,
      idleTimeoutMs: 300,
    });
    sender.on('error', () => undefined);
    sender.write(Buffer.alloc(16 * MiB, 1));
    const { error } = await running.result;
    expect(error?.code).toBe('ERR_SPLICE_IDLE_TIMEOUT');
    expect(error?.side).toBe('out');
  });

  it('reports unusable descriptors through done, asynchronously', async () => {
    const { input } = await source();
    const bad = start({ inFd: fdOf(input), outFd: 2 ** 30, length: 10 });
    expect(bad.calls()).toBe(0);
    const badFd = await bad.result;
    expect(badFd.error?.code).toBe('EBADF');
    expect(badFd.error?.side).toBe('out');

    const devNull = fs.openSync('/dev/null', 'w');
    try {
      const notSpliceable = await start({ inFd: fdOf(input), outFd: devNull, length: 10 }).result;
      expect(notSpliceable.error?.code).toBe('ERR_SPLICE_UNSUPPORTED_FD');
    } finally {
      fs.closeSync(devNull);
    }
  });

  it('rejects malformed options synchronously with a TypeError', () => {
    const noop = (): void => undefined;
    const valid: SpliceOptions = { inFd: 0, outFd: 1, length: 1, pipeSize: 0, idleTimeoutMs: 0 };
    expect(() => splice({ ...valid, length: -1 }, noop)).toThrow(TypeError);
    expect(() => splice({ ...valid, length: 1.5 }, noop)).toThrow(TypeError);
    expect(() => splice({ ...valid, inFd: Number.NaN }, noop)).toThrow(TypeError);
    expect(() => splice({ ...valid, idleTimeoutMs: -1 }, noop)).toThrow(TypeError);
    expect(() => splice(valid, undefined as unknown as () => void)).toThrow(TypeError);
  });

  it('leaks no file descriptor across successful, failed and cancelled transfers', async () => {
    const batch = async (): Promise<void> => {
      const outcomes: Array<Promise<Outcome>> = [];
      for (const size of [1, 70000, MiB]) {
        const { sender, input } = await source();
        const out = await sink();
        sender.write(randomBytes(size));
        outcomes.push(start({ inFd: fdOf(input), outFd: fdOf(out.output), length: size }).result);
      }
      {
        const { sender, input } = await source();
        const out = await sink();
        sender.end(Buffer.from('short'));
        outcomes.push(start({ inFd: fdOf(input), outFd: fdOf(out.output), length: 100 }).result);
      }
      {
        const { sender, input } = await source();
        const out = await sink();
        sender.write(Buffer.from('stalls'));
        const run = start({ inFd: fdOf(input), outFd: fdOf(out.output), length: 100 });
        await out.reach(6);
        run.transfer.cancel();
        outcomes.push(run.result);
      }
      {
        const { sender, input } = await source();
        const out = await sink();
        sender.write(Buffer.from('idle'));
        outcomes.push(
          start({ inFd: fdOf(input), outFd: fdOf(out.output), length: 100, idleTimeoutMs: 50 })
            .result,
        );
      }
      {
        const { sender, input } = await source();
        const { client: output, accepted: receiver } = await connectedPair();
        receiver.destroy();
        sender.write(randomBytes(4 * MiB));
        outcomes.push(start({ inFd: fdOf(input), outFd: fdOf(output), length: 4 * MiB }).result);
      }
      {
        const { input } = await source();
        outcomes.push(start({ inFd: fdOf(input), outFd: 2 ** 30, length: 1 }).result);
      }
      const results = await Promise.all(outcomes);
      expect(results.filter((r) => r.error === null)).toHaveLength(3);
      expect(results.filter((r) => r.error !== null)).toHaveLength(5);
      await closeAll();
    };

    await batch(); // starts the epoll thread and anything else opened once per process
    const before = openFdCount();
    await batch();
    await batch();
    expect(openFdCount()).toBe(before);
  });

  it('keeps a 16 MiB transfer flowing while four slow clients stall', async () => {
    const slow: Array<ReturnType<typeof start>> = [];
    for (let i = 0; i < 4; i += 1) {
      const { sender, input } = await source();
      const out = await sink();
      sender.write(Buffer.from('abc'));
      slow.push(start({ inFd: fdOf(input), outFd: fdOf(out.output), length: 8 * MiB }));
      await out.reach(3);
    }

    const size = 16 * MiB;
    const { sender, input } = await source();
    const out = await sink();
    const body = randomBytes(size);
    sender.write(body);
    const fast = await start({ inFd: fdOf(input), outFd: fdOf(out.output), length: size }).result;
    expect(fast).toEqual({ error: null, moved: size });
    expect((await out.finish()).md5).toBe(md5(body));

    expect(slow.map((run) => run.calls())).toEqual([0, 0, 0, 0]);
    for (const run of slow) run.transfer.cancel();
    for (const run of slow) {
      const { error, moved } = await run.result;
      expect(error?.message).toBe('cancelled');
      expect(moved).toBe(3);
    }
  });

  it('counts started, completed and failed transfers in stats()', async () => {
    const before = stats();
    const { sender, input } = await source();
    const out = await sink();
    sender.write(Buffer.from('hello'));
    const ok = start({ inFd: fdOf(input), outFd: fdOf(out.output), length: 5 });
    const failing = start({ inFd: fdOf(input), outFd: 2 ** 30, length: 5 });
    expect(stats().started).toBe(before.started + 2);
    expect(stats().active).toBe(before.active + 2);
    await Promise.all([ok.result, failing.result]);
    const after = stats();
    expect(after).toEqual({
      active: 0,
      started: before.started + 2,
      completed: before.completed + 1,
      failed: before.failed + 1,
      threadRunning: true,
    });
  });

  it('lets the process exit on its own once its transfers finished', async () => {
    const { code, signal, output } = await runNode(`${CHILD_PRELUDE}
(async () => {
  const src = await pair();
  const dst = await pair();
  dst.accepted.resume();
  src.client.write(Buffer.alloc(100000, 7));
  ns.splice(
    { inFd: src.accepted._handle.fd, outFd: dst.client._handle.fd, length: 100000, pipeSize: 0, idleTimeoutMs: 0 },
    (error, moved) => {
      console.log('done', error, moved, ns.stats().threadRunning);
      for (const s of [src.client, src.accepted, dst.client, dst.accepted]) s.destroy();
    },
  );
})();
`);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(output).toContain('done null 100000 true');
  });

  it('exits cleanly through process.exit() while a transfer is stalled', async () => {
    const { code, signal, output } = await runNode(`${CHILD_PRELUDE}
(async () => {
  const src = await pair();
  const dst = await pair();
  dst.accepted.resume();
  src.client.write('abc');
  ns.splice(
    { inFd: src.accepted._handle.fd, outFd: dst.client._handle.fd, length: 1000, pipeSize: 0, idleTimeoutMs: 0 },
    () => console.log('done must not run'),
  );
  dst.accepted.once('data', () => { console.log('moving'); process.exit(0); });
})();
`);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(output).toBe('moving\n');
  });

  it('survives a worker thread terminated mid-transfer and keeps serving the main thread', async () => {
    const { code, signal, output } = await runNode(`${CHILD_PRELUDE}
const { Worker } = require('node:worker_threads');
const worker = new Worker(
  ${JSON.stringify(CHILD_PRELUDE)} + \`
  (async () => {
    const src = await pair();
    const dst = await pair();
    src.client.write('abc');
    ns.splice(
      { inFd: src.accepted._handle.fd, outFd: dst.client._handle.fd, length: 1000, pipeSize: 0, idleTimeoutMs: 0 },
      () => {},
    );
    require('node:worker_threads').parentPort.postMessage(ns.stats().active);
  })();\`,
  { eval: true, env: process.env },
);
worker.once('message', async (active) => {
  await worker.terminate();
  const src = await pair();
  const dst = await pair();
  dst.accepted.resume();
  src.client.write('xyz');
  ns.splice(
    { inFd: src.accepted._handle.fd, outFd: dst.client._handle.fd, length: 3, pipeSize: 0, idleTimeoutMs: 0 },
    (error, moved) => {
      console.log('worker active', active, 'main', error, moved);
      for (const s of [src.client, src.accepted, dst.client, dst.accepted]) s.destroy();
    },
  );
});
`);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(output).toBe('worker active 1 main null 3\n');
  });

  it('reports an exception thrown by done as uncaught, like any other callback', async () => {
    const { code, signal, output } = await runNode(`${CHILD_PRELUDE}
(async () => {
  const src = await pair();
  const dst = await pair();
  const sockets = [src.client, src.accepted, dst.client, dst.accepted];
  process.on('uncaughtException', (error) => {
    console.log('uncaught', error.message, ns.stats().active);
    for (const s of sockets) s.destroy();
  });
  dst.accepted.resume();
  src.client.write('abc');
  ns.splice(
    { inFd: src.accepted._handle.fd, outFd: dst.client._handle.fd, length: 3, pipeSize: 0, idleTimeoutMs: 0 },
    () => { throw new Error('thrown by done'); },
  );
})();
`);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(output).toBe('uncaught thrown by done 0\n');
  });

  it('installs without a C++ compiler: the install step exits 0 and the addon says why', () => {
    // What `npm ci` runs on a machine without a toolchain, simulated with a compiler that fails.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'native-splice-nocc-'));
    try {
      for (const entry of ['binding.gyp', 'index.js', 'package.json', 'scripts', 'src']) {
        fs.cpSync(path.join(packageDir, entry), path.join(dir, entry), { recursive: true });
      }
      const install = spawnSync(process.execPath, [path.join(dir, 'scripts', 'install.js')], {
        cwd: dir,
        env: { ...process.env, CC: '/bin/false', CXX: '/bin/false', CXX_host: '/bin/false' },
        encoding: 'utf8',
      });
      expect(install.status).toBe(0);
      expect(fs.existsSync(path.join(dir, 'build', 'install-error.log'))).toBe(true);
      const probe = spawnSync(
        process.execPath,
        [
          '-e',
          `const ns = require(${JSON.stringify(dir)}); console.log(JSON.stringify({ available: ns.available, loadError: ns.loadError }));`,
        ],
        { encoding: 'utf8' },
      );
      const loaded = JSON.parse(probe.stdout) as { available: boolean; loadError: string };
      expect(loaded.available).toBe(false);
      expect(loaded.loadError).toContain('the addon was not built at install');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('never throws on require when the addon is missing, and explains why', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'native-splice-copy-'));
    try {
      fs.copyFileSync(path.join(packageDir, 'index.js'), path.join(dir, 'index.js'));
      const probe = `
const ns = require(${JSON.stringify(dir)});
let thrown;
try { ns.splice({ inFd: 0, outFd: 1, length: 1, pipeSize: 0, idleTimeoutMs: 0 }, () => {}); }
catch (error) { thrown = error.code; }
console.log(JSON.stringify({ available: ns.available, loadError: ns.loadError, thrown, stats: ns.stats() }));
`;
      const missing = await runNode(probe);
      expect(missing.code).toBe(0);
      const notBuilt = JSON.parse(missing.output) as Record<string, unknown>;
      expect(notBuilt).toMatchObject({
        available: false,
        thrown: 'ERR_SPLICE_UNAVAILABLE',
        stats: { active: 0, started: 0, completed: 0, failed: 0, threadRunning: false },
      });
      expect(notBuilt.loadError).toContain('npm rebuild @mizuchi/native-splice');

      fs.mkdirSync(path.join(dir, 'build'));
      fs.writeFileSync(
        path.join(dir, 'build', 'install-error.log'),
        'node-gyp rebuild failed (exit code 1): `make` failed with exit code: 2\n\nfull log\n',
      );
      const failed = JSON.parse((await runNode(probe)).output) as Record<string, unknown>;
      expect(failed.available).toBe(false);
      expect(failed.loadError).toContain(
        'the addon was not built at install: node-gyp rebuild failed (exit code 1)',
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
