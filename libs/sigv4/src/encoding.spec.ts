/**
 * SigV4 canonicalisation of paths, queries and header values, checked against the encoding rules
 * of the specification: only A-Z a-z 0-9 - . _ ~ stay as they are, every other byte of the UTF-8
 * form becomes %XX with upper-case hex, and `/` survives in object paths only.
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#create-canonical-request
 */
import {
  canonicalHeaderValue,
  canonicalQuery,
  canonicalUri,
  hasOtherWhitespace,
  uriEncode,
} from './encoding';

/** An independent encoder: what the AWS SDKs do (encodeURIComponent plus !'()*). */
function rfc3986(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

describe('uriEncode', () => {
  it('keeps exactly the unreserved characters', () => {
    const unreserved = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~';
    expect(uriEncode(unreserved)).toBe(unreserved);
  });

  it('encodes every other printable ASCII character as %XX with upper-case hex', () => {
    for (let code = 0x20; code < 0x7f; code++) {
      const ch = String.fromCharCode(code);
      if (/[A-Za-z0-9\-._~]/.test(ch)) continue;
      expect([ch, uriEncode(ch)]).toEqual([
        ch,
        `%${code.toString(16).toUpperCase().padStart(2, '0')}`,
      ]);
    }
  });

  it('encodes control characters with two hex digits', () => {
    expect(uriEncode('\u0000\t\n\u007f')).toBe('%00%09%0A%7F');
  });

  it.each([
    [' ', '%20'],
    ['+', '%2B'],
    ['*', '%2A'],
    ['%', '%25'],
    ['=', '%3D'],
    ['&', '%26'],
    ["!'()", '%21%27%28%29'],
    ['é', '%C3%A9'],
    ['日本', '%E6%97%A5%E6%9C%AC'],
    ['🐉', '%F0%9F%90%89'],
  ])('encodes %j as %s', (text, encoded) => {
    expect(uriEncode(text)).toBe(encoded);
  });

  it('encodes / unless asked to keep it', () => {
    expect(uriEncode('a/b')).toBe('a%2Fb');
    expect(uriEncode('a/b', true)).toBe('a/b');
  });

  it('agrees with the encoding the AWS SDKs use for a wide range of text', () => {
    const samples = [
      "photos/2024 summer/beach (1)!*'.jpg",
      'a+b=c&d;e,f:g@h$i#j?k[l]m{n}o|p\\q^r`s"t<u>v',
      'ünïcödé/ファイル名/🐉🌊/ελληνικά',
      '~tilde-dash_under.dot',
    ];
    for (const text of samples) {
      expect(uriEncode(text)).toBe(rfc3986(text));
      expect(uriEncode(text, true)).toBe(text.split('/').map(rfc3986).join('/'));
    }
  });
});

describe('canonicalUri', () => {
  it('is / for an empty path', () => {
    expect(canonicalUri('')).toBe('/');
    expect(canonicalUri('/')).toBe('/');
  });

  it('re-encodes a path that arrived with the canonical encoding unchanged', () => {
    const path = '/bucket/photos/my%20holiday%21%2A%27%28%29/%C3%A9t%C3%A9.jpg';
    expect(canonicalUri(path)).toBe(path);
  });

  it('encodes characters that arrived unencoded (the AWS example test$file.text)', () => {
    expect(canonicalUri('/test$file.text')).toBe('/test%24file.text');
    expect(canonicalUri('/test%24file.text')).toBe('/test%24file.text');
  });

  it('normalises the case of percent-escapes and encodes what the wire left alone', () => {
    expect(canonicalUri("/b/a%2ab!'()")).toBe('/b/a%2Ab%21%27%28%29');
    expect(canonicalUri('/b/%e6%97%a5')).toBe('/b/%E6%97%A5');
  });

  it('treats + in a path as a literal plus', () => {
    expect(canonicalUri('/b/a+b')).toBe('/b/a%2Bb');
    expect(canonicalUri('/b/a%2Bb')).toBe('/b/a%2Bb');
  });

  it('encodes a key once, not twice (S3 does not double-encode)', () => {
    // The key `100%` travels as 100%25; its canonical form is 100%25, not 100%2525.
    expect(canonicalUri('/b/100%25')).toBe('/b/100%25');
  });

  it('keeps repeated slashes and dot segments, as S3 does', () => {
    expect(canonicalUri('/b//a/./c/../d/')).toBe('/b//a/./c/../d/');
  });

  it('keeps raw UTF-8 that arrived unencoded in canonical form', () => {
    expect(canonicalUri('/b/日本 語.txt')).toBe('/b/%E6%97%A5%E6%9C%AC%20%E8%AA%9E.txt');
  });
});

describe('canonicalQuery', () => {
  it('is empty for an empty query', () => {
    expect(canonicalQuery('')).toBe('');
  });

  it('gives a valueless parameter an empty value (the AWS lifecycle example)', () => {
    expect(canonicalQuery('lifecycle')).toBe('lifecycle=');
    expect(canonicalQuery('uploads')).toBe('uploads=');
    expect(canonicalQuery('uploads=')).toBe('uploads=');
  });

  it('sorts by name (the AWS list-objects example)', () => {
    expect(canonicalQuery('prefix=J&max-keys=2')).toBe('max-keys=2&prefix=J');
  });

  it('sorts by byte value, so upper case comes before lower case', () => {
    expect(canonicalQuery('uploadId=u&partNumber=1&X-Amz-Date=d&x-id=UploadPart')).toBe(
      'X-Amz-Date=d&partNumber=1&uploadId=u&x-id=UploadPart',
    );
  });

  it('sorts repeated names by value', () => {
    expect(canonicalQuery('a=3&b=1&a=1&a=2')).toBe('a=1&a=2&a=3&b=1');
  });

  it('decodes once and re-encodes names and values', () => {
    expect(canonicalQuery('uploadId=abc%2Fdef%3D%3D&partNumber=2')).toBe(
      'partNumber=2&uploadId=abc%2Fdef%3D%3D',
    );
    expect(canonicalQuery('uploadId=abc/def==')).toBe('uploadId=abc%2Fdef%3D%3D');
    expect(canonicalQuery('k=%e6%97%a5%20x')).toBe('k=%E6%97%A5%20x');
    expect(canonicalQuery("k=!'()*")).toBe('k=%21%27%28%29%2A');
  });

  it('keeps the unreserved characters of an upload id as they are', () => {
    expect(canonicalQuery('uploadId=2~abc.DEF_ghi-jkl&partNumber=10000')).toBe(
      'partNumber=10000&uploadId=2~abc.DEF_ghi-jkl',
    );
  });

  it('drops the excluded parameter (X-Amz-Signature of a presigned URL)', () => {
    expect(
      canonicalQuery(
        'X-Amz-Signature=abc&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=60',
        'X-Amz-Signature',
      ),
    ).toBe('X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=60');
    expect(canonicalQuery('X-Amz-Signature=abc&a=1')).toBe('X-Amz-Signature=abc&a=1');
  });

  it('ignores empty pairs left by stray ampersands', () => {
    expect(canonicalQuery('&b=2&&a=1&')).toBe('a=1&b=2');
  });

  it('encodes the credential of a presigned URL whether or not the wire escaped its slashes', () => {
    const canonical =
      'X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request';
    expect(
      canonicalQuery('X-Amz-Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request'),
    ).toBe(canonical);
    expect(canonicalQuery(canonical)).toBe(canonical);
  });
});

describe('canonicalHeaderValue', () => {
  it('trims and collapses runs of whitespace', () => {
    expect(canonicalHeaderValue('  a   b \t c  ')).toBe('a b c');
    expect(canonicalHeaderValue('bytes=0-9 ')).toBe('bytes=0-9');
  });

  it('leaves a plain value alone', () => {
    expect(canonicalHeaderValue('Fri, 24 May 2013 00:00:00 GMT')).toBe(
      'Fri, 24 May 2013 00:00:00 GMT',
    );
  });

  it('joins repeated headers with commas, each trimmed', () => {
    expect(canonicalHeaderValue([' a ', 'b  c'])).toBe('a,b c');
  });

  it('keeps an empty value empty', () => {
    expect(canonicalHeaderValue('')).toBe('');
  });
  it("collapses only blanks and tabs in the 'blanks' style, as the AWS SDK for JavaScript does", () => {
    expect(canonicalHeaderValue('  a   b \t c  ', 'blanks')).toBe('a b c');
    expect(canonicalHeaderValue('a\u00a0\u00a0b\u00a0', 'blanks')).toBe('a\u00a0\u00a0b\u00a0');
    expect(canonicalHeaderValue('a\u00a0\u00a0b\u00a0')).toBe('a b');
  });
});

describe('hasOtherWhitespace', () => {
  it('finds white space other than blanks and tabs', () => {
    expect(hasOtherWhitespace('a \t b')).toBe(false);
    expect(hasOtherWhitespace('a\u00a0b')).toBe(true);
    expect(hasOtherWhitespace(['x', 'y\u000bz'])).toBe(true);
  });
});
