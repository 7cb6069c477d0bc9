import { JwtRefusal, refusalReason } from './jwt-refusal';

function named(name: string, message: string): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

describe('refusalReason', () => {
  it.each([
    [new JwtRefusal('unknown key id'), 'unknown key id'],
    [named('TokenExpiredError', 'jwt expired'), 'token expired'],
    [named('NotBeforeError', 'jwt not active'), 'token not yet valid'],
    [new Error('No auth token'), 'missing token'],
    [named('JsonWebTokenError', 'jwt malformed'), 'malformed token'],
    [named('JsonWebTokenError', 'invalid signature'), 'bad signature'],
    [named('JsonWebTokenError', 'invalid algorithm'), 'algorithm not allowed'],
    [named('JsonWebTokenError', 'jwt signature is required'), 'unsigned token'],
    [named('JsonWebTokenError', 'jwt audience invalid. expected: a or b'), 'wrong audience'],
    [named('JsonWebTokenError', 'jwt issuer invalid. expected: https://x'), 'wrong issuer'],
    [
      named('JsonWebTokenError', 'secretOrPublicKey must be a symmetric key when using HS256'),
      'key does not fit the algorithm',
    ],
    [
      new Error('"alg" parameter "ES256" requires curve "prime256v1".'),
      'key does not fit the algorithm',
    ],
    [new SyntaxError('Unexpected token'), 'malformed token'],
    [new Error('something else'), 'invalid token'],
    ['not an error', 'invalid token'],
  ])('maps %p to %p', (err, reason) => {
    expect(refusalReason(err)).toBe(reason);
  });
});
