/**
 * SigV4 verification against AWS's published S3 examples and against signatures made by
 * `@smithy/signature-v4` (the signer inside the AWS SDK for JavaScript v3).
 *
 * The fixtures are the "Examples" of the S3 API reference, written out as the pages give them:
 * - https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
 *   (GET object with a range, PUT object with content, GET bucket lifecycle, GET bucket list)
 * - https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html (presigned GET)
 * - https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html (seed + chunk signatures)
 * - https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html (with a trailer)
 * Every published value is also recomputed here with node:crypto alone, so a typo in a fixture
 * cannot hide behind the code under test.
 */
import { createHash, createHmac } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AwsChunkedDecoder } from '@mizuchi/s3-protocol';
import { encodeAwsChunked } from '@mizuchi/s3-protocol/aws-chunked.testing';
import { SignatureV4 } from '@smithy/signature-v4';
import type { HttpRequest, QueryParameterBag } from '@smithy/types';
import {
  ChunkSignatureChain,
  EMPTY_SHA256,
  MAX_PRESIGN_SECONDS,
  SigV4Error,
  canonicalRequest,
  credentialScope,
  hasSigV4,
  parseAmzDate,
  parseSigV4,
  signaturesEqual,
  signingKey,
  stringToSign,
  verifySigV4,
  type SigV4ErrorCode,
  type SigV4Request,
  type VerifiedSigV4,
  type VerifyOptions,
} from './sigv4';
import { Sha256, sdkEncode } from '../../testing/smithy-signing';

// ---------------------------------------------------------------------------------------------
// Independent reference computations (node:crypto only, no code under test)

function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function referenceSigningKey(secret: string, date: string, region: string, service: string) {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

function referenceSignature(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text, 'utf8').digest('hex');
}

// ---------------------------------------------------------------------------------------------
// The AWS example credentials and date

const EXAMPLE_KEY = 'AKIAIOSFODNN7EXAMPLE';
const EXAMPLE_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const EXAMPLE_DATE = '20130524T000000Z';
const EXAMPLE_SCOPE = '20130524/us-east-1/s3/aws4_request';
const EXAMPLE_NOW = new Date('2013-05-24T00:00:00Z');
const EXAMPLE_SIGNING_KEY = referenceSigningKey(EXAMPLE_SECRET, '20130524', 'us-east-1', 's3');

const exampleOptions = (over: Partial<VerifyOptions> = {}): VerifyOptions => ({
  secretFor: (id) => (id === EXAMPLE_KEY ? EXAMPLE_SECRET : undefined),
  region: 'us-east-1',
  maxSkewSeconds: 900,
  now: EXAMPLE_NOW,
  ...over,
});

/** One published example: the request, and the canonical request, string to sign and signature. */
interface PublishedExample {
  name: string;
  request: SigV4Request;
  canonicalRequest: string;
  stringToSign: string;
  signature: string;
}

function authorization(signedHeaders: string, signature: string): string {
  return (
    `AWS4-HMAC-SHA256 Credential=${EXAMPLE_KEY}/${EXAMPLE_SCOPE},` +
    `SignedHeaders=${signedHeaders},Signature=${signature}`
  );
}

const GET_OBJECT: PublishedExample = {
  name: 'GET object with a range',
  request: {
    method: 'GET',
    rawPath: '/test.txt',
    rawQuery: '',
    headers: {
      host: 'examplebucket.s3.amazonaws.com',
      range: 'bytes=0-9',
      'x-amz-content-sha256': EMPTY_SHA256,
      'x-amz-date': EXAMPLE_DATE,
      authorization: authorization(
        'host;range;x-amz-content-sha256;x-amz-date',
        'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
      ),
    },
  },
  canonicalRequest: [
    'GET',
    '/test.txt',
    '',
    'host:examplebucket.s3.amazonaws.com',
    'range:bytes=0-9',
    'x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    'x-amz-date:20130524T000000Z',
    '',
    'host;range;x-amz-content-sha256;x-amz-date',
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  ].join('\n'),
  stringToSign: [
    'AWS4-HMAC-SHA256',
    '20130524T000000Z',
    '20130524/us-east-1/s3/aws4_request',
    '7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972',
  ].join('\n'),
  signature: 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
};

const PUT_OBJECT_PAYLOAD = 'Welcome to Amazon S3.';
const PUT_OBJECT: PublishedExample = {
  name: 'PUT object with content',
  request: {
    method: 'PUT',
    // The page writes the request line as `PUT test$file.text`: the $ arrives unencoded.
    rawPath: '/test$file.text',
    rawQuery: '',
    headers: {
      host: 'examplebucket.s3.amazonaws.com',
      date: 'Fri, 24 May 2013 00:00:00 GMT',
      'x-amz-date': EXAMPLE_DATE,
      'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      'x-amz-content-sha256': '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
      authorization: authorization(
        'date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class',
        '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd',
      ),
    },
  },
  canonicalRequest: [
    'PUT',
    '/test%24file.text',
    '',
    'date:Fri, 24 May 2013 00:00:00 GMT',
    'host:examplebucket.s3.amazonaws.com',
    'x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
    'x-amz-date:20130524T000000Z',
    'x-amz-storage-class:REDUCED_REDUNDANCY',
    '',
    'date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class',
    '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
  ].join('\n'),
  stringToSign: [
    'AWS4-HMAC-SHA256',
    '20130524T000000Z',
    '20130524/us-east-1/s3/aws4_request',
    '9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d',
  ].join('\n'),
  signature: '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd',
};

const GET_LIFECYCLE: PublishedExample = {
  name: 'GET bucket lifecycle',
  request: {
    method: 'GET',
    rawPath: '/',
    rawQuery: 'lifecycle',
    headers: {
      host: 'examplebucket.s3.amazonaws.com',
      'x-amz-date': EXAMPLE_DATE,
      'x-amz-content-sha256': EMPTY_SHA256,
      authorization: authorization(
        'host;x-amz-content-sha256;x-amz-date',
        'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543',
      ),
    },
  },
  canonicalRequest: [
    'GET',
    '/',
    'lifecycle=',
    'host:examplebucket.s3.amazonaws.com',
    'x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    'x-amz-date:20130524T000000Z',
    '',
    'host;x-amz-content-sha256;x-amz-date',
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  ].join('\n'),
  stringToSign: [
    'AWS4-HMAC-SHA256',
    '20130524T000000Z',
    '20130524/us-east-1/s3/aws4_request',
    '9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca',
  ].join('\n'),
  signature: 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543',
};

const GET_BUCKET: PublishedExample = {
  name: 'GET bucket (list objects)',
  request: {
    method: 'GET',
    rawPath: '/',
    rawQuery: 'max-keys=2&prefix=J',
    headers: {
      host: 'examplebucket.s3.amazonaws.com',
      'x-amz-date': EXAMPLE_DATE,
      'x-amz-content-sha256': EMPTY_SHA256,
      authorization: authorization(
        'host;x-amz-content-sha256;x-amz-date',
        '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7',
      ),
    },
  },
  canonicalRequest: [
    'GET',
    '/',
    'max-keys=2&prefix=J',
    'host:examplebucket.s3.amazonaws.com',
    'x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    'x-amz-date:20130524T000000Z',
    '',
    'host;x-amz-content-sha256;x-amz-date',
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  ].join('\n'),
  stringToSign: [
    'AWS4-HMAC-SHA256',
    '20130524T000000Z',
    '20130524/us-east-1/s3/aws4_request',
    'df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7',
  ].join('\n'),
  signature: '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7',
};

const PRESIGNED_SIGNATURE = 'aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404';
const PRESIGNED_GET: PublishedExample = {
  name: 'presigned GET object (query-string authentication)',
  request: {
    method: 'GET',
    rawPath: '/test.txt',
    rawQuery: [
      'X-Amz-Algorithm=AWS4-HMAC-SHA256',
      'X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request',
      'X-Amz-Date=20130524T000000Z',
      'X-Amz-Expires=86400',
      'X-Amz-SignedHeaders=host',
      `X-Amz-Signature=${PRESIGNED_SIGNATURE}`,
    ].join('&'),
    headers: { host: 'examplebucket.s3.amazonaws.com' },
  },
  canonicalRequest: [
    'GET',
    '/test.txt',
    'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host',
    'host:examplebucket.s3.amazonaws.com',
    '',
    'host',
    'UNSIGNED-PAYLOAD',
  ].join('\n'),
  stringToSign: [
    'AWS4-HMAC-SHA256',
    '20130524T000000Z',
    '20130524/us-east-1/s3/aws4_request',
    '3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04',
  ].join('\n'),
  signature: PRESIGNED_SIGNATURE,
};

/** sigv4-streaming.html: 66560 bytes of 'a' sent as a 65536-byte chunk, a 1024-byte one, and 0. */
const STREAMING_DATA = Buffer.alloc(66560, 'a');
const STREAMING_CHUNK_SIGNATURES = [
  'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648',
  '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497',
  'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9',
];
const STREAMING: PublishedExample = {
  name: 'PUT object with STREAMING-AWS4-HMAC-SHA256-PAYLOAD (seed signature)',
  request: {
    method: 'PUT',
    rawPath: '/examplebucket/chunkObject.txt',
    rawQuery: '',
    headers: {
      host: 's3.amazonaws.com',
      'x-amz-date': EXAMPLE_DATE,
      'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': '66560',
      'content-length': '66824',
      authorization: authorization(
        'content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class',
        '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
      ),
    },
  },
  canonicalRequest: [
    'PUT',
    '/examplebucket/chunkObject.txt',
    '',
    'content-encoding:aws-chunked',
    'content-length:66824',
    'host:s3.amazonaws.com',
    'x-amz-content-sha256:STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
    'x-amz-date:20130524T000000Z',
    'x-amz-decoded-content-length:66560',
    'x-amz-storage-class:REDUCED_REDUNDANCY',
    '',
    'content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class',
    'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
  ].join('\n'),
  stringToSign: [
    'AWS4-HMAC-SHA256',
    '20130524T000000Z',
    '20130524/us-east-1/s3/aws4_request',
    'cee3fed04b70f867d036f722359b0b1f2f0e5dc0efadbc082b76c4c60e316455',
  ].join('\n'),
  signature: '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
};

/** sigv4-streaming-trailers.html: the same data, with a CRC32C trailer and a trailer signature. */
const TRAILER_CHUNK_SIGNATURES = [
  'b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2',
  '1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7',
  '2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992',
];
const TRAILER_HEADERS = 'x-amz-checksum-crc32c:sOO8/Q==\n';
const TRAILER_SIGNATURE = 'd81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435';
const STREAMING_TRAILER: PublishedExample = {
  name: 'PUT object with STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER (seed signature)',
  request: {
    method: 'PUT',
    rawPath: '/examplebucket/chunkObject.txt',
    rawQuery: '',
    headers: {
      host: 's3.amazonaws.com',
      'x-amz-date': EXAMPLE_DATE,
      'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': '66560',
      'x-amz-trailer': 'x-amz-checksum-crc32c',
      authorization: authorization(
        'content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer',
        '106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e',
      ),
    },
  },
  canonicalRequest: [
    'PUT',
    '/examplebucket/chunkObject.txt',
    '',
    'content-encoding:aws-chunked',
    'host:s3.amazonaws.com',
    'x-amz-content-sha256:STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
    'x-amz-date:20130524T000000Z',
    'x-amz-decoded-content-length:66560',
    'x-amz-storage-class:REDUCED_REDUNDANCY',
    'x-amz-trailer:x-amz-checksum-crc32c',
    '',
    'content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer',
    'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
  ].join('\n'),
  stringToSign: [
    'AWS4-HMAC-SHA256',
    '20130524T000000Z',
    '20130524/us-east-1/s3/aws4_request',
    sha256Hex(
      [
        'PUT',
        '/examplebucket/chunkObject.txt',
        '',
        'content-encoding:aws-chunked',
        'host:s3.amazonaws.com',
        'x-amz-content-sha256:STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
        'x-amz-date:20130524T000000Z',
        'x-amz-decoded-content-length:66560',
        'x-amz-storage-class:REDUCED_REDUNDANCY',
        'x-amz-trailer:x-amz-checksum-crc32c',
        '',
        'content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer',
        'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
      ].join('\n'),
    ),
  ].join('\n'),
  signature: '106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e',
};

const PUBLISHED: PublishedExample[] = [
  GET_OBJECT,
  PUT_OBJECT,
  GET_LIFECYCLE,
  GET_BUCKET,
  PRESIGNED_GET,
  STREAMING,
  STREAMING_TRAILER,
];

/** The chunk string to sign of sigv4-streaming.html, computed independently. */
function referenceChunkSignature(previous: string, chunk: Buffer): string {
  return referenceSignature(
    EXAMPLE_SIGNING_KEY,
    [
      'AWS4-HMAC-SHA256-PAYLOAD',
      EXAMPLE_DATE,
      EXAMPLE_SCOPE,
      previous,
      sha256Hex(''),
      sha256Hex(chunk),
    ].join('\n'),
  );
}

const STREAMING_CHUNKS = [
  STREAMING_DATA.subarray(0, 65536),
  STREAMING_DATA.subarray(65536),
  Buffer.alloc(0),
];

function expectSigV4Error(run: () => unknown, code: SigV4ErrorCode): SigV4Error {
  let caught: unknown;
  try {
    run();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SigV4Error);
  expect((caught as SigV4Error).code).toBe(code);
  return caught as SigV4Error;
}

function withHeaders(req: SigV4Request, headers: SigV4Request['headers']): SigV4Request {
  return { ...req, headers: { ...req.headers, ...headers } };
}

// ---------------------------------------------------------------------------------------------

describe('the published AWS examples', () => {
  it('derive from the example secret the signing key computed independently', () => {
    expect(signingKey(EXAMPLE_SECRET, '20130524', 'us-east-1', 's3')).toEqual(EXAMPLE_SIGNING_KEY);
  });

  describe.each(PUBLISHED.map((example) => [example.name, example] as const))(
    '%s',
    (_name, example) => {
      it('is self-consistent: the published values follow from each other', () => {
        // The string to sign carries the SHA-256 of the canonical request ...
        expect(example.stringToSign.split('\n')).toEqual([
          'AWS4-HMAC-SHA256',
          EXAMPLE_DATE,
          EXAMPLE_SCOPE,
          sha256Hex(example.canonicalRequest),
        ]);
        // ... and the signature is its HMAC under the example signing key.
        expect(referenceSignature(EXAMPLE_SIGNING_KEY, example.stringToSign)).toBe(
          example.signature,
        );
      });

      it('builds the published canonical request', () => {
        const claim = parseSigV4(example.request);
        expect(canonicalRequest(example.request, claim)).toBe(example.canonicalRequest);
      });

      it('builds the published string to sign', () => {
        const claim = parseSigV4(example.request);
        expect(stringToSign(claim, canonicalRequest(example.request, claim))).toBe(
          example.stringToSign,
        );
      });

      it('verifies the published signature', () => {
        const verified = verifySigV4(example.request, exampleOptions());
        expect(verified.claim).toMatchObject({
          accessKeyId: EXAMPLE_KEY,
          scopeDate: '20130524',
          region: 'us-east-1',
          service: 's3',
          signature: example.signature,
          amzDate: EXAMPLE_DATE,
        });
        expect(verified.signingKey).toEqual(EXAMPLE_SIGNING_KEY);
      });

      it('refuses the example with one hex digit of the signature changed', () => {
        const flipped = example.signature.replace(/^./, (c) => (c === '0' ? '1' : '0'));
        const tampered: SigV4Request = example.request.headers.authorization
          ? withHeaders(example.request, {
              authorization: (example.request.headers.authorization as string).replace(
                example.signature,
                flipped,
              ),
            })
          : {
              ...example.request,
              rawQuery: example.request.rawQuery.replace(example.signature, flipped),
            };
        expectSigV4Error(() => verifySigV4(tampered, exampleOptions()), 'SignatureDoesNotMatch');
      });
    },
  );

  it('verifies the PUT example whether the $ of its key arrives encoded or not', () => {
    const encoded = { ...PUT_OBJECT.request, rawPath: '/test%24file.text' };
    expect(verifySigV4(encoded, exampleOptions()).claim.signature).toBe(PUT_OBJECT.signature);
  });

  it('has the published payload hash of the PUT example body', () => {
    expect(sha256Hex(PUT_OBJECT_PAYLOAD)).toBe(PUT_OBJECT.request.headers['x-amz-content-sha256']);
  });

  it('verifies the GET object example with spaces after the commas of Authorization', () => {
    const spaced = withHeaders(GET_OBJECT.request, {
      authorization: (GET_OBJECT.request.headers.authorization as string).replace(/,/g, ', '),
    });
    expect(() => verifySigV4(spaced, exampleOptions())).not.toThrow();
  });

  describe('the presigned example', () => {
    it('is valid for its 86400 seconds and no longer', () => {
      const issued = EXAMPLE_NOW.getTime();
      const verified = verifySigV4(
        PRESIGNED_GET.request,
        exampleOptions({ now: new Date(issued + 86400 * 1000) }),
      );
      expect(verified.validUntil).toEqual(new Date(issued + 86400 * 1000));
      expect(verified.claim).toMatchObject({
        form: 'presigned',
        expiresSeconds: 86400,
        payloadHash: 'UNSIGNED-PAYLOAD',
      });
      const error = expectSigV4Error(
        () =>
          verifySigV4(
            PRESIGNED_GET.request,
            exampleOptions({ now: new Date(issued + 86401 * 1000) }),
          ),
        'AccessDenied',
      );
      expect(error.message).toMatch(/expired/i);
    });

    it('verifies with the credential slashes unescaped on the wire', () => {
      const req = {
        ...PRESIGNED_GET.request,
        rawQuery: PRESIGNED_GET.request.rawQuery.replace(/%2F/g, '/'),
      };
      expect(() => verifySigV4(req, exampleOptions())).not.toThrow();
    });

    it('verifies with the parameters in another order', () => {
      const req = {
        ...PRESIGNED_GET.request,
        rawQuery: PRESIGNED_GET.request.rawQuery.split('&').reverse().join('&'),
      };
      expect(() => verifySigV4(req, exampleOptions())).not.toThrow();
    });
  });

  describe('the streaming example', () => {
    it('has chunk signatures that chain from the seed signature (recomputed independently)', () => {
      let previous = STREAMING.signature;
      STREAMING_CHUNKS.forEach((chunk, index) => {
        previous = referenceChunkSignature(previous, chunk);
        expect([index, previous]).toEqual([index, STREAMING_CHUNK_SIGNATURES[index]]);
      });
    });

    it('frames into the published Content-Length of 66824 bytes', () => {
      const body = encodeAwsChunked(STREAMING_DATA, {
        signed: true,
        sign: (_hash, index) => STREAMING_CHUNK_SIGNATURES[index],
      });
      expect(body.length).toBe(66824);
    });

    it('is accepted chunk by chunk by ChunkSignatureChain', () => {
      const chain = new ChunkSignatureChain(verifySigV4(STREAMING.request, exampleOptions()));
      STREAMING_CHUNKS.forEach((chunk, index) => {
        expect(() =>
          chain.verifyChunk(STREAMING_CHUNK_SIGNATURES[index], sha256Hex(chunk)),
        ).not.toThrow();
      });
    });

    it('decodes through AwsChunkedDecoder with the chain as its verifier', async () => {
      const verified = verifySigV4(STREAMING.request, exampleOptions());
      const body = encodeAwsChunked(STREAMING_DATA, {
        signed: true,
        sign: (_hash, index) => STREAMING_CHUNK_SIGNATURES[index],
      });
      const out: Buffer[] = [];
      await pipeline(
        Readable.from([body.subarray(0, 1000), body.subarray(1000, 65600), body.subarray(65600)]),
        new AwsChunkedDecoder({
          signed: true,
          trailer: false,
          decodedLength: STREAMING_DATA.length,
          chunkVerifier: new ChunkSignatureChain(verified),
        }),
        new Writable({
          write(chunk: Buffer, _encoding, done) {
            out.push(chunk);
            done();
          },
        }),
      );
      expect(Buffer.concat(out).equals(STREAMING_DATA)).toBe(true);
    });

    it('stops the decoder at a chunk whose signature was altered', async () => {
      const verified = verifySigV4(STREAMING.request, exampleOptions());
      const body = encodeAwsChunked(STREAMING_DATA, {
        signed: true,
        sign: (_hash, index) =>
          index === 1 ? STREAMING_CHUNK_SIGNATURES[2] : STREAMING_CHUNK_SIGNATURES[index],
      });
      await expect(
        pipeline(
          Readable.from([body]),
          new AwsChunkedDecoder({
            signed: true,
            trailer: false,
            decodedLength: STREAMING_DATA.length,
            chunkVerifier: new ChunkSignatureChain(verified),
          }),
          new Writable({ write: (_chunk, _encoding, done) => done() }),
        ),
      ).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
    });
  });

  describe('the streaming example with a trailer', () => {
    it('has chunk and trailer signatures that chain from the seed (recomputed independently)', () => {
      let previous = STREAMING_TRAILER.signature;
      STREAMING_CHUNKS.forEach((chunk, index) => {
        previous = referenceChunkSignature(previous, chunk);
        expect([index, previous]).toEqual([index, TRAILER_CHUNK_SIGNATURES[index]]);
      });
      const trailer = referenceSignature(
        EXAMPLE_SIGNING_KEY,
        [
          'AWS4-HMAC-SHA256-TRAILER',
          EXAMPLE_DATE,
          EXAMPLE_SCOPE,
          previous,
          sha256Hex(TRAILER_HEADERS),
        ].join('\n'),
      );
      expect(trailer).toBe(TRAILER_SIGNATURE);
    });

    it('is accepted by ChunkSignatureChain, trailer included', () => {
      const chain = new ChunkSignatureChain(
        verifySigV4(STREAMING_TRAILER.request, exampleOptions()),
      );
      STREAMING_CHUNKS.forEach((chunk, index) =>
        chain.verifyChunk(TRAILER_CHUNK_SIGNATURES[index], sha256Hex(chunk)),
      );
      expect(() => chain.verifyTrailer(TRAILER_SIGNATURE, TRAILER_HEADERS)).not.toThrow();
    });

    it('decodes through AwsChunkedDecoder, checking the CRC32C and the trailer signature', async () => {
      const verified = verifySigV4(STREAMING_TRAILER.request, exampleOptions());
      const body = encodeAwsChunked(STREAMING_DATA, {
        signed: true,
        sign: (_hash, index) => TRAILER_CHUNK_SIGNATURES[index],
        trailerChecksum: 'CRC32C',
        trailerValue: 'sOO8/Q==',
        trailerSignature: TRAILER_SIGNATURE,
      });
      const decoder = new AwsChunkedDecoder({
        signed: true,
        trailer: true,
        decodedLength: STREAMING_DATA.length,
        trailerChecksum: 'CRC32C',
        chunkVerifier: new ChunkSignatureChain(verified),
      });
      let size = 0;
      await pipeline(
        Readable.from([body]),
        decoder,
        new Writable({
          write(chunk: Buffer, _encoding, done) {
            size += chunk.length;
            done();
          },
        }),
      );
      expect(size).toBe(STREAMING_DATA.length);
      expect(decoder.trailerChecksum).toEqual({ algorithm: 'CRC32C', value: 'sOO8/Q==' });
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe('ChunkSignatureChain', () => {
  const verified = (): VerifiedSigV4 => verifySigV4(STREAMING.request, exampleOptions());
  const hashes = STREAMING_CHUNKS.map((chunk) => sha256Hex(chunk));

  it('refuses chunk signatures in the wrong order (swapped)', () => {
    const chain = new ChunkSignatureChain(verified());
    expectSigV4Error(
      () => chain.verifyChunk(STREAMING_CHUNK_SIGNATURES[1], hashes[0]),
      'SignatureDoesNotMatch',
    );
  });

  it('refuses the second chunk signature in place of the first, after a correct first chunk', () => {
    const chain = new ChunkSignatureChain(verified());
    chain.verifyChunk(STREAMING_CHUNK_SIGNATURES[0], hashes[0]);
    expectSigV4Error(
      () => chain.verifyChunk(STREAMING_CHUNK_SIGNATURES[2], hashes[1]),
      'SignatureDoesNotMatch',
    );
  });

  it('refuses a chunk signature with one digit altered', () => {
    const chain = new ChunkSignatureChain(verified());
    chain.verifyChunk(STREAMING_CHUNK_SIGNATURES[0], hashes[0]);
    const altered = STREAMING_CHUNK_SIGNATURES[1].replace(/.$/, (c) => (c === 'f' ? 'e' : 'f'));
    expectSigV4Error(() => chain.verifyChunk(altered, hashes[1]), 'SignatureDoesNotMatch');
  });

  it('refuses a correct signature over altered chunk data', () => {
    const chain = new ChunkSignatureChain(verified());
    const other = Buffer.from(STREAMING_CHUNKS[0]);
    other[100] = 0x62;
    expectSigV4Error(
      () => chain.verifyChunk(STREAMING_CHUNK_SIGNATURES[0], sha256Hex(other)),
      'SignatureDoesNotMatch',
    );
  });

  it('refuses a chain that starts from another seed', () => {
    const other = verified();
    const chain = new ChunkSignatureChain({
      ...other,
      claim: { ...other.claim, signature: STREAMING_TRAILER.signature },
    });
    expectSigV4Error(
      () => chain.verifyChunk(STREAMING_CHUNK_SIGNATURES[0], hashes[0]),
      'SignatureDoesNotMatch',
    );
  });

  it('refuses signatures that are not 64 lower-case hex digits', () => {
    for (const bad of ['', 'zz', STREAMING_CHUNK_SIGNATURES[0].toUpperCase()]) {
      const chain = new ChunkSignatureChain(verified());
      expectSigV4Error(() => chain.verifyChunk(bad, hashes[0]), 'SignatureDoesNotMatch');
    }
  });

  describe('trailer signature', () => {
    const trailerChain = () => {
      const chain = new ChunkSignatureChain(
        verifySigV4(STREAMING_TRAILER.request, exampleOptions()),
      );
      STREAMING_CHUNKS.forEach((chunk, index) =>
        chain.verifyChunk(TRAILER_CHUNK_SIGNATURES[index], sha256Hex(chunk)),
      );
      return chain;
    };

    it('refuses a trailer signature with one digit altered', () => {
      const altered = TRAILER_SIGNATURE.replace(/^./, (c) => (c === 'd' ? 'e' : 'd'));
      expectSigV4Error(
        () => trailerChain().verifyTrailer(altered, TRAILER_HEADERS),
        'SignatureDoesNotMatch',
      );
    });

    it('refuses the right trailer signature over another checksum value', () => {
      expectSigV4Error(
        () => trailerChain().verifyTrailer(TRAILER_SIGNATURE, 'x-amz-checksum-crc32c:AAAAAA==\n'),
        'SignatureDoesNotMatch',
      );
    });

    it('refuses the trailer signature before the final chunk was verified', () => {
      const chain = new ChunkSignatureChain(
        verifySigV4(STREAMING_TRAILER.request, exampleOptions()),
      );
      chain.verifyChunk(TRAILER_CHUNK_SIGNATURES[0], hashes[0]);
      chain.verifyChunk(TRAILER_CHUNK_SIGNATURES[1], hashes[1]);
      expectSigV4Error(
        () => chain.verifyTrailer(TRAILER_SIGNATURE, TRAILER_HEADERS),
        'SignatureDoesNotMatch',
      );
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Signatures produced by @smithy/signature-v4

const ROUTE_KEY = 'MIZUCHIKEY0000000001';
const ROUTE_SECRET = 'route/secret+with=odd/characters0123456789';
const SIGNING_DATE = new Date('2024-03-01T12:34:56Z');

const routeOptions = (over: Partial<VerifyOptions> = {}): VerifyOptions => ({
  secretFor: (id) => (id === ROUTE_KEY ? ROUTE_SECRET : undefined),
  region: 'us-east-1',
  maxSkewSeconds: 900,
  now: SIGNING_DATE,
  ...over,
});

function smithySigner(
  over: { accessKeyId?: string; secretAccessKey?: string; region?: string; service?: string } = {},
) {
  return new SignatureV4({
    credentials: {
      accessKeyId: over.accessKeyId ?? ROUTE_KEY,
      secretAccessKey: over.secretAccessKey ?? ROUTE_SECRET,
    },
    region: over.region ?? 'us-east-1',
    service: over.service ?? 's3',
    sha256: Sha256,
    // S3 signs the path as sent, without the double encoding of other services.
    uriEscapePath: false,
  });
}

/** The path of an object as the SDK puts it on the wire and signs it. */
function objectPath(bucket: string, key: string): string {
  return `/${bucket}/${key.split('/').map(sdkEncode).join('/')}`;
}

interface Unsigned {
  method: string;
  path: string;
  query?: QueryParameterBag;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

function httpRequest(req: Unsigned): HttpRequest {
  return {
    method: req.method,
    protocol: 'https:',
    hostname: 'uploads.example.com',
    path: req.path,
    query: req.query ?? {},
    headers: { host: 'uploads.example.com', ...(req.headers ?? {}) },
    body: req.body,
  };
}

function sign(req: Unsigned, signer = smithySigner(), signingDate = SIGNING_DATE) {
  return signer.sign(httpRequest(req), { signingDate });
}

function presign(
  req: Unsigned,
  expiresIn = 3600,
  signer = smithySigner(),
  signingDate = SIGNING_DATE,
) {
  // As @aws-sdk/s3-request-presigner does: the payload of a presigned URL is never signed.
  const unsigned = httpRequest(req);
  unsigned.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
  return signer.presign(unsigned, { signingDate, expiresIn });
}

/** Serialises a signed smithy request the way it travels, with a choice of query encoding. */
function toWire(req: HttpRequest, encode: (text: string) => string = sdkEncode): SigV4Request {
  const pairs: string[] = [];
  for (const [name, value] of Object.entries(req.query ?? {})) {
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) pairs.push(v === null ? encode(name) : `${encode(name)}=${encode(v)}`);
  }
  const headers: SigV4Request['headers'] = {};
  for (const [name, value] of Object.entries(req.headers)) headers[name.toLowerCase()] = value;
  return { method: req.method, rawPath: req.path, rawQuery: pairs.join('&'), headers };
}

const KEYS: Array<[string, string]> = [
  ['plain', 'photos/2024/beach.jpg'],
  ['spaces', 'my folder/my holiday photo.jpg'],
  ['plus signs', 'a+b/c+d=e.txt'],
  ['Unicode', 'résumé/日本語 ファイル/🐉 mizuchi.txt'],
  ["!*'()", "odd/!*'()[]{}.txt"],
  ['reserved punctuation', 'semi;colon,comma&amp$dollar@at:colon#hash?q.txt'],
  ['a literal percent', '100% sure/%20 is not a space.txt'],
  ['unreserved only', '~user/file-name_v1.2~'],
];

describe('signatures made by @smithy/signature-v4', () => {
  describe('header form', () => {
    /** A PUT whose signed `x-amz-meta-note` is `note`, as it travels. */
    async function signedNote(note: string): Promise<SigV4Request> {
      return toWire(
        await sign({
          method: 'PUT',
          path: objectPath('bucket', 'k'),
          headers: { 'x-amz-meta-note': note, 'content-length': '1' },
          body: 'x',
        }),
      );
    }
    /** The same request with another `x-amz-meta-note` value arriving. */
    const withNote = (wire: SigV4Request, note: string) =>
      withHeaders(wire, { 'x-amz-meta-note': note });

    // The SDK collapses only blanks and tabs; botocore (and \s) any white space, U+00A0 included.
    it('verifies a header value with a no-break space, as the JavaScript SDK signs it', async () => {
      const wire = await signedNote('a\u00a0b \u00a0 c');
      expect(() => verifySigV4(wire, routeOptions())).not.toThrow();
      // Either reading covers the bytes that arrived, not a value with the space replaced.
      const altered = withNote(wire, 'a b \u00a0 c');
      expectSigV4Error(() => verifySigV4(altered, routeOptions()), 'SignatureDoesNotMatch');
    });

    it('verifies a UTF-8 header value as the JavaScript SDK sends and signs it: its bytes', async () => {
      // The SDK sends the value's UTF-8 bytes and signs them; Node hands a header value over
      // one character per byte.
      const wire = await signedNote('café ✓ 日本');
      const asNodeSees = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
      const arrived = withNote(wire, asNodeSees('café ✓ 日本'));
      expect(() => verifySigV4(arrived, routeOptions())).not.toThrow();
      const altered = withNote(wire, asNodeSees('cafè ✓ 日本'));
      expectSigV4Error(() => verifySigV4(altered, routeOptions()), 'SignatureDoesNotMatch');
    });

    it('verifies a header value with a no-break space, as botocore signs it (all white space collapsed)', async () => {
      // botocore signs ' '.join(value.split()): for "a\u00a0b" that is "a b", what the
      // SDK signed above; the no-break space is what travels.
      const sent = withNote(await signedNote('a b'), 'a\u00a0b');
      expect(() => verifySigV4(sent, routeOptions())).not.toThrow();
    });

    it.each(KEYS)('verifies a PutObject of a key with %s', async (_what, key) => {
      const signed = await sign({
        method: 'PUT',
        path: objectPath('bucket', key),
        query: { 'x-id': 'PutObject' },
        headers: { 'content-type': 'text/plain', 'content-length': '5' },
        body: 'hello',
      });
      const verified = verifySigV4(toWire(signed), routeOptions());
      expect(verified.claim.payloadHash).toBe(sha256Hex('hello'));
      expect(verified.claim.signedHeaders).toEqual(
        expect.arrayContaining(['content-type', 'host', 'x-amz-content-sha256', 'x-amz-date']),
      );
    });

    it.each(KEYS)(
      'verifies a key with %s that arrived with a looser path encoding',
      async (_what, key) => {
        const signed = await sign({ method: 'PUT', path: objectPath('bucket', key), body: 'x' });
        // encodeURI leaves !*'() and most punctuation alone; the canonical form is the same.
        const wire = toWire(signed);
        const loose = `/bucket/${key
          .split('/')
          .map((segment) => encodeURI(segment).replace(/[#?]/g, encodeURIComponent))
          .join('/')}`;
        expect(() => verifySigV4({ ...wire, rawPath: loose }, routeOptions())).not.toThrow();
      },
    );

    it('verifies UploadPart with an upload id made of unreserved punctuation', async () => {
      const signed = await sign({
        method: 'PUT',
        path: objectPath('bucket', 'big file.bin'),
        query: {
          partNumber: '17',
          uploadId: '2~mizuchi.v1_AbC-dEf.ghi_JKL-mno~',
          'x-id': 'UploadPart',
        },
        headers: { 'content-length': '3' },
        body: 'abc',
      });
      expect(() => verifySigV4(toWire(signed), routeOptions())).not.toThrow();
    });

    it('verifies UploadPart whose upload id needs escaping (/, + and =)', async () => {
      const signed = await sign({
        method: 'PUT',
        path: objectPath('bucket', 'k'),
        query: { partNumber: '1', uploadId: 'YWJj/ZGVm+Z2hp==' },
        body: 'abc',
      });
      const wire = toWire(signed);
      expect(wire.rawQuery).toContain('uploadId=YWJj%2FZGVm%2BZ2hp%3D%3D');
      expect(() => verifySigV4(wire, routeOptions())).not.toThrow();
    });

    it('verifies CreateMultipartUpload (?uploads) and CompleteMultipartUpload', async () => {
      const create = await sign({
        method: 'POST',
        path: objectPath('bucket', 'k.bin'),
        query: { uploads: '', 'x-id': 'CreateMultipartUpload' },
      });
      const wire = toWire(create);
      expect(() => verifySigV4(wire, routeOptions())).not.toThrow();
      // `?uploads` without `=` is the same canonical query.
      expect(() =>
        verifySigV4(
          { ...wire, rawQuery: wire.rawQuery.replace('uploads=', 'uploads') },
          routeOptions(),
        ),
      ).not.toThrow();

      const complete = await sign({
        method: 'POST',
        path: objectPath('bucket', 'k.bin'),
        query: { uploadId: 'abc.def_ghi-jkl' },
        headers: { 'content-type': 'application/xml' },
        body: '<CompleteMultipartUpload></CompleteMultipartUpload>',
      });
      expect(() => verifySigV4(toWire(complete), routeOptions())).not.toThrow();
    });

    it('verifies signed x-amz-meta headers whose values need trimming and collapsing', async () => {
      const signed = await sign({
        method: 'PUT',
        path: objectPath('bucket', 'meta.txt'),
        headers: {
          'x-amz-meta-note': '  several   spaces\there  ',
          'x-amz-meta-unicode': 'caf\u00e9',
          'Content-Type': 'text/plain; charset=utf-8',
        },
        body: '',
      });
      expect(() => verifySigV4(toWire(signed), routeOptions())).not.toThrow();
    });

    it('verifies STREAMING-AWS4-HMAC-SHA256-PAYLOAD and chains the first chunk from its seed', async () => {
      const signed = await sign({
        method: 'PUT',
        path: objectPath('bucket', 'streamed.bin'),
        headers: {
          'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
          'content-encoding': 'aws-chunked',
          'x-amz-decoded-content-length': '5',
        },
      });
      const verified = verifySigV4(toWire(signed), routeOptions());
      expect(verified.claim.payloadHash).toBe('STREAMING-AWS4-HMAC-SHA256-PAYLOAD');

      const key = referenceSigningKey(ROUTE_SECRET, '20240301', 'us-east-1', 's3');
      const chunkSignature = (previous: string, chunk: string) =>
        referenceSignature(
          key,
          [
            'AWS4-HMAC-SHA256-PAYLOAD',
            '20240301T123456Z',
            '20240301/us-east-1/s3/aws4_request',
            previous,
            sha256Hex(''),
            sha256Hex(chunk),
          ].join('\n'),
        );
      const first = chunkSignature(verified.claim.signature, 'hello');
      const last = chunkSignature(first, '');
      const chain = new ChunkSignatureChain(verified);
      chain.verifyChunk(first, sha256Hex('hello'));
      expect(() => chain.verifyChunk(last, sha256Hex(''))).not.toThrow();
    });
  });

  describe('presigned form', () => {
    it.each(KEYS)('verifies a presigned PutObject of a key with %s', async (_what, key) => {
      const presigned = await presign({
        method: 'PUT',
        path: objectPath('bucket', key),
        query: { 'x-id': 'PutObject' },
      });
      const verified = verifySigV4(toWire(presigned), routeOptions());
      expect(verified.claim).toMatchObject({
        form: 'presigned',
        accessKeyId: ROUTE_KEY,
        expiresSeconds: 3600,
        payloadHash: 'UNSIGNED-PAYLOAD',
      });
      expect(verified.validUntil).toEqual(new Date(SIGNING_DATE.getTime() + 3600 * 1000));
    });

    it('verifies whether the wire escapes the query fully or as encodeURIComponent does', async () => {
      const presigned = await presign({
        method: 'PUT',
        path: objectPath('bucket', "it's (a) test!.txt"),
        query: { 'x-id': 'PutObject', 'x-amz-meta-tag': "it's (a) test!" },
      });
      expect(() => verifySigV4(toWire(presigned), routeOptions())).not.toThrow();
      expect(() =>
        verifySigV4(toWire(presigned, encodeURIComponent), routeOptions()),
      ).not.toThrow();
    });

    it('verifies a presigned UploadPart', async () => {
      const presigned = await presign({
        method: 'PUT',
        path: objectPath('bucket', 'parts/big file.bin'),
        query: { partNumber: '3', uploadId: 'abc.DEF_ghi-jkl~mno', 'x-id': 'UploadPart' },
      });
      const wire = toWire(presigned);
      expect(wire.rawQuery).toMatch(/(^|&)partNumber=3(&|$)/);
      expect(wire.rawQuery).toMatch(/(^|&)uploadId=abc\.DEF_ghi-jkl~mno(&|$)/);
      expect(() => verifySigV4(wire, routeOptions())).not.toThrow();
    });

    it('verifies a presigned URL with a signed header besides host', async () => {
      const presigned = await presign({
        method: 'PUT',
        path: objectPath('bucket', 'typed.txt'),
        headers: { 'content-type': 'text/csv' },
      });
      const wire = toWire(presigned);
      expect(verifySigV4(wire, routeOptions()).claim.signedHeaders).toEqual([
        'content-type',
        'host',
      ]);
      expectSigV4Error(
        () =>
          verifySigV4(
            { ...wire, headers: { ...wire.headers, 'content-type': 'text/html' } },
            routeOptions(),
          ),
        'SignatureDoesNotMatch',
      );
    });

    it('accepts the longest validity S3 allows: 7 days', async () => {
      const presigned = await presign(
        { method: 'PUT', path: objectPath('bucket', 'week.txt') },
        MAX_PRESIGN_SECONDS,
      );
      const verified = verifySigV4(
        toWire(presigned),
        routeOptions({ now: new Date(SIGNING_DATE.getTime() + MAX_PRESIGN_SECONDS * 1000) }),
      );
      expect(verified.claim.expiresSeconds).toBe(604800);
    });

    it('refuses a presigned URL once it has expired (AccessDenied)', async () => {
      const wire = toWire(await presign({ method: 'PUT', path: objectPath('bucket', 'x') }, 60));
      expect(() =>
        verifySigV4(wire, routeOptions({ now: new Date(SIGNING_DATE.getTime() + 60_000) })),
      ).not.toThrow();
      const error = expectSigV4Error(
        () => verifySigV4(wire, routeOptions({ now: new Date(SIGNING_DATE.getTime() + 61_000) })),
        'AccessDenied',
      );
      expect(error.message).toMatch(/expired/i);
    });

    it('refuses a presigned URL dated too far in the future (AccessDenied)', async () => {
      const wire = toWire(await presign({ method: 'PUT', path: objectPath('bucket', 'x') }));
      expectSigV4Error(
        () => verifySigV4(wire, routeOptions({ now: new Date(SIGNING_DATE.getTime() - 901_000) })),
        'AccessDenied',
      );
    });

    it('refuses X-Amz-Expires beyond 7 days, even correctly signed', async () => {
      // The SDK's signer will not make such a URL ...
      await expect(
        presign({ method: 'PUT', path: '/bucket/x' }, MAX_PRESIGN_SECONDS + 1),
      ).rejects.toMatch(/one week/);
      // ... so it is signed here by hand, and only the limit can refuse it.
      const wire = toWire(await presign({ method: 'PUT', path: '/bucket/x' }, 3600));
      const forge = (expires: number): SigV4Request => {
        const query = wire.rawQuery
          .split('&')
          .filter((p) => !p.startsWith('X-Amz-Signature='))
          .map((p) => (p.startsWith('X-Amz-Expires=') ? `X-Amz-Expires=${expires}` : p))
          .join('&');
        const signature = referenceSignature(
          referenceSigningKey(ROUTE_SECRET, '20240301', 'us-east-1', 's3'),
          presignedStringToSign(wire, query),
        );
        return { ...wire, rawQuery: `${query}&X-Amz-Signature=${signature}` };
      };
      expect(() => verifySigV4(forge(MAX_PRESIGN_SECONDS), routeOptions())).not.toThrow();
      expectSigV4Error(
        () => verifySigV4(forge(MAX_PRESIGN_SECONDS + 1), routeOptions()),
        'AuthorizationHeaderMalformed',
      );
    });

    it('refuses a presigned URL whose X-Amz-Expires is not a number', async () => {
      const wire = toWire(await presign({ method: 'PUT', path: '/bucket/x' }));
      for (const bad of ['-1', 'abc', '1e3', '']) {
        const rawQuery = wire.rawQuery.replace(/X-Amz-Expires=\d+/, `X-Amz-Expires=${bad}`);
        expectSigV4Error(
          () => verifySigV4({ ...wire, rawQuery }, routeOptions()),
          'AuthorizationHeaderMalformed',
        );
      }
    });
  });

  describe('tampering and wrong credentials', () => {
    let wire: SigV4Request;
    let presigned: SigV4Request;

    beforeAll(async () => {
      wire = toWire(
        await sign({
          method: 'PUT',
          path: objectPath('bucket', 'dir/file name.txt'),
          query: { partNumber: '1', uploadId: 'upload.id_1-a' },
          headers: { 'content-type': 'text/plain', 'x-amz-meta-owner': 'alice' },
          body: 'the body',
        }),
      );
      presigned = toWire(
        await presign({
          method: 'PUT',
          path: objectPath('bucket', 'dir/file name.txt'),
          query: { partNumber: '1', uploadId: 'upload.id_1-a' },
        }),
      );
    });

    it('accepts the untampered requests', () => {
      expect(() => verifySigV4(wire, routeOptions())).not.toThrow();
      expect(() => verifySigV4(presigned, routeOptions())).not.toThrow();
    });

    const tamperings: Array<[string, (r: SigV4Request) => SigV4Request]> = [
      ['the method', (r) => ({ ...r, method: 'POST' })],
      ['the method (to GET)', (r) => ({ ...r, method: 'GET' })],
      ['the path', (r) => ({ ...r, rawPath: r.rawPath.replace('file', 'File') })],
      ['the path by one appended slash', (r) => ({ ...r, rawPath: `${r.rawPath}/` })],
      [
        'a query value',
        (r) => ({ ...r, rawQuery: r.rawQuery.replace('partNumber=1', 'partNumber=2') }),
      ],
      ['an added query parameter', (r) => ({ ...r, rawQuery: `${r.rawQuery}&tagging=` })],
      [
        'a removed query parameter',
        (r) => ({
          ...r,
          rawQuery: r.rawQuery
            .split('&')
            .filter((p) => !p.startsWith('uploadId='))
            .join('&'),
        }),
      ],
      ['the host', (r) => ({ ...r, headers: { ...r.headers, host: 'evil.example.com' } })],
    ];

    describe.each([
      ['header form', () => wire],
      ['presigned form', () => presigned],
    ])('%s', (_form, request) => {
      it.each(tamperings)('refuses a request with %s changed', (_what, tamper) => {
        expectSigV4Error(
          () => verifySigV4(tamper(request()), routeOptions()),
          'SignatureDoesNotMatch',
        );
      });

      it('refuses a request signed with the wrong secret', () => {
        expectSigV4Error(
          () => verifySigV4(request(), routeOptions({ secretFor: () => `${ROUTE_SECRET}x` })),
          'SignatureDoesNotMatch',
        );
      });

      it('refuses an unknown access key (InvalidAccessKeyId)', () => {
        expectSigV4Error(
          () => verifySigV4(request(), routeOptions({ secretFor: () => undefined })),
          'InvalidAccessKeyId',
        );
      });

      it('refuses a request for another region (AuthorizationHeaderMalformed)', () => {
        expectSigV4Error(
          () => verifySigV4(request(), routeOptions({ region: 'eu-west-1' })),
          'AuthorizationHeaderMalformed',
        );
      });
    });

    it('refuses a signed header whose value was changed', () => {
      for (const [name, value] of [
        ['content-type', 'text/html'],
        ['x-amz-meta-owner', 'mallory'],
      ]) {
        expectSigV4Error(
          () =>
            verifySigV4({ ...wire, headers: { ...wire.headers, [name]: value } }, routeOptions()),
          'SignatureDoesNotMatch',
        );
      }
    });

    it('refuses a request whose signed header was removed', () => {
      const headers = { ...wire.headers };
      delete headers['x-amz-meta-owner'];
      expectSigV4Error(
        () => verifySigV4({ ...wire, headers }, routeOptions()),
        'SignatureDoesNotMatch',
      );
    });

    it('ignores headers that were not signed', () => {
      const headers = { ...wire.headers, 'x-amz-meta-extra': 'added', 'user-agent': 'other' };
      expect(() => verifySigV4({ ...wire, headers }, routeOptions())).not.toThrow();
    });

    it('refuses a changed payload hash', () => {
      const headers = { ...wire.headers, 'x-amz-content-sha256': sha256Hex('another body') };
      expectSigV4Error(
        () => verifySigV4({ ...wire, headers }, routeOptions()),
        'SignatureDoesNotMatch',
      );
      const unsigned = { ...wire.headers, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };
      expectSigV4Error(
        () => verifySigV4({ ...wire, headers: unsigned }, routeOptions()),
        'SignatureDoesNotMatch',
      );
    });

    it('refuses a changed x-amz-date within the skew window', () => {
      const headers = { ...wire.headers, 'x-amz-date': '20240301T123457Z' };
      expectSigV4Error(
        () => verifySigV4({ ...wire, headers }, routeOptions()),
        'SignatureDoesNotMatch',
      );
    });

    it('refuses a presigned URL whose X-Amz-Expires was raised', () => {
      const rawQuery = presigned.rawQuery.replace('X-Amz-Expires=3600', 'X-Amz-Expires=7200');
      expectSigV4Error(
        () => verifySigV4({ ...presigned, rawQuery }, routeOptions()),
        'SignatureDoesNotMatch',
      );
    });

    it('refuses a signature made with the wrong secret by the signer itself', async () => {
      const signed = await sign(
        { method: 'PUT', path: '/bucket/k', body: 'x' },
        smithySigner({ secretAccessKey: 'not-the-secret' }),
      );
      expectSigV4Error(() => verifySigV4(toWire(signed), routeOptions()), 'SignatureDoesNotMatch');
    });

    it('refuses a key the route does not know (InvalidAccessKeyId)', async () => {
      const signed = await sign(
        { method: 'PUT', path: '/bucket/k', body: 'x' },
        smithySigner({ accessKeyId: 'AKIDUNKNOWN000000000' }),
      );
      expectSigV4Error(() => verifySigV4(toWire(signed), routeOptions()), 'InvalidAccessKeyId');
    });

    it('refuses a signature for another region or another service', async () => {
      for (const over of [
        { region: 'eu-central-1' },
        { service: 'iam' },
        { service: 's3-object-lambda' },
      ]) {
        const signed = await sign(
          { method: 'PUT', path: '/bucket/k', body: 'x' },
          smithySigner(over),
        );
        expectSigV4Error(
          () => verifySigV4(toWire(signed), routeOptions()),
          'AuthorizationHeaderMalformed',
        );
      }
    });

    it('accepts a route region other than us-east-1 when the client signs for it', async () => {
      const signed = await sign(
        { method: 'PUT', path: '/bucket/k', body: 'x' },
        smithySigner({ region: 'eu-central-1' }),
      );
      expect(() =>
        verifySigV4(toWire(signed), routeOptions({ region: 'eu-central-1' })),
      ).not.toThrow();
    });

    it('looks up the secret of the key that signed', async () => {
      const secrets: Record<string, string> = {
        KEYA000000: 'secret-a-0000',
        KEYB000000: 'secret-b-0000',
      };
      const options = routeOptions({ secretFor: (id) => secrets[id] });
      for (const [accessKeyId, secretAccessKey] of Object.entries(secrets)) {
        const signed = await sign(
          { method: 'PUT', path: '/bucket/k', body: 'x' },
          smithySigner({ accessKeyId, secretAccessKey }),
        );
        expect(verifySigV4(toWire(signed), options).claim.accessKeyId).toBe(accessKeyId);
      }
      const crossed = await sign(
        { method: 'PUT', path: '/bucket/k', body: 'x' },
        smithySigner({ accessKeyId: 'KEYA000000', secretAccessKey: 'secret-b-0000' }),
      );
      expectSigV4Error(() => verifySigV4(toWire(crossed), options), 'SignatureDoesNotMatch');
    });
  });

  describe('clock skew (header form)', () => {
    const skewed = async (offsetSeconds: number, maxSkewSeconds = 900) => {
      const signed = await sign(
        { method: 'PUT', path: '/bucket/k', body: 'x' },
        smithySigner(),
        new Date(SIGNING_DATE.getTime() + offsetSeconds * 1000),
      );
      return () => verifySigV4(toWire(signed), routeOptions({ maxSkewSeconds }));
    };

    it('accepts a date within the window, in the past or the future', async () => {
      expect(await skewed(-900)).not.toThrow();
      expect(await skewed(900)).not.toThrow();
    });

    it('refuses a date beyond the window with RequestTimeTooSkewed', async () => {
      expectSigV4Error(await skewed(-901), 'RequestTimeTooSkewed');
      expectSigV4Error(await skewed(901), 'RequestTimeTooSkewed');
      expectSigV4Error(await skewed(-20 * 60), 'RequestTimeTooSkewed');
      expectSigV4Error(await skewed(20 * 60), 'RequestTimeTooSkewed');
    });

    it('applies the configured window', async () => {
      expectSigV4Error(await skewed(61, 60), 'RequestTimeTooSkewed');
      expect(await skewed(60, 60)).not.toThrow();
    });

    it('says how long the signature stays valid (for replay protection)', async () => {
      const signed = await sign({ method: 'PUT', path: '/bucket/k', body: 'x' });
      expect(verifySigV4(toWire(signed), routeOptions()).validUntil).toEqual(
        new Date(SIGNING_DATE.getTime() + 900_000),
      );
    });
  });
});

/** The string to sign of a presigned request with the given query, built without the code under test. */
function presignedStringToSign(wire: SigV4Request, query: string): string {
  const credential = /X-Amz-Credential=([^&]*)/.exec(query)?.[1] ?? '';
  const scope = decodeURIComponent(credential).split('/').slice(1).join('/');
  const canonical = [
    wire.method,
    wire.rawPath,
    query
      .split('&')
      .map((pair) => pair.split('=') as [string, string])
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([n, v]) => `${n}=${v}`)
      .join('&'),
    `host:${wire.headers.host as string}`,
    '',
    'host',
    'UNSIGNED-PAYLOAD',
  ].join('\n');
  return ['AWS4-HMAC-SHA256', '20240301T123456Z', scope, sha256Hex(canonical)].join('\n');
}

// ---------------------------------------------------------------------------------------------

describe('malformed requests', () => {
  const base = GET_OBJECT.request;
  const auth = base.headers.authorization as string;
  const malformedAuth = (value: string) => withHeaders(base, { authorization: value });

  it.each([
    ['another algorithm', auth.replace('AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA512')],
    ['SigV4a', auth.replace('AWS4-HMAC-SHA256', 'AWS4-ECDSA-P256-SHA256')],
    ['no fields at all', 'AWS4-HMAC-SHA256'],
    ['no Signature', auth.replace(/,Signature=[0-9a-f]+/, '')],
    ['no SignedHeaders', auth.replace(/,SignedHeaders=[^,]+/, '')],
    ['no Credential', auth.replace(/Credential=[^,]+,/, '')],
    ['a field without =', auth.replace('SignedHeaders=', 'SignedHeaders')],
    ['a credential without aws4_request', auth.replace('/aws4_request', '/aws4_reqest')],
    ['a credential with too few parts', auth.replace('/us-east-1/s3', '/s3')],
    ['a credential with a malformed date', auth.replace('/20130524/', '/2013-05-24/')],
    ['upper-case signed header names', auth.replace('host;range', 'Host;range')],
    ['an empty signed header name', auth.replace('host;range', 'host;;range')],
    ['a scope date that is not the x-amz-date day', auth.replace('/20130524/', '/20130523/')],
    ['host not signed', auth.replace('host;range;', 'range;')],
  ])('refuses an Authorization header with %s (AuthorizationHeaderMalformed)', (_what, value) => {
    expectSigV4Error(
      () => verifySigV4(malformedAuth(value), exampleOptions()),
      'AuthorizationHeaderMalformed',
    );
  });

  it('refuses a malformed x-amz-date (AuthorizationHeaderMalformed)', () => {
    for (const date of ['2013-05-24T00:00:00Z', '20130524T000000', '20130231T000000Z', '']) {
      expectSigV4Error(
        () => verifySigV4(withHeaders(base, { 'x-amz-date': date }), exampleOptions()),
        'AuthorizationHeaderMalformed',
      );
    }
  });

  it('refuses a request without x-amz-date (AccessDenied, as S3 answers)', () => {
    const headers = { ...base.headers };
    delete headers['x-amz-date'];
    expectSigV4Error(() => verifySigV4({ ...base, headers }, exampleOptions()), 'AccessDenied');
  });

  it('refuses a header-signed request without x-amz-content-sha256', () => {
    const headers = { ...base.headers };
    delete headers['x-amz-content-sha256'];
    expect(() => verifySigV4({ ...base, headers }, exampleOptions())).toThrow(SigV4Error);
  });

  it('refuses a signature that is not 64 hex digits (SignatureDoesNotMatch)', () => {
    for (const signature of [
      'abc',
      GET_OBJECT.signature.toUpperCase(),
      `${GET_OBJECT.signature}0`,
    ]) {
      expectSigV4Error(
        () =>
          verifySigV4(
            malformedAuth(auth.replace(GET_OBJECT.signature, signature)),
            exampleOptions(),
          ),
        'SignatureDoesNotMatch',
      );
    }
  });

  it.each([
    'X-Amz-Algorithm',
    'X-Amz-Credential',
    'X-Amz-Date',
    'X-Amz-Expires',
    'X-Amz-SignedHeaders',
    'X-Amz-Signature',
  ])('refuses a presigned URL without %s (AuthorizationHeaderMalformed)', (name) => {
    const rawQuery = PRESIGNED_GET.request.rawQuery
      .split('&')
      .filter((pair) => !pair.startsWith(`${name}=`))
      .join('&');
    expectSigV4Error(
      () => verifySigV4({ ...PRESIGNED_GET.request, rawQuery }, exampleOptions()),
      'AuthorizationHeaderMalformed',
    );
  });
});

describe('hasSigV4', () => {
  const req = (headers: SigV4Request['headers'], rawQuery = ''): SigV4Request => ({
    method: 'PUT',
    rawPath: '/b/k',
    rawQuery,
    headers,
  });

  it('recognises the header and the presigned form', () => {
    expect(hasSigV4(GET_OBJECT.request)).toBe(true);
    expect(hasSigV4(PRESIGNED_GET.request)).toBe(true);
    expect(hasSigV4(req({}, 'a=1&X-Amz-Algorithm=AWS4-HMAC-SHA256'))).toBe(true);
  });

  it('ignores bearer tokens, SigV2 and unsigned requests', () => {
    expect(hasSigV4(req({ authorization: 'Bearer abc.def.ghi' }))).toBe(false);
    expect(hasSigV4(req({ authorization: 'AWS AKID:signature' }))).toBe(false);
    expect(hasSigV4(req({}, 'uploads='))).toBe(false);
    expect(hasSigV4(req({}, 'my-X-Amz-Algorithm=1'))).toBe(false);
  });
});

describe('parseAmzDate', () => {
  it('parses a valid timestamp', () => {
    expect(parseAmzDate('20130524T000000Z')).toEqual(EXAMPLE_NOW);
    expect(parseAmzDate('20240229T235959Z')).toEqual(new Date('2024-02-29T23:59:59Z'));
  });

  it('refuses dates that do not exist and other formats', () => {
    for (const bad of ['20230229T000000Z', '20130524T240000Z', '20130524T000060Z', '20130524']) {
      expect(parseAmzDate(bad)).toBeUndefined();
    }
  });
});

describe('signaturesEqual and credentialScope', () => {
  it('compares hex signatures', () => {
    expect(signaturesEqual(GET_OBJECT.signature, GET_OBJECT.signature)).toBe(true);
    expect(signaturesEqual(GET_OBJECT.signature, PUT_OBJECT.signature)).toBe(false);
    expect(signaturesEqual(GET_OBJECT.signature, 'not hex')).toBe(false);
  });

  it('formats the scope', () => {
    expect(credentialScope({ scopeDate: '20130524', region: 'us-east-1', service: 's3' })).toBe(
      EXAMPLE_SCOPE,
    );
  });
});
