/**
 * Reads back what the filesystem backend stored, straight from disk and bypassing the gateway:
 * the object file under `<root>/<key>`, its sidecar under `<root>/.mizuchi/meta/`, and any
 * temporary files left under `<root>/.mizuchi/tmp/`.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { join, relative, sep } from 'node:path';

/** The sidecar record the backend keeps per object (the fields tests look at). */
export interface Sidecar {
  key: string;
  size: number;
  etag: string;
  attributes: {
    contentType?: string;
    contentEncoding?: string;
    metadata: Record<string, string>;
    checksum?: { algorithm: string; value: string };
  };
}

/** An object as found on disk. */
export interface StoredFile {
  md5: string;
  size: number;
  sidecar: Sidecar;
}

/** The path of the object file for `key`. */
export function objectFile(root: string, key: string): string {
  return join(root, ...key.split('/'));
}

/** The path of the sidecar that holds the attributes of `key`. */
export function sidecarFile(root: string, key: string): string {
  return join(root, '.mizuchi', 'meta', `${createHash('sha256').update(key).digest('hex')}.json`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await fs.stat(path);
    return true;
  } catch (err) {
    // ENOTDIR: a parent of the path is a file, so the path cannot exist either.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw err;
  }
}

/** True when neither the object file nor its sidecar exists. */
export async function nothingStored(root: string, key: string): Promise<boolean> {
  // A folder at the object's path holds other keys; only a regular file would be this object.
  return !(await isFile(objectFile(root, key))) && !(await exists(sidecarFile(root, key)));
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await fs.stat(path)).isFile();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw err;
  }
}

/**
 * Hashes the stored object file and reads its sidecar; undefined when the object file does not
 * exist. A file without a sidecar is an error, as the backend always writes both.
 */
export async function storedFile(root: string, key: string): Promise<StoredFile | undefined> {
  const file = objectFile(root, key);
  if (!(await exists(file))) return undefined;
  const hash = createHash('md5');
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    const bytes = chunk as Buffer;
    hash.update(bytes);
    size += bytes.length;
  }
  const sidecar = JSON.parse(await fs.readFile(sidecarFile(root, key), 'utf8')) as Sidecar;
  return { md5: hash.digest('hex'), size, sidecar };
}

/** Names of the files in the backend's temporary folder (empty when it does not exist). */
export async function tempFiles(root: string): Promise<string[]> {
  try {
    return await fs.readdir(join(root, '.mizuchi', 'tmp'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Every object key stored under `root` (files outside the `.mizuchi` state folder), sorted. */
export async function storedKeys(root: string): Promise<string[]> {
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .filter((key) => !key.startsWith('.mizuchi/'))
    .sort();
}
