/**
 * The filesystem backend: objects as plain files under one directory, with S3 semantics.
 * An object appears whole or not at all (temporary file, fsync, rename), its ETag is the MD5 of
 * its bytes as S3 computes it, and its attributes live in a sidecar JSON file. Gateway state
 * lives under `<root>/.mizuchi/`, which no key can reach.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, constants as fsConstants, promises as fs } from 'node:fs';
import { once } from 'node:events';
import * as path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { S3Error, type ObjectAttributes } from '@mizuchi/s3-protocol';
import { Storage, type PutObjectInput, type PutObjectResult, type StorageHealth } from './storage';

/** The gateway's own folder inside a filesystem backend's root. */
export const STATE_DIR = '.mizuchi';

/** The sidecar record kept next to each object. */
export interface StoredAttributes {
  key: string;
  size: number;
  etag: string;
  lastModified: string;
  attributes: ObjectAttributes;
}

/** Hashes bytes as they pass, so the ETag costs no second read. */
class Md5Tap extends Transform {
  private readonly hash = createHash('md5');
  size = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    done(null, chunk);
  }

  digest(): Buffer {
    return this.hash.digest();
  }
}

/** Stores objects as files under `root`. */
export class FilesystemStorage extends Storage {
  readonly description: string;
  private readonly tmpDir: string;
  private readonly metaDir: string;

  constructor(private readonly root: string) {
    super();
    this.root = path.resolve(root);
    this.description = `filesystem:${this.root}`;
    this.tmpDir = path.join(this.root, STATE_DIR, 'tmp');
    this.metaDir = path.join(this.root, STATE_DIR, 'meta');
  }

  /** Creates the root and state folders; safe to call more than once. */
  async init(): Promise<void> {
    await fs.mkdir(this.tmpDir, { recursive: true });
    await fs.mkdir(this.metaDir, { recursive: true });
  }

  /** The file that holds the object stored under `key`. */
  objectPath(key: string): string {
    return path.join(this.root, ...this.segments(key));
  }

  /** The sidecar file that holds the attributes of `key`. */
  metaPath(key: string): string {
    return path.join(this.metaDir, `${createHash('sha256').update(key).digest('hex')}.json`);
  }

  async putObject(input: PutObjectInput): Promise<PutObjectResult> {
    const target = this.objectPath(input.key);
    await this.init();
    const tmp = path.join(this.tmpDir, `${randomBytes(12).toString('hex')}.part`);
    const tap = new Md5Tap();
    let committed = false;
    try {
      // `flush` fsyncs the file before it is closed, so a crash after the rename below can
      // never expose a file whose bytes are not on disk yet.
      const out = createWriteStream(tmp, {
        flags: 'wx',
        mode: 0o644,
        flush: true,
        highWaterMark: 1 << 20,
      });
      await pipeline(input.body, tap, out, { signal: input.signal });
      if (!out.closed) await once(out, 'close');
      if (tap.size !== input.contentLength) {
        throw new S3Error('IncompleteBody');
      }
      const md5 = tap.digest();
      const { contentMd5 } = input.attributes;
      if (contentMd5 !== undefined && !md5.equals(Buffer.from(contentMd5, 'base64'))) {
        throw new S3Error(
          'BadDigest',
          'The Content-MD5 you specified did not match what we received.',
        );
      }
      const etag = `"${md5.toString('hex')}"`;
      const record: StoredAttributes = {
        key: input.key,
        size: tap.size,
        etag,
        lastModified: new Date().toISOString(),
        attributes: input.attributes,
      };
      await this.writeAtomically(this.metaPath(input.key), JSON.stringify(record));
      await this.commit(tmp, target);
      committed = true;
      return { etag, checksum: input.attributes.checksum };
    } finally {
      if (!committed) await fs.rm(tmp, { force: true });
    }
  }

  async health(): Promise<StorageHealth> {
    try {
      await this.init();
      await fs.access(this.tmpDir, fsConstants.W_OK);
      return { up: true };
    } catch (err) {
      return { up: false, detail: (err as NodeJS.ErrnoException).code ?? 'not writable' };
    }
  }

  /** Splits a key into path segments that stay inside the root, or refuses it. */
  private segments(key: string): string[] {
    const parts = key.split('/');
    if (parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\\'))) {
      throw new S3Error(
        'InvalidArgument',
        'The filesystem backend needs keys without empty segments, leading or trailing slashes, or backslashes.',
      );
    }
    if (parts[0] === STATE_DIR) {
      throw new S3Error('InvalidArgument', `Keys may not start with "${STATE_DIR}/".`);
    }
    if (parts.some((p) => Buffer.byteLength(p) > 255)) {
      throw new S3Error('KeyTooLongError', 'A key segment is longer than 255 bytes.');
    }
    return parts;
  }

  private async writeAtomically(file: string, text: string): Promise<void> {
    const tmp = path.join(this.tmpDir, `${randomBytes(12).toString('hex')}.meta`);
    try {
      await fs.writeFile(tmp, text, { flag: 'wx' });
      await fs.rename(tmp, file);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  /** Renames the finished file into place; the rename is the moment the object appears. */
  private async commit(tmp: string, target: string): Promise<void> {
    const dir = path.dirname(target);
    try {
      await fs.mkdir(dir, { recursive: true });
      await fs.rename(tmp, target);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EISDIR' || code === 'ENOTDIR' || code === 'EEXIST' || code === 'ENOTEMPTY') {
        throw new S3Error(
          'InvalidRequest',
          'The filesystem backend cannot store this key: a stored object and this key would share a path (one is a folder of the other).',
          { cause: err },
        );
      }
      throw err;
    }
    const handle = await fs.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}
