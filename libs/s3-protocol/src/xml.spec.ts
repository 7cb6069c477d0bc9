import { Readable } from 'node:stream';
import {
  ListPartsCommand,
  S3Client,
  S3ServiceException,
  type ListPartsCommandOutput,
} from '@aws-sdk/client-s3';
import { escapeXml, renderErrorXml, renderListParts, renderXmlDocument } from './xml';

const DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';
const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/**
 * An SDK client whose every request is answered, in process, with `status` and `xml`:
 * nothing leaves the process, and the SDK's own deserialisers read the document.
 */
function clientAnswering(status: number, xml: string): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    forcePathStyle: true,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    maxAttempts: 1,
    requestHandler: {
      handle: () =>
        Promise.resolve({
          response: {
            statusCode: status,
            headers: { 'content-type': 'application/xml', 'x-amz-request-id': 'req-1' },
            body: Readable.from([Buffer.from(xml, 'utf8')]),
          },
        }),
    },
  });
}

describe('escapeXml', () => {
  it('escapes the five XML special characters', () => {
    expect(escapeXml(`<a href="x">Tom & Jerry's</a>`)).toBe(
      '&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&apos;s&lt;/a&gt;',
    );
  });

  it('escapes an ampersand that already looks like an entity', () => {
    expect(escapeXml('&amp;')).toBe('&amp;amp;');
  });

  it('leaves other text, Unicode included, unchanged', () => {
    expect(escapeXml('水蛟 🐉 a/b?c=d')).toBe('水蛟 🐉 a/b?c=d');
  });
});

describe('renderErrorXml', () => {
  it('renders the S3 Error document with the declaration', () => {
    expect(
      renderErrorXml({
        code: 'MethodNotAllowed',
        message: 'Upload-only.',
        resource: '/uploads/a.txt',
        requestId: 'req-1',
      }),
    ).toBe(
      `${DECLARATION}<Error><Code>MethodNotAllowed</Code><Message>Upload-only.</Message>` +
        '<Resource>/uploads/a.txt</Resource><RequestId>req-1</RequestId></Error>',
    );
  });

  it('escapes markup in every field, so a key cannot inject elements', () => {
    const xml = renderErrorXml({
      code: 'A&B',
      message: 'bad <Code>x</Code>',
      resource: '/uploads/"quoted"&\'apos\'<x>',
      requestId: '<id>',
    });
    expect(xml).toContain('<Code>A&amp;B</Code>');
    expect(xml).toContain('<Message>bad &lt;Code&gt;x&lt;/Code&gt;</Message>');
    expect(xml).toContain(
      '<Resource>/uploads/&quot;quoted&quot;&amp;&apos;apos&apos;&lt;x&gt;</Resource>',
    );
    expect(xml).toContain('<RequestId>&lt;id&gt;</RequestId>');
    expect(xml.match(/<Code>/g)).toHaveLength(1);
  });

  it('is read by @aws-sdk/client-s3 as an error with its code and message', async () => {
    const client = clientAnswering(
      405,
      renderErrorXml({
        code: 'MethodNotAllowed',
        message: 'This gateway is upload-only & refuses <reads>.',
        resource: '/uploads',
        requestId: 'req-1',
      }),
    );
    let caught: unknown;
    try {
      await client.send(new ListPartsCommand({ Bucket: 'uploads', Key: 'k', UploadId: 'u' }));
    } catch (err) {
      caught = err;
    } finally {
      client.destroy();
    }
    expect(caught).toBeInstanceOf(S3ServiceException);
    const error = caught as S3ServiceException;
    expect(error.name).toBe('MethodNotAllowed');
    expect(error.message).toBe('This gateway is upload-only & refuses <reads>.');
    expect(error.$metadata.httpStatusCode).toBe(405);
  });
});

describe('renderXmlDocument', () => {
  it('puts the S3 namespace on the root element', () => {
    expect(renderXmlDocument('InitiateMultipartUploadResult', { Bucket: 'b' })).toBe(
      `${DECLARATION}<InitiateMultipartUploadResult xmlns="${XMLNS}"><Bucket>b</Bucket></InitiateMultipartUploadResult>`,
    );
  });

  it('writes fields in insertion order and escapes their text', () => {
    expect(
      renderXmlDocument('InitiateMultipartUploadResult', {
        Bucket: 'uploads',
        Key: 'a&b <c>.txt',
        UploadId: 'm1.abc.def',
      }),
    ).toBe(
      `${DECLARATION}<InitiateMultipartUploadResult xmlns="${XMLNS}">` +
        '<Bucket>uploads</Bucket><Key>a&amp;b &lt;c&gt;.txt</Key><UploadId>m1.abc.def</UploadId>' +
        '</InitiateMultipartUploadResult>',
    );
  });

  it('omits undefined fields, and writes numbers and booleans as text', () => {
    expect(renderXmlDocument('R', { A: undefined, B: 0, C: false, D: true, E: '' })).toBe(
      `${DECLARATION}<R xmlns="${XMLNS}"><B>0</B><C>false</C><D>true</D><E></E></R>`,
    );
  });

  it('repeats an element for every item of an array and nests objects', () => {
    expect(renderXmlDocument('R', { Item: [{ N: 1 }, { N: 2, M: 'x' }], Empty: [] })).toBe(
      `${DECLARATION}<R xmlns="${XMLNS}"><Item><N>1</N></Item><Item><N>2</N><M>x</M></Item></R>`,
    );
  });
});

describe('renderListParts', () => {
  const input = {
    bucket: 'uploads',
    key: 'photos/水蛟 & friends.jpg',
    uploadId: 'm1.YWJj.tag',
    partNumberMarker: 0,
    nextPartNumberMarker: 2,
    maxParts: 1000,
    isTruncated: true,
    parts: [
      {
        partNumber: 1,
        etag: '"0cc175b9c0f1b6a831c399e269772661"',
        size: 5 * 1024 * 1024,
        lastModified: new Date('2024-01-02T03:04:05.000Z'),
        checksums: { crc32: 'y/Q5Jg==', sha256: 'FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=' },
      },
      {
        partNumber: 2,
        etag: '"92eb5ffee6ae2fec3ad71c777531578f"',
        size: 17,
        lastModified: new Date('2024-01-02T03:04:06.789Z'),
      },
    ],
  };

  it('renders a ListPartsResult with one Part element per part', () => {
    const xml = renderListParts(input);
    expect(xml.startsWith(`${DECLARATION}<ListPartsResult xmlns="${XMLNS}">`)).toBe(true);
    expect(xml.endsWith('</ListPartsResult>')).toBe(true);
    expect(xml.match(/<Part>/g)).toHaveLength(2);
    expect(xml).toContain('<Key>photos/水蛟 &amp; friends.jpg</Key>');
    expect(xml).toContain('<StorageClass>STANDARD</StorageClass>');
    expect(xml).toContain(
      '<Part><PartNumber>1</PartNumber><LastModified>2024-01-02T03:04:05.000Z</LastModified>' +
        '<ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag><Size>5242880</Size>' +
        '<ChecksumCRC32>y/Q5Jg==</ChecksumCRC32>' +
        '<ChecksumSHA256>FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=</ChecksumSHA256></Part>',
    );
  });

  it('is read by @aws-sdk/client-s3 into the ListParts output', async () => {
    const client = clientAnswering(200, renderListParts({ ...input, storageClass: 'STANDARD_IA' }));
    let out: ListPartsCommandOutput;
    try {
      out = await client.send(
        new ListPartsCommand({ Bucket: 'uploads', Key: input.key, UploadId: input.uploadId }),
      );
    } finally {
      client.destroy();
    }
    expect(out.Bucket).toBe('uploads');
    expect(out.Key).toBe('photos/水蛟 & friends.jpg');
    expect(out.UploadId).toBe('m1.YWJj.tag');
    expect(out.PartNumberMarker).toBe('0');
    expect(out.NextPartNumberMarker).toBe('2');
    expect(out.MaxParts).toBe(1000);
    expect(out.IsTruncated).toBe(true);
    expect(out.StorageClass).toBe('STANDARD_IA');
    expect(out.Parts).toEqual([
      {
        PartNumber: 1,
        LastModified: new Date('2024-01-02T03:04:05.000Z'),
        ETag: '"0cc175b9c0f1b6a831c399e269772661"',
        Size: 5242880,
        ChecksumCRC32: 'y/Q5Jg==',
        ChecksumSHA256: 'FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=',
      },
      {
        PartNumber: 2,
        LastModified: new Date('2024-01-02T03:04:06.789Z'),
        ETag: '"92eb5ffee6ae2fec3ad71c777531578f"',
        Size: 17,
      },
    ]);
  });

  it('leaves out NextPartNumberMarker and every Part when there are none', () => {
    const xml = renderListParts({
      ...input,
      nextPartNumberMarker: undefined,
      isTruncated: false,
      parts: [],
    });
    expect(xml).not.toContain('<Part>');
    expect(xml).not.toContain('NextPartNumberMarker');
    expect(xml).toContain('<IsTruncated>false</IsTruncated>');
  });
});
