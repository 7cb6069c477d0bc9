/**
 * Property tests of key decoding and validation: hostile paths (traversal in every spelling,
 * control characters, bad escapes, oversize keys) only ever end in a 400 S3Error, and a key that
 * passes can never climb out of the folder a filesystem backend would put it in.
 */
import { posix } from 'node:path';
import * as fc from 'fast-check';
import { fuzz, thrownBy } from '../../testing/fuzz';
import { S3Error } from './errors';
import { MAX_KEY_BYTES, decodeKey, validateKey } from './object-key';

const VALIDATION_CODES = ['InvalidRequest', 'KeyTooLongError', 'InvalidArgument'];

/** Percent-encodes every UTF-8 byte of `ch`, in upper or lower case hex. */
function percentEncode(ch: string, lower: boolean): string {
  const hex = [...Buffer.from(ch, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`);
  return lower ? hex.join('') : hex.join('').toUpperCase();
}

/** Traversal material in the spellings attackers use: plain, encoded, double-encoded, Windows. */
const TRAVERSAL_TOKENS = [
  '..',
  '.',
  '/',
  '//',
  '%2e%2e',
  '%2E%2E',
  '.%2e',
  '%2e.',
  '%2f',
  '%2F',
  '..%2f',
  '%2e%2e%2f',
  '%252e%252e',
  '%252f',
  '%c0%ae',
  '%c0%af',
  '\\',
  '%5c',
  '..\\',
  '%00',
  '%0a',
  '%0d',
  '%',
  '%%',
  'a',
  'etc',
  'passwd',
  '~',
  ' ',
  '.hidden',
  '...',
];

const rawTraversalKey = fc
  .array(fc.constantFrom(...TRAVERSAL_TOKENS), { minLength: 1, maxLength: 12 })
  .map((tokens) => tokens.join(''));

const oneChar = fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 1 });

/** Any text, including controls, lone surrogates and percent signs. */
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'binary-ascii', maxLength: 80 }),
  fc.string({
    unit: fc.oneof(fc.constantFrom('%', '%2', '%e', '%C3', '%ff', '\ud800', '\udc00'), oneChar),
    maxLength: 40,
  }),
);

function expectS3ErrorOrNothing(thrown: unknown, codes: readonly string[]): void {
  if (thrown === undefined) return;
  expect(thrown).toBeInstanceOf(S3Error);
  const err = thrown as S3Error;
  expect(codes).toContain(err.code);
  expect(err.status).toBe(400);
}

/** What every accepted key must satisfy, whatever the input was. */
function expectSafeKey(key: string, maxBytes: number): void {
  expect(key.length).toBeGreaterThan(0);
  expect(Buffer.byteLength(key, 'utf8')).toBeLessThanOrEqual(Math.min(maxBytes, MAX_KEY_BYTES));
  // eslint-disable-next-line no-control-regex
  expect(key).not.toMatch(/[\u0000-\u001f\u007f]/);
  expect(Buffer.from(key, 'utf8').toString('utf8')).toBe(key);
  expect(key.split('/').filter((s) => s === '.' || s === '..')).toEqual([]);
  // Resolved against a folder, it never climbs out (a key of only slashes names the folder
  // itself, which S3 allows and the filesystem backend refuses on its own).
  const root = '/srv/objects';
  const relative = posix.relative(root, posix.resolve(root, ...key.split('/')));
  expect(relative === '' || !relative.split('/').includes('..')).toBe(true);
}

describe('decodeKey (properties)', () => {
  it('either decodes or refuses with 400 InvalidURI, for any input', () => {
    fuzz(
      fc.property(fc.oneof(anyText, rawTraversalKey), (raw) => {
        expectS3ErrorOrNothing(
          thrownBy(() => decodeKey(raw)),
          ['InvalidURI'],
        );
      }),
    );
  });

  it('gives back the original text for any mix of encoded and plain characters', () => {
    const encodedChar = fc
      .tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), fc.boolean(), fc.boolean())
      .map(([ch, encode, lower]) => ({
        ch,
        // A literal percent sign must be encoded, or it would start an escape.
        raw: encode || ch === '%' ? percentEncode(ch, lower) : ch,
      }));
    fuzz(
      fc.property(fc.array(encodedChar, { maxLength: 60 }), (chars) => {
        const text = chars.map((c) => c.ch).join('');
        expect(decodeKey(chars.map((c) => c.raw).join(''))).toBe(text);
      }),
    );
  });
});

describe('validateKey (properties)', () => {
  it('either accepts a safe key or refuses with a 400, for any text and limit', () => {
    fuzz(
      fc.property(anyText, fc.integer({ min: 1, max: 2048 }), (key, maxBytes) => {
        const thrown = thrownBy(() => validateKey(key, maxBytes));
        expectS3ErrorOrNothing(thrown, VALIDATION_CODES);
        if (thrown === undefined) expectSafeKey(key, maxBytes);
      }),
    );
  });

  it('never lets a traversal through, however it is encoded, after the one decode the gateway does', () => {
    fuzz(
      fc.property(rawTraversalKey, (raw) => {
        const decodeError = thrownBy(() => decodeKey(raw));
        expectS3ErrorOrNothing(decodeError, ['InvalidURI']);
        if (decodeError !== undefined) return;
        const key = decodeKey(raw);
        const thrown = thrownBy(() => validateKey(key));
        expectS3ErrorOrNothing(thrown, VALIDATION_CODES);
        if (thrown === undefined) expectSafeKey(key, MAX_KEY_BYTES);
      }),
    );
  });

  it('refuses every key that has a "." or ".." segment anywhere', () => {
    const segment = fc.string({ unit: 'grapheme', maxLength: 8 }).filter((s) => !s.includes('/'));
    fuzz(
      fc.property(
        fc.array(segment, { maxLength: 6 }),
        fc.constantFrom('.', '..'),
        fc.nat(),
        (segments, dots, at) => {
          const parts = [...segments];
          parts.splice(at % (parts.length + 1), 0, dots);
          const err = thrownBy(() => validateKey(parts.join('/')));
          expect(err).toBeInstanceOf(S3Error);
          expect((err as S3Error).code).toMatch(/^(InvalidArgument|KeyTooLongError)$/);
        },
      ),
    );
  });

  it('accepts every printable key within the limit that has no dot segments', () => {
    // The other half of the contract: validation must not refuse ordinary keys.
    const segment = fc
      .string({ unit: 'grapheme', minLength: 1, maxLength: 30 })
      .filter((s) => !s.includes('/') && s !== '.' && s !== '..');
    fuzz(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 8 }), (segments) => {
        const key = segments.join('/');
        fc.pre(Buffer.byteLength(key, 'utf8') <= MAX_KEY_BYTES);
        // eslint-disable-next-line no-control-regex
        fc.pre(!/[\u0000-\u001f\u007f]/.test(key));
        expect(thrownBy(() => validateKey(key))).toBeUndefined();
      }),
    );
  });
});
