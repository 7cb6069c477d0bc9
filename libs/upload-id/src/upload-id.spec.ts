import { randomBytes } from 'node:crypto';
import { UploadIdCodec, type UploadBinding } from './upload-id';

const SECRET = 'a-secret-of-at-least-16-bytes-for-tests';
const BINDING: UploadBinding = { principal: 'alice', route: 'uploads', key: 'photos/a.jpg' };
// Backend ids look like this on Ceph RGW and on AWS respectively.
const RGW_ID = '2~Kx3mD1bqPZl0hTq9Y8VvZ5wJ1xXg3nB';
const AWS_ID =
  'VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA.-_~+/=x2kLq.exampleexample';

const codec = new UploadIdCodec(SECRET);

/** Replaces the character at `index` with a different base64url character. */
function flipChar(text: string, index: number): string {
  const replacement = text[index] === 'A' ? 'B' : 'A';
  return text.slice(0, index) + replacement + text.slice(index + 1);
}

describe('UploadIdCodec', () => {
  describe('round trip', () => {
    it.each([
      ['a Ceph RGW id', RGW_ID],
      ['an AWS id with dots, slashes and plus signs', AWS_ID],
      ['a Unicode id', '水蛟-アップロード'],
      ['a single character', 'x'],
      ['a long random id', randomBytes(300).toString('base64')],
    ])('gives back %s for the binding it was issued for', (_label, backendId) => {
      const uploadId = codec.bind(BINDING, backendId);
      expect(codec.verify(BINDING, uploadId)).toBe(backendId);
    });

    it('verifies on another codec that holds the same secret, as another replica would', () => {
      const uploadId = codec.bind(BINDING, RGW_ID);
      expect(new UploadIdCodec(SECRET).verify(BINDING, uploadId)).toBe(RGW_ID);
    });

    it('accepts the secret as bytes as well as text', () => {
      const uploadId = codec.bind(BINDING, RGW_ID);
      expect(new UploadIdCodec(Buffer.from(SECRET, 'utf8')).verify(BINDING, uploadId)).toBe(RGW_ID);
    });

    it('issues the same id for the same binding and backend id', () => {
      expect(codec.bind(BINDING, RGW_ID)).toBe(codec.bind({ ...BINDING }, RGW_ID));
    });

    it('does not show the backend id in clear text', () => {
      expect(codec.bind(BINDING, RGW_ID)).not.toContain(RGW_ID);
    });
  });

  describe('ids are URL-safe', () => {
    it.each([
      ['a Ceph RGW id', RGW_ID],
      ['an AWS id with reserved characters', AWS_ID],
      ['a Unicode id', '水蛟/?#&=+ %'],
      ['random bytes as text', randomBytes(64).toString('latin1')],
    ])('needs no percent-encoding for %s', (_label, backendId) => {
      const uploadId = codec.bind(BINDING, backendId);
      expect(uploadId).toMatch(/^[A-Za-z0-9._-]+$/);
      expect(encodeURIComponent(uploadId)).toBe(uploadId);
    });
  });

  describe('refusals', () => {
    const uploadId = codec.bind(BINDING, RGW_ID);

    it('refuses the id for another principal', () => {
      expect(codec.verify({ ...BINDING, principal: 'mallory' }, uploadId)).toBeUndefined();
    });

    it('refuses the id for another route', () => {
      expect(codec.verify({ ...BINDING, route: 'other' }, uploadId)).toBeUndefined();
    });

    it('refuses the id for another key', () => {
      expect(codec.verify({ ...BINDING, key: 'photos/b.jpg' }, uploadId)).toBeUndefined();
    });

    it('refuses the id for a key that differs only in letter case', () => {
      expect(codec.verify({ ...BINDING, key: 'Photos/a.jpg' }, uploadId)).toBeUndefined();
    });

    it('keeps the fields apart, so moving text from one field to the next does not verify', () => {
      const joined = codec.bind({ principal: 'ab', route: 'c', key: 'k' }, RGW_ID);
      expect(codec.verify({ principal: 'a', route: 'bc', key: 'k' }, joined)).toBeUndefined();
      const keyed = codec.bind({ principal: 'p', route: 'r', key: 'a' }, 'b');
      expect(codec.verify({ principal: 'p', route: 'r', key: 'ab' }, keyed)).toBeUndefined();
    });

    it('refuses an id whose backend part was swapped for another upload', () => {
      const [version, , tag] = uploadId.split('.');
      const other = Buffer.from('2~SomeoneElsesUpload', 'utf8').toString('base64url');
      expect(codec.verify(BINDING, `${version}.${other}.${tag}`)).toBeUndefined();
    });

    it('refuses an id whose backend part has one character changed', () => {
      const [version, encodedId, tag] = uploadId.split('.') as [string, string, string];
      for (const index of [0, Math.floor(encodedId.length / 2)]) {
        expect(
          codec.verify(BINDING, `${version}.${flipChar(encodedId, index)}.${tag}`),
        ).toBeUndefined();
      }
    });

    it('refuses an id whose tag has one character changed', () => {
      const [version, encodedId, tag] = uploadId.split('.') as [string, string, string];
      for (const index of [0, 10, tag.length - 2]) {
        expect(
          codec.verify(BINDING, `${version}.${encodedId}.${flipChar(tag, index)}`),
        ).toBeUndefined();
      }
    });

    it('refuses an id issued under a different secret', () => {
      const foreign = new UploadIdCodec('another-secret-of-16-bytes-or-more').bind(BINDING, RGW_ID);
      expect(codec.verify(BINDING, foreign)).toBeUndefined();
    });

    it('refuses the raw backend id', () => {
      expect(codec.verify(BINDING, RGW_ID)).toBeUndefined();
    });

    it.each([
      ['an empty id', ''],
      ['a lone version', 'm1'],
      ['empty parts', 'm1..'],
      ['another version', `m2${uploadId.slice(2)}`],
      ['an upper-case version', `M1${uploadId.slice(2)}`],
      ['a fourth part', `${uploadId}.extra`],
      ['the tag cut short', uploadId.slice(0, -1)],
      ['the tag cut in half', uploadId.slice(0, uploadId.length - 11)],
      ['the tag removed', uploadId.slice(0, uploadId.lastIndexOf('.'))],
      ['the tag lengthened', `${uploadId}AA`],
      ['standard base64 characters', uploadId.replace(/-/g, '+').replace(/_/g, '/') + '+/'],
      ['base64 padding', `${uploadId}==`],
      ['whitespace', ` ${uploadId}`],
      ['garbage', '!!!.###.$$$'],
    ])('refuses %s', (_label, garbage) => {
      expect(codec.verify(BINDING, garbage)).toBeUndefined();
    });

    it('refuses a backend part that is not canonical base64url', () => {
      // "x" is "eA" in base64url; "eB" decodes to the same byte with a non-zero padding bit.
      const canonical = codec.bind(BINDING, 'x');
      const [version, encodedId, tag] = canonical.split('.') as [string, string, string];
      expect(encodedId).toBe('eA');
      expect(Buffer.from('eB', 'base64url').toString('utf8')).toBe('x');
      expect(codec.verify(BINDING, canonical)).toBe('x');
      expect(codec.verify(BINDING, `${version}.eB.${tag}`)).toBeUndefined();
    });

    it('refuses a tag that is not canonical base64url', () => {
      // A 16-byte tag takes 22 characters, whose last one carries 4 unused bits.
      const [version, encodedId, tag] = uploadId.split('.') as [string, string, string];
      expect(tag).toHaveLength(22);
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const last = alphabet.indexOf(tag[21]);
      const sibling = alphabet[last ^ 0b0001];
      const respelled = `${tag.slice(0, 21)}${sibling}`;
      expect(Buffer.from(respelled, 'base64url').equals(Buffer.from(tag, 'base64url'))).toBe(true);
      expect(codec.verify(BINDING, `${version}.${encodedId}.${respelled}`)).toBeUndefined();
    });

    it('refuses a backend part that is not UTF-8', () => {
      const [version, , tag] = uploadId.split('.');
      const invalid = Buffer.from([0xc3, 0x28]).toString('base64url');
      expect(codec.verify(BINDING, `${version}.${invalid}.${tag}`)).toBeUndefined();
    });
  });

  describe('secrets', () => {
    it('throws for a secret shorter than 16 bytes', () => {
      expect(() => new UploadIdCodec('fifteen-bytes!!')).toThrow(/16 bytes/);
      expect(() => new UploadIdCodec(Buffer.alloc(15))).toThrow(/16 bytes/);
      expect(() => new UploadIdCodec('')).toThrow(/16 bytes/);
    });

    it('accepts a secret of exactly 16 bytes', () => {
      expect(() => new UploadIdCodec('sixteen-bytes!!!')).not.toThrow();
    });

    it('counts the secret in UTF-8 bytes', () => {
      // Six characters, eighteen bytes.
      expect(() => new UploadIdCodec('水蛟水蛟水蛟')).not.toThrow();
    });
  });
});
