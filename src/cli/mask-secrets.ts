/**
 * Masks secrets in a resolved configuration before `--print-config` shows it. Three nets, so a
 * secret added later is caught even if nobody remembers this file:
 * - the keys marked `secret` in src/config/config.descriptions.ts, which every schema key must
 *   have an entry in (config-docs.spec.ts);
 * - any key whose name looks secret (`password`, `token`, `api_key` …), in the schema or in the
 *   free-form `options` mappings, where everything below such a key is masked too;
 * - credentials inside any URL (`redis://:pw@host`, `?token=…`).
 */
import { CONFIG_DESCRIPTIONS } from '../config/config.descriptions';
import { appConfigSchema } from '../config/config.schema';
import { schemaFields } from '../config/schema-fields';

/** What a masked value is replaced with. */
export const MASK = '<redacted>';

/** Single words that mark a key as secret. */
const SECRET_WORDS = new Set([
  'secret',
  'secrets',
  'password',
  'passwords',
  'passwd',
  'passphrase',
  'pass',
  'pwd',
  'token',
  'tokens',
  'credential',
  'credentials',
  'apikey',
  'privatekey',
  'cookie',
  'cookies',
  'signature',
  'hmac',
  'bearer',
]);
/** Words that mark a key as secret when followed by `key` (`api_key`, `private-key`). */
const SECRET_KEY_QUALIFIERS = new Set([
  'api',
  'private',
  'secret',
  'signing',
  'auth',
  'hmac',
  'encryption',
  'master',
]);

/** The words of a key name: `x-api-key`, `apiKey`, `API_KEY` all give `api`, `key`. */
function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word !== '');
}

/** Whether a key's name says it holds a secret. */
export function looksSecret(name: string): boolean {
  const parts = words(name);
  return parts.some(
    (word, i) =>
      SECRET_WORDS.has(word) ||
      (word === 'key' && i > 0 && SECRET_KEY_QUALIFIERS.has(parts[i - 1])),
  );
}

const URL_USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@\s]+)@/i;

/**
 * Masks the credentials a URL may carry: the password of its userinfo (or the whole userinfo
 * when it has no `:`, which is how tokens are passed), and the values of query parameters whose
 * names look secret. Other strings come back unchanged.
 */
export function maskUrlCredentials(value: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return value;
  let masked = value.replace(URL_USERINFO, (_match, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return `${scheme}${colon === -1 ? MASK : `${userinfo.slice(0, colon)}:${MASK}`}@`;
  });
  const query = masked.indexOf('?');
  if (query !== -1) {
    const hash = masked.indexOf('#', query);
    const end = hash === -1 ? masked.length : hash;
    const params = masked
      .slice(query + 1, end)
      .split('&')
      .map((param) => {
        const equals = param.indexOf('=');
        if (equals === -1) return param;
        const name = decodeURIComponentSafe(param.slice(0, equals));
        return looksSecret(name) ? `${param.slice(0, equals)}=${MASK}` : param;
      });
    masked = `${masked.slice(0, query + 1)}${params.join('&')}${masked.slice(end)}`;
  }
  return masked;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

let known: { fields: Set<string>; secrets: Set<string> } | undefined;

/** Schema paths (`buckets[].s3.secret_key`) and the ones marked secret, built once. */
function schemaPaths(): { fields: Set<string>; secrets: Set<string> } {
  if (known === undefined) {
    const fields = new Set(schemaFields(appConfigSchema).map((field) => field.path));
    const secrets = new Set(
      Object.entries(CONFIG_DESCRIPTIONS)
        .filter(([, doc]) => doc.secret === true)
        .map(([path]) => path),
    );
    known = { fields, secrets };
  }
  return known;
}

/** Paths of the schema keys marked secret in the descriptions. */
export function secretSchemaPaths(): ReadonlySet<string> {
  return schemaPaths().secrets;
}

function maskValue(value: unknown, path: string, inherited: boolean): unknown {
  const { fields, secrets } = schemaPaths();
  if (Array.isArray(value)) {
    return value.map((item) => maskValue(item, `${path}[]`, inherited));
  }
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      const childPath = path === '' ? key : `${path}.${key}`;
      // Below a secret-looking key in a free-form mapping everything is secret; in the schema
      // each key is judged by its own name and mark (`credentials[].subject` is not secret).
      const freeForm = !fields.has(childPath);
      const secret =
        secrets.has(childPath) || looksSecret(key) ? true : freeForm ? inherited : false;
      out[key] = maskValue(item, childPath, secret);
    }
    return out;
  }
  if (inherited && (typeof value === 'string' || typeof value === 'number')) {
    return value === '' ? value : MASK;
  }
  if (typeof value === 'string') return maskUrlCredentials(value);
  return value;
}

/**
 * A deep copy of a configuration (validated or raw) with every secret replaced by {@link MASK}.
 * Lists, booleans and the structure are kept, so the output still shows what is configured.
 */
export function maskSecrets<T>(config: T): T {
  return maskValue(config, '', false) as T;
}
