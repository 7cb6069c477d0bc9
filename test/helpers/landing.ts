/**
 * What landed in a backend, looked at directly (never through the gateway), in the same shape for
 * the Ceph RADOS Gateway and the filesystem backend; plus the digests tests compare it with
 * (whole-body MD5 and S3's multipart ETag) and small plumbing for multipart and chunked uploads.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { listMultipartUploads, storedObject } from './ceph';
import type { ProcessOutcome } from './processes';

export { xmlField } from './wire';

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** An object as its backend holds it. */
export interface Landed {
  /** Hex MD5 of the stored bytes. */
  md5: string;
  size: number;
  /** The ETag the backend recorded, without quotes. */
  etag: string;
}

/** A multipart upload that was started in the backend and neither completed nor aborted. */
export interface PendingUpload {
  /** The key it was started for ('' when a staging folder has no readable record). */
  key: string;
  /** The backend's own upload id (for the filesystem backend: the staging folder's name). */
  uploadId: string;
}

/** One backend behind a gateway route, inspected directly. */
export interface BackendView {
  /** Reads the object back from the backend itself; undefined when there is none. */
  stored(key: string): Promise<Landed | undefined>;
  /**
   * Every multipart upload in progress. For the filesystem backend this is every entry of the
   * staging folder `.mizuchi/multipart`, so an empty list means an empty folder.
   */
  pendingUploads(): Promise<PendingUpload[]>;
}

/** The view of a Ceph bucket. */
export function cephView(bucket: string): BackendView {
  return {
    async stored(key) {
      const object = await storedObject(bucket, key);
      return object === undefined
        ? undefined
        : { md5: object.md5, size: object.size, etag: object.etag };
    },
    pendingUploads: () => listMultipartUploads(bucket),
  };
}

async function md5OfFile(file: string): Promise<{ md5: string; size: number }> {
  const hash = createHash('md5');
  let size = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: MiB })) {
    const bytes = chunk as Buffer;
    hash.update(bytes);
    size += bytes.length;
  }
  return { md5: hash.digest('hex'), size };
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** The view of a filesystem backend rooted at `root` (objects at `<root>/<key>`). */
export function filesystemView(root: string): BackendView {
  const staging = join(root, '.mizuchi', 'multipart');
  return {
    async stored(key) {
      const file = join(root, ...key.split('/'));
      let content: { md5: string; size: number };
      try {
        content = await md5OfFile(file);
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
      const sidecar = join(
        root,
        '.mizuchi',
        'meta',
        `${createHash('sha256').update(key).digest('hex')}.json`,
      );
      const record = JSON.parse(await fs.readFile(sidecar, 'utf8')) as { etag: string };
      return { ...content, etag: record.etag.replace(/^"|"$/g, '') };
    },
    async pendingUploads() {
      let entries: string[];
      try {
        entries = await fs.readdir(staging);
      } catch (err) {
        if (isMissing(err)) return [];
        throw err;
      }
      const uploads: PendingUpload[] = [];
      for (const entry of entries) {
        let key = '';
        try {
          key = (
            JSON.parse(await fs.readFile(join(staging, entry, 'upload.json'), 'utf8')) as {
              key: string;
            }
          ).key;
        } catch {
          // Listed anyway: any entry left in the staging folder is a leftover.
        }
        uploads.push({ key, uploadId: entry });
      }
      return uploads;
    },
  };
}

/** Hex MD5 of some bytes. */
export function md5Hex(data: Buffer | string): string {
  return createHash('md5').update(data).digest('hex');
}

/** S3's ETag of a multipart object (without quotes): MD5 of the parts' binary MD5s, `-N`. */
export function multipartEtag(parts: readonly Buffer[]): string {
  const md5s = parts.map((part) => createHash('md5').update(part).digest());
  return `${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${parts.length}`;
}

/** The digests of a body fed through a {@link BodyDigest}. */
export interface Digests {
  /** Hex MD5 of the whole body. */
  md5: string;
  size: number;
  /** The ETag S3 gives the body uploaded in parts of `partSize` (without quotes). */
  multipartEtag: string;
  parts: number;
}

/**
 * Hashes a body as it goes by, chunk by chunk (it is never held whole): its MD5, and the
 * multipart ETag it gets when uploaded in parts of `partSize`.
 */
export class BodyDigest {
  private readonly whole = createHash('md5');
  private part: Hash = createHash('md5');
  private partFill = 0;
  private readonly partMd5s: Buffer[] = [];
  private size = 0;
  private result: Digests | undefined;

  constructor(readonly partSize: number) {}

  update(chunk: Buffer): void {
    if (this.result !== undefined) throw new Error('BodyDigest already finished');
    this.whole.update(chunk);
    this.size += chunk.length;
    for (let offset = 0; offset < chunk.length;) {
      const piece = chunk.subarray(offset, offset + (this.partSize - this.partFill));
      this.part.update(piece);
      this.partFill += piece.length;
      offset += piece.length;
      if (this.partFill === this.partSize) this.closePart();
    }
  }

  /** The digests of everything fed so far; no more may be fed afterwards. */
  finish(): Digests {
    if (this.result === undefined) {
      if (this.partFill > 0) this.closePart();
      const md5s = Buffer.concat(this.partMd5s);
      this.result = {
        md5: this.whole.digest('hex'),
        size: this.size,
        multipartEtag: `${createHash('md5').update(md5s).digest('hex')}-${this.partMd5s.length}`,
        parts: this.partMd5s.length,
      };
    }
    return this.result;
  }

  private closePart(): void {
    this.partMd5s.push(this.part.digest());
    this.part = createHash('md5');
    this.partFill = 0;
  }
}

/**
 * Yields `size` bytes of fresh random data in chunks of `chunkBytes`, feeding each chunk to
 * `digest` on the way; nothing is kept.
 */
export function* randomChunks(
  size: number,
  digest: BodyDigest,
  chunkBytes = MiB,
): Generator<Buffer> {
  for (let offset = 0; offset < size; offset += chunkBytes) {
    const chunk = randomBytes(Math.min(chunkBytes, size - offset));
    digest.update(chunk);
    yield chunk;
  }
}

/**
 * Runs `command` with `stdin` piped into it (not held in memory), collecting what it prints.
 * Asynchronous, so a gateway running in this process keeps serving meanwhile.
 */
export function runWithStdin(
  command: string,
  args: readonly string[],
  stdin: Readable,
  env?: NodeJS.ProcessEnv,
): Promise<ProcessOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    // A child that exits early closes its stdin; that shows in its exit code, not here.
    child.stdin.on('error', () => undefined);
    stdin.on('error', (err) => child.stdin.destroy(err));
    stdin.pipe(child.stdin);
  });
}

/** The final response of `curl -i` output (after any `100 Continue`): status, headers, body. */
export function parseCurlResponse(output: string): {
  status: number;
  headers: Record<string, string>;
  body: string;
} {
  let rest = output;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) throw new Error(`no complete HTTP response in curl output:\n${output}`);
    const head = rest.slice(0, end);
    const body = rest.slice(end + 4);
    const [statusLine, ...lines] = head.split('\r\n');
    const status = Number(statusLine.split(' ')[1]);
    if (status === 100) {
      rest = body;
      continue;
    }
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    return { status, headers, body };
  }
}

/**
 * Polls `condition` until it holds. No deadline of its own: the jest timeout bounds the wait, so
 * nothing depends on how fast the machine is.
 */
export async function eventually(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The texts of every `<name>` element, in document order. */
export function xmlBlocks(xml: string, name: string): string[] {
  return [...xml.matchAll(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, 'g'))].map((m) => m[1]);
}

/**
 * Writes `chunk` and waits for the stream to drain when it asks to. A connection that closes
 * instead fails the write, so a test never waits for a drain that cannot come.
 */
export async function writeOrFail(stream: Writable, chunk: Buffer): Promise<void> {
  if (stream.destroyed) throw new Error('the connection closed while the body was being sent');
  if (stream.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const cleanup = () => {
      stream.off('drain', onDrain);
      stream.off('close', onClose);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onClose = () => {
      cleanup();
      reject(new Error('the connection closed while the body was being sent'));
    };
    stream.on('drain', onDrain);
    stream.on('close', onClose);
  });
}
