/**
 * The browser upload example (examples/browser-upload) in a real browser: Debian's Chromium,
 * headless through playwright-core, opens the example's page on one port and uploads through the
 * in-process gateway on another, so every upload is cross-origin and needs a CORS preflight. The
 * gateway route is the example's own gateway.yaml route (JWT + cors) with its backend swapped for
 * the Ceph test bucket; what the page reports is checked against what Ceph stored (MD5, content
 * type, ETag), and a refused token or origin must show the refusal on the page and store nothing.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startExampleServer, type ExampleServer } from '../examples/browser-upload/server';
import { loadConfigFile } from '../src/config/load-config';
import { closeDirectS3, createTestBucket, destroyTestBucket, storedObject } from './helpers/ceph';
import { cephRoute, createTestApp, type TestApp } from './helpers/create-test-app';
import { md5Hex } from './helpers/wire';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const EXAMPLE_DIR = join(__dirname, '..', 'examples', 'browser-upload');
const SECRET = 'browser-upload-e2e-secret-long-enough-for-hs256';
/** Generous: a cold Chromium on a busy 2-core machine; nothing here asserts on time. */
const PAGE_TIMEOUT_MS = 60_000;

/** What the gateway's HTTP server received, in order. */
interface SeenRequest {
  method: string;
  path: string;
  origin?: string;
  /** Access-Control-Request-Method of a preflight. */
  preflightFor?: string;
}

/** The example's route from its gateway.yaml, for a page served from `origin`. */
function exampleRoute(origin: string) {
  const config = loadConfigFile(join(EXAMPLE_DIR, 'gateway.yaml'), {
    EXAMPLE_JWT_SECRET: SECRET,
    EXAMPLE_ORIGIN: origin,
  });
  const [route] = config.buckets;
  return { prefix: route.path_prefix.replace(/^\//, ''), auth: route.auth, cors: route.cors };
}

/** Listens on a free loopback port and keeps it, so nothing else gets it until closed. */
async function holdFreePort(): Promise<{ port: number; release(): Promise<void> }> {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  return {
    port: (holder.address() as AddressInfo).port,
    release: () => new Promise<void>((resolve) => holder.close(() => resolve())),
  };
}

/** The request path of `key` under `prefix`, encoded as the page encodes it. */
function objectPath(prefix: string, key: string): string {
  return `/${prefix}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

describe('the browser upload example in Chromium', () => {
  let bucket: string | undefined;
  let gw: TestApp | undefined;
  let site: ExampleServer | undefined;
  let misconfiguredSite: ExampleServer | undefined;
  let foreignSite: ExampleServer | undefined;
  let browser: Browser | undefined;
  let prefix: string;
  const seen: SeenRequest[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is missing: this test drives Debian's Chromium. Install it with ` +
          '`apt-get install -y --no-install-recommends chromium` (.ci/run installs it in CI).',
      );
    }
    bucket = await createTestBucket('browser-upload');
    // The gateway must list the pages' origins before their servers can start, so their ports
    // are picked (and held) first.
    const sitePort = await holdFreePort();
    const misconfiguredPort = await holdFreePort();
    const origin = (port: number) => `http://127.0.0.1:${port}`;
    const route = exampleRoute(origin(sitePort.port));
    prefix = route.prefix;
    try {
      const cors = {
        ...route.cors,
        allowed_origins: [...(route.cors?.allowed_origins ?? []), origin(misconfiguredPort.port)],
      };
      gw = await createTestApp({
        buckets: [cephRoute(prefix, bucket, { auth: route.auth, cors })],
      });
    } finally {
      await sitePort.release();
      await misconfiguredPort.release();
    }
    // Watch the wire, not the app: a preflight is answered before any Nest handler runs.
    gw.app.getHttpServer().on('request', (req: IncomingMessage) => {
      const preflightFor = req.headers['access-control-request-method'];
      seen.push({
        method: req.method ?? '',
        path: req.url ?? '',
        ...(req.headers.origin !== undefined ? { origin: req.headers.origin } : {}),
        ...(req.method === 'OPTIONS' && typeof preflightFor === 'string' ? { preflightFor } : {}),
      });
    });
    const start = (port: number, jwtSecret = SECRET) =>
      startExampleServer({
        gatewayUrl: gw!.url,
        route: prefix,
        jwtSecret,
        host: '127.0.0.1',
        port,
      });
    site = await start(sitePort.port);
    // A listed origin whose backend signs with a secret the gateway does not know.
    misconfiguredSite = await start(misconfiguredPort.port, 'not-the-secret-the-gateway-verifies!');
    // An origin the route does not list.
    foreignSite = await start(0);
    expect([site.url, misconfiguredSite.url]).toEqual([
      origin(sitePort.port),
      origin(misconfiguredPort.port),
    ]);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    await misconfiguredSite?.close();
    await foreignSite?.close();
    await gw?.close();
    if (bucket !== undefined) await destroyTestBucket(bucket);
    closeDirectS3();
  });

  let context: BrowserContext | undefined;
  let pageErrors: string[];

  beforeEach(() => {
    pageErrors = [];
  });

  afterEach(async () => {
    await context?.close();
    context = undefined;
  });

  /** A fresh browser profile with the upload page loaded from `from` and its config fetched. */
  async function openPage(from: ExampleServer): Promise<Page> {
    context = await browser!.newContext();
    const page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`${from.url}/`);
    // The button is enabled once /config.json has told the page where to upload.
    await page.locator('#upload:enabled').waitFor({ timeout: PAGE_TIMEOUT_MS });
    return page;
  }

  /** Picks `file`, uploads it as `key` and returns the page's final status text. */
  async function uploadFrom(
    page: Page,
    file: { name: string; mimeType: string; buffer: Buffer },
    key: string,
  ): Promise<{ state: string | null; text: string }> {
    await page.locator('#file').setInputFiles(file);
    await page.locator('#key').fill(key);
    await page.locator('#upload').click();
    const status = page.locator('#status[data-state="done"], #status[data-state="failed"]');
    await status.waitFor({ timeout: PAGE_TIMEOUT_MS });
    return { state: await status.getAttribute('data-state'), text: await status.innerText() };
  }

  const textOf = (page: Page, id: string) => page.locator(`#${id}`).innerText();

  /** The requests the gateway saw for one object path. */
  const seenFor = (path: string) => seen.filter((r) => r.path === path);

  it.each([
    {
      label: 'a few hundred KiB of random bytes',
      file: { name: 'noise.bin', mimeType: 'application/octet-stream' },
      content: () => randomBytes(384 * 1024 + 7),
      key: 'photos/noise.bin',
    },
    {
      label: 'a small text file under a key with a space and an umlaut',
      file: { name: 'notes.txt', mimeType: 'text/plain' },
      content: () => Buffer.from('Notes from a browser.\nZweite Zeile: März.\n'),
      key: 'notes/März notes.txt',
    },
  ])('uploads $label after a preflight, and Ceph holds the same bytes', async (c) => {
    const buffer = c.content();
    const page = await openPage(site!);

    const result = await uploadFrom(page, { ...c.file, buffer }, c.key);

    expect(result).toEqual({ state: 'done', text: `Uploaded ${c.key} (${buffer.length} bytes).` });
    const stored = await storedObject(bucket!, c.key);
    expect(stored).toMatchObject({
      md5: md5Hex(buffer),
      size: buffer.length,
      contentType: c.file.mimeType,
    });
    // The page read both headers from the cross-origin response, which CORS must expose.
    expect(await textOf(page, 'etag')).toBe(`"${stored?.etag}"`);
    expect(await textOf(page, 'request-id')).toMatch(/^[0-9A-F]{16}$/);
    expect(await textOf(page, 'object-url')).toBe(`${gw!.url}${objectPath(prefix, c.key)}`);
    // The Authorization header made the PUT non-simple: Chromium asked first, from the page.
    expect(seenFor(objectPath(prefix, c.key))).toEqual([
      {
        method: 'OPTIONS',
        path: objectPath(prefix, c.key),
        origin: site!.url,
        preflightFor: 'PUT',
      },
      { method: 'PUT', path: objectPath(prefix, c.key), origin: site!.url },
    ]);
    expect(pageErrors).toEqual([]);
  });

  it("shows AccessDenied when the site's backend signs with another secret, and stores nothing", async () => {
    const page = await openPage(misconfiguredSite!);
    const key = 'refused/wrong-secret.txt';

    const result = await uploadFrom(
      page,
      { name: 'refused.txt', mimeType: 'text/plain', buffer: Buffer.from('must not be stored') },
      key,
    );

    expect(result).toEqual({ state: 'failed', text: 'Upload failed: 401 AccessDenied.' });
    expect(await textOf(page, 'error-code')).toBe('AccessDenied');
    expect(await textOf(page, 'request-id')).toMatch(/^[0-9A-F]{16}$/);
    expect(await textOf(page, 'etag')).toBe('');
    expect(await storedObject(bucket!, key)).toBeUndefined();
    expect(seenFor(objectPath(prefix, key))).toEqual([
      {
        method: 'OPTIONS',
        path: objectPath(prefix, key),
        origin: misconfiguredSite!.url,
        preflightFor: 'PUT',
      },
      { method: 'PUT', path: objectPath(prefix, key), origin: misconfiguredSite!.url },
    ]);
    expect(pageErrors).toEqual([]);
  });

  it('is stopped at the preflight on an origin the route does not list, and stores nothing', async () => {
    const page = await openPage(foreignSite!);
    const key = 'refused/foreign-origin.txt';

    const result = await uploadFrom(
      page,
      { name: 'foreign.txt', mimeType: 'text/plain', buffer: Buffer.from('wrong origin') },
      key,
    );

    expect(result.state).toBe('failed');
    expect(result.text).toContain(`is ${foreignSite!.url} in the route's cors.allowed_origins?`);
    // Chromium sent the preflight, got 403 and never sent the PUT.
    expect(seenFor(objectPath(prefix, key))).toEqual([
      {
        method: 'OPTIONS',
        path: objectPath(prefix, key),
        origin: foreignSite!.url,
        preflightFor: 'PUT',
      },
    ]);
    expect(await storedObject(bucket!, key)).toBeUndefined();
    expect(pageErrors).toEqual([]);
  });
});
