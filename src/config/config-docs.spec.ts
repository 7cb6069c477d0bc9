import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { CONFIG_DOCS_PATH, configDocs, REPO_ROOT } from '../../scripts/config-docs';
import { CONFIG_DESCRIPTIONS } from './config.descriptions';
import { appConfigSchema } from './config.schema';
import { keyLines } from './commented-yaml';
import { expandEnv } from './load-config';
import { schemaFields } from './schema-fields';

const FIELDS = schemaFields(appConfigSchema);
const EXAMPLE_YAML = readFileSync(join(REPO_ROOT, 'config.example.yaml'), 'utf8');

/** The key paths written in a YAML file, commented-out ones included. */
function yamlKeyPaths(text: string): Set<string> {
  return new Set(keyLines(text).map((line) => line.path));
}

/** A schema path without the list markers: `buckets[].s3.bucket` -> `buckets.s3.bucket`. */
function plain(path: string): string {
  return path.replace(/\[\]/g, '');
}

describe('docs/CONFIGURATION.md', () => {
  it('is what `npm run docs:config` generates from the schema and the descriptions', () => {
    const onDisk = readFileSync(join(REPO_ROOT, CONFIG_DOCS_PATH), 'utf8');
    const generated = configDocs();
    // The diff shows the command that brings the file up to date.
    const fix = 'npm run docs:config';
    expect({ upToDate: onDisk === generated, fix }).toEqual({ upToDate: true, fix });
  });

  it('documents every key of the schema with its path, type and default', () => {
    const onDisk = readFileSync(join(REPO_ROOT, CONFIG_DOCS_PATH), 'utf8');
    const blocks = new Map(
      onDisk.split(/^#{2,3} /m).map((block) => [/^`([^`]+)`\n/.exec(block)?.[1], block] as const),
    );
    for (const field of FIELDS) {
      const block = blocks.get(field.path) ?? `${field.path}: missing`;
      expect(block).toContain('\n- Type: ');
      expect(block).toMatch(/\n- (Default: |Required)/);
      if (field.kind === 'value') expect(block).toContain(`\n- Example: \`${field.key}: `);
    }
  });
});

describe('config.descriptions.ts', () => {
  const paths = FIELDS.map((field) => field.path);

  it('describes every key of the schema, and no key the schema does not have', () => {
    expect(paths.filter((path) => CONFIG_DESCRIPTIONS[path] === undefined)).toEqual([]);
    expect(Object.keys(CONFIG_DESCRIPTIONS).filter((path) => !paths.includes(path))).toEqual([]);
  });

  it('describes each key in full sentences', () => {
    const bad = Object.entries(CONFIG_DESCRIPTIONS)
      .filter(([, doc]) => {
        const words = doc.text.split(/\s+/).length;
        return !/^[A-Z`]/.test(doc.text) || !/[.)]$/.test(doc.text) || words < 3;
      })
      .map(([path]) => path);
    expect(bad).toEqual([]);
  });

  it('gives every value an example that the key itself accepts', () => {
    const problems: string[] = [];
    for (const field of FIELDS) {
      const example = CONFIG_DESCRIPTIONS[field.path]?.example;
      if (field.kind !== 'value') continue;
      if (example === undefined) {
        problems.push(`${field.path}: no example`);
        continue;
      }
      // `${VAR}` examples stand for a secret: any long enough value will do.
      const env = new Proxy<Record<string, string>>(
        {},
        { get: () => 'example-value-from-the-environment-0123456789' },
      );
      const value: unknown = parse(expandEnv(example, env));
      if (!field.schemas.some((schema) => z.safeParse(schema, value).success)) {
        problems.push(`${field.path}: example ${example} is refused`);
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('config.example.yaml', () => {
  const written = yamlKeyPaths(EXAMPLE_YAML);

  it('shows every key of the schema, at least as a comment', () => {
    expect(FIELDS.map((field) => plain(field.path)).filter((path) => !written.has(path))).toEqual(
      [],
    );
  });

  it('shows no key the schema does not have (a typo in a commented key would mislead)', () => {
    const known = new Set(FIELDS.map((field) => plain(field.path)));
    const freeForm = FIELDS.filter((field) => field.type.startsWith('mapping (free-form)')).map(
      (field) => plain(field.path),
    );
    const unknown = [...written].filter(
      (path) => !known.has(path) && !freeForm.some((prefix) => path.startsWith(`${prefix}.`)),
    );
    expect(unknown).toEqual([]);
  });

  it('is read as the key tree it is by the check above', () => {
    const tree = yamlKeyPaths(
      ['a:', '  b: 1', '  # c:', '  #   d: 2', '  #   # e: 3', 'f:', '  - g: 1', '    h: 2'].join(
        '\n',
      ),
    );
    expect([...tree].sort()).toEqual(['a', 'a.b', 'a.c', 'a.c.d', 'a.c.e', 'f', 'f.g', 'f.h']);
  });
});
