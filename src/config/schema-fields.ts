/**
 * Reads the composed zod schema as a list of documented fields: every key with its path, a
 * human-readable type, whether it is required and its default. The configuration reference
 * (scripts/config-docs.ts), the config.example.yaml check and `--print-config`'s secret masking
 * all walk the schema through this, so a key added to a sub-schema shows up in all three.
 */
import { z } from 'zod';
import { formatSize } from './scalars';

type AnySchema = z.core.$ZodType;
type Def = Record<string, unknown> & { type: string };

/** What a key holds. */
export type FieldKind =
  /** A mapping of further keys. */
  | 'section'
  /** A list whose items are mappings of further keys. */
  | 'section-list'
  /** A scalar, a list of scalars, or a free-form mapping. */
  | 'value';

/** One key of the configuration, as the reference documents it. */
export interface SchemaField {
  /** Dotted path with `[]` for list items: `buckets[].auth.jwt.secret`. */
  path: string;
  /** The object keys along the path: `['buckets', 'auth', 'jwt', 'secret']`. */
  keys: readonly string[];
  /** The key itself (the last of `keys`). */
  key: string;
  kind: FieldKind;
  /** Human-readable type, e.g. `integer, 1–65535` or `size, at least 5MiB`. */
  type: string;
  /** No default and not optional: the enclosing mapping must set it. */
  required: boolean;
  /** The default rendered for people (`16384`, `50MiB`, `[]`), when the schema has one. */
  default?: string;
  /** A mapping whose keys all take their defaults when it is left out. */
  defaultsFromFields: boolean;
  /** The value's schema(s) without optional/default wrappers (several for union members). */
  schemas: readonly AnySchema[];
}

function defOf(node: AnySchema): Def {
  return node._zod.def as unknown as Def;
}

function child(def: Def, key: string): AnySchema {
  return def[key] as AnySchema;
}

const WRAPPERS = new Set(['optional', 'nullable', 'readonly', 'catch', 'nonoptional']);

/** A byte size from scalars.ts: `union(number, string) -> transform -> number`. */
function isSizePipe(def: Def): boolean {
  if (def.type !== 'pipe') return false;
  const inner = defOf(child(def, 'in'));
  if (inner.type !== 'pipe') return false;
  const union = defOf(child(inner, 'in'));
  const options = (union.options as AnySchema[] | undefined) ?? [];
  return (
    union.type === 'union' &&
    defOf(child(inner, 'out')).type === 'transform' &&
    options.map((option) => defOf(option).type).join() === 'number,string' &&
    defOf(child(def, 'out')).type === 'number'
  );
}

interface Unwrapped {
  node: AnySchema;
  optional: boolean;
  hasDefault: boolean;
  defaultValue?: unknown;
  prefault: boolean;
  size: boolean;
}

/** Strips optional/default/pipe wrappers down to the schema that says what the value is. */
function unwrap(start: AnySchema): Unwrapped {
  const out: Unwrapped = {
    node: start,
    optional: false,
    hasDefault: false,
    prefault: false,
    size: false,
  };
  for (let depth = 0; depth < 32; depth++) {
    const def = defOf(out.node);
    if (WRAPPERS.has(def.type)) {
      if (def.type === 'optional') out.optional = true;
      out.node = child(def, 'innerType');
    } else if (def.type === 'default' || def.type === 'prefault') {
      if (!out.hasDefault) {
        out.hasDefault = true;
        out.defaultValue = def.defaultValue;
        out.prefault = def.type === 'prefault';
      }
      out.node = child(def, 'innerType');
    } else if (def.type === 'pipe') {
      if (isSizePipe(def)) {
        out.size = true;
        return out;
      }
      // preprocess(fn, schema) is pipe(transform, schema); schema.transform(fn) is pipe(schema, transform).
      out.node =
        defOf(child(def, 'in')).type === 'transform' ? child(def, 'out') : child(def, 'in');
    } else {
      return out;
    }
  }
  return out;
}

function isObject(node: AnySchema): boolean {
  return defOf(node).type === 'object';
}

/** The object options of a union of mappings (a discriminated union), else undefined. */
function objectOptions(node: AnySchema): AnySchema[] | undefined {
  const def = defOf(node);
  if (def.type === 'object') return [node];
  if (def.type !== 'union') return undefined;
  const options = (def.options as AnySchema[]).map((option) => unwrap(option).node);
  return options.every(isObject) ? options : undefined;
}

function compactSize(bytes: number): string {
  return formatSize(bytes).replace(/ (?=[KMGT]iB$)/, '');
}

function numberBounds(node: AnySchema): { min?: number; max?: number; exclusiveMin: boolean } {
  const bounds: { min?: number; max?: number; exclusiveMin: boolean } = { exclusiveMin: false };
  for (const check of (defOf(node).checks as AnySchema[] | undefined) ?? []) {
    const c = defOf(check) as Def & { check?: string; value?: number; inclusive?: boolean };
    if (c.check === 'greater_than' && typeof c.value === 'number') {
      bounds.min = c.value;
      bounds.exclusiveMin = c.inclusive === false;
    }
    if (c.check === 'less_than' && typeof c.value === 'number') bounds.max = c.value;
  }
  return bounds;
}

function describeRange(
  base: string,
  bounds: { min?: number; max?: number; exclusiveMin: boolean },
  render: (value: number) => string,
  ignoreMinAtOrBelow: number,
): string {
  const min =
    bounds.min !== undefined &&
    bounds.min > ignoreMinAtOrBelow &&
    bounds.min > -Number.MAX_SAFE_INTEGER
      ? bounds.min
      : undefined;
  const max =
    bounds.max !== undefined && bounds.max < Number.MAX_SAFE_INTEGER ? bounds.max : undefined;
  if (bounds.exclusiveMin && bounds.min !== undefined && max === undefined) {
    return `${base} greater than ${render(bounds.min)}`;
  }
  if (min !== undefined && max !== undefined) return `${base}, ${render(min)}–${render(max)}`;
  if (min !== undefined) return `${base}, at least ${render(min)}`;
  if (max !== undefined) return `${base}, at most ${render(max)}`;
  return base;
}

const PLURALS: Readonly<Record<string, string>> = {
  string: 'strings',
  integer: 'integers',
  number: 'numbers',
  boolean: 'booleans',
  URL: 'URLs',
};

function quote(value: unknown): string {
  return `\`${String(value)}\``;
}

function joinOr(parts: readonly string[]): string {
  const unique = [...new Set(parts)];
  return unique.length <= 1
    ? (unique[0] ?? '')
    : `${unique.slice(0, -1).join(', ')} or ${unique[unique.length - 1]}`;
}

/** A human-readable type for a value schema (already unwrapped). */
function typeLabel(start: AnySchema): string {
  const { node, size } = unwrap(start);
  if (size) {
    return describeRange('size', numberBounds(child(defOf(node), 'out')), compactSize, 1);
  }
  const def = defOf(node);
  switch (def.type) {
    case 'string': {
      if (def.format === 'url') return 'URL';
      let minLength = 0;
      for (const check of (def.checks as AnySchema[] | undefined) ?? []) {
        const c = defOf(check) as Def & { check?: string; minimum?: number };
        if (c.check === 'min_length' && typeof c.minimum === 'number') minLength = c.minimum;
      }
      return minLength > 1 ? `string of at least ${minLength} characters` : 'string';
    }
    case 'number':
      return describeRange(
        def.format === 'safeint' ? 'integer' : 'number',
        numberBounds(node),
        (value) => String(value),
        -Infinity,
      );
    case 'boolean':
      return 'boolean';
    case 'enum':
      return `one of ${Object.values(def.entries as Record<string, unknown>)
        .map(quote)
        .join(', ')}`;
    case 'literal':
      return joinOr((def.values as unknown[]).map(quote));
    case 'union': {
      const options = def.options as AnySchema[];
      if (options.every((option) => defOf(unwrap(option).node).type === 'literal')) {
        const values = options.flatMap((option) => defOf(unwrap(option).node).values as unknown[]);
        return `one of ${values.map(quote).join(', ')}`;
      }
      return joinOr(options.map(typeLabel));
    }
    case 'array': {
      const element = child(def, 'element');
      const nonEmpty = ((def.checks as AnySchema[] | undefined) ?? []).some((check) => {
        const c = defOf(check) as Def & { check?: string; minimum?: number };
        return c.check === 'min_length' && (c.minimum ?? 0) >= 1;
      });
      const list = nonEmpty ? 'non-empty list' : 'list';
      if (objectOptions(unwrap(element).node)) return `${list} of mappings`;
      const item = typeLabel(element);
      if (item.startsWith('one of ')) return `${list}, each ${item}`;
      return `${list} of ${PLURALS[item] ?? item}`;
    }
    case 'record':
      return 'mapping (free-form)';
    case 'object':
      return 'mapping';
    default:
      return 'value';
  }
}

function renderDefault(value: unknown, size: boolean): string {
  if (size && typeof value === 'number') return compactSize(value);
  if (typeof value === 'string') return value;
  return JSON.stringify(value)
    .replace(/"([A-Za-z_][A-Za-z0-9_]*)":/g, '$1: ')
    .replace(/"/g, '');
}

/** Every key of `schema` (normally appConfigSchema), parents before their children. */
export function schemaFields(schema: AnySchema): SchemaField[] {
  const fields: SchemaField[] = [];

  const visitMappings = (options: readonly AnySchema[], prefix: string, keys: string[]): void => {
    // A discriminated union of mappings documents the union of their keys; a key that only some
    // members have is optional (its description says which).
    const members = new Map<string, AnySchema[]>();
    for (const option of options) {
      for (const [key, value] of Object.entries(defOf(option).shape as Record<string, AnySchema>)) {
        members.set(key, [...(members.get(key) ?? []), value]);
      }
    }
    for (const [key, schemas] of members) {
      const path = prefix === '' ? key : `${prefix}.${key}`;
      visitKey(path, [...keys, key], key, schemas, schemas.length === options.length);
    }
  };

  const visitKey = (
    path: string,
    keys: string[],
    key: string,
    schemas: readonly AnySchema[],
    inEveryMember: boolean,
  ): void => {
    const unwrapped = schemas.map(unwrap);
    const first = unwrapped[0];
    const values = unwrapped.map((u) => u.node);
    const mappings = first.size ? undefined : objectOptions(first.node);
    const element =
      !first.size && defOf(first.node).type === 'array'
        ? unwrap(child(defOf(first.node), 'element')).node
        : undefined;
    const itemMappings = element ? objectOptions(element) : undefined;
    const kind: FieldKind = mappings ? 'section' : itemMappings ? 'section-list' : 'value';
    const field: SchemaField = {
      path,
      keys,
      key,
      kind,
      type: values.every((value) => defOf(value).type === 'literal')
        ? `one of ${values
            .flatMap((value) => defOf(value).values as unknown[])
            .map(quote)
            .join(', ')}`
        : joinOr(values.map(typeLabel)),
      required: inEveryMember && unwrapped.every((u) => !u.optional && !u.hasDefault),
      defaultsFromFields: first.prefault,
      schemas: values,
    };
    if (first.hasDefault && !first.prefault) {
      field.default = renderDefault(first.defaultValue, first.size);
    }
    fields.push(field);
    if (mappings) visitMappings(mappings, path, keys);
    if (itemMappings) visitMappings(itemMappings, `${path}[]`, keys);
  };

  const root = objectOptions(unwrap(schema).node);
  if (!root) throw new Error('the configuration schema is not a mapping');
  visitMappings(root, '', []);
  return fields;
}
