import { SignatureV4 } from '@smithy/signature-v4';
import * as fc from 'fast-check';
import { fuzzAsync } from '../../testing/fuzz';
import { Sha256 } from '../../testing/smithy-signing';
import { escapeUriComponent, RequestSigner, signedQueryString } from './signer';
import { EMPTY_SHA256 } from './sigv4';

// The AWS documentation's examples of header-signed S3 requests ("Signature Calculations for the
// Authorization Header"), with their published signatures.
const EXAMPLE = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  region: 'us-east-1',
  service: 's3',
};
const EXAMPLE_DATE = new Date('2013-05-24T00:00:00Z');
const HOST = 'examplebucket.s3.amazonaws.com';

function expectedAuthorization(signedHeaders: string, signature: string): string {
  return (
    'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ' +
    `SignedHeaders=${signedHeaders}, Signature=${signature}`
  );
}

describe('RequestSigner', () => {
  it('signs the published GET object example', () => {
    const signed = new RequestSigner(EXAMPLE).sign({
      method: 'GET',
      path: '/test.txt',
      headers: { host: HOST, range: 'bytes=0-9', 'x-amz-content-sha256': EMPTY_SHA256 },
      date: EXAMPLE_DATE,
    });
    expect(signed).toEqual({
      'x-amz-date': '20130524T000000Z',
      authorization: expectedAuthorization(
        'host;range;x-amz-content-sha256;x-amz-date',
        'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
      ),
    });
  });

  it('signs the published PUT object example, with its path encoded by the caller', () => {
    const signed = new RequestSigner(EXAMPLE).sign({
      method: 'PUT',
      path: `/${escapeUriComponent('test$file.text')}`,
      headers: {
        host: HOST,
        date: 'Fri, 24 May 2013 00:00:00 GMT',
        'x-amz-storage-class': 'REDUCED_REDUNDANCY',
        'x-amz-content-sha256': '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
      },
      date: EXAMPLE_DATE,
    });
    expect(signed.authorization).toBe(
      expectedAuthorization(
        'date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class',
        '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd',
      ),
    );
  });

  it('signs the published GET bucket lifecycle example (a query parameter without a value)', () => {
    const signed = new RequestSigner(EXAMPLE).sign({
      method: 'GET',
      path: '/',
      query: signedQueryString({ lifecycle: '' }),
      headers: { host: HOST, 'x-amz-content-sha256': EMPTY_SHA256 },
      date: EXAMPLE_DATE,
    });
    expect(signed.authorization).toBe(
      expectedAuthorization(
        'host;x-amz-content-sha256;x-amz-date',
        'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543',
      ),
    );
  });

  it('leaves out the headers that proxies may change, as the SDKs do', () => {
    const { authorization } = new RequestSigner(EXAMPLE).sign({
      method: 'PUT',
      path: '/k',
      headers: {
        host: HOST,
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
        'user-agent': 'x',
        'cache-control': 'no-cache',
        expect: '100-continue',
        'proxy-authorization': 'x',
        'sec-fetch-mode': 'cors',
        'content-type': 'text/plain',
      },
    });
    expect(authorization).toContain(
      'SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date,',
    );
  });

  it('hashes header values as the latin-1 bytes Node sends, not as UTF-8', async () => {
    // The latin-1 string 'Ã©' travels as the bytes C3 A9, which are the UTF-8 of 'é': the SDK's
    // signer, hashing UTF-8, signs 'é' over exactly those bytes.
    const date = new Date('2024-02-29T12:00:00Z');
    const ours = new RequestSigner(EXAMPLE).sign({
      method: 'PUT',
      path: '/k',
      headers: {
        host: HOST,
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
        'x-amz-meta-a': 'caf\u00c3\u00a9',
      },
      date,
    });
    const reference = await new SignatureV4({
      service: 's3',
      region: 'us-east-1',
      credentials: EXAMPLE,
      sha256: Sha256,
      uriEscapePath: false,
      applyChecksum: false,
    }).sign(
      {
        method: 'PUT',
        protocol: 'https:',
        hostname: HOST,
        path: '/k',
        query: {},
        headers: { host: HOST, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-meta-a': 'café' },
      },
      { signingDate: date },
    );
    expect(ours.authorization).toBe(reference.headers.authorization);
  });

  it('refuses a request without its payload hash', () => {
    expect(() =>
      new RequestSigner(EXAMPLE).sign({ method: 'PUT', path: '/k', headers: { host: HOST } }),
    ).toThrow(/x-amz-content-sha256/);
  });

  it('signs now when no date is given', () => {
    const before = Date.now();
    const { 'x-amz-date': amzDate } = new RequestSigner(EXAMPLE).sign({
      method: 'PUT',
      path: '/k',
      headers: { host: HOST, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    });
    const iso = amzDate.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z');
    const signedAt = Date.parse(iso);
    expect(signedAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(signedAt).toBeLessThanOrEqual(Date.now());
  });
});

describe('signedQueryString', () => {
  it('escapes names and values as SigV4 does and sorts by the escaped name', () => {
    expect(signedQueryString({ uploadId: '2~a b/c+d*', partNumber: '7', 'a!': "'" })).toBe(
      'a%21=%27&partNumber=7&uploadId=2~a%20b%2Fc%2Bd%2A',
    );
    expect(signedQueryString(undefined)).toBe('');
    expect(signedQueryString({})).toBe('');
  });
});

// What the backend computes must be what the AWS SDK's own signer computes: it is the reference
// that Ceph, Swift and AWS verified before the gateway signed by itself.
describe('RequestSigner (properties)', () => {
  const text = fc.string({ unit: 'grapheme', maxLength: 24 });
  const headerName = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/);
  // Header values of printable ASCII and blanks, where the SDK's UTF-8 hashing and the
  // signer's hashing of the wire bytes agree (latin-1 values have a test of their own).
  const headerValue = fc.string({
    unit: fc.oneof(
      fc.constantFrom(' ', '\t', '  '),
      fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
    ),
    maxLength: 30,
  });
  const dates = fc.date({
    min: new Date('2001-01-01T00:00:00Z'),
    max: new Date('2099-12-31T23:59:59Z'),
    noInvalidDate: true,
  });

  it('produces the signature of @smithy/signature-v4 for any path, query, headers and day', async () => {
    await fuzzAsync(
      fc.asyncProperty(
        fc.record({
          accessKeyId: fc.stringMatching(/^[A-Z0-9]{4,20}$/),
          secretAccessKey: fc.string({ minLength: 1, maxLength: 40 }),
          region: fc.constantFrom('us-east-1', 'eu-west-3', 'default', 'zone-a'),
        }),
        fc.array(text, { minLength: 1, maxLength: 4 }),
        // Not `__proto__`: the reference signer drops it from the canonical query (it stores
        // the pieces in a plain object), while the request would still send it.
        fc.dictionary(
          text.filter((name) => name !== '__proto__'),
          text,
          { maxKeys: 3 },
        ),
        fc.dictionary(headerName, headerValue, { maxKeys: 6 }),
        fc.array(dates, { minLength: 1, maxLength: 3 }),
        async (credentials, segments, query, extra, signingDates) => {
          const path = `/${segments.map(escapeUriComponent).join('/')}`;
          const headers = {
            ...extra,
            host: 'backend.example:9000',
            'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
          };
          delete (headers as Record<string, string>)['x-amz-date'];
          delete (headers as Record<string, string>).authorization;
          const ours = new RequestSigner({ ...credentials, service: 's3' });
          const reference = new SignatureV4({
            service: 's3',
            region: credentials.region,
            credentials,
            sha256: Sha256,
            uriEscapePath: false,
            applyChecksum: false,
          });
          // One signer across several days: its cached signing key must follow the date.
          for (const date of signingDates) {
            const signed = ours.sign({
              method: 'PUT',
              path,
              query: signedQueryString(query),
              headers,
              date,
            });
            const expected = await reference.sign(
              {
                method: 'PUT',
                protocol: 'http:',
                hostname: 'backend.example',
                port: 9000,
                path,
                query,
                headers,
              },
              { signingDate: date },
            );
            expect(signed.authorization).toBe(expected.headers.authorization);
            expect(signed['x-amz-date']).toBe(expected.headers['x-amz-date']);
          }
        },
      ),
    );
  });
});
