/**
 * Property tests of bound upload ids (DESIGN.md §1): an id verifies only for the binding and the
 * secret it was issued under, any alteration of it is refused, and no input makes verify throw.
 */
import * as fc from 'fast-check';
import { fuzz, thrownBy } from '../../testing/fuzz';
import { UploadIdCodec, type UploadBinding } from './upload-id';

const SECRET = 'fuzz-secret-of-at-least-sixteen-bytes';
const codec = new UploadIdCodec(SECRET);

/** Any well-formed text (lone surrogates have no UTF-8 form, and no caller produces them). */
const text = (minLength = 0) => fc.string({ unit: 'binary', minLength, maxLength: 40 });

const binding: fc.Arbitrary<UploadBinding> = fc.record({
  principal: text(),
  route: text(),
  key: text(1),
});

/** Backend ids: Ceph- and AWS-like ASCII ids, and arbitrary non-empty text. */
const backendId = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._~+/=-]{1,120}$/),
  text(1),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.from(b).toString('base64')),
);

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** Characters an attacker would try in place of one of the id's: base64url, separators, noise. */
const idChar = fc.oneof(
  fc.constantFrom(...BASE64URL, '.', '=', '+', '/', '%', ' '),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);

function verifies(binding_: UploadBinding, uploadId: string, c = codec): boolean {
  return c.verify(binding_, uploadId) !== undefined;
}

describe('UploadIdCodec (properties)', () => {
  it('gives back the backend id for the binding it was issued for', () => {
    fuzz(
      fc.property(binding, backendId, (b, id) => {
        const uploadId = codec.bind(b, id);
        expect(uploadId).toMatch(/^[A-Za-z0-9._-]+$/);
        expect(codec.verify({ ...b }, uploadId)).toBe(id);
      }),
    );
  });

  it('refuses an id issued for any other principal, route or key', () => {
    fuzz(
      fc.property(binding, binding, backendId, (issued, other, id) => {
        fc.pre(
          issued.principal !== other.principal ||
            issued.route !== other.route ||
            issued.key !== other.key,
        );
        expect(codec.verify(other, codec.bind(issued, id))).toBeUndefined();
      }),
    );
  });

  it('refuses an id when exactly one field of the binding is different', () => {
    const field = fc.constantFrom<keyof UploadBinding>('principal', 'route', 'key');
    fuzz(
      fc.property(binding, backendId, field, text(1), (b, id, name, other) => {
        fc.pre(other !== b[name]);
        expect(codec.verify({ ...b, [name]: other }, codec.bind(b, id))).toBeUndefined();
      }),
    );
  });

  it('refuses an id when text moves from one field of the binding to another', () => {
    const field = fc.constantFrom<keyof UploadBinding>('principal', 'route', 'key');
    fuzz(
      fc.property(binding, backendId, field, field, fc.nat(), (b, id, from, to, cut) => {
        fc.pre(from !== to && b[from].length > 0);
        // Shift the tail of one field onto the start of another: the concatenation stays equal.
        const at = cut % b[from].length;
        const moved = { ...b, [from]: b[from].slice(0, at), [to]: b[from].slice(at) + b[to] };
        fc.pre(moved.key !== '');
        expect(codec.verify(moved, codec.bind(b, id))).toBeUndefined();
      }),
    );
  });

  it('refuses any single-character substitution, insertion or deletion', () => {
    const edit = fc.oneof(
      fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), ch: idChar }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), ch: idChar }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), ch: fc.constant('') }),
    );
    fuzz(
      fc.property(binding, backendId, edit, (b, id, { kind, at, ch }) => {
        const uploadId = codec.bind(b, id);
        const i = at % (uploadId.length + (kind === 'insert' ? 1 : 0));
        const tail = uploadId.slice(kind === 'insert' ? i : i + 1);
        const forged = uploadId.slice(0, i) + ch + tail;
        fc.pre(forged !== uploadId);
        expect(verifies(b, forged)).toBe(false);
      }),
    );
  });

  it('refuses an id with any single bit flipped', () => {
    fuzz(
      fc.property(
        binding,
        backendId,
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (b, id, at, bit) => {
          const bytes = Buffer.from(codec.bind(b, id), 'latin1');
          bytes[at % bytes.length] ^= 1 << bit;
          expect(verifies(b, bytes.toString('latin1'))).toBe(false);
        },
      ),
    );
  });

  it('refuses an id whose backend id was swapped for another, keeping the tag', () => {
    fuzz(
      fc.property(binding, backendId, backendId, (b, id, other) => {
        fc.pre(id !== other);
        const [version, , tag] = codec.bind(b, id).split('.');
        const swapped = `${version}.${Buffer.from(other, 'utf8').toString('base64url')}.${tag}`;
        expect(verifies(b, swapped)).toBe(false);
      }),
    );
  });

  it('refuses an id issued under another secret', () => {
    const secret = fc.uint8Array({ minLength: 16, maxLength: 48 }).map((s) => Buffer.from(s));
    fuzz(
      fc.property(secret, binding, backendId, (s, b, id) => {
        fc.pre(!s.equals(Buffer.from(SECRET, 'utf8')));
        expect(verifies(b, new UploadIdCodec(s).bind(b, id))).toBe(false);
      }),
    );
  });

  it('never throws on arbitrary input, and accepts none of it', () => {
    const b64 = fc.string({ unit: fc.constantFrom(...BASE64URL), maxLength: 60 });
    const shaped = fc
      .tuple(fc.constantFrom('m1', 'm0', 'M1', ''), b64, b64)
      .map(([v, id, tag]) => `${v}.${id}.${tag}`);
    const anything = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), shaped);
    fuzz(
      fc.property(binding, anything, (b, uploadId) => {
        let result: string | undefined;
        expect(thrownBy(() => (result = codec.verify(b, uploadId)))).toBeUndefined();
        expect(result).toBeUndefined();
      }),
    );
  });
});
