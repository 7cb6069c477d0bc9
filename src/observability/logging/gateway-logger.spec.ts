import { Logger } from '@nestjs/common';
import { Store, storage } from 'nestjs-pino/storage';
import { GatewayLogger } from './gateway-logger';
import { createRootLogger } from './root-logger';

function capture(level: 'info' | 'debug' | 'verbose' = 'info') {
  const lines: string[] = [];
  const root = createRootLogger(
    { level, format: 'json' },
    { write: (line: string) => void lines.push(line) },
  );
  const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { root, logger: new GatewayLogger(root), parsed };
}

describe('GatewayLogger', () => {
  afterEach(() => {
    Logger.overrideLogger(false);
  });

  it("carries Nest's context and, inside a request, the request id", () => {
    const { root, logger, parsed } = capture();
    logger.log('serving 1 route(s) on http://127.0.0.1:8080 from gateway.yaml', 'Mizuchi');
    storage.run(new Store(root.child({ request_id: 'ABCDEF0123456789' })), () =>
      logger.warn('route uploads: JWT refused (expired)', 'JwtAuth'),
    );

    expect(parsed()).toEqual([
      expect.objectContaining({
        level: 'info',
        context: 'Mizuchi',
        msg: 'serving 1 route(s) on http://127.0.0.1:8080 from gateway.yaml',
      }),
      expect.objectContaining({
        level: 'warn',
        context: 'JwtAuth',
        request_id: 'ABCDEF0123456789',
        msg: 'route uploads: JWT refused (expired)',
      }),
    ]);
    expect(parsed()[0]).not.toHaveProperty('request_id');
  });

  it('receives what `new Logger(Context)` logs once it is the app logger', () => {
    const { logger, parsed } = capture('debug');
    Logger.overrideLogger(logger);
    new Logger('Janitor').debug('sweep: 0 stale upload(s) aborted');

    expect(parsed()).toEqual([expect.objectContaining({ level: 'debug', context: 'Janitor' })]);
  });

  it("logs Nest's verbose at pino's trace, only when the level is verbose", () => {
    const debug = capture('debug');
    debug.logger.verbose('sdk detail', 'S3Client');
    expect(debug.parsed()).toEqual([]);

    const verbose = capture('verbose');
    verbose.logger.verbose('sdk detail', 'S3Client');
    expect(verbose.parsed()).toEqual([
      expect.objectContaining({ level: 'trace', context: 'S3Client', msg: 'sdk detail' }),
    ]);
  });

  it('writes to its own root, not to the first one nestjs-pino saw', () => {
    const first = capture();
    const second = capture();
    first.logger.log('one', 'A');
    second.logger.log('two', 'B');

    expect(first.parsed().map((line) => line.msg)).toEqual(['one']);
    expect(second.parsed().map((line) => line.msg)).toEqual(['two']);
  });
});
