/**
 * Property tests of the upload-only classifier (DESIGN.md §1): whatever the method, query and
 * headers, a request is either one of the seven allowed operations in exactly its documented
 * shape, or refused with 405 MethodNotAllowed. Nothing that reads, lists, copies or deletes an
 * object ever gets through.
 */
import * as fc from 'fast-check';
import { fuzz, thrownBy } from '../../testing/fuzz';
import { S3Error } from './errors';
import { classifyOperation, parseQuery, type S3Operation } from './operation';

/** Each allowed operation with its method and the parameters it needs and may have. */
const SHAPE: Record<
  S3Operation,
  { method: string; keyed: boolean; required: string[]; optional: string[] }
> = {
  PutObject: { method: 'PUT', keyed: true, required: [], optional: [] },
  UploadPart: { method: 'PUT', keyed: true, required: ['partNumber', 'uploadId'], optional: [] },
  CreateMultipartUpload: { method: 'POST', keyed: true, required: ['uploads'], optional: [] },
  CompleteMultipartUpload: { method: 'POST', keyed: true, required: ['uploadId'], optional: [] },
  AbortMultipartUpload: { method: 'DELETE', keyed: true, required: ['uploadId'], optional: [] },
  ListParts: {
    method: 'GET',
    keyed: true,
    required: ['uploadId'],
    optional: ['max-parts', 'part-number-marker', 'encoding-type'],
  },
  HeadBucket: { method: 'HEAD', keyed: false, required: [], optional: [] },
};

const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND'];

/** Parameter names: the shapes' own, S3 sub-resources, neutral ones, and random text. */
const paramName = fc.oneof(
  fc.constantFrom(
    'uploads',
    'uploadId',
    'partNumber',
    'max-parts',
    'part-number-marker',
    'encoding-type',
    'acl',
    'tagging',
    'policy',
    'select',
    'select-type',
    'restore',
    'torrent',
    'delete',
    'versions',
    'versionId',
    'list-type',
    'location',
    'lifecycle',
    'cors',
    'website',
    'x-id',
    'X-Amz-Signature',
    'x-amz-copy-source',
    'X-Amz-Copy-Source',
    'x-amz-copy-source-range',
    'UPLOADS',
    'uploadid',
  ),
  fc.string({ unit: 'grapheme-ascii', maxLength: 12 }),
);

const query = fc.array(fc.tuple(paramName, fc.string({ unit: 'grapheme-ascii', maxLength: 8 })), {
  maxLength: 5,
});

const headerNames = fc.uniqueArray(
  fc.constantFrom(
    'x-amz-copy-source',
    'x-amz-copy-source-range',
    'x-http-method-override',
    'x-http-method',
    'x-method-override',
    'content-type',
    'x-amz-acl',
    'x-amz-tagging',
    'range',
  ),
  { maxLength: 4 },
);

const method = fc.oneof(
  fc.constantFrom(...METHODS),
  fc.constantFrom(...METHODS).map((m) => m.toLowerCase()),
);

function isNeutral(name: string): boolean {
  return name.toLowerCase() === 'x-id' || name.toLowerCase().startsWith('x-amz-');
}

describe('classifyOperation (properties)', () => {
  it('returns an operation only for its exact documented shape, and refuses the rest with 405', () => {
    fuzz(
      fc.property(method, fc.boolean(), query, headerNames, (m, hasKey, q, names) => {
        let operation: S3Operation | undefined;
        const thrown = thrownBy(
          () =>
            (operation = classifyOperation({
              method: m,
              hasKey,
              query: q,
              headerNames: new Set(names),
            })),
        );
        if (thrown !== undefined) {
          expect(thrown).toBeInstanceOf(S3Error);
          expect((thrown as S3Error).code).toBe('MethodNotAllowed');
          expect((thrown as S3Error).status).toBe(405);
          expect((thrown as S3Error).message).toMatch(/upload-only/);
          return;
        }
        const shape = SHAPE[operation as S3Operation];
        expect(m.toUpperCase()).toBe(shape.method);
        expect(hasKey).toBe(shape.keyed);
        expect(names).not.toContain('x-amz-copy-source');
        expect(q.some(([n]) => n.toLowerCase().startsWith('x-amz-copy-source'))).toBe(false);
        const selecting = new Set(q.map(([n]) => n).filter((n) => !isNeutral(n)));
        for (const name of shape.required) expect(selecting).toContain(name);
        for (const name of selecting) {
          expect([...shape.required, ...shape.optional]).toContain(name);
        }
      }),
    );
  });

  it('never lets a read, a listing or a delete of an object through', () => {
    fuzz(
      fc.property(
        fc.constantFrom('GET', 'HEAD', 'DELETE'),
        fc.boolean(),
        query,
        headerNames,
        (m, hasKey, q, names) => {
          fc.pre(!q.some(([n]) => n === 'uploadId'));
          fc.pre(!(m === 'HEAD' && !hasKey));
          const err = thrownBy(() =>
            classifyOperation({ method: m, hasKey, query: q, headerNames: new Set(names) }),
          );
          expect(err).toBeInstanceOf(S3Error);
          expect((err as S3Error).code).toBe('MethodNotAllowed');
        },
      ),
    );
  });

  it('refuses every request that names a copy source, in a header or in the query', () => {
    fuzz(
      fc.property(
        method,
        fc.boolean(),
        query,
        fc.constantFrom('header', 'query', 'query-mixed-case'),
        (m, hasKey, q, where) => {
          const withCopy: Array<[string, string]> =
            where === 'header'
              ? q
              : [
                  ...q,
                  [where === 'query' ? 'x-amz-copy-source' : 'X-Amz-Copy-Source', '/b/secret'],
                ];
          const headers = new Set(where === 'header' ? ['x-amz-copy-source'] : []);
          const err = thrownBy(() =>
            classifyOperation({ method: m, hasKey, query: withCopy, headerNames: headers }),
          );
          expect((err as S3Error).code).toBe('MethodNotAllowed');
        },
      ),
    );
  });

  it('parses any raw query into decoded pairs or refuses it with 400 InvalidURI', () => {
    const raw = fc.string({
      unit: fc.oneof(
        fc.constantFrom('&', '=', '%', '%2', '%41', '%ff', '%e2%82', '+', 'uploads', 'uploadId'),
        fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
      ),
      maxLength: 30,
    });
    fuzz(
      fc.property(raw, (rawQuery) => {
        const thrown = thrownBy(() => parseQuery(rawQuery));
        if (thrown === undefined) return;
        expect(thrown).toBeInstanceOf(S3Error);
        expect((thrown as S3Error).code).toBe('InvalidURI');
      }),
    );
  });
});
