import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { S3Error, type StoredObjectHeaders } from '@mizuchi/s3-protocol';
import {
  Storage,
  type CompleteMultipartInput,
  type ListPartsResult,
  type MultipartUploadSummary,
  type PutObjectResult,
  type StorageHealth,
  type UploadPartInput,
  type UploadPartResult,
} from '../storage/storage';
import { Budget, uploadInParts } from './auto-multipart';

const MiB = 1024 * 1024;

/** A storage that records calls and fails the attempts a test scripts. */
class ScriptedStorage extends Storage {
  readonly description = 'scripted';
  readonly attempts = new Map<number, number>();
  readonly stored = new Map<number, Buffer>();
  completed: CompleteMultipartInput | undefined;
  aborted = 0;

  constructor(
    private readonly failures: (part: number, attempt: number) => Error | undefined,
    private readonly abortFailures = 0,
  ) {
    super();
  }

  putObject(): Promise<PutObjectResult> {
    return Promise.reject(new Error('a known-length body above the threshold must go multipart'));
  }

  createMultipart(): Promise<string> {
    return Promise.resolve('upload-1');
  }

  async uploadPart(input: UploadPartInput): Promise<UploadPartResult> {
    const attempt = (this.attempts.get(input.partNumber) ?? 0) + 1;
    this.attempts.set(input.partNumber, attempt);
    const chunks: Buffer[] = [];
    for await (const chunk of input.body) chunks.push(chunk as Buffer);
    const failure = this.failures(input.partNumber, attempt);
    if (failure !== undefined) throw failure;
    const data = Buffer.concat(chunks);
    expect(data.length).toBe(input.contentLength);
    this.stored.set(input.partNumber, data);
    return { etag: `"${createHash('md5').update(data).digest('hex')}"` };
  }

  complete(input: CompleteMultipartInput): Promise<StoredObjectHeaders> {
    this.completed = input;
    return Promise.resolve({ etag: '"done-2"' });
  }

  abort(): Promise<void> {
    this.aborted += 1;
    return this.aborted <= this.abortFailures
      ? Promise.reject(new S3Error('ServiceUnavailable'))
      : Promise.resolve();
  }

  listParts(): Promise<ListPartsResult> {
    return Promise.resolve({ parts: [], isTruncated: false });
  }

  listMultipartUploads(): Promise<MultipartUploadSummary[]> {
    return Promise.resolve([]);
  }

  health(): Promise<StorageHealth> {
    return Promise.resolve({ up: true });
  }
}

function upload(storage: Storage, body: Buffer) {
  return uploadInParts(
    storage,
    'k',
    { metadata: {}, optional: {} },
    Readable.from([body.subarray(0, 3 * MiB), body.subarray(3 * MiB)]),
    body.length,
    new AbortController().signal,
    { partSize: 5 * MiB, concurrentParts: 2, maxAttempts: 3, buffers: new Budget(64 * MiB) },
  );
}

describe('auto-multipart part retries', () => {
  const body = Buffer.alloc(7 * MiB, 7);

  it('sends a part again after a backend 5xx and completes with every part', async () => {
    const storage = new ScriptedStorage((part, attempt) =>
      part === 2 && attempt === 1 ? new S3Error('BadGateway') : undefined,
    );
    await expect(upload(storage, body)).resolves.toEqual({ etag: '"done-2"' });
    expect(storage.attempts.get(2)).toBe(2);
    expect(Buffer.concat([storage.stored.get(1)!, storage.stored.get(2)!]).equals(body)).toBe(true);
    expect(storage.completed?.parts.map((p) => p.partNumber)).toEqual([1, 2]);
    expect(storage.aborted).toBe(0);
  });

  it('gives up after maxAttempts and aborts the backend upload', async () => {
    const storage = new ScriptedStorage((part) =>
      part === 1 ? new S3Error('SlowDown') : undefined,
    );
    await expect(upload(storage, body)).rejects.toMatchObject({ code: 'SlowDown' });
    expect(storage.attempts.get(1)).toBe(3);
    expect(storage.completed).toBeUndefined();
    expect(storage.aborted).toBe(1);
  });

  it('never retries a client error, and aborts at once', async () => {
    const storage = new ScriptedStorage((part) =>
      part === 1 ? new S3Error('BadDigest') : undefined,
    );
    await expect(upload(storage, body)).rejects.toMatchObject({ code: 'BadDigest' });
    expect(storage.attempts.get(1)).toBe(1);
    expect(storage.aborted).toBe(1);
  });

  it('keeps trying to abort through a short backend outage, so the upload is not left behind', async () => {
    // The parts fail because the backend is gone; so do the first aborts, until it is back.
    const storage = new ScriptedStorage(
      (part) => (part === 1 ? new S3Error('ServiceUnavailable') : undefined),
      3,
    );
    await expect(upload(storage, body)).rejects.toMatchObject({ code: 'ServiceUnavailable' });
    expect(storage.aborted).toBe(4);
  });
});
