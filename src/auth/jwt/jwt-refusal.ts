/**
 * Why a token was refused, in a few words that are safe to log and to show the client: never the
 * token, never a claim's value.
 */

/** A refusal with a short, safe reason. */
export class JwtRefusal extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'JwtRefusal';
  }
}

// jsonwebtoken's messages (verify.js); some of them echo configured values, so none is passed on.
const JSONWEBTOKEN_REASONS: ReadonlyArray<readonly [RegExp, string]> = [
  [
    /^(jwt malformed|invalid token|jwt must be (provided|a string)|invalid (nbf|exp) value)/,
    'malformed token',
  ],
  [/^invalid signature/, 'bad signature'],
  [/^invalid algorithm/, 'algorithm not allowed'],
  [/^jwt signature is required/, 'unsigned token'],
  [/^jwt audience invalid/, 'wrong audience'],
  [/^jwt issuer invalid/, 'wrong issuer'],
  [
    /must be a(n asymmetric| symmetric) key|^"alg" parameter|key type/,
    'key does not fit the algorithm',
  ],
];

/** The reason to log and answer for anything passport-jwt or jsonwebtoken failed with. */
export function refusalReason(err: unknown): string {
  if (err instanceof JwtRefusal) return err.reason;
  if (!(err instanceof Error)) return 'invalid token';
  // jsonwebtoken is passport-jwt's dependency, not ours: its errors are told apart by name.
  switch (err.name) {
    case 'TokenExpiredError':
      return 'token expired';
    case 'NotBeforeError':
      return 'token not yet valid';
    case 'SyntaxError':
      return 'malformed token';
    default:
      break;
  }
  // passport-jwt's own message when no source held a token.
  if (err.message === 'No auth token') return 'missing token';
  for (const [pattern, reason] of JSONWEBTOKEN_REASONS) {
    if (pattern.test(err.message)) return reason;
  }
  return 'invalid token';
}
