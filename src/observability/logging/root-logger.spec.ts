import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import {
  context,
  type Context,
  type ContextManager,
  ROOT_CONTEXT,
  trace,
  TraceFlags,
} from '@opentelemetry/api';
import type { LoggingConfig } from '../observability.schema';
import {
  createRootLogger,
  PINO_LEVELS,
  REDACT_PATHS,
  serializeRequest,
  serializeResponse,
  traceFields,
} from './root-logger';

/** A root logger writing into an array, and the lines parsed back. */
function capture(config: Partial<LoggingConfig> = {}) {
  const lines: string[] = [];
  const logger = createRootLogger(
    { level: 'info', format: 'json', ...config },
    { write: (line: string) => void lines.push(line) },
  );
  const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, lines, parsed };
}

/** Synchronous context manager, enough for context.with() in a test. */
class StackContextManager implements ContextManager {
  private current: Context = ROOT_CONTEXT;
  active(): Context {
    return this.current;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const previous = this.current;
    this.current = ctx;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.current = previous;
    }
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.current = ROOT_CONTEXT;
    return this;
  }
}

describe('the root logger', () => {
  it.each([
    ['error', 'error'],
    ['warn', 'warn'],
    ['info', 'info'],
    ['debug', 'debug'],
    ['verbose', 'trace'],
  ] as const)('maps the configured level %s onto pino level %s', (level, pinoLevel) => {
    expect(PINO_LEVELS[level]).toBe(pinoLevel);
    expect(capture({ level }).logger.level).toBe(pinoLevel);
  });

  it('writes one JSON object per line with a level name and an ISO time', () => {
    const { logger, lines, parsed } = capture();
    logger.info({ context: 'Mizuchi' }, 'serving 1 route(s) on http://127.0.0.1:8080 from x');
    logger.debug('not at info');

    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/\n$/);
    expect(parsed()[0]).toMatchObject({
      level: 'info',
      context: 'Mizuchi',
      msg: 'serving 1 route(s) on http://127.0.0.1:8080 from x',
    });
    expect(parsed()[0].time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('writes pretty lines without colours when they do not go to a terminal', () => {
    const { logger, lines } = capture({ format: 'pretty' });
    logger.warn({ context: 'Upload', request_id: 'R1' }, 'slow backend');

    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/ WARN: \[Upload\] slow backend \{"request_id":"R1"\}\n$/);
    expect(lines[0]).not.toContain('\u001b[');
  });

  it('redacts credentials in headers, query parameters and errors, wherever they sit', () => {
    const { logger, lines } = capture();
    logger.info(
      {
        token: 'top-level-token',
        headers: { authorization: 'Bearer header-token', 'x-amz-security-token': 'sts-token' },
        query: { 'X-Amz-Signature': 'query-signature', 'X-Amz-Credential': 'AKID/scope' },
        req: { headers: { cookie: 'session=1' } },
        err: {
          message: 'backend refused',
          password: 'err-password',
          config: { secret_key: 'config-secret' },
          $response: { headers: { authorization: 'AWS4-HMAC-SHA256 Signature=sdk-signature' } },
        },
      },
      'something failed',
    );

    const text = lines.join('');
    for (const secret of [
      'top-level-token',
      'header-token',
      'sts-token',
      'query-signature',
      'AKID/scope',
      'session=1',
      'err-password',
      'config-secret',
      'sdk-signature',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('[Redacted]');
    expect(text).toContain('backend refused');
  });

  it('names hyphenated headers with bracket paths pino accepts', () => {
    expect(REDACT_PATHS).toContain('req.headers["x-amz-signature"]');
    expect(REDACT_PATHS).toContain('err.*.*.authorization');
    expect(() => capture()).not.toThrow();
  });

  it('shows a request as its id, method, route and operation only', () => {
    const req = new IncomingMessage(new Socket());
    Object.assign(req, {
      method: 'PUT',
      url: '/uploads/private/key.bin?X-Amz-Signature=abc',
      headers: { authorization: 'Bearer t', host: 'gw' },
      requestId: 'ABCDEF0123456789',
      s3: { route: { name: 'uploads' }, operation: 'PutObject', key: 'private/key.bin' },
    });

    expect(serializeRequest(req)).toEqual({
      id: 'ABCDEF0123456789',
      method: 'PUT',
      route: 'uploads',
      operation: 'PutObject',
    });
    const { logger, lines } = capture();
    logger.info({ req }, 'with a request');
    expect(lines[0]).not.toMatch(/private|X-Amz-Signature|Bearer|"host"|headers|url/);
  });

  it('shows a response as its status only', () => {
    const res = new ServerResponse(new IncomingMessage(new Socket()));
    res.statusCode = 403;
    res.setHeader('set-cookie', 'session=2');
    expect(serializeResponse(res)).toEqual({ statusCode: 403 });
  });

  describe('trace ids', () => {
    const manager = new StackContextManager();
    beforeAll(() => context.setGlobalContextManager(manager));
    afterAll(() => context.disable());

    const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
    const SPAN_ID = '00f067aa0ba902b7';

    it('are absent without an active span', () => {
      expect(traceFields()).toEqual({});
    });

    it('come from the active span on every line', () => {
      const span = trace.wrapSpanContext({
        traceId: TRACE_ID,
        spanId: SPAN_ID,
        traceFlags: TraceFlags.SAMPLED,
      });
      const { logger, parsed } = capture();
      context.with(trace.setSpan(ROOT_CONTEXT, span), () => {
        logger.info('in a span');
        logger.child({ request_id: 'R2' }).info('in a span, request-scoped');
      });
      logger.info('after the span');

      expect(parsed().map((line) => [line.trace_id, line.span_id])).toEqual([
        [TRACE_ID, SPAN_ID],
        [TRACE_ID, SPAN_ID],
        [undefined, undefined],
      ]);
    });

    it('are left out when the span context is invalid', () => {
      const span = trace.wrapSpanContext({
        traceId: '0'.repeat(32),
        spanId: SPAN_ID,
        traceFlags: TraceFlags.NONE,
      });
      expect(context.with(trace.setSpan(ROOT_CONTEXT, span), traceFields)).toEqual({});
    });
  });
});
