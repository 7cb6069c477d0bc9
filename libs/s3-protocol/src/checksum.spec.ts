import { createHash, randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { Crc32, Crc32cJs, Crc64NvmeJs } from '@aws-sdk/checksums/crc';
import {
  CHECKSUM_ALGORITHMS,
  checksumBase64,
  checksumDigestLength,
  checksumHeaderName,
  createChecksum,
  crc32c,
  crc32Js,
  decodeChecksumValue,
  parseChecksumAlgorithm,
  type ChecksumAlgorithm,
} from './checksum';

const CHECK_INPUT = Buffer.from('123456789');

/** Deterministic pseudo-random bytes, so failures reproduce. */
function seededBytes(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function digestHex(algorithm: ChecksumAlgorithm, ...parts: Buffer[]): string {
  const checksum = createChecksum(algorithm);
  for (const part of parts) checksum.update(part);
  return checksum.digest().toString('hex');
}

/** The AWS SDK's own implementation of each CRC, as the reference. */
async function sdkCrcHex(algorithm: 'CRC32' | 'CRC32C' | 'CRC64NVME', data: Buffer) {
  const impl =
    algorithm === 'CRC32'
      ? new Crc32()
      : algorithm === 'CRC32C'
        ? new Crc32cJs()
        : new Crc64NvmeJs();
  impl.update(data);
  return Buffer.from(await impl.digest()).toString('hex');
}

describe('checksum', () => {
  describe('known answers for "123456789"', () => {
    // CRC check values from the CRC catalogue (reveng): CRC-32/ISO-HDLC, CRC-32/ISCSI, CRC-64/NVME.
    it.each<[ChecksumAlgorithm, string]>([
      ['CRC32', 'cbf43926'],
      ['CRC32C', 'e3069283'],
      ['CRC64NVME', 'ae8b14860a799888'],
      ['SHA1', 'f7c3bc1d808e04732adf679965ccc34ca7ae3441'],
      ['SHA256', '15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225'],
      ['MD5', '25f9e794323b453885f5181f1b624d0b'],
    ])('%s', (algorithm, hex) => {
      expect(digestHex(algorithm, CHECK_INPUT)).toBe(hex);
    });

    it('SHA512 matches node:crypto', () => {
      expect(digestHex('SHA512', CHECK_INPUT)).toBe(
        createHash('sha512').update(CHECK_INPUT).digest('hex'),
      );
    });

    it('the exported CRC-32 functions', () => {
      expect(crc32Js(0, CHECK_INPUT)).toBe(0xcbf43926);
      expect(crc32c(0, CHECK_INPUT)).toBe(0xe3069283);
    });
  });

  it('has the right digest length, and an empty input gives the CRC initial value', () => {
    for (const algorithm of CHECKSUM_ALGORITHMS) {
      const digest = createChecksum(algorithm).digest();
      expect(digest).toHaveLength(checksumDigestLength(algorithm));
    }
    expect(digestHex('CRC32')).toBe('00000000');
    expect(digestHex('CRC32C')).toBe('00000000');
    expect(digestHex('CRC64NVME')).toBe('0000000000000000');
  });

  it('matches the AWS SDK CRC implementations on many lengths and offsets', async () => {
    // Lengths around the 8-byte stride and odd offsets exercise the unaligned head and tail.
    const pool = seededBytes(70000, 7);
    const cases: Array<[number, number]> = [];
    for (let len = 0; len <= 40; len++) cases.push([len % 5, len]);
    cases.push([1, 1000], [3, 4099], [0, 65536], [2, 69990]);
    for (const [offset, length] of cases) {
      const data = pool.subarray(offset, offset + length);
      for (const algorithm of ['CRC32', 'CRC32C', 'CRC64NVME'] as const) {
        expect([algorithm, offset, length, digestHex(algorithm, data)]).toEqual([
          algorithm,
          offset,
          length,
          await sdkCrcHex(algorithm, data),
        ]);
      }
    }
  });

  it('is independent of how the input is split', () => {
    const data = seededBytes(10000, 42);
    let seed = 1;
    for (const algorithm of CHECKSUM_ALGORITHMS) {
      const whole = digestHex(algorithm, data);
      for (let round = 0; round < 20; round++) {
        const parts: Buffer[] = [];
        let pos = 0;
        while (pos < data.length) {
          seed = (seed * 1103515245 + 12345) >>> 0;
          const n = Math.min(data.length - pos, seed % 97);
          parts.push(data.subarray(pos, pos + n));
          pos += n;
        }
        expect(digestHex(algorithm, ...parts)).toBe(whole);
      }
      expect(digestHex(algorithm, ...[...data].map((b) => Buffer.of(b)))).toBe(whole);
    }
  });

  it('JS CRC-32 agrees with zlib.crc32 where Node has it', () => {
    const native = (zlib as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;
    const data = randomBytes(100003);
    const reference = native ? native(data) : Number.parseInt(digestHex('CRC32', data), 16);
    expect(crc32Js(crc32Js(0, data.subarray(0, 5)), data.subarray(5))).toBe(reference);
  });

  it('digest() is final and repeatable', () => {
    for (const algorithm of CHECKSUM_ALGORITHMS) {
      const checksum = createChecksum(algorithm);
      checksum.update(CHECK_INPUT);
      const first = checksum.digest();
      expect(checksum.digest()).toEqual(first);
      expect(() => checksum.update(CHECK_INPUT)).toThrow();
    }
  });

  it('checksumBase64 gives the wire form', () => {
    expect(checksumBase64('CRC32', CHECK_INPUT)).toBe(
      Buffer.from('cbf43926', 'hex').toString('base64'),
    );
    expect(checksumBase64('SHA256', Buffer.alloc(0))).toBe(
      '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=',
    );
  });

  describe('parseChecksumAlgorithm', () => {
    it.each([
      ['crc32', 'CRC32'],
      ['CRC32', 'CRC32'],
      ['crc32c', 'CRC32C'],
      ['x-amz-checksum-crc32', 'CRC32'],
      ['X-Amz-Checksum-CRC64NVME', 'CRC64NVME'],
      [' sha256 ', 'SHA256'],
      ['sha1', 'SHA1'],
      ['x-amz-checksum-sha512', 'SHA512'],
      ['md5', 'MD5'],
    ])('%j -> %s', (input, expected) => {
      expect(parseChecksumAlgorithm(input)).toBe(expected);
    });

    it.each([
      '',
      'crc',
      'crc16',
      'xxhash64',
      'x-amz-checksum-',
      'x-amz-checksum-xxhash3',
      'sha-256',
    ])('rejects %j', (input) => {
      expect(parseChecksumAlgorithm(input)).toBeUndefined();
    });
  });

  it('checksumHeaderName', () => {
    expect(checksumHeaderName('CRC32')).toBe('x-amz-checksum-crc32');
    expect(checksumHeaderName('CRC64NVME')).toBe('x-amz-checksum-crc64nvme');
    for (const algorithm of CHECKSUM_ALGORITHMS) {
      expect(parseChecksumAlgorithm(checksumHeaderName(algorithm))).toBe(algorithm);
    }
  });

  it('decodeChecksumValue accepts only canonical base64 of the digest length', () => {
    const good = checksumBase64('CRC32C', CHECK_INPUT);
    expect(decodeChecksumValue('CRC32C', good)?.toString('hex')).toBe('e3069283');
    expect(decodeChecksumValue('CRC32C', ` ${good} `)?.toString('hex')).toBe('e3069283');
    expect(decodeChecksumValue('CRC64NVME', good)).toBeUndefined();
    expect(decodeChecksumValue('CRC32C', '4waSgw')).toBeUndefined();
    expect(decodeChecksumValue('CRC32C', '4wa*Sgw==')).toBeUndefined();
    expect(decodeChecksumValue('CRC32C', '')).toBeUndefined();
  });
});
