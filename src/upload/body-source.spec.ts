import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { S3Error, Sha256Verifier } from '@mizuchi/s3-protocol';
import { BodyGate } from './body-source';

function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function bytes(length: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

function split(data: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += size) {
    chunks.push(data.subarray(offset, offset + size));
  }
  return chunks;
}

/** A downstream that records what reached it and whether the body ever completed. */
class Recorder extends Writable {
  readonly chunks: Buffer[] = [];
  completed = false;

  constructor() {
    super({
      write: (chunk: Buffer, _enc, done) => {
        this.chunks.push(chunk);
        done();
      },
      final: (done) => {
        this.completed = true;
        done();
      },
    });
  }

  get received(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

async function run(chunks: Buffer[], ...stages: Transform[]) {
  const sink = new Recorder();
  let error: unknown;
  try {
    await pipeline([Readable.from(chunks), ...stages, sink]);
  } catch (err) {
    error = err;
  }
  return { sink, error };
}

function writeAndWait(stream: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) =>
    stream.write(chunk, (err) => (err ? reject(err) : resolve())),
  );
}

describe('BodyGate', () => {
  describe('with a declared length', () => {
    it('forwards exactly the declared bytes, in order', async () => {
      const body = bytes(10_000);
      const { sink, error } = await run(split(body, 777), new BodyGate(body.length));
      expect(error).toBeUndefined();
      expect(sink.completed).toBe(true);
      expect(sink.received.equals(body)).toBe(true);
    });

    it('forwards a body that arrives as a single chunk', async () => {
      const body = bytes(4096);
      const { sink, error } = await run([body], new BodyGate(body.length));
      expect(error).toBeUndefined();
      expect(sink.received.equals(body)).toBe(true);
    });

    it('forwards an empty body declared as empty', async () => {
      const { sink, error } = await run([], new BodyGate(0));
      expect(error).toBeUndefined();
      expect(sink.completed).toBe(true);
      expect(sink.received).toHaveLength(0);
    });

    it('holds back the last chunk until the input ends', async () => {
      const body = bytes(1000);
      const chunks = split(body, 300);
      const gate = new BodyGate(body.length);
      let forwarded = 0;
      gate.on('data', (chunk: Buffer) => {
        forwarded += chunk.length;
      });
      for (const chunk of chunks) await writeAndWait(gate, chunk);
      await flush();
      // Every declared byte has arrived, yet the downstream still lacks the last chunk.
      expect(forwarded).toBeLessThan(body.length);
      expect(forwarded).toBe(body.length - chunks[chunks.length - 1].length);
      const ended = once(gate, 'end');
      gate.end();
      await ended;
      expect(forwarded).toBe(body.length);
    });

    it('refuses a short body with IncompleteBody, and the downstream never completes', async () => {
      const body = bytes(1000);
      const { sink, error } = await run(split(body.subarray(0, 999), 100), new BodyGate(1000));
      expect(error).toBeInstanceOf(S3Error);
      expect((error as S3Error).code).toBe('IncompleteBody');
      expect((error as S3Error).status).toBe(400);
      expect(sink.completed).toBe(false);
      expect(sink.received.length).toBeLessThan(999);
    });

    it('refuses a body that is empty although a length was declared', async () => {
      const { sink, error } = await run([], new BodyGate(10));
      expect((error as S3Error).code).toBe('IncompleteBody');
      expect(sink.completed).toBe(false);
    });

    it('refuses a long body with a client error, and never forwards more than declared', async () => {
      const body = bytes(1001);
      const { sink, error } = await run(split(body, 100), new BodyGate(1000));
      expect(error).toBeInstanceOf(S3Error);
      expect((error as S3Error).status).toBe(400);
      expect(sink.completed).toBe(false);
      expect(sink.received.length).toBeLessThan(1000);
    });

    it('refuses a single chunk that is longer than declared, forwarding nothing', async () => {
      const { sink, error } = await run([bytes(11)], new BodyGate(10));
      expect(error).toBeInstanceOf(S3Error);
      expect(sink.received).toHaveLength(0);
    });
  });

  describe('with an unknown length', () => {
    it('forwards any body when no maximum is set', async () => {
      const body = bytes(50_000);
      const { sink, error } = await run(split(body, 4096), new BodyGate(undefined));
      expect(error).toBeUndefined();
      expect(sink.received.equals(body)).toBe(true);
    });

    it('forwards a body of exactly the maximum', async () => {
      const body = bytes(1000);
      const { sink, error } = await run(split(body, 128), new BodyGate(undefined, 1000));
      expect(error).toBeUndefined();
      expect(sink.received.equals(body)).toBe(true);
    });

    it('refuses a body above the maximum with EntityTooLarge, and never completes it', async () => {
      const { sink, error } = await run(split(bytes(1001), 128), new BodyGate(undefined, 1000));
      expect(error).toBeInstanceOf(S3Error);
      expect((error as S3Error).code).toBe('EntityTooLarge');
      expect((error as S3Error).status).toBe(413);
      expect(sink.completed).toBe(false);
      expect(sink.received.length).toBeLessThanOrEqual(1000);
    });
  });

  describe('behind a verifier', () => {
    it('keeps the end of a body that fails its SHA-256 check from the downstream', async () => {
      const body = bytes(5000);
      const wrong = createHash('sha256').update('something else').digest('hex');
      const { sink, error } = await run(
        split(body, 512),
        new Sha256Verifier(wrong),
        new BodyGate(body.length),
      );
      expect((error as S3Error).code).toBe('XAmzContentSHA256Mismatch');
      expect(sink.completed).toBe(false);
      expect(sink.received.length).toBeLessThan(body.length);
    });

    it('lets a body that passes its SHA-256 check through whole', async () => {
      const body = bytes(5000);
      const right = createHash('sha256').update(body).digest('hex');
      const { sink, error } = await run(
        split(body, 512),
        new Sha256Verifier(right),
        new BodyGate(body.length),
      );
      expect(error).toBeUndefined();
      expect(sink.completed).toBe(true);
      expect(sink.received.equals(body)).toBe(true);
    });
  });
});
