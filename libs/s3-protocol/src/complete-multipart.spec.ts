import { CompleteMultipartUploadCommand, S3Client, type CompletedPart } from '@aws-sdk/client-s3';
import {
  MAX_PART_NUMBER,
  normalizeEtag,
  parseCompleteMultipartUpload,
  type CompletedPartInput,
} from './complete-multipart';
import { S3Error, type S3ErrorCode } from './errors';

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/**
 * The request body that @aws-sdk/client-s3 serialises for CompleteMultipartUpload. The request
 * handler records it and fails, so nothing leaves the process.
 */
async function sdkCompleteBody(parts: CompletedPart[]): Promise<string> {
  let body: unknown;
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    forcePathStyle: true,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    maxAttempts: 1,
    requestHandler: {
      handle: (request: { body: unknown }) => {
        body = request.body;
        return Promise.reject(new Error('recorded; not sent'));
      },
    },
  });
  try {
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'uploads',
        Key: 'k',
        UploadId: 'u',
        MultipartUpload: { Parts: parts },
      }),
    );
  } catch {
    // The handler always fails once it has the body.
  } finally {
    client.destroy();
  }
  if (typeof body !== 'string') throw new Error('the SDK did not produce a string body');
  return body;
}

function xmlOf(inner: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="${XMLNS}">${inner}</CompleteMultipartUpload>`;
}

function part(partNumber: number | string, etag = `"etag-${partNumber}"`): string {
  return `<Part><PartNumber>${partNumber}</PartNumber><ETag>${etag.replace(/"/g, '&quot;')}</ETag></Part>`;
}

function refusalOf(xml: string): S3Error {
  try {
    parseCompleteMultipartUpload(xml);
  } catch (err) {
    expect(err).toBeInstanceOf(S3Error);
    return err as S3Error;
  }
  throw new Error('expected the body to be refused');
}

function expectRefused(xml: string, code: S3ErrorCode): S3Error {
  const err = refusalOf(xml);
  expect(err.code).toBe(code);
  expect(err.status).toBe(400);
  return err;
}

describe('parseCompleteMultipartUpload', () => {
  describe('bodies from @aws-sdk/client-s3', () => {
    it('reads the quoted ETags and part numbers, in order', async () => {
      const xml = await sdkCompleteBody([
        { PartNumber: 1, ETag: '"0cc175b9c0f1b6a831c399e269772661"' },
        { PartNumber: 2, ETag: '"92eb5ffee6ae2fec3ad71c777531578f"' },
        { PartNumber: 5, ETag: '"4a8a08f09d37b73795649038408b5f33"' },
      ]);
      expect(xml).toContain(`xmlns="${XMLNS}"`);
      expect(xml).toContain('&quot;');
      expect(parseCompleteMultipartUpload(xml)).toEqual<CompletedPartInput[]>([
        { partNumber: 1, etag: '"0cc175b9c0f1b6a831c399e269772661"', checksums: {} },
        { partNumber: 2, etag: '"92eb5ffee6ae2fec3ad71c777531578f"', checksums: {} },
        { partNumber: 5, etag: '"4a8a08f09d37b73795649038408b5f33"', checksums: {} },
      ]);
    });

    it('reads every per-part checksum element', async () => {
      const xml = await sdkCompleteBody([
        { PartNumber: 1, ETag: '"a"', ChecksumCRC32: 'y/Q5Jg==' },
        { PartNumber: 2, ETag: '"b"', ChecksumCRC32C: '4waSgw==' },
        { PartNumber: 3, ETag: '"c"', ChecksumCRC64NVME: 'rosUhgp5mIg=' },
        { PartNumber: 4, ETag: '"d"', ChecksumSHA1: '98O8HYCOBHMq32eZZczDTKeuNEE=' },
        {
          PartNumber: 5,
          ETag: '"e"',
          ChecksumSHA256: 'FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=',
        },
      ]);
      expect(parseCompleteMultipartUpload(xml).map((p) => p.checksums)).toEqual([
        { CRC32: 'y/Q5Jg==' },
        { CRC32C: '4waSgw==' },
        { CRC64NVME: 'rosUhgp5mIg=' },
        { SHA1: '98O8HYCOBHMq32eZZczDTKeuNEE=' },
        { SHA256: 'FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=' },
      ]);
    });

    it('reads a body of 10,000 parts', async () => {
      const parts = Array.from({ length: MAX_PART_NUMBER }, (_, i) => ({
        PartNumber: i + 1,
        ETag: `"${(i + 1).toString(16).padStart(32, '0')}"`,
      }));
      const parsed = parseCompleteMultipartUpload(await sdkCompleteBody(parts));
      expect(parsed).toHaveLength(MAX_PART_NUMBER);
      expect(parsed[MAX_PART_NUMBER - 1]).toEqual({
        partNumber: MAX_PART_NUMBER,
        etag: `"${MAX_PART_NUMBER.toString(16).padStart(32, '0')}"`,
        checksums: {},
      });
    });
  });

  describe('hand-written bodies', () => {
    it('accepts a body without declaration or namespace, with whitespace between elements', () => {
      const xml = `
        <CompleteMultipartUpload>
          <Part>
            <ETag>"abc"</ETag>
            <PartNumber> 1 </PartNumber>
          </Part>
        </CompleteMultipartUpload>
      `;
      expect(parseCompleteMultipartUpload(xml)).toEqual([
        { partNumber: 1, etag: '"abc"', checksums: {} },
      ]);
    });

    it('accepts a byte-order mark before the declaration', () => {
      expect(parseCompleteMultipartUpload(`\uFEFF${xmlOf(part(1))}`)).toHaveLength(1);
    });

    it('accepts unquoted ETags as they are', () => {
      expect(parseCompleteMultipartUpload(xmlOf(part(1, 'abc')))[0].etag).toBe('abc');
    });

    it('accepts namespace-prefixed element names', () => {
      const xml =
        `<s3:CompleteMultipartUpload xmlns:s3="${XMLNS}">` +
        '<s3:Part><s3:PartNumber>1</s3:PartNumber><s3:ETag>"x"</s3:ETag></s3:Part>' +
        '</s3:CompleteMultipartUpload>';
      expect(parseCompleteMultipartUpload(xml)).toEqual([
        { partNumber: 1, etag: '"x"', checksums: {} },
      ]);
    });

    it('decodes the predefined entities and numeric character references', () => {
      const xml = xmlOf(
        '<Part><PartNumber>1</PartNumber><ETag>&quot;&amp;&lt;&gt;&apos;&#65;&#x42;&quot;</ETag></Part>',
      );
      expect(parseCompleteMultipartUpload(xml)[0].etag).toBe('"&<>\'AB"');
    });

    it('accepts parts with gaps between their numbers', () => {
      const parsed = parseCompleteMultipartUpload(xmlOf(part(2) + part(7) + part(10000)));
      expect(parsed.map((p) => p.partNumber)).toEqual([2, 7, 10000]);
    });
  });

  describe('part order', () => {
    it('refuses descending part numbers with InvalidPartOrder', () => {
      expectRefused(xmlOf(part(2) + part(1)), 'InvalidPartOrder');
    });

    it('refuses a repeated part number with InvalidPartOrder', () => {
      expectRefused(xmlOf(part(1) + part(2) + part(2)), 'InvalidPartOrder');
    });

    it('refuses a later part that goes back below an earlier one', () => {
      expectRefused(xmlOf(part(1) + part(5) + part(3)), 'InvalidPartOrder');
    });
  });

  describe('part numbers', () => {
    it.each([['0'], ['10001'], ['99999'], ['100000'], ['-1'], ['1.5'], ['1e3'], ['one'], ['']])(
      'refuses the part number %p with InvalidArgument',
      (value) => {
        expectRefused(xmlOf(part(value)), 'InvalidArgument');
      },
    );

    it('accepts the first and the last part numbers S3 allows', () => {
      expect(parseCompleteMultipartUpload(xmlOf(part(1) + part(10000)))).toHaveLength(2);
    });
  });

  describe('document shape', () => {
    it.each([
      ['an empty part list', xmlOf('')],
      ['a self-closing root', '<CompleteMultipartUpload/>'],
      ['an empty document', ''],
      ['text without elements', 'hello'],
      [
        'a different root element',
        `<CompleteMultipartUploadResult>${part(1)}</CompleteMultipartUploadResult>`,
      ],
      ['an unknown element beside the parts', xmlOf(part(1) + '<Extra>1</Extra>')],
      [
        'an unknown element inside a part',
        xmlOf('<Part><PartNumber>1</PartNumber><ETag>"a"</ETag><Size>5</Size></Part>'),
      ],
      [
        'an unknown checksum element',
        xmlOf(
          '<Part><PartNumber>1</PartNumber><ETag>"a"</ETag><ChecksumXXHASH64>AA==</ChecksumXXHASH64></Part>',
        ),
      ],
      ['a part without an ETag', xmlOf('<Part><PartNumber>1</PartNumber></Part>')],
      ['a part with an empty ETag', xmlOf('<Part><PartNumber>1</PartNumber><ETag></ETag></Part>')],
      ['a part without a PartNumber', xmlOf('<Part><ETag>"a"</ETag></Part>')],
      ['two root elements', xmlOf(part(1)) + xmlOf(part(2))],
      ['text after the root element', `${xmlOf(part(1))}trailing`],
      [
        'nesting deeper than the schema allows',
        xmlOf(`<Part>${'<a>'.repeat(20)}${'</a>'.repeat(20)}</Part>`),
      ],
    ])('refuses %s with MalformedXML', (_label, xml) => {
      expectRefused(xml, 'MalformedXML');
    });
  });

  describe('markup that is not well-formed', () => {
    it.each([
      ['a stray "<" in text', xmlOf('<Part><PartNumber>1 < 2</PartNumber><ETag>"a"</ETag></Part>')],
      ['a "<" at the end of the document', `${xmlOf(part(1))}<`],
      ['an unclosed root', `<CompleteMultipartUpload>${part(1)}`],
      ['an unclosed part', xmlOf('<Part><PartNumber>1</PartNumber><ETag>"a"</ETag>')],
      [
        'a mismatched closing tag',
        xmlOf('<Part><PartNumber>1</ETag><ETag>"a"</PartNumber></Part>'),
      ],
      ['a closing tag with no opening tag', `</Part>${xmlOf(part(1))}`],
      ['an unknown named entity', xmlOf(part(1, '&nbsp;'))],
      ['a comment', xmlOf(`<!-- note -->${part(1)}`)],
      [
        'a CDATA section',
        xmlOf('<Part><PartNumber>1</PartNumber><ETag><![CDATA["a"]]></ETag></Part>'),
      ],
      ['a processing instruction inside the document', xmlOf(`<?php echo 1; ?>${part(1)}`)],
    ])('refuses %s with MalformedXML', (_label, xml) => {
      expectRefused(xml, 'MalformedXML');
    });

    it.each([
      ['above U+10FFFF in hex', '&#x110000;'],
      ['above U+10FFFF in decimal', '&#1114112;'],
      ['with seven decimal digits', '&#9999999;'],
    ])('refuses a character reference %s with MalformedXML', (_label, reference) => {
      expectRefused(xmlOf(part(1, `"${reference}"`)), 'MalformedXML');
    });
  });

  describe('DTDs and entities', () => {
    it('refuses the billion-laughs entity expansion with MalformedXML', () => {
      const xml = `<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&lol9;</ETag></Part></CompleteMultipartUpload>`;
      expectRefused(xml, 'MalformedXML');
    });

    it('refuses an external entity with MalformedXML', () => {
      const xml = `<?xml version="1.0"?>
<!DOCTYPE CompleteMultipartUpload [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&xxe;</ETag></Part></CompleteMultipartUpload>`;
      expectRefused(xml, 'MalformedXML');
    });

    it('refuses a parameter entity pointing at a remote DTD with MalformedXML', () => {
      const xml = `<!DOCTYPE r [ <!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote; ]>${xmlOf(part(1))}`;
      expectRefused(xml, 'MalformedXML');
    });

    it('refuses a DOCTYPE without an internal subset with MalformedXML', () => {
      expectRefused(
        `<!DOCTYPE CompleteMultipartUpload SYSTEM "http://127.0.0.1:9/x.dtd">${xmlOf(part(1))}`,
        'MalformedXML',
      );
    });

    it('refuses an entity reference that no DTD declares with MalformedXML', () => {
      expectRefused(xmlOf(part(1, '&xxe;')), 'MalformedXML');
    });
  });
});

describe('normalizeEtag', () => {
  it.each([
    ['"0cc175b9c0f1b6a831c399e269772661"', '0cc175b9c0f1b6a831c399e269772661'],
    ['0cc175b9c0f1b6a831c399e269772661', '0cc175b9c0f1b6a831c399e269772661'],
    ['"3858f62230ac3c915f300c664312c11f-9"', '3858f62230ac3c915f300c664312c11f-9'],
    ['  "abc"  ', 'abc'],
    ['""', ''],
    ['"', '"'],
    ['"abc', '"abc'],
    ['abc"', 'abc"'],
  ])('normalises %p to %p', (etag, normalized) => {
    expect(normalizeEtag(etag)).toBe(normalized);
  });

  it('makes the quoted and the unquoted form of one ETag compare equal', () => {
    expect(normalizeEtag('"abc"')).toBe(normalizeEtag('abc'));
  });
});
