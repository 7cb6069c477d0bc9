import type { TokenSource } from '../auth.schema';
import { extractToken, tokenFrom, type JwtRequest } from './token-sources';

const req = (headers: JwtRequest['headers'], url = '/b/key'): JwtRequest => ({ headers, url });

describe('tokenFrom', () => {
  const bearer: TokenSource = { type: 'bearer' };

  it('reads Authorization: Bearer in any case of the scheme', () => {
    expect(tokenFrom(req({ authorization: 'Bearer a.b.c' }), bearer)).toBe('a.b.c');
    expect(tokenFrom(req({ authorization: 'bearer   a.b.c ' }), bearer)).toBe('a.b.c');
  });

  it('finds no bearer token in another scheme, an empty header or extra words', () => {
    expect(tokenFrom(req({ authorization: 'Basic YTpi' }), bearer)).toBeUndefined();
    expect(tokenFrom(req({ authorization: 'Bearer' }), bearer)).toBeUndefined();
    expect(tokenFrom(req({ authorization: 'Bearer a b' }), bearer)).toBeUndefined();
    expect(tokenFrom(req({}), bearer)).toBeUndefined();
  });

  it('reads a custom header with or without a Bearer prefix', () => {
    const source: TokenSource = { type: 'header', name: 'x-token' };
    expect(tokenFrom(req({ 'x-token': 'a.b.c' }), source)).toBe('a.b.c');
    expect(tokenFrom(req({ 'x-token': 'Bearer a.b.c' }), source)).toBe('a.b.c');
    expect(tokenFrom(req({ 'x-token': ['a.b.c', 'd.e.f'] }), source)).toBe('a.b.c');
    expect(tokenFrom(req({ 'x-token': '  ' }), source)).toBeUndefined();
    expect(tokenFrom(req({ 'x-other': 'a.b.c' }), source)).toBeUndefined();
  });

  it('reads a query parameter by its exact, decoded name', () => {
    const source: TokenSource = { type: 'query', name: 'access token' };
    expect(tokenFrom(req({}, '/b/k?x=1&access%20token=a.b.c'), source)).toBe('a.b.c');
    expect(tokenFrom(req({}, '/b/k?access%20token=a.b.c&access%20token=d.e.f'), source)).toBe(
      'a.b.c',
    );
    // Names are read as the operation classifier reads them (parseQuery): '+' stays a plus.
    expect(tokenFrom(req({}, '/b/k?access+token=a.b.c'), source)).toBeUndefined();
    expect(tokenFrom(req({}, '/b/k?Access%20Token=a.b.c'), source)).toBeUndefined();
    expect(tokenFrom(req({}, '/b/k?access%20token='), source)).toBeUndefined();
    expect(tokenFrom(req({}, '/b/k?access%20token=%E0%A4%A'), source)).toBeUndefined();
    expect(tokenFrom(req({}, '/b/k'), source)).toBeUndefined();
  });
});

describe('extractToken', () => {
  const sources: TokenSource[] = [
    { type: 'header', name: 'x-token' },
    { type: 'bearer' },
    { type: 'query', name: 'token' },
  ];
  const all = req(
    { 'x-token': 'from-header', authorization: 'Bearer from-bearer' },
    '/b/k?token=q',
  );

  it('takes the first configured source that holds a token', () => {
    expect(extractToken(all, sources)).toBe('from-header');
    expect(extractToken(all, [...sources].reverse())).toBe('q');
    expect(
      extractToken(req({ authorization: 'Bearer from-bearer' }, '/b/k?token=q'), sources),
    ).toBe('from-bearer');
  });

  it('passes over a source holding another scheme to the next one', () => {
    expect(extractToken(req({ authorization: 'Basic YTpi' }, '/b/k?token=q'), sources)).toBe('q');
  });

  it('never reads a source that is not configured', () => {
    expect(extractToken(all, [{ type: 'query', name: 'other' }])).toBeUndefined();
    expect(extractToken(req({}, '/b/k?token=q'), [{ type: 'bearer' }])).toBeUndefined();
  });
});
