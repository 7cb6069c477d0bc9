import { S3Error } from './errors';
import {
  classifyOperation,
  parseQuery,
  type OperationRequest,
  type S3Operation,
} from './operation';

/**
 * Builds a classifier input from a request line such as `PUT /b/key?partNumber=1&uploadId=U`.
 * The first path segment is the bucket; anything non-empty after it is the key.
 */
function request(line: string, headers: readonly string[] = []): OperationRequest {
  const [method, target] = line.split(' ') as [string, string];
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const rawQuery = q === -1 ? '' : target.slice(q + 1);
  const afterBucket = path.indexOf('/', 1);
  const key = afterBucket === -1 ? '' : path.slice(afterBucket + 1);
  return {
    method,
    hasKey: key !== '',
    query: parseQuery(rawQuery),
    headerNames: new Set(headers.map((h) => h.toLowerCase())),
  };
}

function classify(line: string, headers: readonly string[] = []): S3Operation {
  return classifyOperation(request(line, headers));
}

function refusal(line: string, headers: readonly string[] = []): S3Error {
  try {
    classify(line, headers);
  } catch (err) {
    expect(err).toBeInstanceOf(S3Error);
    return err as S3Error;
  }
  throw new Error(`expected ${line} to be refused`);
}

function expectRefused(line: string, headers: readonly string[] = []): S3Error {
  const err = refusal(line, headers);
  expect(err.code).toBe('MethodNotAllowed');
  expect(err.status).toBe(405);
  expect(err.message).toContain('upload-only');
  return err;
}

// What the SDK presigner adds to a presigned URL (no session token) before the signature.
const PRESIGN =
  'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Content-Sha256=UNSIGNED-PAYLOAD' +
  '&X-Amz-Credential=AKIDEXAMPLE%2F20240102%2Fus-east-1%2Fs3%2Faws4_request' +
  '&X-Amz-Date=20240102T030405Z&X-Amz-Expires=900&X-Amz-Signature=' +
  'a'.repeat(64) +
  '&X-Amz-SignedHeaders=host';

const SUB_RESOURCES = [
  'acl',
  'tagging',
  'policy',
  'select',
  'restore',
  'torrent',
  'versioning',
  'lifecycle',
] as const;

describe('classifyOperation', () => {
  describe('the allowed operations of DESIGN §1', () => {
    it.each<[string, S3Operation]>([
      ['PUT /b/key', 'PutObject'],
      ['POST /b/key?uploads', 'CreateMultipartUpload'],
      ['POST /b/key?uploads=', 'CreateMultipartUpload'],
      ['PUT /b/key?partNumber=1&uploadId=U', 'UploadPart'],
      ['PUT /b/key?uploadId=U&partNumber=10000', 'UploadPart'],
      ['POST /b/key?uploadId=U', 'CompleteMultipartUpload'],
      ['DELETE /b/key?uploadId=U', 'AbortMultipartUpload'],
      ['GET /b/key?uploadId=U', 'ListParts'],
      ['GET /b/key?uploadId=U&max-parts=100&part-number-marker=3', 'ListParts'],
      ['GET /b/key?uploadId=U&encoding-type=url', 'ListParts'],
      ['HEAD /b', 'HeadBucket'],
    ])('%s is %s', (line, operation) => {
      expect(classify(line)).toBe(operation);
    });

    it('classifies keys with several segments like any other key', () => {
      expect(classify('PUT /b/a/b/c.txt')).toBe('PutObject');
      expect(classify('POST /b/a/b/c.txt?uploads')).toBe('CreateMultipartUpload');
    });

    it('accepts the method in any letter case', () => {
      expect(classify('put /b/key')).toBe('PutObject');
      expect(classify('head /b')).toBe('HeadBucket');
    });
  });

  describe('reads, listings and deletes', () => {
    it.each([
      ['GetObject', 'GET /b/key'],
      ['HeadObject', 'HEAD /b/key'],
      ['GetObject of one part', 'GET /b/key?partNumber=1'],
      ['ListObjects', 'GET /b'],
      ['ListObjectsV2', 'GET /b?list-type=2&prefix=a%2F'],
      ['ListObjectVersions', 'GET /b?versions'],
      ['ListMultipartUploads', 'GET /b?uploads'],
      ['ListMultipartUploads addressed at a key', 'GET /b/key?uploads'],
      ['HeadBucket with a listing parameter', 'HEAD /b?list-type=2'],
      ['DeleteObject', 'DELETE /b/key'],
      ['DeleteObject of a version', 'DELETE /b/key?versionId=v1'],
      ['DeleteObjects', 'POST /b?delete'],
      ['DeleteBucket', 'DELETE /b'],
    ])('refuses %s', (_label, line) => {
      expectRefused(line);
    });

    it('says which kind of request it refused', () => {
      expect(expectRefused('GET /b/key').message).toContain('GetObject');
      expect(expectRefused('HEAD /b/key').message).toContain('HeadObject');
      expect(expectRefused('DELETE /b/key').message).toContain('DeleteObject');
      expect(expectRefused('GET /b?uploads').message).toContain('multipart uploads');
      expect(expectRefused('POST /b?delete').message).toContain('Deleting objects');
    });
  });

  describe('copies', () => {
    it.each([
      ['CopyObject', 'PUT /b/key'],
      ['UploadPartCopy', 'PUT /b/key?partNumber=1&uploadId=U'],
    ])('refuses %s, signalled by x-amz-copy-source', (_label, line) => {
      const err = expectRefused(line, ['x-amz-copy-source']);
      expect(err.message).toContain('x-amz-copy-source');
    });

    it('refuses a copy whatever the other copy headers say', () => {
      expectRefused('PUT /b/key', [
        'x-amz-copy-source',
        'x-amz-copy-source-range',
        'x-amz-metadata-directive',
      ]);
    });

    it('refuses a presigned copy whose x-amz-copy-source the presigner hoisted into the query', () => {
      // @aws-sdk/s3-request-presigner moves every x-amz-* header into the query string.
      expectRefused(`PUT /b/key?x-amz-copy-source=src%2Fsecret.txt&x-id=CopyObject&${PRESIGN}`);
      expectRefused(
        `PUT /b/key?partNumber=1&uploadId=U&x-amz-copy-source=src%2Fsecret.txt&x-id=UploadPartCopy&${PRESIGN}`,
      );
    });
  });

  describe('sub-resources', () => {
    it.each(
      SUB_RESOURCES.flatMap((name) => ['GET', 'PUT', 'POST', 'DELETE'].map((m) => [m, name])),
    )('refuses %s on an object with ?%s', (method, name) => {
      expect(expectRefused(`${method} /b/key?${name}`).message).toContain(`?${name}`);
    });

    it.each(
      SUB_RESOURCES.flatMap((name) =>
        ['GET', 'HEAD', 'PUT', 'POST', 'DELETE'].map((m) => [m, name]),
      ),
    )('refuses %s on a bucket with ?%s', (method, name) => {
      expectRefused(`${method} /b?${name}`);
    });

    it.each([
      ['PutObject', 'PUT /b/key?tagging'],
      ['UploadPart', 'PUT /b/key?partNumber=1&uploadId=U&acl'],
      ['CreateMultipartUpload', 'POST /b/key?uploads&restore'],
      ['CompleteMultipartUpload', 'POST /b/key?uploadId=U&select&select-type=2'],
      ['AbortMultipartUpload', 'DELETE /b/key?uploadId=U&versionId=v1'],
      ['ListParts', 'GET /b/key?uploadId=U&torrent'],
    ])('refuses %s with a sub-resource added', (_label, line) => {
      expectRefused(line);
    });
  });

  describe('bucket operations', () => {
    it.each([
      ['CreateBucket', 'PUT /b'],
      ['PutBucketAcl', 'PUT /b?acl'],
      ['PutBucketPolicy', 'PUT /b?policy'],
      ['a multipart upload without a key', 'POST /b?uploads'],
      ['a POST form upload', 'POST /b'],
    ])('refuses %s', (_label, line) => {
      expectRefused(line);
    });

    it('names bucket creation in its refusal', () => {
      expect(expectRefused('PUT /b').message).toContain('bucket');
    });
  });

  describe('incomplete or unknown shapes', () => {
    it.each([
      ['an upload id without a part number', 'PUT /b/key?uploadId=U'],
      ['a part number without an upload id', 'PUT /b/key?partNumber=1'],
      ['a POST without ?uploads or ?uploadId', 'POST /b/key'],
      ['an unknown parameter on PutObject', 'PUT /b/key?foo=bar'],
      ['an unknown valueless parameter', 'PUT /b/key?whatever'],
      ['a parameter whose name differs only in case', 'POST /b/key?Uploads'],
      ['an unknown parameter on ListParts', 'GET /b/key?uploadId=U&list-type=2'],
      ['an unknown method', 'PATCH /b/key'],
    ])('refuses %s', (_label, line) => {
      expectRefused(line);
    });
  });

  describe('parameters that select nothing', () => {
    it.each<[string, S3Operation]>([
      ['PUT /b/key?x-id=PutObject', 'PutObject'],
      ['POST /b/key?uploads&x-id=CreateMultipartUpload', 'CreateMultipartUpload'],
      ['PUT /b/key?partNumber=2&uploadId=U&x-id=UploadPart', 'UploadPart'],
      ['POST /b/key?uploadId=U&x-id=CompleteMultipartUpload', 'CompleteMultipartUpload'],
      ['DELETE /b/key?uploadId=U&x-id=AbortMultipartUpload', 'AbortMultipartUpload'],
      ['GET /b/key?uploadId=U&x-id=ListParts', 'ListParts'],
      ['HEAD /b?x-id=HeadBucket', 'HeadBucket'],
    ])('the x-id hint leaves %s as %s', (line, operation) => {
      expect(classify(line)).toBe(operation);
    });

    it.each<[string, S3Operation]>([
      [`PUT /b/key?${PRESIGN}`, 'PutObject'],
      [`PUT /b/key?partNumber=3&uploadId=U&${PRESIGN}`, 'UploadPart'],
      [`POST /b/key?uploads&${PRESIGN}`, 'CreateMultipartUpload'],
      [`HEAD /b?${PRESIGN}`, 'HeadBucket'],
      [`PUT /b/key?${PRESIGN}&X-Amz-Security-Token=tok`, 'PutObject'],
      [`PUT /b/key?${PRESIGN.toLowerCase()}`, 'PutObject'],
    ])('presigned-URL parameters leave %s as %s', (line, operation) => {
      expect(classify(line)).toBe(operation);
    });

    it('does not let presigned-URL parameters turn a read into an upload', () => {
      expectRefused(`GET /b/key?${PRESIGN}`);
      expectRefused(`GET /b?${PRESIGN}`);
    });

    it('ignores ordinary request headers', () => {
      expect(classify('PUT /b/key', ['content-type', 'x-amz-meta-a', 'x-amz-content-sha256'])).toBe(
        'PutObject',
      );
    });
  });
});

describe('parseQuery', () => {
  it('returns no parameters for an empty query', () => {
    expect(parseQuery('')).toEqual([]);
  });

  it('gives a valueless parameter the value ""', () => {
    expect(parseQuery('uploads')).toEqual([['uploads', '']]);
    expect(parseQuery('uploads=')).toEqual([['uploads', '']]);
  });

  it('keeps the parameters in request order, repeats included', () => {
    expect(parseQuery('uploadId=U&partNumber=2&uploadId=V')).toEqual([
      ['uploadId', 'U'],
      ['partNumber', '2'],
      ['uploadId', 'V'],
    ]);
  });

  it('keeps "+" a plus sign, as SigV4 reads it, and decodes %20 as a space and %2B as a plus', () => {
    expect(parseQuery('prefix=a+b&delimiter=%20&marker=1%2B1')).toEqual([
      ['prefix', 'a+b'],
      ['delimiter', ' '],
      ['marker', '1+1'],
    ]);
  });

  it('decodes names as well as values', () => {
    expect(parseQuery('max%2Dparts=5')).toEqual([['max-parts', '5']]);
  });

  it('decodes once, leaving an escaped percent sign as "%"', () => {
    expect(parseQuery('uploadId=a%252F')).toEqual([['uploadId', 'a%2F']]);
  });

  it('decodes UTF-8 escapes into Unicode', () => {
    expect(parseQuery('prefix=%E6%B0%B4')).toEqual([['prefix', '水']]);
  });

  it('splits on the first "=" only', () => {
    expect(parseQuery('uploadId=abc==')).toEqual([['uploadId', 'abc==']]);
  });

  it('skips empty pairs between ampersands', () => {
    expect(parseQuery('&&uploads&&')).toEqual([['uploads', '']]);
  });

  it.each([['uploadId=%'], ['uploadId=%zz'], ['%E6%B0=x'], ['prefix=%C0%AF']])(
    'refuses the malformed escape in %p with InvalidURI',
    (raw) => {
      let caught: unknown;
      try {
        parseQuery(raw);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(S3Error);
      expect((caught as S3Error).code).toBe('InvalidURI');
      expect((caught as S3Error).status).toBe(400);
    },
  );
});
