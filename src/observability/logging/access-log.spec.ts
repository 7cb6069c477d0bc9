import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { Response } from 'express';
import type { S3RequestContext } from '../../common/request-context';
import {
  ACCESS_CONTEXT,
  accessLine,
  countBodyBytes,
  noteS3ErrorCode,
  probePrefix,
} from './access-log';

/** A request as the gateway sees it once routing classified it. */
function request(s3?: Partial<S3RequestContext>) {
  const req = new IncomingMessage(new Socket());
  req.method = 'PUT';
  req.url = '/uploads/private/report.pdf?X-Amz-Signature=deadbeef&token=jwt';
  req.headers = { authorization: 'Bearer jwt', 'content-length': '5' };
  return Object.assign(req, {
    s3: s3 as S3RequestContext | undefined,
  });
}

function response(statusCode: number, finished = true) {
  return { statusCode, writableFinished: finished, locals: {} } as Pick<
    Response,
    'statusCode' | 'writableFinished' | 'locals'
  >;
}

describe('the access line', () => {
  const routed = {
    route: { name: 'uploads' } as S3RequestContext['route'],
    operation: 'PutObject' as const,
    key: 'private/report.pdf',
    query: { 'X-Amz-Signature': 'deadbeef' },
  };

  it('names the route, operation, status, bytes and duration', () => {
    const req = request(routed);
    countBodyBytes(req);
    req.push(Buffer.from('hel'));
    req.push(Buffer.from('lo'));

    expect(accessLine(req, response(200), 12)).toEqual({
      context: ACCESS_CONTEXT,
      method: 'PUT',
      route: 'uploads',
      operation: 'PutObject',
      probe: undefined,
      status: 200,
      bytes_received: 5,
      duration_ms: 12,
      error_code: undefined,
    });
  });

  it('carries the S3 error code of an error response', () => {
    const res = response(403);
    noteS3ErrorCode(res as Response, 'SignatureDoesNotMatch');
    expect(accessLine(request(routed), res, 3)).toMatchObject({
      status: 403,
      error_code: 'SignatureDoesNotMatch',
    });
  });

  it("says 'aborted' when the response never completed", () => {
    expect(accessLine(request(routed), response(200, false), 40).status).toBe('aborted');
  });

  it('has no route or operation for a request no route matched', () => {
    const line = accessLine(request(), response(404), 1);
    expect(line.route).toBeUndefined();
    expect(line.operation).toBeUndefined();
  });

  it('never shows the key, the query string or a header value', () => {
    const text = JSON.stringify(accessLine(request(routed), response(200), 1));
    expect(text).not.toMatch(/report|private|deadbeef|jwt|Bearer/);
  });
});

describe('countBodyBytes', () => {
  it('counts what was buffered before it and every chunk after, without reading', () => {
    const req = new IncomingMessage(new Socket());
    req.push(Buffer.alloc(7));
    countBodyBytes(req);
    req.push(Buffer.alloc(1000));
    req.push(null);

    const line = accessLine(Object.assign(req, { method: 'PUT' }), response(200), 1);
    expect(line.bytes_received).toBe(1007);
    // Nothing was consumed: the body is still there for whoever reads it.
    expect(req.readableLength).toBe(1007);
  });
});

describe('probePrefix', () => {
  it.each([
    ['/health/ready', '/health'],
    ['/health', '/health'],
    ['/metrics', '/metrics'],
    ['/healthy/key', undefined],
    ['/uploads/health/x', undefined],
  ])('finds the prefix of %s', (path, prefix) => {
    expect(probePrefix(path, ['/health', '/metrics'])).toBe(prefix);
  });
});
