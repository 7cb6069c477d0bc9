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

/** A header value as SigV4 canonicalises it: trimmed, inner runs of spaces collapsed. */
export function canonicalHeaderValue(value: string | string[]): string {
  const values = Array.isArray(value) ? value : [value];
  return values.map((v) => v.trim().replace(/\s+/g, ' ')).join(',');
}
