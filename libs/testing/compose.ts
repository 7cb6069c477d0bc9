/**
 * Docker compose's variable interpolation, for the specs that read docker-compose.yml the way
 * compose would (without a Docker engine to ask).
 */

/** What docker compose makes of a value, given the variables of .env (`:-` and `-` defaults). */
export function composeInterpolate(text: string, env: Readonly<Record<string, string>>): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, braced?: string, op?: string, fallback?: string, bare?: string) => {
      if (match === '$$') return '$';
      const value = env[braced ?? bare ?? ''];
      if (op === ':-') return value === undefined || value === '' ? (fallback ?? '') : value;
      if (op === '-') return value ?? fallback ?? '';
      return value ?? '';
    },
  );
}
