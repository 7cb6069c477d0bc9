/**
 * Turns config problems into one readable error: every problem on its own line, prefixed by the
 * field path as it is written in the YAML (`buckets[0].s3.bucket: required`).
 */
import { z } from 'zod';

/** Raised when a configuration cannot be read or validated; lists every problem found. */
export class ConfigError extends Error {
  /** One line per problem, each prefixed by its field path. */
  readonly problems: readonly string[];
  /** The file (or other source) the configuration came from, when known. */
  readonly source: string | undefined;

  constructor(source: string | undefined, problems: readonly string[]) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    const where = source === undefined ? '' : ` in ${source}`;
    super(
      `Invalid configuration${where} (${count}):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.source = source;
    this.problems = problems;
  }
}

/** Renders a path as written in YAML: `buckets[0].s3.bucket`; the empty path is `(root)`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(segment)) {
      out += out === '' ? segment : `.${segment}`;
    } else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out === '' ? '(root)' : out;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `a ${typeof value}`;
}

const EXPECTED: Readonly<Record<string, string>> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
};

function quoteList(values: readonly unknown[]): string {
  return values
    .map((value) => (typeof value === 'string' ? `'${value}'` : String(value)))
    .join(', ');
}

/**
 * Zod error map that phrases issues for people editing YAML. Values are never echoed, because a
 * wrong value may be a secret.
 */
export const configErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'required';
      return `must be ${EXPECTED[issue.expected] ?? issue.expected}, not ${describeType(issue.input)}`;
    case 'too_small': {
      const minimum = Number(issue.minimum);
      if (issue.origin === 'array') {
        return minimum === 1 ? 'must not be empty' : `must have at least ${minimum} items`;
      }
      if (issue.origin === 'string') {
        return minimum === 1 ? 'must not be empty' : `must be at least ${minimum} characters`;
      }
      return issue.inclusive === false
        ? `must be greater than ${minimum}`
        : `must be at least ${minimum}`;
    }
    case 'too_big': {
      const maximum = Number(issue.maximum);
      if (issue.origin === 'array') return `must have at most ${maximum} items`;
      if (issue.origin === 'string') return `must be at most ${maximum} characters`;
      return issue.inclusive === false
        ? `must be less than ${maximum}`
        : `must be at most ${maximum}`;
    }
    case 'invalid_value':
      return `must be ${issue.values.length === 1 ? '' : 'one of: '}${quoteList(issue.values)}`;
    case 'invalid_union':
      if (issue.note === 'No matching discriminator' && Array.isArray(issue.options)) {
        return `must be one of: ${quoteList(issue.options)}`;
      }
      return undefined;
    case 'invalid_format':
      return issue.format === 'url' ? 'must be a URL' : `must be a valid ${issue.format}`;
    case 'custom':
    case 'invalid_element':
    case 'invalid_key':
    case 'not_multiple_of':
    case 'unrecognized_keys':
      return undefined;
  }
};

type AnySchema = z.core.$ZodType;

/** Follows a data path through a schema to the object schema that sits there, if any. */
function objectKeysAt(schema: AnySchema, path: readonly PropertyKey[]): string[] {
  const found = new Set<string>();
  const visit = (node: AnySchema, rest: readonly PropertyKey[], depth: number): void => {
    if (depth > 64) return;
    const def = node._zod.def as unknown as Record<string, unknown> & { type: string };
    const inner = (key: string): AnySchema | undefined => def[key] as AnySchema | undefined;
    switch (def.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'readonly':
      case 'catch':
      case 'nonoptional': {
        const next = inner('innerType');
        if (next) visit(next, rest, depth + 1);
        return;
      }
      case 'pipe': {
        const next = inner('in');
        if (next) visit(next, rest, depth + 1);
        return;
      }
      case 'union':
        for (const option of (def.options as AnySchema[] | undefined) ?? []) {
          visit(option, rest, depth + 1);
        }
        return;
      case 'array': {
        const next = inner('element');
        if (next && rest.length > 0 && typeof rest[0] === 'number') {
          visit(next, rest.slice(1), depth + 1);
        }
        return;
      }
      case 'object': {
        const shape = def.shape as Record<string, AnySchema>;
        if (rest.length === 0) {
          Object.keys(shape).forEach((key) => found.add(key));
          return;
        }
        const next = shape[String(rest[0])];
        if (next) visit(next, rest.slice(1), depth + 1);
        return;
      }
      default:
        return;
    }
  };
  visit(schema, path, 0);
  return [...found];
}

function editDistance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0];
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j];
      previous[j] = Math.min(
        previous[j] + 1,
        previous[j - 1] + 1,
        diagonal + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      diagonal = above;
    }
  }
  return previous[b.length];
}

function unknownKeyMessage(key: string, known: readonly string[]): string {
  const ranked = known
    .map((candidate) => ({ candidate, distance: editDistance(key, candidate) }))
    .sort((a, b) => a.distance - b.distance);
  const best = ranked[0];
  if (best && best.distance <= Math.max(2, Math.floor(key.length / 3))) {
    return `unknown key (did you mean '${best.candidate}'?)`;
  }
  return known.length > 0 ? `unknown key (expected one of: ${known.join(', ')})` : 'unknown key';
}

/** Flattens zod issues into `path: message` lines, one per unknown key, with suggestions. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], schema: AnySchema): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = objectKeysAt(schema, issue.path);
      for (const key of issue.keys) {
        lines.push(`${formatPath([...issue.path, key])}: ${unknownKeyMessage(key, known)}`);
      }
    } else {
      lines.push(`${formatPath(issue.path)}: ${issue.message}`);
    }
  }
  return lines;
}
