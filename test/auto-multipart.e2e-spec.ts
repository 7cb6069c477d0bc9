/**
 * Auto-multipart (DESIGN.md §3): a PutObject above the route's `multipart_threshold`, or of
 * unknown length, becomes a backend multipart upload; the client sees one PutObject whose ETag is
 * the multipart ETag; a failure or a client that goes away leaves neither an object nor a
 * multipart upload behind. Every case runs against the Ceph RADOS Gateway and the filesystem
 * backend, and reads back what landed there directly.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checksumBase64 } from '@mizuchi/s3-protocol';
import { encodeAwsChunked } from '@mizuchi/s3-protocol/aws-chunked.testing';
import { InFlightUploads } from '../src/upload/in-flight-uploads';
import { closeDirectS3, createTestBucket, destroyTestBucket } from './helpers/ceph';
import { cephRoute, createTestApp, filesystemRoute, type TestApp } from './helpers/create-test-app';
import {
  BodyDigest,
  type BackendView,
  MiB,
  cephView,
  eventually,
  filesystemView,
  md5Hex,
  parseCurlResponse,
  randomChunks,
  runWithStdin,
  writeOrFail,
  xmlField,
} from './helpers/landing';
import { describeOutcome, runProcess } from './helpers/processes';

/** The settings of the "small" routes: auto-multipart from 8 MiB on, in parts of 5 MiB. */
const SMALL = { multipart_threshold: '8MiB', part_size: '5MiB' };
const SMALL_PART = 5 * MiB;
/** The defaults: threshold 50 MiB, parts of 16 MiB. */
const DEFAULT_PART = 16 * MiB;

const BACKENDS = [
  { name: 'the Ceph RADOS Gateway', prefix: 'am-ceph', small: 'am-ceph-small' },
  { name: 'the filesystem backend', prefix: 'am-fs', small: 'am-fs-small' },
];

let gw: TestApp;
let bucket: string;
let workDir: string;
const fsRoots: string[] = [];
const views: Record<string, BackendView> = {};

beforeAll(async () => {
  bucket = await createTestBucket('auto-multipart');
  workDir = mkdtempSync(join(tmpdir(), 'mizuchi-auto-multipart-'));
  // Each filesystem route stores into its own folder.
  fsRoots.push(mkdtempSync(join(tmpdir(), 'mizuchi-auto-multipart-fs-')));
  fsRoots.push(mkdtempSync(join(tmpdir(), 'mizuchi-auto-multipart-fs-small-')));
  gw = await createTestApp({
    buckets: [
      cephRoute('am-ceph', bucket),
      cephRoute('am-ceph-small', bucket, { upload: SMALL }),
      filesystemRoute('am-fs', fsRoots[0]),
      { ...filesystemRoute('am-fs-small', fsRoots[1]), upload: SMALL },
    ],
  });
  for (const route of gw.config.buckets) {
    const prefix = route.path_prefix.slice(1);
    if (route.filesystem !== undefined) {
      views[prefix] = filesystemView(route.filesystem.path);
    } else {
      views[prefix] = cephView(bucket);
    }
  }
});

afterAll(async () => {
  await gw?.close();
  for (const root of fsRoots) rmSync(root, { recursive: true, force: true });
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  // Memstore Ceph holds objects in RAM: the bucket goes, with everything in it.
  if (bucket !== undefined) await destroyTestBucket(bucket);
  closeDirectS3();
});

/** Waits until no upload is running in the gateway any more (its clean-up included). */
async function idle(): Promise<void> {
  const inFlight = gw.app.get(InFlightUploads);
  await eventually(() => inFlight.size === 0);
}

/** `curl -sS -i` with `args`, reading its stdin from `stdin` when given; the final response. */
async function curl(args: string[], stdin?: Readable) {
  const all = ['-sS', '-i', ...args];
  const outcome =
    stdin === undefined ? await runProcess('curl', all) : await runWithStdin('curl', all, stdin);
  if (outcome.code !== 0) throw new Error(describeOutcome(['curl', ...all].join(' '), outcome));
  return parseCurlResponse(outcome.stdout);
}

/** Reads a response to its end. */
async function readResponse(res: IncomingMessage): Promise<{ status: number; text: string }> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return { status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') };
}

describe.each(BACKENDS)('auto-multipart into $name', ({ prefix, small }) => {
  /** The backend behind the route with the default settings. */
  const view = () => views[prefix];
  /** The backend behind the route with the small threshold and part size (its own folder). */
  const smallView = () => views[small];

  it('stores a 200 MiB single PUT from curl in parts of 16 MiB (the defaults), byte for byte', async () => {
    const key = 'curl/two-hundred.bin';
    const file = join(workDir, `${prefix}-200.bin`);
    const digest = new BodyDigest(DEFAULT_PART);
    await pipeline(Readable.from(randomChunks(200 * MiB, digest)), createWriteStream(file));
    const sent = digest.finish();

    const res = await curl(['-T', file, `${gw.url}/${prefix}/${key}`]);
    rmSync(file);

    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: '' });
    // 200 MiB is above the default 50 MiB threshold: 13 parts of 16 MiB, and the client sees
    // the multipart ETag.
    expect(sent.multipartEtag).toMatch(/-13$/);
    expect(res.headers.etag).toBe(`"${sent.multipartEtag}"`);
    expect(await view().stored(key)).toEqual({
      md5: sent.md5,
      size: 200 * MiB,
      etag: sent.multipartEtag,
    });
    expect(await view().pendingUploads()).toEqual([]);
  }, 300_000);

  it('stores a chunked PUT of unknown length (`curl -T -` from a pipe, ~70 MiB), byte for byte', async () => {
    const key = 'curl/chunked-70.bin';
    const size = 70 * MiB + 123;
    const digest = new BodyDigest(SMALL_PART);

    const res = await curl(
      ['-T', '-', `${gw.url}/${small}/${key}`],
      Readable.from(randomChunks(size, digest, 256 * 1024)),
    );
    const sent = digest.finish();

    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: '' });
    expect(sent.parts).toBe(15);
    expect(res.headers.etag).toBe(`"${sent.multipartEtag}"`);
    expect(await smallView().stored(key)).toEqual({
      md5: sent.md5,
      size,
      etag: sent.multipartEtag,
    });
    expect(await smallView().pendingUploads()).toEqual([]);
  }, 300_000);

  it('stores a chunked PUT of a few bytes as a plain PutObject', async () => {
    const key = 'curl/chunked-tiny.txt';
    const body = Buffer.from('just a few bytes\n');

    const res = await curl(['-T', '-', `${gw.url}/${small}/${key}`], Readable.from([body]));

    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: '' });
    // A plain object's ETag is its MD5, without a part count.
    expect(res.headers.etag).toBe(`"${md5Hex(body)}"`);
    expect(await smallView().stored(key)).toEqual({
      md5: md5Hex(body),
      size: body.length,
      etag: md5Hex(body),
    });
    expect(await smallView().pendingUploads()).toEqual([]);
  });

  it('leaves neither an object nor a multipart upload when the client goes away halfway', async () => {
    const key = 'cut/half.bin';
    const url = new URL(gw.url);
    const socket = connect(Number(url.port), url.hostname);
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    socket.write(
      `PUT /${prefix}/${key} HTTP/1.1\r\nHost: ${url.host}\r\n` +
        `Content-Type: application/octet-stream\r\nContent-Length: ${200 * MiB}\r\n\r\n`,
    );
    for (const chunk of randomChunks(100 * MiB, new BodyDigest(DEFAULT_PART))) {
      await writeOrFail(socket, chunk);
    }
    // The body is above the default threshold: the backend upload has begun.
    await eventually(async () => (await view().pendingUploads()).length > 0);

    socket.destroy();
    await idle();

    expect(await view().pendingUploads()).toEqual([]);
    expect(await view().stored(key)).toBeUndefined();
  }, 300_000);

  it('answers 400 BadDigest to a chunked aws-chunked body whose trailer checksum is wrong, leaving nothing', async () => {
    const key = 'trailer/bad-digest.bin';
    const data = randomBytes(12 * MiB);
    const wrong = checksumBase64('CRC32', Buffer.from('some other bytes'));
    expect(wrong).not.toBe(checksumBase64('CRC32', data));
    const encoded = encodeAwsChunked(data, { trailerChecksum: 'CRC32', trailerValue: wrong });
    const tail = Buffer.from(`0\r\nx-amz-checksum-crc32:${wrong}\r\n\r\n`, 'latin1');
    expect(encoded.subarray(encoded.length - tail.length).equals(tail)).toBe(true);

    // No Content-Length: the aws-chunked body itself travels with Transfer-Encoding: chunked.
    const req = httpRequest(`${gw.url}/${small}/${key}`, {
      method: 'PUT',
      agent: false,
      headers: {
        'content-encoding': 'aws-chunked',
        'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        'x-amz-decoded-content-length': String(data.length),
        'x-amz-trailer': 'x-amz-checksum-crc32',
        'content-type': 'application/octet-stream',
      },
    });
    const response = once(req, 'response') as Promise<[IncomingMessage]>;
    req.on('error', () => undefined);
    const head = encoded.subarray(0, encoded.length - tail.length);
    for (let offset = 0; offset < head.length; offset += MiB) {
      await writeOrFail(req, head.subarray(offset, offset + MiB));
    }
    // 12 MiB is above the route's 8 MiB threshold: the backend upload begins before the trailer
    // has arrived, so the gateway must abort it when the trailer does not match.
    await eventually(async () => (await smallView().pendingUploads()).length > 0);
    req.end(tail);

    const [res] = await response;
    const reply = await readResponse(res);
    expect({ status: reply.status, code: xmlField(reply.text, 'Code') }).toEqual({
      status: 400,
      code: 'BadDigest',
    });
    await idle();
    expect(await smallView().pendingUploads()).toEqual([]);
    expect(await smallView().stored(key)).toBeUndefined();
  }, 300_000);
});
