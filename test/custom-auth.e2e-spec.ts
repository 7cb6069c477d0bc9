import { createHash, randomBytes } from 'node:crypto';
import { ApiKeyAuthenticator } from '../examples/custom-auth/api-key.authenticator';
import { createTestBucket, destroyTestBucket, storedObject } from './helpers/ceph';
import { cephRoute, createTestApp, type TestApp } from './helpers/create-test-app';

const PARTNER_KEY = 'partner-key-0123456789abcdef';

describe('a custom authenticator registered by name', () => {
  let gw: TestApp;
  let bucket: string;

  beforeAll(async () => {
    bucket = await createTestBucket('customauth');
    gw = await createTestApp(
      {
        buckets: [
          cephRoute('partners', bucket, {
            auth: {
              enabled: true,
              custom: 'api-key',
              options: { keys: { [PARTNER_KEY]: 'partner-a' } },
            },
            upload: { key_template: '{sub}/{key}' },
          }),
        ],
      },
      { authenticators: { 'api-key': ApiKeyAuthenticator } },
    );
  });
  afterAll(async () => {
    await gw.close();
    await destroyTestBucket(bucket);
  });

  it('uploads with a valid key, as the subject the key maps to', async () => {
    const body = randomBytes(4096);
    const res = await fetch(`${gw.url}/partners/report.bin`, {
      method: 'PUT',
      body,
      headers: { 'x-api-key': PARTNER_KEY },
    });
    expect(res.status).toBe(200);
    const stored = await storedObject(bucket, 'partner-a/report.bin');
    expect(stored?.md5).toBe(createHash('md5').update(body).digest('hex'));
  });

  it('refuses a missing or wrong key with 403 AccessDenied and stores nothing', async () => {
    for (const headers of [{}, { 'x-api-key': 'not-the-key' }] as Array<Record<string, string>>) {
      const res = await fetch(`${gw.url}/partners/refused.bin`, {
        method: 'PUT',
        body: Buffer.from('nope'),
        headers,
      });
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('<Code>AccessDenied</Code>');
    }
    expect(await storedObject(bucket, 'partner-a/refused.bin')).toBeUndefined();
    expect(await storedObject(bucket, 'refused.bin')).toBeUndefined();
  });

  it('refuses to start a route that names an authenticator nobody registered', async () => {
    await expect(
      createTestApp({
        buckets: [cephRoute('nobody', bucket, { auth: { enabled: true, custom: 'missing' } })],
      }),
    ).rejects.toThrow(/buckets\[0\]\.auth\.custom: no authenticator named 'missing'/);
  });
});
