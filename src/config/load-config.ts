/**
 * Loads the configuration: find the file (`--config` / MIZUCHI_CONFIG), parse YAML, expand `${VAR}` in
 * string scalars, validate with the composed zod schema, and fail with every problem at once.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError, configErrorMap, formatIssues, formatPath } from './config-error';
import { type AppConfig, appConfigSchema } from './config.schema';
import { isRecord } from './scalars';

export { ConfigError } from './config-error';

/** Environment variables as seen by the loader (normally `process.env`). */
export type Env = Readonly<Record<string, string | undefined>>;

/** Environment variable naming the config file when `--config` is not given. */
export const CONFIG_ENV_VAR = 'MIZUCHI_CONFIG';

// `$${` is an escape for a literal `${`; a `${` that matches neither form is malformed.
const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{/g;

function expandString(value: string, env: Env): { value: string; problems: string[] } {
  const problems: string[] = [];
  const expanded = value.replace(
    REFERENCE,
    (match, name: string | undefined, fallback: string | undefined) => {
      if (match === '$${') return '${';
      if (name === undefined) {
        problems.push(
          "malformed '${' reference (use ${NAME} or ${NAME:-default}, or $${ for a literal)",
        );
        return match;
      }
      const current = env[name];
      // Shell semantics: `:-` also replaces an empty value.
      if (fallback !== undefined) {
        return current === undefined || current === '' ? fallback : current;
      }
      if (current === undefined) {
        problems.push(
          `environment variable ${name} is not set (set it, or write \${${name}:-default})`,
        );
        return match;
      }
      return current;
    },
  );
  return { value: expanded, problems };
}

/**
 * Expands `${VAR}`, `${VAR:-default}` and the `$${` escape in one string; throws a ConfigError
 * naming the variable (and `path`, when given) if a variable without a default is unset.
 */
export function expandEnv(value: string, env: Env, path: readonly PropertyKey[] = []): string {
  const result = expandString(value, env);
  if (result.problems.length > 0) {
    throw new ConfigError(
      undefined,
      result.problems.map((problem) => `${formatPath(path)}: ${problem}`),
    );
  }
  return result.value;
}

interface Expansion {
  problems: string[];
  failedPaths: PropertyKey[][];
}

const DROP = Symbol('drop');

/**
 * Walks parsed YAML, expanding every string scalar. A mapping entry whose value is null (`key:`)
 * or became empty through expansion (`${UNSET:-}`) is dropped, so the field takes its default.
 */
function expandTree(node: unknown, env: Env, path: PropertyKey[], out: Expansion): unknown {
  if (typeof node === 'string') {
    if (!node.includes('${')) return node;
    const result = expandString(node, env);
    if (result.problems.length > 0) {
      out.failedPaths.push(path);
      out.problems.push(...result.problems.map((problem) => `${formatPath(path)}: ${problem}`));
      return node;
    }
    return result.value === '' ? DROP : result.value;
  }
  if (Array.isArray(node)) {
    return node.map((item, index) => {
      const value = expandTree(item, env, [...path, index], out);
      return value === DROP ? '' : value;
    });
  }
  if (isRecord(node)) {
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(node)) {
      if (item === null || item === undefined) continue;
      const value = expandTree(item, env, [...path, key], out);
      if (value !== DROP) copy[key] = value;
    }
    return copy;
  }
  return node;
}

function startsWith(path: readonly PropertyKey[], prefix: readonly PropertyKey[]): boolean {
  return prefix.length <= path.length && prefix.every((segment, i) => path[i] === segment);
}

function validate(raw: unknown, source: string | undefined, expansion: Expansion): AppConfig {
  const problems = [...expansion.problems];
  if (raw === null || raw === undefined) {
    throw new ConfigError(source, [...problems, '(root): the configuration is empty']);
  }
  const result = appConfigSchema.safeParse(raw, { error: configErrorMap });
  if (result.success && problems.length === 0) return result.data;
  if (!result.success) {
    // A field whose variable is unset is reported once, by the expansion, not again by zod.
    const issues = result.error.issues.filter(
      (issue) => !expansion.failedPaths.some((failed) => startsWith(issue.path, failed)),
    );
    problems.push(...formatIssues(issues, appConfigSchema));
  }
  throw new ConfigError(source, problems);
}

/** Validates an already-expanded config object and fills defaults; throws ConfigError. */
export function validateConfig(raw: unknown, source?: string): AppConfig {
  return validate(raw, source, { problems: [], failedPaths: [] });
}

/** Expands `${VAR}` in every string of a parsed config, then validates it; throws ConfigError. */
export function parseConfig(raw: unknown, env: Env = process.env, source?: string): AppConfig {
  const expansion: Expansion = { problems: [], failedPaths: [] };
  const expanded = expandTree(raw, env, [], expansion);
  return validate(expanded === DROP ? undefined : expanded, source, expansion);
}

/** Parses YAML text (syntax errors name line and column), expands and validates it. */
export function parseConfigText(text: string, env: Env = process.env, source?: string): AppConfig {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, merge: true, prettyErrors: false });
  if (document.errors.length > 0) {
    throw new ConfigError(
      source,
      document.errors.map((error) => {
        const { line, col } = lineCounter.linePos(error.pos[0]);
        const reason = error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
        return `line ${line}, column ${col}: YAML syntax error: ${reason}`;
      }),
    );
  }
  return parseConfig(document.toJS(), env, source);
}

/** Reads, expands and validates a YAML config file; every problem is reported with the file. */
export function loadConfigFile(path: string, env: Env = process.env): AppConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(error);
    throw new ConfigError(path, [`cannot read the config file: ${reason}`]);
  }
  return parseConfigText(text, env, path);
}

/**
 * The config file to load: the command line's `--config` when given, else MIZUCHI_CONFIG (an
 * empty value counts as unset), else undefined, meaning the embedded default.
 */
export function resolveConfigPath(
  fromCommandLine: string | undefined,
  env: Env = process.env,
): string | undefined {
  if (fromCommandLine !== undefined) return fromCommandLine;
  const fromEnv = env[CONFIG_ENV_VAR];
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}
