/**
 * Authorization end to end (DESIGN.md §5, issue 5): the in-process gateway asks an OPA stand-in
 * (the Data API, policies in TypeScript), an OpenFGA stand-in (Check with contextual tuples,
 * evaluating the shipped examples/openfga/model.json) or a custom provider from examples/, and
 * uploads land in Ceph only when the answer is yes. Every refusal is checked in the backend:
 * nothing is stored. Engine failures are exercised in both fail modes: a 5xx answer, no answer
 * within `timeout_ms`, and a refused connection.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { QuotaProvider } from '../examples/custom-authz/quota.provider';
import { createApp } from '../src/app.setup';
import { AuthzService } from '../src/authz/authz.service';
import { parseConfig } from '../src/config/load-config';
import {
  closeDirectS3,
  createTestBucket,
  destroyTestBucket,
  listMultipartUploads,
  storedObject,
} from './helpers/ceph';
import { cephRoute, createTestApp, type TestApp } from './helpers/create-test-app';
import { startOpaStandIn, type OpaCall, type OpaStandIn } from './helpers/opa-standin';
import { loadModel, startOpenFgaStandIn, type OpenFgaStandIn } from './helpers/openfga-standin';
import { expectOk, expectS3Error, md5Hex, send, type WireResponse } from './helpers/wire';

const MiB = 1024 * 1024;
const SECRET = 'authz-e2e-shared-secret-that-is-long-enough';
const MODEL_FILE = join(__dirname, '..', 'examples', 'openfga', 'model.json');

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** The claims of a fresh HS256 token for `sub` (what the gateway will see as `claims`). */
function claimsFor(sub: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { sub, iat: now, exp: now + 600, ...extra };
}

/** An HS256 JWT over `claims`, signed with the routes' secret. */
function jwt(claims: Record<string, unknown>): string {
  const signed = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}`;
  return `${signed}.${createHmac('sha256', SECRET).update(signed).digest('base64url')}`;
}

/** The Authorization header of a token for `sub`. */
function as(sub: string, extra: Record<string, unknown> = {}): Record<string, string> {
  return { authorization: `Bearer ${jwt(claimsFor(sub, extra))}` };
}

const JWT_AUTH = { enabled: true, jwt: { algorithms: ['HS256'], secret: SECRET } };

/** The subjects the OPA policies let upload. */
const UPLOADERS = new Set(['alice', 'anonymous']);

function subjectOf(input: unknown): string {
  return String((input as { subject?: unknown }).subject);
}

/** Rego-free policies, as the stand-in evaluates them (paths below `data`). */
const POLICY = {
  'mizuchi/upload/allow': (input: unknown) => UPLOADERS.has(subjectOf(input)),
  'mizuchi/upload/decision': (input: unknown) =>
    UPLOADERS.has(subjectOf(input))
      ? { allow: true }
      : { allow: false, reason: `${subjectOf(input)} is not on the uploaders list` },
  // Parts under deny-parts/ are refused although the upload could be started.
  'mizuchi/multipart/allow': (input: unknown) => {
    const { key, action } = input as { key: string; action: string };
    return !(key.startsWith('deny-parts/') && action === 's3:UploadPart');
  },
  'mizuchi/cache/allow': () => true,
  'mizuchi/ttl/allow': () => true,
};

/** The S3 XML documents of client-driven multipart uploads. */
function uploadIdOf(xml: string): string {
  const match = /<UploadId>([^<]+)<\/UploadId>/.exec(xml);
  if (match === null) throw new Error(`no UploadId in ${xml}`);
  return match[1];
}

function completeXml(parts: Array<{ number: number; etag: string }>): string {
  return (
    '<CompleteMultipartUpload>' +
    parts
      .map((p) => `<Part><PartNumber>${p.number}</PartNumber><ETag>${p.etag}</ETag></Part>`)
      .join('') +
    '</CompleteMultipartUpload>'
  );
}

describe('authorization', () => {
  let gw: TestApp;
  let bucket: string;
  /** A healthy OPA, a switchable one, and one that is gone (connection refused). */
  let opa: OpaStandIn;
  let flakyOpa: OpaStandIn;
  let goneOpa: OpaStandIn;
  let fga: OpenFgaStandIn;
  let flakyFga: OpenFgaStandIn;
  let goneFga: OpenFgaStandIn;

  const opaRoute = (
    prefix: string,
    engine: () => OpaStandIn,
    policyPath: string,
    extra: { auth?: unknown; fail_mode?: string; cache_ttl_seconds?: number } = {},
  ) =>
    cephRoute(prefix, bucket, {
      ...(extra.auth !== undefined ? { auth: extra.auth } : {}),
      authz: {
        enabled: true,
        provider: 'opa',
        fail_mode: extra.fail_mode ?? 'closed',
        opa: {
          url: engine().url,
          policy_path: policyPath,
          timeout_ms: 200,
          cache_ttl_seconds: extra.cache_ttl_seconds ?? 0,
        },
      },
    });

  const fgaRoute = (
    prefix: string,
    engine: () => OpenFgaStandIn,
    failMode = 'closed',
    withModelId = true,
  ) =>
    cephRoute(prefix, bucket, {
      auth: JWT_AUTH,
      authz: {
        enabled: true,
        provider: 'openfga',
        fail_mode: failMode,
        openfga: {
          url: engine().url,
          store_id: engine().storeId,
          ...(withModelId ? { model_id: engine().modelId } : {}),
          timeout_ms: 200,
          cache_ttl_seconds: 0,
        },
      },
    });

  beforeAll(async () => {
    bucket = await createTestBucket('authz');
    opa = await startOpaStandIn(POLICY);
    flakyOpa = await startOpaStandIn(POLICY);
    goneOpa = await startOpaStandIn(POLICY);
    fga = await startOpenFgaStandIn({
      model: MODEL_FILE,
      tuples: [
        { user: 'user:alice', relation: 'editor', object: 'bucket:fga-users' },
        { user: 'user:bob', relation: 'editor', object: 'folder:fga-users/team/' },
        { user: 'user:carol', relation: 'editor', object: 'file:fga-users/docs/exact.txt' },
      ],
    });
    flakyFga = await startOpenFgaStandIn({
      model: MODEL_FILE,
      tuples: [
        { user: 'user:alice', relation: 'editor', object: 'bucket:fga-closed' },
        { user: 'user:alice', relation: 'editor', object: 'bucket:fga-open' },
      ],
    });
    goneFga = await startOpenFgaStandIn({ model: MODEL_FILE });
    gw = await createTestApp(
      {
        buckets: [
          opaRoute('opa-users', () => opa, 'mizuchi/upload/allow', { auth: JWT_AUTH }),
          opaRoute('opa-reasons', () => opa, 'mizuchi/upload/decision', { auth: JWT_AUTH }),
          opaRoute('opa-undefined', () => opa, 'mizuchi/upload/nothing_here'),
          opaRoute('opa-multipart', () => opa, 'mizuchi/multipart/allow'),
          opaRoute('opa-cache', () => opa, 'mizuchi/cache/allow', { cache_ttl_seconds: 300 }),
          opaRoute('opa-ttl', () => opa, 'mizuchi/ttl/allow', { cache_ttl_seconds: 1 }),
          opaRoute('opa-closed', () => flakyOpa, 'mizuchi/upload/allow'),
          opaRoute('opa-open', () => flakyOpa, 'mizuchi/upload/allow', { fail_mode: 'open' }),
          opaRoute('opa-gone-closed', () => goneOpa, 'mizuchi/upload/allow'),
          opaRoute('opa-gone-open', () => goneOpa, 'mizuchi/upload/allow', { fail_mode: 'open' }),
          fgaRoute('fga-users', () => fga),
          fgaRoute('fga-latest-model', () => fga, 'closed', false),
          fgaRoute('fga-open-keys', () => fga, 'open'),
          fgaRoute('fga-closed', () => flakyFga),
          fgaRoute('fga-open', () => flakyFga, 'open'),
          fgaRoute('fga-gone-closed', () => goneFga),
          fgaRoute('fga-gone-open', () => goneFga, 'open'),
          cephRoute('quota', bucket, {
            auth: JWT_AUTH,
            authz: {
              enabled: true,
              provider: 'quota',
              options: { content_types: ['text/plain'], max_bytes: MiB, cache_ttl_seconds: 0 },
            },
          }),
        ],
      },
      { authzProviders: { quota: QuotaProvider } },
    );
    // From here on, connections to these two are refused.
    await goneOpa.close();
    await goneFga.close();
  });

  afterAll(async () => {
    await gw?.close();
    await Promise.all([opa?.close(), flakyOpa?.close(), fga?.close(), flakyFga?.close()]);
    if (bucket !== undefined) await destroyTestBucket(bucket);
    closeDirectS3();
  });

  const counters = () => gw.app.get(AuthzService).counters;

  /** PUTs fresh random bytes (or `body`) to `/<prefix>/<key>`. */
  async function put(
    prefix: string,
    key: string,
    headers: Record<string, string> = {},
    body: Buffer = randomBytes(32 * 1024 + 5),
  ): Promise<{ res: WireResponse; body: Buffer }> {
    const res = await send(gw.url, {
      method: 'PUT',
      path: `/${prefix}/${key}`,
      headers: { 'content-type': 'application/octet-stream', ...headers },
      body,
    });
    return { res, body };
  }

  /** The backend key of `/<prefix>/<key>`: routes store the client's key as it is. */
  async function expectStored(key: string, body: Buffer): Promise<void> {
    const stored = await storedObject(bucket, key);
    expect(stored && { md5: stored.md5, size: stored.size }).toEqual({
      md5: md5Hex(body),
      size: body.length,
    });
  }

  async function expectNothingStored(key: string): Promise<void> {
    expect(await storedObject(bucket, key)).toBeUndefined();
  }

  /** 503 ServiceUnavailable with Retry-After, as fail_mode closed answers. */
  function expectEngineDown(res: WireResponse): void {
    expectS3Error(res, 503, 'ServiceUnavailable');
    expect(res.headers['retry-after']).toMatch(/^\d+$/);
  }

  describe('OPA', () => {
    it('allows a subject the policy lists and stores the exact bytes', async () => {
      const { res, body } = await put('opa-users', 'users/alice.bin', as('alice'));
      expectOk(res);
      await expectStored('users/alice.bin', body);
    });

    it('refuses a subject the policy does not list with 403 AccessDenied and stores nothing', async () => {
      const { res } = await put('opa-users', 'users/mallory.bin', as('mallory'));
      expectS3Error(res, 403, 'AccessDenied');
      await expectNothingStored('users/mallory.bin');
      expect(opa.callsTo('mizuchi/upload/allow').at(-1)?.input).toMatchObject({
        subject: 'mallory',
      });
    });

    it('sends the input document of DESIGN.md §5, exactly, as {input} to /v1/data/{policy_path}', async () => {
      const claims = claimsFor('alice', { team: 'blue', roles: ['uploader'] });
      const body = randomBytes(1234);
      const res = await send(gw.url, {
        method: 'PUT',
        path: '/opa-users/shape/dir/file%20name.txt',
        headers: {
          authorization: `Bearer ${jwt(claims)}`,
          'content-type': 'text/plain; charset=utf-8',
        },
        body,
      });
      expectOk(res);
      const call = opa.callsTo('mizuchi/upload/allow').at(-1) as OpaCall;
      expect(call.method).toBe('POST');
      expect(call.headers['content-type']).toMatch(/^application\/json/);
      expect(Object.keys(call.body as object)).toEqual(['input']);
      expect(call.input).toStrictEqual({
        subject: 'alice',
        auth_method: 'jwt',
        claims,
        action: 's3:PutObject',
        bucket: 'opa-users',
        key: 'shape/dir/file name.txt',
        path: '/opa-users/shape/dir/file%20name.txt',
        method: 'PUT',
        content_length: 1234,
        content_type: 'text/plain; charset=utf-8',
        client_ip: '127.0.0.1',
      });
      await expectStored('shape/dir/file name.txt', body);
    });

    it('describes an anonymous caller as subject anonymous with empty claims', async () => {
      const { res } = await put('opa-multipart', 'anonymous/shape.bin');
      expectOk(res);
      expect(opa.callsTo('mizuchi/multipart/allow').at(-1)?.input).toMatchObject({
        subject: 'anonymous',
        auth_method: 'anonymous',
        claims: {},
      });
    });

    it('accepts {allow, reason}: an allowed subject uploads', async () => {
      const { res, body } = await put('opa-reasons', 'reasons/alice.bin', as('alice'));
      expectOk(res);
      await expectStored('reasons/alice.bin', body);
    });

    it("accepts {allow, reason}: a refusal carries the policy's reason in the 403 message", async () => {
      const { res } = await put('opa-reasons', 'reasons/mallory.bin', as('mallory'));
      const error = expectS3Error(res, 403, 'AccessDenied');
      expect(error.message).toContain('mallory is not on the uploaders list');
      await expectNothingStored('reasons/mallory.bin');
    });

    it('treats an undefined result (no `result` in the answer) as a denial', async () => {
      const before = opa.callsTo('mizuchi/upload/nothing_here').length;
      const { res } = await put('opa-undefined', 'undefined/x.bin');
      expectS3Error(res, 403, 'AccessDenied');
      await expectNothingStored('undefined/x.bin');
      expect(opa.callsTo('mizuchi/upload/nothing_here')).toHaveLength(before + 1);
    });

    describe('multipart uploads', () => {
      it('authorizes every operation: create, each part, list parts and complete', async () => {
        const prefix = '/opa-multipart/mp/whole.bin';
        const before = opa.callsTo('mizuchi/multipart/allow').length;
        const created = await send(gw.url, { method: 'POST', path: `${prefix}?uploads` });
        expect(created.status).toBe(200);
        const uploadId = encodeURIComponent(uploadIdOf(created.text));
        const parts = [randomBytes(5 * MiB), randomBytes(1000)];
        const etags: string[] = [];
        for (const [i, part] of parts.entries()) {
          const res = await send(gw.url, {
            method: 'PUT',
            path: `${prefix}?partNumber=${i + 1}&uploadId=${uploadId}`,
            body: part,
          });
          expect(res.status).toBe(200);
          etags.push(String(res.headers.etag));
        }
        const listed = await send(gw.url, {
          method: 'GET',
          path: `${prefix}?uploadId=${uploadId}`,
        });
        expect(listed.status).toBe(200);
        const completed = await send(gw.url, {
          method: 'POST',
          path: `${prefix}?uploadId=${uploadId}`,
          headers: { 'content-type': 'application/xml' },
          body: completeXml(etags.map((etag, i) => ({ number: i + 1, etag }))),
        });
        expect({ status: completed.status, body: completed.text }).toMatchObject({ status: 200 });
        const seen = opa
          .callsTo('mizuchi/multipart/allow')
          .slice(before)
          .map((call) => (call.input as { action: string; key: string }).action);
        expect(seen).toEqual([
          's3:CreateMultipartUpload',
          's3:UploadPart',
          's3:UploadPart',
          's3:ListMultipartUploadParts',
          's3:CompleteMultipartUpload',
        ]);
        await expectStored('mp/whole.bin', Buffer.concat(parts));
      });

      it('refuses a part the policy denies, authorizes the abort, and leaves nothing behind', async () => {
        const prefix = '/opa-multipart/deny-parts/x.bin';
        const before = opa.callsTo('mizuchi/multipart/allow').length;
        const created = await send(gw.url, { method: 'POST', path: `${prefix}?uploads` });
        expect(created.status).toBe(200);
        const uploadId = encodeURIComponent(uploadIdOf(created.text));
        const part = await send(gw.url, {
          method: 'PUT',
          path: `${prefix}?partNumber=1&uploadId=${uploadId}`,
          body: randomBytes(64 * 1024),
        });
        expectS3Error(part, 403, 'AccessDenied');
        const aborted = await send(gw.url, {
          method: 'DELETE',
          path: `${prefix}?uploadId=${uploadId}`,
        });
        expect(aborted.status).toBe(204);
        expect(
          opa
            .callsTo('mizuchi/multipart/allow')
            .slice(before)
            .map((call) => (call.input as { action: string }).action),
        ).toEqual(['s3:CreateMultipartUpload', 's3:UploadPart', 's3:AbortMultipartUpload']);
        await expectNothingStored('deny-parts/x.bin');
        expect(
          (await listMultipartUploads(bucket)).filter((u) => u.key === 'deny-parts/x.bin'),
        ).toEqual([]);
      });
    });

    describe('decision cache', () => {
      it('answers a repeated identical upload from the cache without asking OPA again', async () => {
        const body = randomBytes(4096);
        const hitsBefore = counters().cacheHits;
        expectOk((await put('opa-cache', 'cache/same.bin', {}, body)).res);
        const calls = opa.callsTo('mizuchi/cache/allow').length;
        expectOk((await put('opa-cache', 'cache/same.bin', {}, body)).res);
        expectOk((await put('opa-cache', 'cache/same.bin', {}, body)).res);
        expect(opa.callsTo('mizuchi/cache/allow')).toHaveLength(calls);
        expect(counters().cacheHits).toBe(hitsBefore + 2);
        await expectStored('cache/same.bin', body);
      });

      it('asks OPA again for a different key', async () => {
        const calls = opa.callsTo('mizuchi/cache/allow').length;
        expectOk((await put('opa-cache', 'cache/other.bin')).res);
        expect(opa.callsTo('mizuchi/cache/allow')).toHaveLength(calls + 1);
      });

      it('asks OPA again once cache_ttl_seconds has passed', async () => {
        const body = randomBytes(4096);
        expectOk((await put('opa-ttl', 'ttl/same.bin', {}, body)).res);
        const calls = opa.callsTo('mizuchi/ttl/allow').length;
        await new Promise((resolve) => setTimeout(resolve, 1500));
        expectOk((await put('opa-ttl', 'ttl/same.bin', {}, body)).res);
        expect(opa.callsTo('mizuchi/ttl/allow')).toHaveLength(calls + 1);
      });
    });

    describe.each([
      ['answers 500', () => flakyOpa.failWith(500)],
      ['answers 503', () => flakyOpa.failWith(503)],
      ['does not answer within timeout_ms', () => flakyOpa.stall()],
    ])('when OPA %s', (_what, breakIt) => {
      beforeEach(breakIt);
      afterEach(() => flakyOpa.recover());

      it('fail_mode closed answers 503 ServiceUnavailable with Retry-After and stores nothing', async () => {
        const key = `fail/closed-${randomBytes(4).toString('hex')}.bin`;
        const calls = flakyOpa.calls.length;
        const failures = counters().failures;
        const { res } = await put('opa-closed', key);
        expectEngineDown(res);
        await expectNothingStored(key);
        expect(flakyOpa.calls.length).toBeGreaterThan(calls);
        expect(counters().failures).toBe(failures + 1);
      });

      it('fail_mode open allows the upload and stores it', async () => {
        const key = `fail/open-${randomBytes(4).toString('hex')}.bin`;
        const failures = counters().failures;
        const { res, body } = await put('opa-open', key);
        expectOk(res);
        await expectStored(key, body);
        expect(counters().failures).toBe(failures + 1);
      });
    });

    describe('when OPA refuses connections', () => {
      it('fail_mode closed answers 503 ServiceUnavailable with Retry-After and stores nothing', async () => {
        const { res } = await put('opa-gone-closed', 'gone/closed.bin');
        expectEngineDown(res);
        await expectNothingStored('gone/closed.bin');
      });

      it('fail_mode open allows the upload and stores it', async () => {
        const { res, body } = await put('opa-gone-open', 'gone/open.bin');
        expectOk(res);
        await expectStored('gone/open.bin', body);
      });
    });
  });

  describe('OpenFGA', () => {
    it('a grant on the bucket allows any key in it', async () => {
      const { res, body } = await put('fga-users', 'anything/deep/down/a.bin', as('alice'));
      expectOk(res);
      await expectStored('anything/deep/down/a.bin', body);
    });

    it('asks Check for file:<bucket>/<key> with contextual tuples chaining it to its folders and bucket', async () => {
      expectOk((await put('fga-users', 'chain/a/b.txt', as('alice'))).res);
      const call = fga.checks.at(-1);
      expect(call?.storeId).toBe(fga.storeId);
      expect(call?.body).toMatchObject({
        tuple_key: {
          user: 'user:alice',
          relation: 'editor',
          object: 'file:fga-users/chain/a/b.txt',
        },
        authorization_model_id: fga.modelId,
      });
      expect(call?.body.contextual_tuples?.tuple_keys).toEqual([
        {
          user: 'folder:fga-users/chain/a/',
          relation: 'parent',
          object: 'file:fga-users/chain/a/b.txt',
        },
        {
          user: 'folder:fga-users/chain/',
          relation: 'parent',
          object: 'folder:fga-users/chain/a/',
        },
        { user: 'bucket:fga-users', relation: 'parent', object: 'folder:fga-users/chain/' },
      ]);
    });

    it('without model_id, checks against the latest model', async () => {
      // The bucket of this route is named fga-latest-model; alice's grant is on fga-users.
      fga.write({ user: 'user:alice', relation: 'editor', object: 'bucket:fga-latest-model' });
      const { res, body } = await put('fga-latest-model', 'latest/x.bin', as('alice'));
      expectOk(res);
      await expectStored('latest/x.bin', body);
      expect(fga.checks.at(-1)?.body.authorization_model_id).toBeUndefined();
    });

    it('a grant on a folder allows keys below it', async () => {
      const { res, body } = await put('fga-users', 'team/reports/q1.bin', as('bob'));
      expectOk(res);
      await expectStored('team/reports/q1.bin', body);
    });

    it('a grant on a folder does not reach a sibling that shares its name as a prefix', async () => {
      const { res } = await put('fga-users', 'teamwork/q1.bin', as('bob'));
      expectS3Error(res, 403, 'AccessDenied');
      await expectNothingStored('teamwork/q1.bin');
    });

    it('a grant on the exact file allows that file', async () => {
      const { res, body } = await put('fga-users', 'docs/exact.txt', as('carol'));
      expectOk(res);
      await expectStored('docs/exact.txt', body);
    });

    it('a grant on the exact file allows no other file beside it', async () => {
      const { res } = await put('fga-users', 'docs/other.txt', as('carol'));
      expectS3Error(res, 403, 'AccessDenied');
      await expectNothingStored('docs/other.txt');
    });

    it('no grant: 403 AccessDenied and nothing stored', async () => {
      const { res } = await put('fga-users', 'nogrant/dave.bin', as('dave'));
      expectS3Error(res, 403, 'AccessDenied');
      await expectNothingStored('nogrant/dave.bin');
      expect(fga.checks.at(-1)?.body.tuple_key?.user).toBe('user:dave');
    });

    describe.each([
      ['answers 500', () => flakyFga.failWith(500)],
      ['does not answer within timeout_ms', () => flakyFga.stall()],
    ])('when OpenFGA %s', (_what, breakIt) => {
      beforeEach(breakIt);
      afterEach(() => flakyFga.recover());

      it('fail_mode closed answers 503 ServiceUnavailable with Retry-After and stores nothing', async () => {
        const key = `fga-fail/closed-${randomBytes(4).toString('hex')}.bin`;
        const checks = flakyFga.checks.length;
        const failures = counters().failures;
        const { res } = await put('fga-closed', key, as('alice'));
        expectEngineDown(res);
        await expectNothingStored(key);
        expect(flakyFga.checks.length).toBeGreaterThan(checks);
        expect(counters().failures).toBe(failures + 1);
      });

      it('fail_mode open allows the upload and stores it', async () => {
        const key = `fga-fail/open-${randomBytes(4).toString('hex')}.bin`;
        const { res, body } = await put('fga-open', key, as('alice'));
        expectOk(res);
        await expectStored(key, body);
      });
    });

    it('answers normally again once the engine has recovered', async () => {
      const { res, body } = await put('fga-closed', 'fga-fail/recovered.bin', as('alice'));
      expectOk(res);
      await expectStored('fga-fail/recovered.bin', body);
    });

    describe('when OpenFGA refuses connections', () => {
      it('fail_mode closed answers 503 ServiceUnavailable with Retry-After and stores nothing', async () => {
        const { res } = await put('fga-gone-closed', 'fga-gone/closed.bin', as('alice'));
        expectEngineDown(res);
        await expectNothingStored('fga-gone/closed.bin');
      });

      it('fail_mode open allows the upload and stores it', async () => {
        const { res, body } = await put('fga-gone-open', 'fga-gone/open.bin', as('alice'));
        expectOk(res);
        await expectStored('fga-gone/open.bin', body);
      });
    });

    describe('keys that are not valid OpenFGA object ids as they are (space, colon, #, long)', () => {
      // S3 keys may hold characters OpenFGA refuses in an object id (`^[^:#\s]+:[^#:\s]+$`, at
      // most 256 characters). OpenFGA answers such a Check with 400, which is the request's
      // fault, not an outage: it must never be waved through by fail_mode open.
      const awkward = [
        ['a space', 'awkward/q1%20summary.txt', 'awkward/q1 summary.txt'],
        ['a colon', 'awkward/2024-01-01T10%3A00%3A00.log', 'awkward/2024-01-01T10:00:00.log'],
        ['a #', 'awkward/issue%2342.txt', 'awkward/issue#42.txt'],
        ['300 characters', `awkward/${'k'.repeat(292)}`, `awkward/${'k'.repeat(292)}`],
      ];

      it.each(awkward)(
        'a key with %s is refused without a grant, even in fail_mode open',
        async (_what, wireKey, key) => {
          const { res } = await put('fga-open-keys', wireKey, as('dave'));
          expectS3Error(res, 403, 'AccessDenied');
          await expectNothingStored(key);
        },
      );

      it.each(awkward)(
        'a key with %s is uploaded under a bucket grant (fail_mode closed)',
        async (_what, wireKey, key) => {
          const { res, body } = await put('fga-users', wireKey, as('alice'));
          expectOk(res);
          await expectStored(key, body);
        },
      );
    });
  });

  describe('a custom provider registered through createApp options (examples/custom-authz)', () => {
    it('allows a key below the subject and a listed content type', async () => {
      const { res, body } = await put('quota', 'alice/notes.txt', {
        ...as('alice'),
        'content-type': 'text/plain',
      });
      expectOk(res);
      await expectStored('alice/notes.txt', body);
    });

    it("refuses a key below someone else's prefix with the provider's reason", async () => {
      const { res } = await put('quota', 'bob/notes.txt', {
        ...as('alice'),
        'content-type': 'text/plain',
      });
      const error = expectS3Error(res, 403, 'AccessDenied');
      expect(error.message).toContain('alice may only upload below alice/');
      await expectNothingStored('bob/notes.txt');
    });

    it('refuses a content type the route options do not list', async () => {
      const { res } = await put('quota', 'alice/photo.bin', as('alice'));
      const error = expectS3Error(res, 403, 'AccessDenied');
      expect(error.message).toContain('application/octet-stream');
      await expectNothingStored('alice/photo.bin');
    });

    it('refuses a request body over max_bytes', async () => {
      const { res } = await put(
        'quota',
        'alice/big.txt',
        { ...as('alice'), 'content-type': 'text/plain' },
        randomBytes(MiB + 1),
      );
      expectS3Error(res, 403, 'AccessDenied');
      await expectNothingStored('alice/big.txt');
    });
  });

  describe('start-up', () => {
    /** Creates and initializes an app for `buckets`; resolves to the start-up error, if any. */
    async function startupError(
      buckets: unknown[],
      options: Parameters<typeof createApp>[2] = {},
    ): Promise<Error | undefined> {
      let app: Awaited<ReturnType<typeof createApp>> | undefined;
      try {
        const config = parseConfig(
          { server: { address: '127.0.0.1:8080' }, logging: { level: 'error' }, buckets },
          {},
        );
        app = await createApp(config, false, options);
        await app.init();
        return undefined;
      } catch (err) {
        return err as Error;
      } finally {
        await app?.close();
      }
    }

    it('refuses a route naming an unregistered provider, naming the field and the known names', async () => {
      const error = await startupError([
        cephRoute('nosuch', bucket, { authz: { enabled: true, provider: 'nosuch' } }),
      ]);
      expect(error?.message).toMatch(/buckets\[0\]\.authz\.provider: .*'nosuch'/);
      expect(error?.message).toContain('opa, openfga');
    });

    it('starts when the named custom provider is registered', async () => {
      const error = await startupError(
        [cephRoute('quota', bucket, { authz: { enabled: true, provider: 'quota' } })],
        { authzProviders: { quota: QuotaProvider } },
      );
      expect(error).toBeUndefined();
    });

    it('refuses an OpenFGA store_id that is not a ULID, naming the field', async () => {
      // @openfga/sdk throws on every check for a malformed id; with fail_mode open that would
      // allow every upload, so the mistake must stop start-up instead.
      const error = await startupError([
        cephRoute('fga-typo', bucket, {
          authz: {
            enabled: true,
            provider: 'openfga',
            fail_mode: 'open',
            openfga: { url: 'http://127.0.0.1:1', store_id: 'my-store' },
          },
        }),
      ]);
      expect(error?.message).toMatch(/buckets\[0\]\.authz\.openfga\.store_id/);
    });

    it('the shipped model file parses as the model the stand-in evaluates', () => {
      const model = loadModel(MODEL_FILE);
      expect(model.type_definitions.map((t) => t.type)).toEqual([
        'user',
        'bucket',
        'folder',
        'file',
      ]);
    });
  });
});
