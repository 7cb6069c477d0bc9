/**
 * The fallback decisions of ZeroCopyService: without the addon (a machine without a C++
 * toolchain), with ZERO_COPY=off or with zero_copy disabled, every body streams and the status
 * says why; with the addon, only qualifying bodies get a SpliceBody.
 */
import { Logger } from '@nestjs/common';
import { parseConfig } from '../config/load-config';
import type { AppConfig } from '../config/config.schema';
import * as spliceAddonModule from './splice-addon';
import { ZeroCopyService } from './zero-copy.service';

// A stand-in addon, handed to the service through spliceAddon(). (A jest.mock of the package
// itself did not hold on a cold jest cache: the linked package resolved to its real path.)
const addon = { available: true, loadError: undefined as string | undefined, splice: jest.fn() };
jest.spyOn(spliceAddonModule, 'spliceAddon').mockReturnValue(addon);

function config(zeroCopy: Record<string, unknown> = {}): AppConfig {
  return parseConfig(
    {
      server: { zero_copy: zeroCopy },
      buckets: [{ name: 'fs', path_prefix: '/fs', filesystem: { path: '/tmp/zero-copy-spec' } }],
    },
    {},
  );
}

async function started(cfg: AppConfig): Promise<ZeroCopyService> {
  const service = new ZeroCopyService(cfg);
  await service.onModuleInit();
  return service;
}

describe('ZeroCopyService', () => {
  const saved = process.env.ZERO_COPY;
  beforeAll(() => {
    Logger.overrideLogger(false);
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.ZERO_COPY;
    else process.env.ZERO_COPY = saved;
    addon.available = true;
    addon.loadError = undefined;
  });

  it('streams and says why when the addon did not build', async () => {
    addon.available = false;
    addon.loadError = 'the addon was not built at install: g++: not found';
    const service = await started(config());
    expect(service.status()).toEqual({
      mode: 'stream',
      reason: 'the addon was not built at install: g++: not found',
    });
  });

  it('streams with ZERO_COPY=off, and with server.zero_copy.enabled false', async () => {
    process.env.ZERO_COPY = 'off';
    expect((await started(config())).status()).toEqual({ mode: 'stream', reason: 'ZERO_COPY=off' });
    delete process.env.ZERO_COPY;
    expect((await started(config({ enabled: false }))).status()).toEqual({
      mode: 'stream',
      reason: 'server.zero_copy.enabled is false',
    });
  });

  it('splices on Linux with the addon and the Node internals it needs', async () => {
    const service = await started(config());
    expect(service.status().mode).toBe(process.platform === 'linux' ? 'splice' : 'stream');
  });
});
