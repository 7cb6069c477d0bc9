/**
 * `server.trust_proxy`: behind a load balancer every connection comes from the balancer, so the
 * client's address must come from X-Forwarded-For, but only when the proxies that wrote it are
 * trusted. What the gateway takes as the client address is what the anonymous rate limit counts
 * against and what OPA sees as `input.client_ip`.
 */
import { mkdtempSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestApp, filesystemRoute, type TestApp } from './helpers/create-test-app';
import { nothingStored, storedFile } from './helpers/filesystem-backend';
import { startOpaStandIn, type OpaStandIn } from './helpers/opa-standin';
import { expectOk, expectS3Error, md5Hex, send, type WireResponse } from './helpers/wire';

const ALLOW = 'mizuchi/upload/allow';

describe('server.trust_proxy', () => {
  let opa: OpaStandIn;
  let root: string;
  /** Trusts the loopback proxy the tests connect from. */
  let behindProxy: TestApp;
  /** The default: X-Forwarded-For is ignored. */
  let direct: TestApp;

  const gateway = (trustProxy: unknown) =>
    createTestApp({
      server: {
        trust_proxy: trustProxy,
        // One upload per client address, then 503 SlowDown for the rest of the test.
        limits: { rate_limit: { requests_per_second: 0.001, burst: 1 } },
      },
      buckets: [
        {
          ...filesystemRoute('policy', root),
          authz: {
            enabled: true,
            provider: 'opa',
            opa: { url: opa.url, policy_path: ALLOW, timeout_ms: 1000, cache_ttl_seconds: 0 },
          },
        },
      ],
    });

  beforeAll(async () => {
    opa = await startOpaStandIn({ [ALLOW]: () => true });
    root = mkdtempSync(join(tmpdir(), 'mizuchi-trust-proxy-'));
    behindProxy = await gateway(['loopback']);
    direct = await gateway(false);
  });

  afterAll(async () => {
    await behindProxy?.close();
    await direct?.close();
    await opa?.close();
  });

  function put(gw: TestApp, key: string, body: Buffer, forwardedFor?: string) {
    return send(gw.url, {
      method: 'PUT',
      path: `/policy/${key}`,
      headers: forwardedFor !== undefined ? { 'x-forwarded-for': forwardedFor } : {},
      body,
    });
  }

  const lastClientIp = () =>
    (opa.callsTo(ALLOW).at(-1)?.input as { client_ip?: unknown } | undefined)?.client_ip;

  async function expectStored(key: string, body: Buffer): Promise<void> {
    expect((await storedFile(root, key))?.md5).toBe(md5Hex(body));
  }

  function expectSlowDown(res: WireResponse): void {
    expectS3Error(res, 503, 'SlowDown');
    expect(res.headers['retry-after']).toMatch(/^\d+$/);
  }

  it('behind a trusted proxy, takes the client from X-Forwarded-For for the policy and the rate limit', async () => {
    const first = randomBytes(2048);
    expectOk(await put(behindProxy, 'trusted/a.bin', first, '203.0.113.7'));
    expect(lastClientIp()).toBe('203.0.113.7');
    await expectStored('trusted/a.bin', first);

    // Another forwarded address is another anonymous principal, with a budget of its own.
    const second = randomBytes(1500);
    expectOk(await put(behindProxy, 'trusted/b.bin', second, '203.0.113.8'));
    expect(lastClientIp()).toBe('203.0.113.8');
    await expectStored('trusted/b.bin', second);

    // The first address has used its one upload.
    const calls = opa.calls.length;
    expectSlowDown(await put(behindProxy, 'trusted/c.bin', randomBytes(100), '203.0.113.7'));
    expect(await nothingStored(root, 'trusted/c.bin')).toBe(true);
    // Throttled before the policy engine is asked.
    expect(opa.calls.length).toBe(calls);
  });

  it('takes the address the trusted proxy saw, not what the client prepended', async () => {
    const body = randomBytes(512);
    // The client claims 198.51.100.1; the proxy appended the address it really came from.
    expectOk(await put(behindProxy, 'trusted/spoof.bin', body, '198.51.100.1, 203.0.113.20'));
    expect(lastClientIp()).toBe('203.0.113.20');
    await expectStored('trusted/spoof.bin', body);
  });

  it('without trust_proxy, ignores X-Forwarded-For: the client is the TCP peer', async () => {
    const body = randomBytes(700);
    expectOk(await put(direct, 'direct/a.bin', body, '203.0.113.30'));
    expect(lastClientIp()).toBe('127.0.0.1');
    await expectStored('direct/a.bin', body);

    // A new forwarded address does not make a new principal: the peer's budget is spent.
    expectSlowDown(await put(direct, 'direct/b.bin', randomBytes(100), '203.0.113.31'));
    expect(await nothingStored(root, 'direct/b.bin')).toBe(true);
  });
});
