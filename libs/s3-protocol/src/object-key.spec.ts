import { S3Error, type S3ErrorCode } from './errors';
import { MAX_KEY_BYTES, decodeKey, validateKey } from './object-key';

/** Runs `fn` and returns the S3Error it throws; fails the test when it throws anything else. */
function s3ErrorFrom(fn: () => unknown): S3Error {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(S3Error);
    return err as S3Error;
  }
  throw new Error('expected an S3Error, but nothing was thrown');
}

function expectRefused(key: string, code: S3ErrorCode, maxBytes?: number): S3Error {
  const err = s3ErrorFrom(() => validateKey(key, maxBytes));
  expect(err.code).toBe(code);
  expect(err.status).toBe(400);
  return err;
}

/** A string of exactly `bytes` UTF-8 bytes made of `unit` repeated (bytes must be a multiple). */
function ofBytes(unit: string, bytes: number): string {
  const unitBytes = Buffer.byteLength(unit, 'utf8');
  expect(bytes % unitBytes).toBe(0);
  return unit.repeat(bytes / unitBytes);
}

describe('decodeKey', () => {
  it('decodes percent-escapes exactly once', () => {
    expect(decodeKey('a%20b')).toBe('a b');
    expect(decodeKey('100%2525')).toBe('100%25');
    expect(decodeKey('dir%2Ffile.txt')).toBe('dir/file.txt');
  });

  it('keeps a plus sign, since paths do not use form encoding', () => {
    expect(decodeKey('a+b')).toBe('a+b');
  });

  it('decodes multi-byte UTF-8 sequences into Unicode text', () => {
    expect(decodeKey('%E6%B0%B4%E8%9B%9F/%F0%9F%90%89.png')).toBe('水蛟/🐉.png');
  });

  it('returns an empty key unchanged, leaving the refusal to validateKey', () => {
    expect(decodeKey('')).toBe('');
  });

  it.each([
    ['a truncated escape', 'abc%'],
    ['an escape with one hex digit', 'abc%4'],
    ['an escape with non-hex digits', 'abc%zz'],
  ])('refuses %s with InvalidURI', (_label, raw) => {
    const err = s3ErrorFrom(() => decodeKey(raw));
    expect(err.code).toBe('InvalidURI');
    expect(err.status).toBe(400);
  });

  it.each([
    ['a lone continuation byte', '%80'],
    ['a lead byte without its continuation', '%C3'],
    ['a lead byte followed by ASCII', '%C3%28'],
    ['an overlong encoding of "/"', '%C0%AF'],
    ['a UTF-8 encoded surrogate', '%ED%A0%80'],
    ['a code point above U+10FFFF', '%F4%90%80%80'],
    ['a byte that never occurs in UTF-8', '%FF'],
  ])('refuses %s with InvalidURI', (_label, raw) => {
    expect(s3ErrorFrom(() => decodeKey(`photos/${raw}.jpg`)).code).toBe('InvalidURI');
  });
});

describe('validateKey', () => {
  it('refuses an empty key with InvalidRequest', () => {
    expectRefused('', 'InvalidRequest');
  });

  it('accepts a key of exactly 1024 bytes', () => {
    expect(MAX_KEY_BYTES).toBe(1024);
    expect(() => validateKey('k'.repeat(1024))).not.toThrow();
  });

  it('refuses a key of 1025 bytes with KeyTooLongError', () => {
    expectRefused('k'.repeat(1025), 'KeyTooLongError');
  });

  it('counts two-byte characters in bytes, not in UTF-16 units', () => {
    const atLimit = ofBytes('é', 1024);
    expect(atLimit).toHaveLength(512);
    expect(() => validateKey(atLimit)).not.toThrow();
    expectRefused(`${atLimit}a`, 'KeyTooLongError');
  });

  it('counts three-byte characters in bytes', () => {
    const underLimit = ofBytes('水', 1023);
    expect(() => validateKey(`${underLimit}a`)).not.toThrow();
    expectRefused(`${underLimit}ab`, 'KeyTooLongError');
  });

  it('counts astral characters as four bytes although they are two UTF-16 units', () => {
    const atLimit = ofBytes('🐉', 1024);
    expect(atLimit).toHaveLength(512);
    expect(() => validateKey(atLimit)).not.toThrow();
    expectRefused(`${atLimit}a`, 'KeyTooLongError');
  });

  it('applies a lower configured limit', () => {
    expect(() => validateKey('k'.repeat(10), 10)).not.toThrow();
    expectRefused('k'.repeat(11), 'KeyTooLongError', 10);
  });

  it('never allows more than 1024 bytes, even when configured higher', () => {
    expectRefused('k'.repeat(1025), 'KeyTooLongError', 4096);
  });

  it.each([
    ['NUL', 'a\u0000b'],
    ['line feed', 'a\nb'],
    ['carriage return', 'a\rb'],
    ['tab', 'a\tb'],
    ['escape', 'a\u001bb'],
    ['unit separator', 'a\u001fb'],
    ['DEL', 'a\u007fb'],
  ])('refuses a key containing %s', (_label, key) => {
    expectRefused(key, 'InvalidArgument');
  });

  it.each([
    ['a lone high surrogate', 'a\ud800b'],
    ['a lone low surrogate', 'a\udc00b'],
    ['a high surrogate at the end', 'abc\udbff'],
    ['a low surrogate at the start', '\udfffabc'],
    ['two surrogates in the wrong order', 'a\udc00\ud800b'],
  ])('refuses %s, which has no UTF-8 form', (_label, key) => {
    expectRefused(key, 'InvalidArgument');
  });

  it.each([
    ['.'],
    ['..'],
    ['./a'],
    ['../a'],
    ['a/.'],
    ['a/..'],
    ['a/./b'],
    ['a/../b'],
    ['a/b/../../../etc/passwd'],
  ])('refuses the dot segments in %p', (key) => {
    expectRefused(key, 'InvalidArgument');
  });

  it.each([
    ['a..b'],
    ['.hidden'],
    ['dir/.hidden'],
    ['...'],
    ['a/.../b'],
    ['file.'],
    ['..name'],
    ['name..'],
  ])('accepts %p, whose dots are not a whole segment', (key) => {
    expect(() => validateKey(key)).not.toThrow();
  });

  it.each([
    ['spaces', 'my holiday photo (1).jpg'],
    ['Japanese', '写真/水蛟.png'],
    ['emoji', 'reactions/🐉🔥.gif'],
    ['combining marks', 'cafe\u0301.txt'],
    ['right-to-left text', 'مستند.pdf'],
    ['punctuation S3 allows', 'a!-_.*\'()&$@=;:+,?~#[]{}%^`|\\"<>'],
    ['a trailing slash', 'folder/'],
  ])('accepts a key with %s', (_label, key) => {
    expect(() => validateKey(key)).not.toThrow();
  });

  it('accepts what decodeKey produces for a percent-encoded Unicode key', () => {
    expect(() => validateKey(decodeKey('my%20files/%E6%B0%B4%E8%9B%9F.txt'))).not.toThrow();
  });
});
