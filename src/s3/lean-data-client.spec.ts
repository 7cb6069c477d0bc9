/**
 * The pure parts of the lean data path: S3 path encoding and the attribute headers, checked
 * against what the AWS SDK itself puts on the wire for the same PutObject.
 */
import type { ObjectAttributes } from '@mizuchi/s3-protocol';
import { attributeHeaders, encodeKeyPath } from './lean-data-client';

describe('encodeKeyPath', () => {
  it.each([
    ['plain/key.txt', 'plain/key.txt'],
    ['my folder/my file.jpg', 'my%20folder/my%20file.jpg'],
    ['a+b=c&d.txt', 'a%2Bb%3Dc%26d.txt'],
    ["odd !*'() name", 'odd%20%21%2A%27%28%29%20name'],
    ['résumé/日本.txt', 'r%C3%A9sum%C3%A9/%E6%97%A5%E6%9C%AC.txt'],
    ['unreserved-._~', 'unreserved-._~'],
    ['trailing/', 'trailing/'],
    ['double//slash', 'double//slash'],
  ])('encodes %j as %j', (key, encoded) => {
    expect(encodeKeyPath(key)).toBe(encoded);
  });
});

describe('attributeHeaders', () => {
  it('maps every attribute to the header S3 reads it from', () => {
    const attrs: ObjectAttributes = {
      contentType: 'image/png',
      contentEncoding: 'gzip',
      contentDisposition: 'attachment; filename="a.png"',
      contentLanguage: 'en',
      cacheControl: 'max-age=60',
      expires: 'Wed, 21 Oct 2026 07:28:00 GMT',
      contentMd5: 'XrY7u+Ae7tCTyyK7j1rNww==',
      metadata: { owner: 'alice', 'x-y': 'z' },
      checksum: { algorithm: 'CRC32', value: 'AAAAAA==' },
      optional: { 'x-amz-storage-class': 'STANDARD_IA', 'x-amz-tagging': 'a=b' },
    };
    expect(attributeHeaders(attrs)).toEqual({
      'content-type': 'image/png',
      'content-encoding': 'gzip',
      'content-disposition': 'attachment; filename="a.png"',
      'content-language': 'en',
      'cache-control': 'max-age=60',
      expires: 'Wed, 21 Oct 2026 07:28:00 GMT',
      'content-md5': 'XrY7u+Ae7tCTyyK7j1rNww==',
      'x-amz-meta-owner': 'alice',
      'x-amz-meta-x-y': 'z',
      'x-amz-checksum-crc32': 'AAAAAA==',
      'x-amz-storage-class': 'STANDARD_IA',
      'x-amz-tagging': 'a=b',
    });
  });

  it('leaves out what is absent, and an Expires that is not a date', () => {
    expect(attributeHeaders({ metadata: {}, optional: {}, expires: 'not a date' })).toEqual({});
  });
});
