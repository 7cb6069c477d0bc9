/**
 * Property tests of SigV4 verification. Requests are signed by `@smithy/signature-v4` (the AWS
 * SDK's signer) in the header and presigned forms, then:
 * - the verifier accepts them, also when written differently on the wire in ways SigV4 says
 *   are equal (escaping, parameter order, header whitespace, unsigned headers);
 * - any single change to what was signed (method, path, query, a signed header, the payload
 *   hash, the date, the credential, the signature) is refused;
 * - arbitrary and half-valid input only ever fails with a SigV4Error;
 * - the chunk-signature chain accepts exactly the chain a client computes, in order.
 */
import { createHash, createHmac } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SignatureV4 } from '@smithy/signature-v4';
import type { HttpRequest } from '@smithy/types';
import * as fc from 'fast-check';
import { AwsChunkedDecoder } from '@mizuchi/s3-protocol';
import { encodeAwsChunked } from '@mizuchi/s3-protocol/aws-chunked.testing';
import { fuzz, fuzzAsync, thrownBy } from '../../testing/fuzz';
import {
  ChunkSignatureChain,
  EMPTY_SHA256,
  MAX_PRESIGN_SECONDS,
  SigV4Error,
  hasSigV4,
  parseSigV4,
  signingKey,
  verifySigV4,
  type SigV4Request,
  type VerifiedSigV4,
  type VerifyOptions,
} from './sigv4';
import { Sha256, sdkEncode } from '../../testing/smithy-signing';

const REGION = 'us-east-1';
const KEY_A = { accessKeyId: 'AKIDFUZZKEYA00000001', secretAccessKey: 'fuzz/secret+A=0123456789' };
const KEY_B = { accessKeyId: 'AKIDFUZZKEYB00000002', secretAccessKey: 'fuzz-secret-B-0123456789' };
const SECRETS = new Map([KEY_A, KEY_B].map((k) => [k.accessKeyId, k.secretAccessKey]));
const SKEW_SECONDS = 900;
const BUCKET = 'fuzz-bucket';

function verifyOptions(now: Date): VerifyOptions {
  return {
    secretFor: (id) => SECRETS.get(id),
    region: REGION,
    maxSkewSeconds: SKEW_SECONDS,
    now,
  };
}

// ---------------------------------------------------------------------------------------------
// Signing with the SDK's signer

function signer(key = KEY_A): SignatureV4 {
  return new SignatureV4({
    credentials: key,
    region: REGION,
    service: 's3',
    sha256: Sha256,
    // S3 paths are signed as the SDK writes them: already escaped, never normalised.
    uriEscapePath: false,
  });
}

function objectPath(key: string): string {
  return `/${BUCKET}/${key.split('/').map(sdkEncode).join('/')}`;
}

/** The signed request as it goes on the wire: raw path, raw query, lower-case header names. */
function toWire(req: HttpRequest): SigV4Request {
  const pairs: string[] = [];
  for (const [name, value] of Object.entries(req.query ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) {
      // A valueless parameter (`?uploads`) goes on the wire without `=`, as the SDKs send it.
      pairs.push(v === null || v === '' ? sdkEncode(name) : `${sdkEncode(name)}=${sdkEncode(v)}`);
    }
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) headers[name.toLowerCase()] = value;
  return { method: req.method, rawPath: req.path, rawQuery: pairs.join('&'), headers };
}

// ---------------------------------------------------------------------------------------------
// Requests to sign

interface Plan {
  form: 'header' | 'presigned';
  method: string;
  key: string;
  query: Record<string, string>;
  /** Extra headers that are signed, besides host (and x-amz-* the signer adds). */
  signed: Record<string, string>;
  /** A header left out of the signature. */
  unsigned: string;
  payloadHash: string;
  /** Presigned only: keep x-amz-content-sha256 a header instead of hoisting it into the query. */
  keepHashHeader: boolean;
  date: Date;
  expiresIn: number;
  /** Where in the validity window the request arrives: 0 = at once, 1 = at the last moment. */
  arrival: number;
}

const METHODS = ['PUT', 'POST', 'GET', 'DELETE', 'HEAD'];

/** Header values: visible ASCII with single inner spaces, as the canonical form keeps them. */
const headerValue = fc
  .string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 24 })
  .map((v) => v.trim().replace(/\s+/g, ' '))
  .filter((v) => v !== '');

const headerName = fc.oneof(
  fc.stringMatching(/^x-fuzz-[a-z0-9]{1,8}$/),
  fc.constantFrom('content-type', 'content-md5', 'cache-control-x', 'x-meta'),
);

const queryName = fc.oneof(
  fc.constantFrom('uploads', 'uploadId', 'partNumber', 'x-id', 'max-parts', 'acl', 'tagging'),
  fc.constantFrom('constructor', 'toString', 'hasOwnProperty'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 10 }),
);

// Valueless parameters are signed as '' (the signer leaves out a null one altogether).
const queryValue = fc.oneof(
  fc.constant(''),
  fc.string({ unit: 'binary', maxLength: 16 }),
  fc.stringMatching(/^[0-9]{1,5}$/),
);

const payloadHash = fc.oneof(
  fc.constant('UNSIGNED-PAYLOAD'),
  fc.constant(EMPTY_SHA256),
  fc.stringMatching(/^[0-9a-f]{64}$/),
  fc.constantFrom(
    'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
    'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
    'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
  ),
);

const plan: fc.Arbitrary<Plan> = fc.record({
  form: fc.constantFrom('header' as const, 'presigned' as const),
  method: fc.constantFrom(...METHODS),
  key: fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }),
  query: fc.dictionary(queryName, queryValue, { maxKeys: 4 }).map((q) => {
    // x-amz-* names are the presigned form's own. `__proto__` the smithy signer loses when it
    // copies the query by assignment, so it signs without it (a quirk of the signer, not ours:
    // the verifier's own handling of the name is covered by the hostile-input properties).
    const kept = Object.entries(q).filter(
      ([n]) => !n.toLowerCase().startsWith('x-amz-') && n !== '__proto__',
    );
    return Object.fromEntries(kept);
  }),
  signed: fc.dictionary(headerName, headerValue, { maxKeys: 3 }),
  unsigned: headerValue,
  payloadHash,
  keepHashHeader: fc.boolean(),
  date: fc.date({
    min: new Date('2001-01-01T00:00:00Z'),
    max: new Date('2098-12-31T00:00:00Z'),
    noInvalidDate: true,
  }),
  expiresIn: fc.oneof(fc.integer({ min: 1, max: 3600 }), fc.constant(MAX_PRESIGN_SECONDS)),
  arrival: fc.double({ min: 0, max: 1, noNaN: true }),
});

const UNSIGNED_HEADER = 'x-not-signed';

interface Signed {
  wire: SigV4Request;
  now: Date;
  plan: Plan;
}

/** Signs a plan with the SDK signer and writes it as it would arrive. */
async function signPlan(p: Plan, key = KEY_A): Promise<Signed> {
  const date = new Date(Math.floor(p.date.getTime() / 1000) * 1000);
  const request: HttpRequest = {
    method: p.method,
    protocol: 'http:',
    hostname: '127.0.0.1',
    port: 8080,
    path: objectPath(p.key),
    query: { ...p.query },
    headers: {
      host: '127.0.0.1:8080',
      'x-amz-content-sha256': p.form === 'presigned' ? 'UNSIGNED-PAYLOAD' : p.payloadHash,
      [UNSIGNED_HEADER]: p.unsigned,
      ...p.signed,
    },
  };
  const unsignableHeaders = new Set([UNSIGNED_HEADER]);
  let signed: HttpRequest;
  let now: Date;
  if (p.form === 'header') {
    signed = await signer(key).sign(request, { signingDate: date, unsignableHeaders });
    now = new Date(date.getTime() + Math.round((p.arrival * 2 - 1) * (SKEW_SECONDS - 1)) * 1000);
  } else {
    signed = await signer(key).presign(request, {
      signingDate: date,
      expiresIn: p.expiresIn,
      unsignableHeaders,
      unhoistableHeaders: p.keepHashHeader ? new Set(['x-amz-content-sha256']) : undefined,
    });
    now = new Date(date.getTime() + Math.floor(p.arrival * p.expiresIn) * 1000);
  }
  return { wire: toWire(signed), now, plan: p };
}

function accepted(s: Signed): boolean {
  return thrownBy(() => verifySigV4(s.wire, verifyOptions(s.now))) === undefined;
}

/** Asserts that verification fails, and only ever with a SigV4Error. */
function expectRefused(wire: SigV4Request, now: Date): SigV4Error {
  const err = thrownBy(() => verifySigV4(wire, verifyOptions(now)));
  expect(err).toBeInstanceOf(SigV4Error);
  return err as SigV4Error;
}

// ---------------------------------------------------------------------------------------------
// Changes to a signed request

/** Random choices made inside a property, drawn through fast-check so failures replay. */
interface Rand {
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  bool(): boolean;
}

function randOf(g: fc.GeneratorValue): Rand {
  return {
    int: (min, max) => g(fc.integer, { min, max }),
    bool: () => g(fc.boolean),
  };
}

type Mutation = (s: Signed, r: Rand) => SigV4Request | undefined;

function withHeaders(wire: SigV4Request, headers: Record<string, string | undefined>) {
  const all = { ...wire.headers, ...headers };
  for (const [name, value] of Object.entries(all)) if (value === undefined) delete all[name];
  return { ...wire, headers: all };
}

function pairsOf(rawQuery: string): string[] {
  return rawQuery === '' ? [] : rawQuery.split('&');
}

function queryParam(wire: SigV4Request, name: string): string | undefined {
  for (const pair of pairsOf(wire.rawQuery)) {
    const eq = pair.indexOf('=');
    if (decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq)) === name) {
      return eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
    }
  }
  return undefined;
}

function setQueryParam(wire: SigV4Request, name: string, value: string): SigV4Request {
  const pairs = pairsOf(wire.rawQuery).filter((pair) => {
    const eq = pair.indexOf('=');
    return decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq)) !== name;
  });
  pairs.push(`${sdkEncode(name)}=${sdkEncode(value)}`);
  return { ...wire, rawQuery: pairs.join('&') };
}

function signedHeaderNames(s: Signed): string[] {
  const list =
    s.plan.form === 'presigned'
      ? queryParam(s.wire, 'X-Amz-SignedHeaders')
      : /SignedHeaders=([^,]*)/.exec(String(s.wire.headers.authorization))?.[1];
  return (list ?? '').split(';');
}

function signatureOf(s: Signed): string {
  return s.plan.form === 'presigned'
    ? (queryParam(s.wire, 'X-Amz-Signature') ?? '')
    : (/Signature=([0-9a-f]+)/.exec(String(s.wire.headers.authorization))?.[1] ?? '');
}

function withSignature(s: Signed, signature: string): SigV4Request {
  if (s.plan.form === 'presigned') return setQueryParam(s.wire, 'X-Amz-Signature', signature);
  const auth = String(s.wire.headers.authorization).replace(
    /Signature=[0-9a-f]+/,
    `Signature=${signature}`,
  );
  return withHeaders(s.wire, { authorization: auth });
}

function amzDate(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** `text` with one visible ASCII character inserted (between code points, never inside one). */
function changed(text: string, r: Rand): string {
  const chars = [...text];
  chars.splice(r.int(0, chars.length), 0, String.fromCharCode(r.int(0x21, 0x7e)));
  return chars.join('');
}

const MUTATIONS: Record<string, Mutation> = {
  method: (s, r) => {
    const others = METHODS.filter((m) => m !== s.wire.method);
    return { ...s.wire, method: others[r.int(0, others.length - 1)] };
  },
  path: (s, r) => ({ ...s.wire, rawPath: objectPath(changed(s.plan.key, r)) }),
  'query: a parameter added': (s, r) => {
    const name = `p${r.int(0, 1e6)}`;
    const pair = r.bool() ? name : `${name}=${r.int(0, 9)}`;
    return { ...s.wire, rawQuery: [...pairsOf(s.wire.rawQuery), pair].join('&') };
  },
  'query: a value changed': (s, r) => {
    const names = Object.keys(s.plan.query);
    if (names.length === 0) return undefined;
    const name = names[r.int(0, names.length - 1)];
    return setQueryParam(s.wire, name, changed(s.plan.query[name], r));
  },
  'query: a parameter removed': (s, r) => {
    const pairs = pairsOf(s.wire.rawQuery);
    const removable = pairs.filter((p) => !p.startsWith('X-Amz-Signature='));
    if (removable.length === 0) return undefined;
    const gone = removable[r.int(0, removable.length - 1)];
    return { ...s.wire, rawQuery: pairs.filter((p) => p !== gone).join('&') };
  },
  'a signed header changed': (s, r) => {
    const names = signedHeaderNames(s);
    const name = names[r.int(0, names.length - 1)];
    return withHeaders(s.wire, { [name]: changed(String(s.wire.headers[name] ?? ''), r) });
  },
  'a signed header removed': (s, r) => {
    const names = signedHeaderNames(s);
    return withHeaders(s.wire, { [names[r.int(0, names.length - 1)]]: undefined });
  },
  'payload hash': (s, r) => {
    const other = r.bool() ? EMPTY_SHA256 : 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
    const fresh = createHash('sha256')
      .update(String(r.int(0, 1e9)))
      .digest('hex');
    const current = String(s.wire.headers['x-amz-content-sha256']);
    const hash = other === current || other === s.plan.payloadHash ? fresh : other;
    if (s.plan.form === 'header') return withHeaders(s.wire, { 'x-amz-content-sha256': hash });
    return s.plan.keepHashHeader
      ? setQueryParam(s.wire, 'X-Amz-Content-Sha256', hash)
      : setQueryParam(s.wire, 'x-amz-content-sha256', hash);
  },
  date: (s, r) => {
    const shift = (r.bool() ? 1 : -1) * r.int(1, 600) * 1000;
    if (s.plan.form === 'header') {
      const date = new Date(Date.parse(isoOf(String(s.wire.headers['x-amz-date']))) + shift);
      return withHeaders(s.wire, { 'x-amz-date': amzDate(date) });
    }
    const date = new Date(Date.parse(isoOf(queryParam(s.wire, 'X-Amz-Date') ?? '')) + shift);
    return setQueryParam(s.wire, 'X-Amz-Date', amzDate(date));
  },
  'presigned expiry': (s, r) => {
    if (s.plan.form !== 'presigned') return undefined;
    const longer = Math.min(MAX_PRESIGN_SECONDS, s.plan.expiresIn + r.int(1, 3600));
    if (longer === s.plan.expiresIn) return undefined;
    return setQueryParam(s.wire, 'X-Amz-Expires', String(longer));
  },
  'signature: one hex digit': (s, r) => {
    const sig = signatureOf(s);
    const at = r.int(0, sig.length - 1);
    const digit = ((parseInt(sig[at], 16) + r.int(1, 15)) % 16).toString(16);
    return withSignature(s, sig.slice(0, at) + digit + sig.slice(at + 1));
  },
  'signature: upper case': (s) => {
    const sig = signatureOf(s);
    if (sig.toUpperCase() === sig) return undefined;
    return withSignature(s, sig.toUpperCase());
  },
  'signature: truncated': (s, r) => withSignature(s, signatureOf(s).slice(0, r.int(0, 63))),
  'access key: the other issued key': (s) => {
    const swap = (text: string) => text.replace(KEY_A.accessKeyId, KEY_B.accessKeyId);
    if (s.plan.form === 'presigned') {
      return setQueryParam(
        s.wire,
        'X-Amz-Credential',
        swap(queryParam(s.wire, 'X-Amz-Credential') ?? ''),
      );
    }
    return withHeaders(s.wire, { authorization: swap(String(s.wire.headers.authorization)) });
  },
};

function isoOf(compact: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(compact);
  return m === null ? '' : `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`;
}

// ---------------------------------------------------------------------------------------------
// Changes that SigV4 says leave the request the same

function reencodePath(rawPath: string, r: Rand): string {
  const [, bucket, ...rest] = rawPath.split('/');
  const key = rest
    .map((segment) =>
      [...decodeURIComponent(segment)]
        .map((ch) => {
          if (!r.bool()) return sdkEncode(ch);
          // Any character may be escaped, in either letter case; decoding undoes it.
          const escaped = [...Buffer.from(ch, 'utf8')]
            .map((b) => `%${b.toString(16).padStart(2, '0')}`)
            .join('');
          return r.bool() ? escaped : escaped.toUpperCase();
        })
        .join(''),
    )
    .join('/');
  return `/${bucket}/${key}`;
}

function shuffled<T>(items: T[], r: Rand): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = r.int(0, i);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const EQUIVALENTS: Record<string, (s: Signed, r: Rand) => SigV4Request> = {
  'the path escaped differently': (s, r) => ({
    ...s.wire,
    rawPath: reencodePath(s.wire.rawPath, r),
  }),
  'the query in another order': (s, r) => ({
    ...s.wire,
    rawQuery: shuffled(pairsOf(s.wire.rawQuery), r).join('&'),
  }),
  // Inside values only: Node strips whitespace around a header value before anyone sees it.
  'whitespace runs inside signed header values': (s, r) => {
    const headers: Record<string, string> = {};
    for (const name of signedHeaderNames(s)) {
      const value = String(s.wire.headers[name]);
      headers[name] = value.replace(/ /g, () => ' \t'.repeat(r.int(1, 3)));
    }
    return withHeaders(s.wire, headers);
  },
  'valueless parameters written with "="': (s) => ({
    ...s.wire,
    rawQuery: pairsOf(s.wire.rawQuery)
      .map((pair) => (pair.includes('=') ? pair : `${pair}=`))
      .join('&'),
  }),
  'the unsigned header changed or removed': (s, r) =>
    withHeaders(s.wire, {
      [UNSIGNED_HEADER]: r.bool() ? undefined : changed(s.plan.unsigned, r),
    }),
};

// ---------------------------------------------------------------------------------------------

describe('verifySigV4 (properties)', () => {
  it('accepts every request the SDK signer signs, in both forms', async () => {
    await fuzzAsync(
      fc.asyncProperty(plan, async (p) => {
        const s = await signPlan(p);
        const verified = verifySigV4(s.wire, verifyOptions(s.now));
        expect(verified.claim.form).toBe(p.form);
        expect(verified.claim.accessKeyId).toBe(KEY_A.accessKeyId);
      }),
    );
  });

  it('still accepts the request written differently in ways SigV4 treats as equal', async () => {
    await fuzzAsync(
      fc.asyncProperty(
        plan,
        fc.constantFrom(...Object.keys(EQUIVALENTS)),
        fc.gen(),
        async (p, kind, g) => {
          const s = await signPlan(p);
          const wire = EQUIVALENTS[kind](s, randOf(g));
          expect(thrownBy(() => verifySigV4(wire, verifyOptions(s.now)))).toBeUndefined();
        },
      ),
    );
  });

  it('refuses every single change to what was signed', async () => {
    await fuzzAsync(
      fc.asyncProperty(plan, fc.gen(), async (p, g) => {
        const s = await signPlan(p);
        expect(accepted(s)).toBe(true);
        const r = randOf(g);
        for (const [kind, mutate] of Object.entries(MUTATIONS)) {
          const wire = mutate(s, r);
          if (wire === undefined) continue;
          const err = thrownBy(() => verifySigV4(wire, verifyOptions(s.now)));
          // Named, so a failure says which change got through.
          expect({ kind, refusedWith: err?.constructor.name }).toEqual({
            kind,
            refusedWith: 'SigV4Error',
          });
        }
      }),
      0.5,
    );
  });

  it('refuses a request signed with the secret of another key than it names', async () => {
    await fuzzAsync(
      fc.asyncProperty(plan, async (p) => {
        const s = await signPlan(p, { ...KEY_A, secretAccessKey: KEY_B.secretAccessKey });
        expect(expectRefused(s.wire, s.now).code).toBe('SignatureDoesNotMatch');
      }),
    );
  });

  it('refuses a request outside its validity window, however well it is signed', async () => {
    await fuzzAsync(
      fc.asyncProperty(
        plan,
        fc.integer({ min: 1, max: 10 * 365 * 24 * 3600 }),
        fc.boolean(),
        async (p, late, early) => {
          const s = await signPlan({ ...p, arrival: 0 });
          const signedAt = new Date(Math.floor(p.date.getTime() / 1000) * 1000).getTime();
          const window = p.form === 'presigned' ? p.expiresIn : SKEW_SECONDS;
          const now = new Date(
            early ? signedAt - (SKEW_SECONDS + late) * 1000 : signedAt + (window + late) * 1000,
          );
          const code = expectRefused(s.wire, now).code;
          expect(code).toBe(p.form === 'presigned' ? 'AccessDenied' : 'RequestTimeTooSkewed');
        },
      ),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Arbitrary and half-valid input

const NOW = new Date('2024-05-06T07:08:09Z');
const NOW_AMZ = amzDate(NOW);
const SCOPE = `${NOW_AMZ.slice(0, 8)}/${REGION}/s3/aws4_request`;

/** Pieces of SigV4 fields: valid ones, near misses, prototype names and broken escapes. */
// Valid values weigh most, so that many requests get as far as the canonical request.
const credentialField = fc.oneof(
  { arbitrary: fc.constant(`${KEY_A.accessKeyId}/${SCOPE}`), weight: 4 },
  fc.constant(`${KEY_B.accessKeyId}/${SCOPE}`),
  fc.constantFrom(
    `constructor/${SCOPE}`,
    `__proto__/${SCOPE}`,
    `${KEY_A.accessKeyId}/${NOW_AMZ.slice(0, 8)}/${REGION}/sts/aws4_request`,
    `${KEY_A.accessKeyId}/${NOW_AMZ.slice(0, 8)}/eu-west-1/s3/aws4_request`,
    `${KEY_A.accessKeyId}/19700101/${REGION}/s3/aws4_request`,
    `${KEY_A.accessKeyId}/${SCOPE}/extra`,
    `${KEY_A.accessKeyId}%2F${SCOPE}`,
    '%zz',
    '',
    '/',
  ),
  fc.string({ maxLength: 60 }),
);

const signedHeadersField = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .array(
        fc.constantFrom(
          'host',
          'x-amz-date',
          'x-amz-content-sha256',
          'constructor',
          '__proto__',
          'toString',
          'hasOwnProperty',
          'valueOf',
          'HOST',
          '',
          'missing-header',
        ),
        { minLength: 1, maxLength: 5 },
      )
      .map((names) => names.join(';')),
  },
  fc.string({ maxLength: 20 }),
);

const signatureField = fc.oneof(
  fc.stringMatching(/^[0-9a-f]{64}$/),
  fc.stringMatching(/^[0-9A-F]{64}$/),
  fc.string({ maxLength: 70 }),
);

const dateField = fc.oneof(
  { arbitrary: fc.constant(NOW_AMZ), weight: 4 },
  fc.constantFrom('20240231T000000Z', '00000101T000000Z', '99991231T235959Z', NOW.toISOString()),
  fc.string({ maxLength: 20 }),
);

const brokenEscapes = fc.constantFrom('%', '%zz', '%e2%82', '%ff', '%C0%AF', '%%41', '%2', '+');
const rawPath = fc.oneof(
  fc.constant('/b/key'),
  fc
    .array(fc.oneof(brokenEscapes, fc.string({ unit: 'grapheme-ascii', maxLength: 6 })), {
      maxLength: 6,
    })
    .map((parts) => `/b/${parts.join('')}`),
);
const extraQuery = fc
  .array(
    fc.oneof(
      brokenEscapes,
      fc.constantFrom('uploads', 'x=1', '=', '&', 'X-Amz-Signature=', 'a=%zz', '%zz=b'),
    ),
    { maxLength: 4 },
  )
  .map((parts) => parts.join('&'));

interface Garbage {
  form: 'header' | 'presigned' | 'neither';
  credential: string;
  signedHeaders: string;
  signature: string;
  date: string;
  expires: string;
  algorithm: string;
  separator: string;
  rawPath: string;
  extraQuery: string;
  encodeFields: boolean;
  payloadHash: string | undefined;
}

const garbage: fc.Arbitrary<Garbage> = fc.record({
  form: fc.constantFrom('header' as const, 'presigned' as const, 'neither' as const),
  credential: credentialField,
  signedHeaders: signedHeadersField,
  signature: signatureField,
  date: dateField,
  expires: fc.oneof(
    fc.constantFrom('1', '3600', '604800', '604801', '9999999', '-1', '1e3', ''),
    fc.string({ maxLength: 8 }),
  ),
  algorithm: fc.oneof(
    { arbitrary: fc.constant('AWS4-HMAC-SHA256'), weight: 4 },
    fc.constantFrom('AWS4-ECDSA-P256-SHA256', 'AWS4-', 'AWS4-HMAC-SHA256x'),
  ),
  separator: fc.constantFrom(',', ', ', ',,', ' , '),
  rawPath,
  extraQuery,
  encodeFields: fc.boolean(),
  payloadHash: fc.option(fc.constantFrom('UNSIGNED-PAYLOAD', EMPTY_SHA256, '', 'x'), {
    nil: undefined,
  }),
});

/** Builds the request; headers are a plain object, like Node's `req.headers`. */
function garbageRequest(g: Garbage): SigV4Request {
  const headers: Record<string, string> = { host: '127.0.0.1:8080', 'x-amz-date': g.date };
  if (g.payloadHash !== undefined) headers['x-amz-content-sha256'] = g.payloadHash;
  let rawQuery = g.extraQuery;
  if (g.form === 'header') {
    headers.authorization =
      `${g.algorithm} Credential=${g.credential}${g.separator}` +
      `SignedHeaders=${g.signedHeaders}${g.separator}Signature=${g.signature}`;
  } else if (g.form === 'presigned') {
    const enc = (v: string) => (g.encodeFields ? sdkEncode(v) : v);
    const auth = [
      `X-Amz-Algorithm=${enc(g.algorithm)}`,
      `X-Amz-Credential=${enc(g.credential)}`,
      `X-Amz-Date=${enc(g.date)}`,
      `X-Amz-Expires=${enc(g.expires)}`,
      `X-Amz-SignedHeaders=${enc(g.signedHeaders)}`,
      `X-Amz-Signature=${enc(g.signature)}`,
    ].join('&');
    rawQuery = rawQuery === '' ? auth : `${rawQuery}&${auth}`;
  }
  return { method: 'PUT', rawPath: g.rawPath, rawQuery, headers };
}

function expectSigV4ErrorOrNothing(fn: () => unknown): void {
  const err = thrownBy(fn);
  if (err === undefined) return;
  expect(err).toBeInstanceOf(SigV4Error);
}

describe('parseSigV4 and verifySigV4 on hostile input (properties)', () => {
  it('fail only with a SigV4Error, for half-valid requests of either form', () => {
    fuzz(
      fc.property(garbage, (g) => {
        const req = garbageRequest(g);
        expect(thrownBy(() => hasSigV4(req))).toBeUndefined();
        expectSigV4ErrorOrNothing(() => parseSigV4(req));
        // Verification must not accept any of it: none of these signatures was computed.
        expect(thrownBy(() => verifySigV4(req, verifyOptions(NOW)))).toBeInstanceOf(SigV4Error);
      }),
      2,
    );
  });

  it('fail only with a SigV4Error, for arbitrary text in every field', () => {
    const text = fc.string({ unit: 'binary', maxLength: 80 });
    fuzz(
      fc.property(text, text, text, text, text, (authorization, rawPath, rawQuery, date, hash) => {
        const req: SigV4Request = {
          method: 'PUT',
          rawPath,
          rawQuery,
          headers: { authorization, 'x-amz-date': date, 'x-amz-content-sha256': hash },
        };
        expect(thrownBy(() => hasSigV4(req))).toBeUndefined();
        expectSigV4ErrorOrNothing(() => parseSigV4(req));
        expect(thrownBy(() => verifySigV4(req, verifyOptions(NOW)))).toBeInstanceOf(SigV4Error);
      }),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The chunk-signature chain, against an independent computation of the streaming spec

function hmacHex(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text, 'utf8').digest('hex');
}

function referenceKey(secret: string, day: string): Buffer {
  const step = (key: string | Buffer, data: string) =>
    createHmac('sha256', key).update(data, 'utf8').digest();
  return step(step(step(step(`AWS4${secret}`, day), REGION), 's3'), 'aws4_request');
}

/** The chunk signatures a client computes, seeded with the request's signature. */
function referenceChain(
  seed: string,
  date: string,
  secret: string,
  chunkHashes: string[],
): string[] {
  const key = referenceKey(secret, date.slice(0, 8));
  const scope = `${date.slice(0, 8)}/${REGION}/s3/aws4_request`;
  const out: string[] = [];
  let previous = seed;
  for (const hash of chunkHashes) {
    previous = hmacHex(
      key,
      [
        'AWS4-HMAC-SHA256-PAYLOAD',
        date,
        scope,
        previous,
        createHash('sha256').digest('hex'),
        hash,
      ].join('\n'),
    );
    out.push(previous);
  }
  return out;
}

function referenceTrailer(previous: string, date: string, secret: string, trailer: string): string {
  const scope = `${date.slice(0, 8)}/${REGION}/s3/aws4_request`;
  const trailerHash = createHash('sha256').update(trailer).digest('hex');
  return hmacHex(
    referenceKey(secret, date.slice(0, 8)),
    ['AWS4-HMAC-SHA256-TRAILER', date, scope, previous, trailerHash].join('\n'),
  );
}

/** A verified streaming PUT, as the gateway holds it when the body starts. */
async function verifiedStreamingPut(date: Date, trailer: boolean): Promise<VerifiedSigV4> {
  const s = await signPlan({
    form: 'header',
    method: 'PUT',
    key: 'chunked/object.bin',
    query: {},
    signed: trailer ? { 'x-amz-trailer': 'x-amz-checksum-crc32' } : {},
    unsigned: 'u',
    payloadHash: trailer
      ? 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'
      : 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
    keepHashHeader: false,
    date,
    expiresIn: 1,
    arrival: 0.5,
  });
  return verifySigV4(s.wire, verifyOptions(s.now));
}

const chunkHashes = fc.array(fc.stringMatching(/^[0-9a-f]{64}$/), { minLength: 1, maxLength: 8 });
const signingDate = fc.date({
  min: new Date('2010-01-01T00:00:00Z'),
  max: new Date('2090-01-01T00:00:00Z'),
  noInvalidDate: true,
});

describe('ChunkSignatureChain (properties)', () => {
  it('accepts the chain a client computes, and refuses it from the first altered link on', async () => {
    await fuzzAsync(
      fc.asyncProperty(
        signingDate,
        chunkHashes,
        fc.nat(),
        fc.nat(15),
        async (date, hashes, at, delta) => {
          const verified = await verifiedStreamingPut(date, false);
          const { signature, amzDate } = verified.claim;
          const signatures = referenceChain(signature, amzDate, KEY_A.secretAccessKey, hashes);

          const chain = new ChunkSignatureChain(verified);
          hashes.forEach((hash, i) => chain.verifyChunk(signatures[i], hash));

          const i = at % hashes.length;
          const altered = [...signatures];
          const digit = (parseInt(altered[i][0], 16) + 1 + delta) % 16;
          altered[i] = digit.toString(16) + altered[i].slice(1);
          fc.pre(altered[i] !== signatures[i]);
          const fresh = new ChunkSignatureChain(verified);
          for (let j = 0; j < i; j++) fresh.verifyChunk(altered[j], hashes[j]);
          const err = thrownBy(() => fresh.verifyChunk(altered[i], hashes[i]));
          expect(err).toBeInstanceOf(SigV4Error);
          expect((err as SigV4Error).code).toBe('SignatureDoesNotMatch');
        },
      ),
      0.5,
    );
  });

  it('refuses chunks taken out of order, and a chain seeded by another request', async () => {
    await fuzzAsync(
      fc.asyncProperty(signingDate, chunkHashes, fc.nat(), async (date, hashes, at) => {
        fc.pre(new Set(hashes).size > 1);
        const verified = await verifiedStreamingPut(date, false);
        const { signature, amzDate } = verified.claim;
        const signatures = referenceChain(signature, amzDate, KEY_A.secretAccessKey, hashes);

        // Swap chunk i with the next chunk that carries other data.
        const i = at % hashes.length;
        const j = hashes.findIndex((h, k) => k !== i && h !== hashes[i]);
        const order = hashes.map((_, k) => (k === i ? j : k === j ? i : k));
        const first = Math.min(i, j);
        const chain = new ChunkSignatureChain(verified);
        for (let k = 0; k < first; k++) chain.verifyChunk(signatures[order[k]], hashes[order[k]]);
        expect(
          thrownBy(() => chain.verifyChunk(signatures[order[first]], hashes[order[first]])),
        ).toBeInstanceOf(SigV4Error);

        // The same chunks signed after another request's signature.
        const other = await verifiedStreamingPut(new Date(date.getTime() + 1000), false);
        const foreign = referenceChain(
          other.claim.signature,
          other.claim.amzDate,
          KEY_A.secretAccessKey,
          hashes,
        );
        expect(
          thrownBy(() => new ChunkSignatureChain(verified).verifyChunk(foreign[0], hashes[0])),
        ).toBeInstanceOf(SigV4Error);
      }),
      0.5,
    );
  });

  it('decodes a signed aws-chunked body with a trailer back to its bytes, and refuses any altered trailer', async () => {
    await fuzzAsync(
      fc.asyncProperty(
        signingDate,
        fc.uint8Array({ maxLength: 3000 }),
        fc.integer({ min: 1, max: 1500 }),
        fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 8 }),
        fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 6 }),
        async (date, raw, chunkSize, reads, tamper) => {
          const data = Buffer.from(raw);
          const verified = await verifiedStreamingPut(date, true);
          const { signature, amzDate } = verified.claim;
          let previous = signature;
          const sign = (hash: string) =>
            (previous = referenceChain(previous, amzDate, KEY_A.secretAccessKey, [hash])[0]);
          const crc = encodeAwsChunked(data, { trailerChecksum: 'CRC32', chunkSize: 1 })
            .toString('latin1')
            .match(/x-amz-checksum-crc32:([^\r]*)/)?.[1];
          const trailerSignature = (text: string) =>
            referenceTrailer(previous, amzDate, KEY_A.secretAccessKey, text);

          const decode = async (trailerText: string) => {
            previous = signature;
            const body = encodeAwsChunked(data, {
              signed: true,
              chunkSize,
              sign,
              trailerChecksum: 'CRC32',
              // Computed lazily: it chains from the final chunk's signature.
              get trailerSignature() {
                return trailerSignature(trailerText);
              },
            });
            const pieces: Buffer[] = [];
            for (let pos = 0, k = 0; pos < body.length; k++) {
              pieces.push(body.subarray(pos, pos + reads[k % reads.length]));
              pos += reads[k % reads.length];
            }
            const out: Buffer[] = [];
            await pipeline(
              Readable.from(pieces),
              new AwsChunkedDecoder({
                signed: true,
                trailer: true,
                trailerChecksum: 'CRC32',
                decodedLength: data.length,
                chunkVerifier: new ChunkSignatureChain(verified),
              }),
              new Writable({
                write(chunk: Buffer, _enc, cb) {
                  out.push(chunk);
                  cb();
                },
              }),
            );
            return Buffer.concat(out);
          };

          const canonical = `x-amz-checksum-crc32:${crc}\n`;
          expect((await decode(canonical)).equals(data)).toBe(true);
          // Concatenated, not String#replace: a tamper such as "$'" is a replacement pattern there.
          const err = await decode(`${canonical.slice(0, -1)}${tamper}\n`).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(err).toBeInstanceOf(SigV4Error);
        },
      ),
      0.5,
    );
  });
});

describe('signingKey (properties)', () => {
  it('derives the key the reference computation derives, for any secret and day', () => {
    fuzz(
      fc.property(
        fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
        signingDate,
        (secret, date) => {
          const day = amzDate(date).slice(0, 8);
          expect(signingKey(secret, day, REGION, 's3').equals(referenceKey(secret, day))).toBe(
            true,
          );
        },
      ),
    );
  });
});

describe('regressions found by these properties', () => {
  /** A header-form request that is valid up to its signature, signed with key A's id. */
  function headerForm(over: Partial<SigV4Request> & { signedHeaders?: string }): SigV4Request {
    const signedHeaders = over.signedHeaders ?? 'host;x-amz-content-sha256;x-amz-date';
    return {
      method: 'PUT',
      rawPath: over.rawPath ?? '/b/key',
      rawQuery: over.rawQuery ?? '',
      headers: {
        host: '127.0.0.1:8080',
        'x-amz-date': NOW_AMZ,
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
        authorization:
          `AWS4-HMAC-SHA256 Credential=${KEY_A.accessKeyId}/${SCOPE}, ` +
          `SignedHeaders=${signedHeaders}, Signature=${'0'.repeat(64)}`,
        ...(over.headers ?? {}),
      },
    };
  }

  function presigned(extraQuery: string): SigV4Request {
    const auth =
      `X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${sdkEncode(`${KEY_A.accessKeyId}/${SCOPE}`)}` +
      `&X-Amz-Date=${NOW_AMZ}&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=${'0'.repeat(64)}`;
    return {
      method: 'PUT',
      rawPath: '/b/key',
      rawQuery: `${extraQuery}&${auth}`,
      headers: { host: '127.0.0.1:8080' },
    };
  }

  it.each([
    ['a broken escape in another parameter', presigned('%zz=1')],
    ['a truncated UTF-8 escape in a value', presigned('a=%e2%82')],
  ])(
    'refuses a presigned URL with %s as AuthorizationHeaderMalformed, not a URIError',
    (_label, req) => {
      expect(thrownBy(() => parseSigV4(req))).toMatchObject({
        name: 'SigV4Error',
        code: 'AuthorizationHeaderMalformed',
      });
    },
  );

  it.each([
    ['path', headerForm({ rawPath: '/b/a%zzb' })],
    ['query', headerForm({ rawQuery: 'partNumber=%ff' })],
  ])('refuses a header-signed request whose %s is not valid percent-encoding', (_label, req) => {
    expect(thrownBy(() => verifySigV4(req, verifyOptions(NOW)))).toMatchObject({
      name: 'SigV4Error',
      code: 'AuthorizationHeaderMalformed',
    });
  });

  // SignedHeaders must be lower case, which leaves these two names of Object.prototype.
  it.each(['constructor', '__proto__'])(
    'treats a signed header named %s that was not sent as missing, with a plain headers object',
    (name) => {
      const req = headerForm({ signedHeaders: `${name};host;x-amz-date` });
      expect(thrownBy(() => verifySigV4(req, verifyOptions(NOW)))).toMatchObject({
        name: 'SigV4Error',
        code: 'SignatureDoesNotMatch',
        message: `Signed header ${name} is missing.`,
      });
    },
  );
});
