/**
 * The filesystem backend: objects as plain files under one directory, with S3 semantics.
 * An object appears whole or not at all (temporary file, fsync, rename), its ETag is the MD5 of
 * its bytes as S3 computes it, and its attributes live in a sidecar JSON file. Gateway state
 * lives under `<root>/.mizuchi/`, which no key can reach.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  constants as fsConstants,
  promises as fs,
} from 'node:fs';
import { once } from 'node:events';
import * as path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  S3Error,
  normalizeEtag,
  type ChecksumAlgorithmName,
  type ObjectAttributes,
  type StoredObjectHeaders,
} from '@mizuchi/s3-protocol';
import {
  Storage,
  type BodyInput,
  type CompleteMultipartInput,
  type CreateMultipartInput,
  type ListPartsInput,
  type ListPartsResult,
  type MultipartUploadSummary,
  type PutObjectInput,
  type PutObjectResult,
  type StorageHealth,
  type UploadPartInput,
  type UploadPartResult,
} from './storage';

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

/** What the staging folder of a multipart upload records about it. */
interface UploadRecord {
  key: string;
  initiated: string;
  attributes: ObjectAttributes;
}

/** What is recorded about each stored part. */
interface PartRecord {
  partNumber: number;
  etag: string;
  size: number;
  lastModified: string;
  checksum?: { algorithm: ChecksumAlgorithmName; value: string };
}

/** S3's minimum size for every part but the last. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;

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
  private readonly uploadsDir: string;

  constructor(private readonly root: string) {
    super();
    this.root = path.resolve(root);
    this.description = `filesystem:${this.root}`;
    this.tmpDir = path.join(this.root, STATE_DIR, 'tmp');
    this.metaDir = path.join(this.root, STATE_DIR, 'meta');
    this.uploadsDir = path.join(this.root, STATE_DIR, 'multipart');
  }

  /** Creates the root and state folders; safe to call more than once. */
  async init(): Promise<void> {
    await fs.mkdir(this.tmpDir, { recursive: true });
    await fs.mkdir(this.metaDir, { recursive: true });
    await fs.mkdir(this.uploadsDir, { recursive: true });
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
    const received = await this.receive(input, input.attributes.contentMd5);
    try {
      const etag = `"${received.md5.toString('hex')}"`;
      await this.commitObject(received.file, target, {
        key: input.key,
        size: received.size,
        etag,
        lastModified: new Date().toISOString(),
        attributes: input.attributes,
      });
      return { etag, checksum: input.attributes.checksum };
    } finally {
      await fs.rm(received.file, { force: true });
    }
  }

  async createMultipart(input: CreateMultipartInput): Promise<string> {
    this.segments(input.key);
    const uploadId = randomBytes(16).toString('hex');
    const dir = this.uploadDir(uploadId);
    await fs.mkdir(dir, { recursive: true });
    const record: UploadRecord = {
      key: input.key,
      initiated: new Date().toISOString(),
      attributes: input.attributes,
    };
    await fs.writeFile(path.join(dir, 'upload.json'), JSON.stringify(record));
    return uploadId;
  }

  async uploadPart(input: UploadPartInput): Promise<UploadPartResult> {
    const dir = await this.openUpload(input.key, input.uploadId);
    const received = await this.receive(input, input.contentMd5);
    try {
      const etag = `"${received.md5.toString('hex')}"`;
      const part: PartRecord = {
        partNumber: input.partNumber,
        etag,
        size: received.size,
        lastModified: new Date().toISOString(),
        checksum: input.checksum,
      };
      // Data first, then its record: a record always describes bytes that are in place.
      await fs.rename(received.file, path.join(dir, `${input.partNumber}.part`));
      await this.writeAtomically(path.join(dir, `${input.partNumber}.json`), JSON.stringify(part));
      return { etag, checksum: input.checksum };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new S3Error('NoSuchUpload');
      throw err;
    } finally {
      await fs.rm(received.file, { force: true });
    }
  }

  async complete(input: CompleteMultipartInput): Promise<StoredObjectHeaders> {
    const dir = await this.openUpload(input.key, input.uploadId);
    // Renaming the staging folder claims the upload, so two concurrent Completes cannot both
    // assemble it: the loser finds no upload.
    const claimed = `${dir}.completing-${randomBytes(4).toString('hex')}`;
    try {
      await fs.rename(dir, claimed);
    } catch {
      throw new S3Error('NoSuchUpload');
    }
    let done = false;
    try {
      const upload = JSON.parse(
        await fs.readFile(path.join(claimed, 'upload.json'), 'utf8'),
      ) as UploadRecord;
      const parts = await this.readParts(claimed);
      const chosen = input.parts.map((requested, index) => {
        const stored = parts.get(requested.partNumber);
        if (stored === undefined || normalizeEtag(stored.etag) !== normalizeEtag(requested.etag)) {
          throw new S3Error(
            'InvalidPart',
            `Part ${requested.partNumber} was not uploaded with the ETag given.`,
          );
        }
        if (index < input.parts.length - 1 && stored.size < MIN_PART_BYTES) {
          throw new S3Error(
            'EntityTooSmall',
            `Part ${requested.partNumber} is smaller than the 5 MiB minimum for all parts but the last.`,
          );
        }
        return stored;
      });
      const tmp = path.join(this.tmpDir, `${randomBytes(12).toString('hex')}.assemble`);
      try {
        const out = createWriteStream(tmp, {
          flags: 'wx',
          mode: 0o644,
          flush: true,
          highWaterMark: 1 << 20,
        });
        await pipeline(
          (async function* () {
            for (const part of chosen) {
              yield* createReadStream(path.join(claimed, `${part.partNumber}.part`), {
                highWaterMark: 1 << 20,
              });
            }
          })(),
          out,
        );
        if (!out.closed) await once(out, 'close');
        const md5s = Buffer.concat(chosen.map((p) => Buffer.from(normalizeEtag(p.etag), 'hex')));
        const etag = `"${createHash('md5').update(md5s).digest('hex')}-${chosen.length}"`;
        await this.commitObject(tmp, this.objectPath(input.key), {
          key: input.key,
          size: chosen.reduce((sum, p) => sum + p.size, 0),
          etag,
          lastModified: new Date().toISOString(),
          attributes: upload.attributes,
        });
        done = true;
        return { etag };
      } finally {
        await fs.rm(tmp, { force: true });
      }
    } finally {
      // A failed Complete gives the upload back so the client can fix its part list and retry.
      if (done) await fs.rm(claimed, { recursive: true, force: true });
      else await fs.rename(claimed, dir).catch(() => undefined);
    }
  }

  async abort(key: string, uploadId: string): Promise<void> {
    const dir = await this.openUpload(key, uploadId);
    await fs.rm(dir, { recursive: true, force: true });
  }

  async listParts(input: ListPartsInput): Promise<ListPartsResult> {
    const dir = await this.openUpload(input.key, input.uploadId);
    const all = [...(await this.readParts(dir)).values()]
      .filter((p) => p.partNumber > input.partNumberMarker)
      .sort((a, b) => a.partNumber - b.partNumber);
    const page = all.slice(0, input.maxParts);
    const isTruncated = all.length > page.length;
    return {
      parts: page.map((p) => ({
        partNumber: p.partNumber,
        etag: p.etag,
        size: p.size,
        lastModified: new Date(p.lastModified),
        checksums:
          p.checksum !== undefined ? { [p.checksum.algorithm]: p.checksum.value } : undefined,
      })),
      isTruncated,
      nextPartNumberMarker: isTruncated ? page[page.length - 1]?.partNumber : undefined,
    };
  }

  async listMultipartUploads(): Promise<MultipartUploadSummary[]> {
    await this.init();
    const uploads: MultipartUploadSummary[] = [];
    for (const entry of await fs.readdir(this.uploadsDir)) {
      if (!/^[0-9a-f]{32}$/.test(entry)) continue;
      try {
        const record = JSON.parse(
          await fs.readFile(path.join(this.uploadsDir, entry, 'upload.json'), 'utf8'),
        ) as UploadRecord;
        uploads.push({ key: record.key, uploadId: entry, initiated: new Date(record.initiated) });
      } catch {
        // Completed or aborted while we looked.
      }
    }
    return uploads;
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

  private uploadDir(uploadId: string): string {
    return path.join(this.uploadsDir, uploadId);
  }

  /** The staging folder of an upload that exists and belongs to `key`, or NoSuchUpload. */
  private async openUpload(key: string, uploadId: string): Promise<string> {
    if (!/^[0-9a-f]{32}$/.test(uploadId)) throw new S3Error('NoSuchUpload');
    const dir = this.uploadDir(uploadId);
    try {
      const record = JSON.parse(
        await fs.readFile(path.join(dir, 'upload.json'), 'utf8'),
      ) as UploadRecord;
      if (record.key !== key) throw new S3Error('NoSuchUpload');
    } catch (err) {
      if (err instanceof S3Error) throw err;
      throw new S3Error('NoSuchUpload', undefined, { cause: err });
    }
    return dir;
  }

  private async readParts(dir: string): Promise<Map<number, PartRecord>> {
    const parts = new Map<number, PartRecord>();
    for (const entry of await fs.readdir(dir)) {
      if (!/^\d+\.json$/.test(entry)) continue;
      const part = JSON.parse(await fs.readFile(path.join(dir, entry), 'utf8')) as PartRecord;
      parts.set(part.partNumber, part);
    }
    return parts;
  }

  /**
   * Writes a body to a new temporary file, hashing it on the way. The caller owns the file
   * afterwards; on failure it is already gone.
   */
  private async receive(
    input: BodyInput,
    contentMd5: string | undefined,
  ): Promise<{ file: string; md5: Buffer; size: number }> {
    await this.init();
    const file = path.join(this.tmpDir, `${randomBytes(12).toString('hex')}.part`);
    const tap = new Md5Tap();
    try {
      // `flush` fsyncs the file before it is closed, so a crash after a later rename can never
      // expose a file whose bytes are not on disk yet.
      const out = createWriteStream(file, {
        flags: 'wx',
        mode: 0o644,
        flush: true,
        highWaterMark: 1 << 20,
      });
      await pipeline(input.body, tap, out, { signal: input.signal });
      if (!out.closed) await once(out, 'close');
      if (tap.size !== input.contentLength) throw new S3Error('IncompleteBody');
      const md5 = tap.digest();
      if (contentMd5 !== undefined && !md5.equals(Buffer.from(contentMd5, 'base64'))) {
        throw new S3Error(
          'BadDigest',
          'The Content-MD5 you specified did not match what we received.',
        );
      }
      return { file, md5, size: tap.size };
    } catch (err) {
      await fs.rm(file, { force: true });
      throw err;
    }
  }

  /** Writes the sidecar, then renames the finished file into place: the object appears. */
  /**
   * Puts an object and its sidecar in place. The sidecar is staged first and renamed only after
   * the object's rename succeeded, so a refused or failed commit leaves neither behind, and an
   * existing object never gets the record of bytes that were not stored.
   */
  private async commitObject(
    file: string,
    target: string,
    record: StoredAttributes,
  ): Promise<void> {
    const staged = path.join(this.tmpDir, `${randomBytes(12).toString('hex')}.meta`);
    try {
      await fs.writeFile(staged, JSON.stringify(record), { flag: 'wx' });
      await this.commit(file, target);
      await fs.rename(staged, this.metaPath(record.key));
    } finally {
      await fs.rm(staged, { force: true });
    }
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
