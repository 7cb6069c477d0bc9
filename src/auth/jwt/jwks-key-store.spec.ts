import { AsyncLocalStorage } from 'node:async_hooks';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connectionsOpenedBy } from '../../common/async-context.testing';
import { httpJwksFetcher, JwksKeyStore, parseJwks, type JwksKey } from './jwks-key-store';
import { JwtRefusal } from './jwt-refusal';

const ec = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = (key: KeyObject, extra: Record<string, unknown> = {}) => ({
  ...key.export({ format: 'jwk' }),
  ...extra,
});

/** A fetcher whose answers the test controls, counting calls. */
function fakeFetcher() {
  let sets: JwksKey[][] = [];
  let failure: Error | undefined;
  const pending: Array<() => void> = [];
  let hold = false;
  const fetcher = {
    calls: 0,
    serve(...keys: JwksKey[]) {
      sets = [keys];
      failure = undefined;
    },
    fail(err = new Error('down')) {
      failure = err;
    },
    holdNext() {
      hold = true;
    },
    release() {
      pending.splice(0).forEach((go) => go());
    },
    fetch: async (): Promise<JwksKey[]> => {
      fetcher.calls++;
      if (hold) {
        hold = false;
        await new Promise<void>((resolve) => pending.push(resolve));
      }
      if (failure) throw failure;
      return sets[0] ?? [];
    },
  };
  return fetcher;
}

const key = (kid?: string): JwksKey => ({ ...(kid ? { kid } : {}), key: ec().publicKey });

describe('JwksKeyStore', () => {
  let clock: number;
  let fetcher: ReturnType<typeof fakeFetcher>;
  let errors: unknown[];
  const store = (ttlMs = 60_000) =>
    new JwksKeyStore(fetcher.fetch, {
      ttlMs,
      unknownKidIntervalMs: 10_000,
      retryIntervalMs: 1000,
      onError: (err) => errors.push(err),
      now: () => clock,
    });

  beforeEach(() => {
    clock = 1_000_000;
    fetcher = fakeFetcher();
    errors = [];
  });

  it('fetches once and then serves every known kid from the cache', async () => {
    const a = key('a');
    const b = key('b');
    fetcher.serve(a, b);
    const s = store();
    await expect(s.keyFor('a')).resolves.toBe(a);
    await expect(s.keyFor('b')).resolves.toBe(b);
    await expect(s.keyFor('a')).resolves.toBe(a);
    expect(fetcher.calls).toBe(1);
  });

  it('shares one fetch between concurrent first requests', async () => {
    fetcher.serve(key('a'));
    const s = store();
    fetcher.holdNext();
    const waiting = [s.keyFor('a'), s.keyFor('a'), s.keyFor('a')];
    fetcher.release();
    await Promise.all(waiting);
    expect(fetcher.calls).toBe(1);
  });

  it('refreshes once on an unknown kid and finds a rotated key', async () => {
    fetcher.serve(key('old'));
    const s = store();
    await s.keyFor('old');
    const rotated = key('new');
    fetcher.serve(rotated);
    await expect(s.keyFor('new')).resolves.toBe(rotated);
    expect(fetcher.calls).toBe(2);
  });

  it('rate-limits refreshes caused by unknown kids', async () => {
    fetcher.serve(key('a'));
    const s = store();
    await s.keyFor('a');
    await expect(s.keyFor('made-up-1')).rejects.toEqual(new JwtRefusal('unknown key id'));
    await expect(s.keyFor('made-up-2')).rejects.toEqual(new JwtRefusal('unknown key id'));
    expect(fetcher.calls).toBe(2);
    clock += 10_000;
    await expect(s.keyFor('made-up-3')).rejects.toEqual(new JwtRefusal('unknown key id'));
    expect(fetcher.calls).toBe(3);
  });

  it('does not refetch for an unknown kid right after the first fetch', async () => {
    fetcher.serve(key('a'));
    await expect(store().keyFor('b')).rejects.toEqual(new JwtRefusal('unknown key id'));
    expect(fetcher.calls).toBe(1);
  });

  it('after the TTL, answers from the cache while it refreshes in the background', async () => {
    const a = key('a');
    fetcher.serve(a);
    const s = store(60_000);
    await s.keyFor('a');
    clock += 60_000;
    fetcher.holdNext();
    // Resolves although the refresh is still held: the request did not wait for it.
    await expect(s.keyFor('a')).resolves.toBe(a);
    expect(fetcher.calls).toBe(2);
    const a2 = key('a');
    fetcher.serve(a2);
    fetcher.release();
    await s.refresh();
    await expect(s.keyFor('a')).resolves.toBe(a2);
  });

  it('keeps the last good keys when a refresh fails, and retries later', async () => {
    const a = key('a');
    fetcher.serve(a);
    const s = store(60_000);
    await s.keyFor('a');
    clock += 60_000;
    fetcher.fail();
    await expect(s.refresh()).rejects.toThrow('down');
    await expect(s.keyFor('a')).resolves.toBe(a);
    expect(errors).toHaveLength(1);
    const calls = fetcher.calls;
    await s.keyFor('a');
    expect(fetcher.calls).toBe(calls);
    clock += 1000;
    fetcher.serve(a);
    await s.keyFor('a');
    expect(fetcher.calls).toBe(calls + 1);
  });

  it('refuses while no key set could ever be fetched, retrying at most once a second', async () => {
    fetcher.fail();
    const s = store();
    await expect(s.keyFor('a')).rejects.toEqual(new JwtRefusal('signing keys unavailable'));
    await expect(s.keyFor('a')).rejects.toEqual(new JwtRefusal('signing keys unavailable'));
    expect(fetcher.calls).toBe(1);
    clock += 1000;
    fetcher.serve(key('a'));
    await expect(s.keyFor('a')).resolves.toBeDefined();
    expect(fetcher.calls).toBe(2);
  });

  it('fetches in no request’s context, and the request resumes in its own', async () => {
    const storage = new AsyncLocalStorage<string>();
    const failedUnder: Array<string | undefined> = [];
    fetcher.fail();
    const s = new JwksKeyStore(fetcher.fetch, {
      ttlMs: 60_000,
      onError: () => failedUnder.push(storage.getStore()),
      now: () => clock,
    });

    const resumedIn = await storage.run('a request', async () => {
      await expect(s.keyFor('a')).rejects.toThrow('signing keys unavailable');
      return storage.getStore();
    });

    expect(fetcher.calls).toBe(1);
    expect(failedUnder).toEqual([undefined]);
    expect(resumedIn).toBe('a request');
  });

  it('uses a token without kid only when the set holds a single key', async () => {
    const only = key('only');
    fetcher.serve(only);
    const s = store();
    await expect(s.keyFor(undefined)).resolves.toBe(only);
    fetcher.serve(key('a'), key('b'));
    await s.refresh();
    await expect(s.keyFor(undefined)).rejects.toEqual(new JwtRefusal('token has no key id'));
  });
});

describe('parseJwks', () => {
  it('keeps public signing keys with their kid and alg', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    const keys = parseJwks({
      keys: [jwk(ec().publicKey, { kid: 'e', alg: 'ES256', use: 'sig' }), jwk(rsa, { kid: 'r' })],
    });
    expect(keys.map((k) => [k.kid, k.alg, k.key.asymmetricKeyType])).toEqual([
      ['e', 'ES256', 'ec'],
      ['r', undefined, 'rsa'],
    ]);
  });

  it('skips encryption keys, private keys, symmetric keys and junk', () => {
    const pair = ec();
    const keys = parseJwks({
      keys: [
        jwk(pair.publicKey, { kid: 'enc', use: 'enc' }),
        jwk(pair.privateKey, { kid: 'private' }),
        { kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' },
        { kty: 'EC', crv: 'P-256', x: 'bad', y: 'bad', kid: 'broken' },
        'junk',
        jwk(pair.publicKey, { kid: 'ok' }),
      ],
    });
    expect(keys.map((k) => k.kid)).toEqual(['ok']);
  });

  it('refuses a document that is no key set or holds no usable key', () => {
    expect(() => parseJwks({})).toThrow('no "keys" list');
    expect(() => parseJwks([])).toThrow('no "keys" list');
    expect(() => parseJwks({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] })).toThrow('no usable');
  });
});

describe('httpJwksFetcher', () => {
  let server: Server;
  let url: string;
  let reply: (res: import('node:http').ServerResponse) => void;

  beforeAll(async () => {
    server = createServer((_req, res) => reply(res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const signal = () => new AbortController().signal;

  it('fetches and parses a key set', async () => {
    const doc = JSON.stringify({ keys: [jwk(ec().publicKey, { kid: 'k1' })] });
    reply = (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(doc);
    const keys = await httpJwksFetcher(url, 5000)(signal());
    expect(keys.map((k) => k.kid)).toEqual(['k1']);
  });

  it('fails on an HTTP error, a redirect and an oversized document', async () => {
    reply = (res) => res.writeHead(503).end('down');
    await expect(httpJwksFetcher(url, 5000)(signal())).rejects.toThrow('HTTP 503');
    reply = (res) => res.writeHead(302, { location: '/elsewhere' }).end();
    await expect(httpJwksFetcher(url, 5000)(signal())).rejects.toThrow();
    reply = (res) => res.writeHead(200).end(Buffer.alloc(1024 * 1024 + 1, 0x20));
    await expect(httpJwksFetcher(url, 5000)(signal())).rejects.toThrow('larger than');
  });

  it('through a JwksKeyStore, opens its pooled connection in no request’s context', async () => {
    const k2 = jwk(ec().publicKey, { kid: 'k2' });
    // A server of its own, so that the fetch cannot reuse a connection of the tests above.
    const own = createServer((_req, res) => res.end(JSON.stringify({ keys: [k2] })));
    await new Promise<void>((resolve) => own.listen(0, '127.0.0.1', resolve));
    const ownUrl = `http://127.0.0.1:${(own.address() as AddressInfo).port}/jwks.json`;
    const s = new JwksKeyStore(httpJwksFetcher(ownUrl, 5000), { ttlMs: 60_000 });
    let found: JwksKey | undefined;
    try {
      const opened = await connectionsOpenedBy(async () => {
        found = await s.keyFor('k2');
      });

      expect(opened).toEqual({ connects: 1, inTheRequest: 0 });
      expect(found?.kid).toBe('k2');
    } finally {
      s.close();
      own.closeAllConnections();
      await new Promise((resolve) => own.close(resolve));
    }
  });
});
