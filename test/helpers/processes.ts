/**
 * Running external programs from tests: real clients (aws CLI, curl, python/boto3), the built
 * gateway, and shell lines. Everything is collected as text; nothing here asserts.
 */
import { spawn, type SpawnOptions } from 'node:child_process';
import { createServer } from 'node:net';

/** How a finished process ended and what it printed. */
export interface ProcessOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `command` to completion; `input` is written to its stdin, which is then closed. */
export function runProcess(
  command: string,
  args: readonly string[],
  options: SpawnOptions & { input?: string } = {},
): Promise<ProcessOutcome> {
  const { input, ...spawnOptions } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...spawnOptions, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** Describes an outcome for assertion messages. */
export function describeOutcome(command: string, outcome: ProcessOutcome): string {
  return (
    `${command} ended with ${outcome.signal ?? `exit code ${outcome.code}`}\n` +
    `--- stdout ---\n${outcome.stdout}\n--- stderr ---\n${outcome.stderr}`
  );
}

/** Runs a command and returns its stdout, throwing with everything it printed if it fails. */
export async function runOk(
  command: string,
  args: readonly string[],
  options: SpawnOptions & { input?: string } = {},
): Promise<string> {
  const outcome = await runProcess(command, args, options);
  if (outcome.code !== 0) {
    throw new Error(describeOutcome([command, ...args].join(' '), outcome));
  }
  return outcome.stdout;
}

/**
 * The environment with every AWS_* variable removed and the aws CLI's config and credential
 * files pointed at /dev/null, so that nothing on the machine changes how a client behaves.
 * `extra` is added on top (for example dummy keys).
 */
export function isolatedAwsEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('AWS_') && name !== 'MIZUCHI_CONFIG') env[name] = value;
  }
  return {
    ...env,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
