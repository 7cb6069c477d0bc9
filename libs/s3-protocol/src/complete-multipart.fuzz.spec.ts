/**
 * Property tests of the CompleteMultipartUpload body parser: any part list written as XML in any
 * of the ways clients format it comes back unchanged; any other input ends in a 400 S3Error;
 * DTDs, comments, CDATA and processing instructions are refused wherever they appear; and no body
 * makes the parser do more than linear work.
 */
import * as fc from 'fast-check';
import { fuzz, thrownBy } from '../../testing/fuzz';
import {
  MAX_COMPLETE_BODY_BYTES,
  MAX_PART_NUMBER,
  parseCompleteMultipartUpload,
  type CompletedPartInput,
} from './complete-multipart';
import { S3Error } from './errors';
import { CHECKSUM_HEADERS, type ChecksumAlgorithmName } from './headers';

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const ALGORITHMS = Object.keys(CHECKSUM_HEADERS) as ChecksumAlgorithmName[];
const PARSER_CODES = ['MalformedXML', 'InvalidArgument', 'InvalidPartOrder'];

// ---------------------------------------------------------------------------------------------
// A writer with the freedoms real clients take: declaration, BOM, namespaces, whitespace,
// element order, attributes, quoting and every legal way to escape a character.

interface Style {
  declaration: boolean;
  bom: boolean;
  /** '' for the default namespace, else a prefix such as 's3'. */
  prefix: string;
  /** Whitespace between elements and around values. */
  gap: string;
  attributes: boolean;
  /** How each character that must be escaped is written. */
  escape: 'named' | 'decimal' | 'hex';
  /** Also write this share (0-1) of ordinary characters as character references. */
  referenceShare: number;
}

const style: fc.Arbitrary<Style> = fc.record({
  declaration: fc.boolean(),
  bom: fc.boolean(),
  prefix: fc.constantFrom('', 's3', 'x'),
  gap: fc.string({ unit: fc.constantFrom(' ', '\t', '\n', '\r\n'), maxLength: 4 }),
  attributes: fc.boolean(),
  escape: fc.constantFrom('named', 'decimal', 'hex'),
  referenceShare: fc.constantFrom(0, 0, 0.2, 1),
});

const NEUTRAL_STYLE: Style = {
  declaration: true,
  bom: false,
  prefix: '',
  gap: '',
  attributes: false,
  escape: 'named',
  referenceShare: 0,
};

const NAMED: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

/** Writes text the way `s` escapes; `pick` chooses which ordinary characters become references. */
function escapeText(text: string, s: Style, pick: (i: number) => boolean): string {
  return [...text]
    .map((ch, i) => {
      const code = ch.codePointAt(0) ?? 0;
      const reference = s.escape === 'hex' ? `&#x${code.toString(16)};` : `&#${code};`;
      if (ch in NAMED) return s.escape === 'named' ? NAMED[ch] : reference;
      return pick(i) ? reference : ch;
    })
    .join('');
}

function writeBody(parts: CompletedPartInput[], s: Style, seed: number): string {
  const el = (name: string) => (s.prefix === '' ? name : `${s.prefix}:${name}`);
  const pick = (i: number) => ((i * 2654435761 + seed) >>> 0) / 2 ** 32 < s.referenceShare;
  const field = (name: string, value: string) =>
    `<${el(name)}>${s.gap}${escapeText(value, s, pick)}${s.gap}</${el(name)}>`;
  const rootAttrs = s.prefix === '' ? ` xmlns="${XMLNS}"` : ` xmlns:${s.prefix}="${XMLNS}"`;
  const body = parts
    .map((part, index) => {
      const fields = [
        field('PartNumber', String(part.partNumber)),
        field('ETag', part.etag),
        ...Object.entries(part.checksums).map(([alg, value]) => field(`Checksum${alg}`, value)),
      ];
      // Element order inside a part is free; rotate it per part.
      const rotated = [
        ...fields.slice(index % fields.length),
        ...fields.slice(0, index % fields.length),
      ];
      const attrs = s.attributes ? ` data-i="${index}"` : '';
      return `<${el('Part')}${attrs}>${s.gap}${rotated.join(s.gap)}${s.gap}</${el('Part')}>`;
    })
    .join(s.gap);
  const declaration = s.declaration ? `<?xml version="1.0" encoding="UTF-8"?>${s.gap}` : '';
  return `${s.bom ? '\uFEFF' : ''}${declaration}<${el('CompleteMultipartUpload')}${rootAttrs}>${s.gap}${body}${s.gap}</${el('CompleteMultipartUpload')}>${s.gap}`;
}

/** ETags as clients send them (quoted hex, multipart suffixes) and arbitrary text. */
const etag = fc
  .oneof(
    fc.stringMatching(/^"[0-9a-f]{32}(-[1-9][0-9]{0,3})?"$/),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
    fc.string({
      unit: fc.constantFrom('&', '<', '>', '"', "'", ';', '#', 'a', 'x', '1'),
      minLength: 1,
    }),
  )
  // The parser trims values, as S3 does; a value must survive that to round-trip.
  .filter((e) => e.trim() === e && e !== '');

const checksums = fc
  .subarray(ALGORITHMS)
  .chain((algs) =>
    fc
      .tuple(...algs.map(() => fc.base64String({ minLength: 4, maxLength: 44 })))
      .map((values) => Object.fromEntries(algs.map((alg, i) => [alg, values[i]]))),
  );

const partList: fc.Arbitrary<CompletedPartInput[]> = fc
  .uniqueArray(fc.integer({ min: 1, max: MAX_PART_NUMBER }), { minLength: 1, maxLength: 25 })
  .chain((numbers) => {
    const sorted = [...numbers].sort((a, b) => a - b);
    return fc.tuple(...sorted.map(() => fc.tuple(etag, checksums))).map((fields) =>
      sorted.map((partNumber, i) => ({
        partNumber,
        etag: fields[i][0],
        checksums: fields[i][1],
      })),
    );
  });

function expectParserError(thrown: unknown): S3Error {
  expect(thrown).toBeInstanceOf(S3Error);
  const err = thrown as S3Error;
  expect(PARSER_CODES).toContain(err.code);
  expect(err.status).toBe(400);
  return err;
}

/** Splits a written body into its tags and texts, to insert things between them. */
function tokens(xml: string): string[] {
  return xml.match(/<[^>]*>|[^<]+/g) ?? [];
}

describe('parseCompleteMultipartUpload (properties)', () => {
  it('reads back any part list, however the XML is formatted and escaped', () => {
    fuzz(
      fc.property(partList, style, fc.nat(), (parts, s, seed) => {
        expect(parseCompleteMultipartUpload(writeBody(parts, s, seed))).toEqual(parts);
      }),
    );
  });

  it('either parses or refuses with a 400 S3Error, for arbitrary text', () => {
    fuzz(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (xml) => {
        const thrown = thrownBy(() => parseCompleteMultipartUpload(xml));
        if (thrown !== undefined) expectParserError(thrown);
      }),
    );
  });

  it('either parses or refuses with a 400 S3Error, for soups of XML fragments', () => {
    const fragment = fc.oneof(
      fc.constantFrom(
        '<CompleteMultipartUpload>',
        '</CompleteMultipartUpload>',
        '<Part>',
        '</Part>',
        '<Part/>',
        '<PartNumber>',
        '</PartNumber>',
        '<ETag>',
        '</ETag>',
        '<ChecksumCRC32>',
        '</ChecksumCRC32>',
        '<Checksum>',
        '<s3:Part a="1">',
        '</s3:Part>',
        '<?xml version="1.0"?>',
        '<!DOCTYPE x [<!ENTITY e "e">]>',
        '<!--',
        '-->',
        '<![CDATA[',
        ']]>',
        '&amp;',
        '&e;',
        '&#0;',
        '&#x10FFFF;',
        '&#xD800;',
        '&#99999999;',
        '&',
        '<',
        '>',
        '/>',
        '1',
        '10000',
        '10001',
        '0',
        '-1',
        '99999',
        '"etag"',
        ' ',
        '\n',
        '\uFEFF',
      ),
      fc.string({ unit: 'binary', maxLength: 5 }),
    );
    fuzz(
      fc.property(fc.array(fragment, { maxLength: 40 }), (pieces) => {
        const thrown = thrownBy(() => parseCompleteMultipartUpload(pieces.join('')));
        if (thrown !== undefined) expectParserError(thrown);
      }),
    );
  });

  it('refuses a DTD, comment, CDATA section or processing instruction anywhere, expanding nothing', () => {
    const injected = fc.constantFrom(
      '<!DOCTYPE CompleteMultipartUpload [<!ENTITY x "expanded">]>',
      '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
      '<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/e.dtd"> %p;]>',
      '<!DOCTYPE r SYSTEM "http://127.0.0.1:9/x.dtd">',
      '<!ENTITY x "expanded">',
      '<!-- comment -->',
      '<![CDATA[&x;]]>',
      '<?pi data?>',
      '<?xml-stylesheet href="http://127.0.0.1:9/s.xsl"?>',
    );
    fuzz(
      fc.property(partList, style, injected, fc.nat(), (parts, s, markup, at) => {
        const list = tokens(writeBody(parts, { ...s, bom: false }, 0));
        // Index 0 would sit before the XML declaration, where `<?xml` is itself the PI.
        const i = 1 + (at % list.length);
        list.splice(i, 0, markup);
        const err = expectParserError(thrownBy(() => parseCompleteMultipartUpload(list.join(''))));
        expect(err.code).toBe('MalformedXML');
      }),
    );
  });

  it('refuses references to entities no one may declare, instead of expanding them', () => {
    fuzz(
      fc.property(partList, fc.stringMatching(/^[a-z]{2,4}$/), (parts, name) => {
        fc.pre(!['amp', 'lt', 'gt', 'quot', 'apos'].includes(name));
        const body = writeBody(parts, { ...NEUTRAL_STYLE }, 0).replace(
          '</ETag>',
          `&${name};</ETag>`,
        );
        expect(expectParserError(thrownBy(() => parseCompleteMultipartUpload(body))).code).toBe(
          'MalformedXML',
        );
      }),
    );
  });

  it('answers part-number faults with the code of the first faulty part, as a reference model says', () => {
    const number = fc.oneof(
      fc.integer({ min: 1, max: MAX_PART_NUMBER }),
      fc.constantFrom(0, MAX_PART_NUMBER + 1, 99999, 100000, -1),
    );
    fuzz(
      fc.property(fc.array(number, { minLength: 1, maxLength: 12 }), (numbers) => {
        let expected: string | undefined;
        let previous = 0;
        for (const n of numbers) {
          if (n < 1 || n > MAX_PART_NUMBER) expected = 'InvalidArgument';
          else if (n <= previous) expected = 'InvalidPartOrder';
          if (expected !== undefined) break;
          previous = n;
        }
        const parts = numbers.map((partNumber) => ({ partNumber, etag: '"e"', checksums: {} }));
        const thrown = thrownBy(() =>
          parseCompleteMultipartUpload(writeBody(parts, NEUTRAL_STYLE, 0)),
        );
        if (expected === undefined) expect(thrown).toBeUndefined();
        else expect(expectParserError(thrown).code).toBe(expected);
      }),
    );
  });

  it('does linear work on long whitespace runs inside unterminated tags', () => {
    // A run of whitespace after a tag name that never reaches `>` once made the tag pattern
    // backtrack quadratically: 64 KiB took seconds, a 1 MiB body minutes of blocked event loop.
    // A regression shows up as this test never finishing.
    const ws = fc.constantFrom(' ', '\t', '\n', '\r');
    fuzz(
      fc.property(
        partList,
        ws,
        fc.integer({ min: 10_000, max: 200_000 }),
        fc.nat(),
        (parts, space, length, at) => {
          const list = tokens(writeBody(parts, NEUTRAL_STYLE, 0));
          const tagIndexes = list.flatMap((t, i) => (t.startsWith('<') ? [i] : []));
          const i = tagIndexes[at % tagIndexes.length];
          const name = /^<\/?[^\s/>]+/.exec(list[i])?.[0] ?? '<Part';
          list[i] = name + space.repeat(length);
          expectParserError(thrownBy(() => parseCompleteMultipartUpload(list.join(''))));
        },
      ),
      0.1,
    );
  });

  it('does linear work on the largest body the gateway reads, all whitespace after a tag name', () => {
    const body = `<CompleteMultipartUpload${' '.repeat(MAX_COMPLETE_BODY_BYTES - 30)}`;
    expect(expectParserError(thrownBy(() => parseCompleteMultipartUpload(body))).code).toBe(
      'MalformedXML',
    );
  });
});
