/**
 * URI encoding exactly as SigV4 canonicalisation wants it: every byte except the unreserved
 * characters A-Z a-z 0-9 - . _ ~ becomes %XX with upper-case hex.
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#create-canonical-request
 */

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** Encodes a string per the SigV4 rules; `/` is kept when `keepSlash` (object key paths). */
export function uriEncode(text: string, keepSlash = false): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const ch = String.fromCharCode(byte);
    if (UNRESERVED.test(ch) || (keepSlash && ch === '/')) out += ch;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * The canonical URI of an S3 request: the raw path decoded once and re-encoded per segment.
 * S3 does not normalise `.`/`..` or repeated slashes, and neither does this.
 */
export function canonicalUri(rawPath: string): string {
  return uriEncode(decodeURIComponent(rawPath), true) || '/';
}

/**
 * The canonical query string: names and values decoded once, re-encoded, sorted by name then
 * value, `name=value` joined with `&`. `exclude` drops a parameter (X-Amz-Signature).
 */
export function canonicalQuery(rawQuery: string, exclude?: string): string {
  if (rawQuery === '') return '';
  const pairs: Array<[string, string]> = [];
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decodeURIComponent(eq === -1 ? part : part.slice(0, eq));
    const value = eq === -1 ? '' : decodeURIComponent(part.slice(eq + 1));
    if (name === exclude) continue;
    pairs.push([uriEncode(name), uriEncode(value)]);
  }
  pairs.sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([n, v]) => `${n}=${v}`).join('&');
}

/**
 * How a signer collapsed the white space of header values. SigV4 says "trim, and turn runs of
 * spaces into one", and clients read it two ways: `'all'`, any white space (botocore, so boto3
 * and the aws CLI, and JavaScript's \s, which includes U+00A0), and `'blanks'`, only spaces and
 * tabs (the AWS SDK for JavaScript v3). They differ only for other white space, such as a
 * no-break space in a metadata value.
 */
export type WhitespaceStyle = 'all' | 'blanks';

/** A header value as SigV4 canonicalises it: trimmed, inner runs of white space collapsed. */
export function canonicalHeaderValue(
  value: string | string[],
  style: WhitespaceStyle = 'all',
): string {
  const values = Array.isArray(value) ? value : [value];
  return values
    .map((v) =>
      style === 'all'
        ? v.trim().replace(/\s+/g, ' ')
        : v
            .replace(/[\r\n]/g, ' ')
            .replace(/[ \t]+/g, ' ')
            .replace(/^ | $/g, ''),
    )
    .join(',');
}

/** Whether the two styles may canonicalise `value` differently: white space beyond blanks. */
export function hasOtherWhitespace(value: string | string[]): boolean {
  return (Array.isArray(value) ? value : [value]).some((v) => /[^\S \t]/.test(v));
}
