import { createHash } from 'node:crypto';
import { S3Error } from './errors';
import {
  CHECKSUM_HEADERS,
  OPTIONAL_FORWARDED_HEADERS,
  readObjectAttributes,
  responseHeaders,
  storedContentEncoding,
  type ChecksumAlgorithmName,
  type RawHeaders,
} from './headers';

// Header names below are lower-case because that is how Node's http module presents them.

const MD5_OF_HELLO = createHash('md5').update('hello').digest('base64');

function s3ErrorFrom(fn: () => unknown): S3Error {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(S3Error);
    return err as S3Error;
  }
  throw new Error('expected an S3Error, but nothing was thrown');
}

describe('readObjectAttributes', () => {
  it('reads every forwarded object attribute', () => {
    const attrs = readObjectAttributes(
      {
        'content-type': 'image/png',
        'content-encoding': 'gzip',
        'content-disposition': 'attachment; filename="a.png"',
        'content-language': 'ja-JP',
        'cache-control': 'max-age=3600, public',
        expires: 'Wed, 21 Oct 2026 07:28:00 GMT',
        'content-md5': MD5_OF_HELLO,
      },
      [],
    );
    expect(attrs).toEqual({
      contentType: 'image/png',
      contentEncoding: 'gzip',
      contentDisposition: 'attachment; filename="a.png"',
      contentLanguage: 'ja-JP',
      cacheControl: 'max-age=3600, public',
      expires: 'Wed, 21 Oct 2026 07:28:00 GMT',
      contentMd5: MD5_OF_HELLO,
      metadata: {},
      optional: {},
    });
  });

  it('leaves absent attributes undefined', () => {
    const attrs = readObjectAttributes({}, []);
    expect(attrs.contentType).toBeUndefined();
    expect(attrs.contentEncoding).toBeUndefined();
    expect(attrs.contentMd5).toBeUndefined();
    expect(attrs.checksum).toBeUndefined();
    expect(attrs.metadata).toEqual({});
    expect(attrs.optional).toEqual({});
  });

  describe('user metadata', () => {
    it('collects x-amz-meta-* under lower-case names without the prefix', () => {
      const attrs = readObjectAttributes(
        { 'x-amz-meta-author': 'Mizuchi', 'x-amz-meta-camera-model': 'X100V' },
        [],
      );
      expect(attrs.metadata).toEqual({ author: 'Mizuchi', 'camera-model': 'X100V' });
    });

    it('keeps the letter case and spaces of metadata values', () => {
      const attrs = readObjectAttributes({ 'x-amz-meta-title': 'Hello  World' }, []);
      expect(attrs.metadata.title).toBe('Hello  World');
    });

    it('joins a repeated metadata header with commas', () => {
      const attrs = readObjectAttributes({ 'x-amz-meta-tag': ['a', 'b'] }, []);
      expect(attrs.metadata.tag).toBe('a,b');
    });

    it('ignores a bare x-amz-meta- header with no name', () => {
      expect(readObjectAttributes({ 'x-amz-meta-': 'x' }, []).metadata).toEqual({});
    });

    it('does not mistake other x-amz headers for metadata', () => {
      const attrs = readObjectAttributes(
        { 'x-amz-metadata-directive': 'REPLACE', 'x-amz-date': '20240102T030405Z' },
        [],
      );
      expect(attrs.metadata).toEqual({});
    });
  });

  describe('Content-Encoding', () => {
    it.each([
      ['aws-chunked', undefined],
      ['AWS-Chunked', undefined],
      ['gzip,aws-chunked', 'gzip'],
      ['aws-chunked,gzip', 'gzip'],
      ['gzip, aws-chunked', 'gzip'],
      [' aws-chunked , br ', 'br'],
      ['gzip', 'gzip'],
      ['gzip, br', 'gzip, br'],
      ['', undefined],
    ])('stores %p as %p', (sent, stored) => {
      const attrs = readObjectAttributes({ 'content-encoding': sent }, []);
      expect(attrs.contentEncoding).toBe(stored);
      expect(storedContentEncoding(sent)).toBe(stored);
    });

    it('treats a missing header as no encoding', () => {
      expect(storedContentEncoding(undefined)).toBeUndefined();
    });
  });

  describe('Content-MD5', () => {
    it('accepts the base64 of a 16-byte digest', () => {
      expect(readObjectAttributes({ 'content-md5': MD5_OF_HELLO }, []).contentMd5).toBe(
        MD5_OF_HELLO,
      );
    });

    it.each([
      ['the hex form of an MD5', createHash('md5').update('hello').digest('hex')],
      ['text that is not base64', 'not an md5!'],
      ['base64 of 15 bytes', Buffer.alloc(15, 1).toString('base64')],
      ['base64 of 17 bytes', Buffer.alloc(17, 1).toString('base64')],
      ['an empty value', ''],
      ['base64url characters', 'XUFAKrxL-na5cZ2REBf_kg=='],
    ])('refuses %s with InvalidDigest', (_label, value) => {
      const err = s3ErrorFrom(() => readObjectAttributes({ 'content-md5': value }, []));
      expect(err.code).toBe('InvalidDigest');
      expect(err.status).toBe(400);
    });
  });

  describe('checksum headers', () => {
    it.each(Object.entries(CHECKSUM_HEADERS) as Array<[ChecksumAlgorithmName, string]>)(
      'reads %s from %s',
      (algorithm, name) => {
        const value = createHash('sha256').update(name).digest('base64');
        expect(readObjectAttributes({ [name]: value }, []).checksum).toEqual({ algorithm, value });
      },
    );

    it('refuses two checksum headers with InvalidRequest', () => {
      const err = s3ErrorFrom(() =>
        readObjectAttributes(
          { 'x-amz-checksum-crc32': 'AAAAAA==', 'x-amz-checksum-sha256': MD5_OF_HELLO },
          [],
        ),
      );
      expect(err.code).toBe('InvalidRequest');
      expect(err.status).toBe(400);
    });

    it('refuses a checksum value that is not base64 with InvalidDigest', () => {
      const err = s3ErrorFrom(() => readObjectAttributes({ 'x-amz-checksum-crc32': 'zz zz' }, []));
      expect(err.code).toBe('InvalidDigest');
    });

    it('does not take the algorithm declarations for a checksum value', () => {
      const attrs = readObjectAttributes(
        { 'x-amz-sdk-checksum-algorithm': 'CRC32', 'x-amz-checksum-algorithm': 'CRC32' },
        [],
      );
      expect(attrs.checksum).toBeUndefined();
    });
  });

  describe('route-enabled headers', () => {
    const extras: RawHeaders = {
      'x-amz-storage-class': 'STANDARD_IA',
      'x-amz-server-side-encryption': 'aws:kms',
      'x-amz-server-side-encryption-aws-kms-key-id': 'key-1',
      'x-amz-server-side-encryption-context': 'e30=',
      'x-amz-server-side-encryption-bucket-key-enabled': 'true',
      'x-amz-tagging': 'project=mizuchi',
      'x-amz-acl': 'public-read',
    };

    it('drops every optional header when the route allows none', () => {
      expect(readObjectAttributes(extras, []).optional).toEqual({});
    });

    it('forwards only the headers the route allows', () => {
      const attrs = readObjectAttributes(extras, ['x-amz-storage-class', 'x-amz-tagging']);
      expect(attrs.optional).toEqual({
        'x-amz-storage-class': 'STANDARD_IA',
        'x-amz-tagging': 'project=mizuchi',
      });
    });

    it('forwards each optional header once allowed', () => {
      const attrs = readObjectAttributes(extras, OPTIONAL_FORWARDED_HEADERS);
      expect(attrs.optional).toEqual(extras);
    });

    it('does not invent an allowed header the client did not send', () => {
      expect(readObjectAttributes({}, ['x-amz-storage-class']).optional).toEqual({});
    });

    it('replaces the client ACL with the forced one', () => {
      const attrs = readObjectAttributes(
        { 'x-amz-acl': 'public-read-write' },
        ['x-amz-acl'],
        'private',
      );
      expect(attrs.optional['x-amz-acl']).toBe('private');
    });

    it('applies a forced ACL even when the route does not forward x-amz-acl', () => {
      const attrs = readObjectAttributes({ 'x-amz-acl': 'public-read' }, [], 'bucket-owner-read');
      expect(attrs.optional).toEqual({ 'x-amz-acl': 'bucket-owner-read' });
    });
  });

  it('never carries Authorization, hop-by-hop or request-control headers', () => {
    const secret = 'SECRET-VALUE-THAT-MUST-NOT-LEAK';
    const headers: RawHeaders = {
      'content-type': 'text/plain',
      authorization: `AWS4-HMAC-SHA256 Credential=${secret}`,
      'proxy-authorization': secret,
      connection: secret,
      'keep-alive': secret,
      'transfer-encoding': secret,
      te: secret,
      trailer: secret,
      upgrade: secret,
      'proxy-connection': secret,
      host: secret,
      'content-length': secret,
      'x-amz-content-sha256': secret,
      'x-amz-decoded-content-length': secret,
      'x-amz-date': secret,
      'x-amz-security-token': secret,
      'x-amz-trailer': secret,
      'x-amz-copy-source': secret,
      'x-amz-grant-full-control': secret,
      'x-amz-website-redirect-location': secret,
      'x-amz-object-lock-mode': secret,
    };
    const attrs = readObjectAttributes(headers, OPTIONAL_FORWARDED_HEADERS);
    expect(JSON.stringify(attrs)).not.toContain(secret);
    expect(attrs.contentType).toBe('text/plain');
  });

  it.each([
    ['x-amz-meta-note', 'left\tright'],
    ['content-type', 'text/plain;\tcharset=utf-8'],
    ['cache-control', 'no-cache\x7f'],
    ['x-amz-tagging', 'a=b\tc'],
  ])('refuses a control character in %s, naming the header', (name, value) => {
    const err = s3ErrorFrom(() =>
      readObjectAttributes({ [name]: value }, OPTIONAL_FORWARDED_HEADERS),
    );
    expect(err.code).toBe('InvalidArgument');
    expect(err.message).toContain(name);
  });

  it('ignores a control character in a header it does not forward', () => {
    const attrs = readObjectAttributes({ 'x-amz-tagging': 'a=b\tc', 'user-agent': 'x\ty' });
    expect(attrs.optional).toEqual({});
  });
});

describe('responseHeaders', () => {
  it('always returns the ETag as S3 spells it', () => {
    expect(responseHeaders({ etag: '"d41d8cd98f00b204e9800998ecf8427e"' })).toEqual({
      ETag: '"d41d8cd98f00b204e9800998ecf8427e"',
    });
  });

  it('returns the version id, checksum and encryption details that are known', () => {
    expect(
      responseHeaders({
        etag: '"abc-2"',
        versionId: 'v-123',
        checksum: { algorithm: 'CRC64NVME', value: 'AAAAAAAAAAA=' },
        serverSideEncryption: 'aws:kms',
        sseKmsKeyId: 'arn:aws:kms:us-east-1:111122223333:key/k',
        bucketKeyEnabled: true,
      }),
    ).toEqual({
      ETag: '"abc-2"',
      'x-amz-version-id': 'v-123',
      'x-amz-checksum-crc64nvme': 'AAAAAAAAAAA=',
      'x-amz-server-side-encryption': 'aws:kms',
      'x-amz-server-side-encryption-aws-kms-key-id': 'arn:aws:kms:us-east-1:111122223333:key/k',
      'x-amz-server-side-encryption-bucket-key-enabled': 'true',
    });
  });

  it.each(Object.entries(CHECKSUM_HEADERS) as Array<[ChecksumAlgorithmName, string]>)(
    'names a %s checksum %s',
    (algorithm, name) => {
      const out = responseHeaders({ etag: '"e"', checksum: { algorithm, value: 'v' } });
      expect(out[name]).toBe('v');
    },
  );

  it('writes a disabled bucket key as "false"', () => {
    expect(
      responseHeaders({ etag: '"e"', bucketKeyEnabled: false })[
        'x-amz-server-side-encryption-bucket-key-enabled'
      ],
    ).toBe('false');
  });
});
