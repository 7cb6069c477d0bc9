/**
 * .env.example against the files that read variables: docker-compose.yml, config.compose.yaml
 * and config.example.yaml. Every variable they use must be listed (with a comment saying what
 * it is for), nothing unused may be listed, and the compose stack's gateway must get a config
 * that validates from exactly what .env.example and docker-compose.yml give it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isPair, isScalar, isSeq, parseDocument } from 'yaml';
import { composeInterpolate } from '../../libs/testing/compose';
import { ENVIRONMENT } from '../cli/command-line';
import { keyLines } from './commented-yaml';
import { assertEnforceable } from './enforceable';
import { loadConfigFile } from './load-config';
import { parseAddress } from './server.schema';

const ROOT = join(__dirname, '..', '..');
const read = (name: string) => readFileSync(join(ROOT, name), 'utf8');

/** `NAME=value` lines of a dotenv file, in order. */
function dotenv(text: string): [string, string][] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'))
    .map((line) => {
      const equals = line.indexOf('=');
      if (equals < 1) throw new Error(`.env.example: not NAME=value: ${line}`);
      return [line.slice(0, equals).trim(), line.slice(equals + 1)];
    });
}

// docker compose interpolation: `$$` is a literal `$`; `${NAME}`, `${NAME:-x}`, `${NAME-x}`,
// `${NAME:?err}`, `${NAME?err}`, `${NAME:+x}` and bare `$NAME` read NAME.
const COMPOSE_REFERENCE =
  /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+][^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;
// The config loader's syntax (DESIGN.md §4): `${NAME}`, `${NAME:-x}`, and `$${` as an escape.
const CONFIG_REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}/g;

function referencesIn(text: string, pattern: RegExp): string[] {
  return [...text.matchAll(pattern)].map((m) => m[1] ?? m[2]).filter((name) => name !== undefined);
}

/** Every string scalar (keys and values) of a YAML file; comments are not scalars. */
function scalars(text: string): string[] {
  const found: string[] = [];
  const visit = (node: unknown): void => {
    if (isScalar(node)) {
      if (typeof node.value === 'string') found.push(node.value);
    } else if (isMap(node) || isSeq(node)) {
      node.items.forEach(visit);
    } else if (isPair(node)) {
      visit(node.key);
      visit(node.value);
    }
  };
  const document = parseDocument(text);
  expect(document.errors).toEqual([]);
  visit(document.contents);
  return found;
}

/** Variables used by each file that .env.example serves. */
function referencedVariables(): Map<string, string[]> {
  const byFile = new Map<string, string[]>();
  byFile.set(
    'docker-compose.yml',
    scalars(read('docker-compose.yml')).flatMap((s) => referencesIn(s, COMPOSE_REFERENCE)),
  );
  byFile.set(
    'config.compose.yaml',
    scalars(read('config.compose.yaml')).flatMap((s) => referencesIn(s, CONFIG_REFERENCE)),
  );
  // Commented-out keys count: uncommenting one must not leave a variable nobody documented.
  byFile.set(
    'config.example.yaml',
    keyLines(read('config.example.yaml')).flatMap((line) =>
      referencesIn(line.value, CONFIG_REFERENCE),
    ),
  );
  return byFile;
}

describe('.env.example', () => {
  const entries = dotenv(read('.env.example'));
  const listed = new Map(entries);
  const used = referencedVariables();

  it('lists every variable that docker-compose.yml and the config files use', () => {
    for (const [file, names] of used) {
      expect(names.length).toBeGreaterThan(0);
      const missing = [...new Set(names)].filter((name) => !listed.has(name));
      expect({ file, missing }).toEqual({ file, missing: [] });
    }
  });

  it('lists nothing that neither those files nor the gateway read', () => {
    const all = new Set([...used.values()].flat());
    for (const { name } of ENVIRONMENT) all.add(name);
    expect(entries.map(([name]) => name).filter((name) => !all.has(name))).toEqual([]);
  });

  it('lists each variable once, with a comment above its group', () => {
    const names = entries.map(([name]) => name);
    expect(names.filter((name, i) => names.indexOf(name) !== i)).toEqual([]);
    const lines = read('.env.example').split('\n');
    lines.forEach((line, i) => {
      if (/^[A-Z_]+=/.test(line)) {
        // Walk up over the group's other variables to the comment that explains them.
        let j = i - 1;
        while (j >= 0 && /^[A-Z_]+=/.test(lines[j])) j--;
        expect(`${line} <- ${lines[j] ?? ''}`).toMatch(/ <- #/);
      }
    });
  });

  it('gives the docker compose gateway a config that validates', () => {
    const compose = parseDocument(read('docker-compose.yml')).toJS() as {
      services: Record<
        string,
        {
          environment?: Record<string, string>;
          volumes?: string[];
          ports?: string[];
          entrypoint?: string[];
        }
      >;
    };
    const gateway = compose.services.gateway;
    // What docker compose hands the container: its `environment`, interpolated from .env.
    const dotEnv = Object.fromEntries(entries);
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(gateway.environment ?? {})) {
      env[name] = composeInterpolate(String(value), dotEnv);
    }
    // ... plus the OpenFGA ids that openfga-init writes and the entrypoint sources.
    env.MIZUCHI_OPENFGA_STORE_ID = '01JAHWTRB2X3Y4Z5A6B7C8D9EF';
    env.MIZUCHI_OPENFGA_MODEL_ID = '01JAHWTRB2X3Y4Z5A6B7C8D9EG';

    // The file the entrypoint loads is config.compose.yaml, mounted there.
    const configArg = /--config (\S+)/.exec((gateway.entrypoint ?? []).join(' '))?.[1];
    expect(configArg).toBeDefined();
    expect(gateway.volumes).toContain(`./config.compose.yaml:${configArg}:ro`);

    const config = loadConfigFile(join(ROOT, 'config.compose.yaml'), env);
    expect(() => assertEnforceable(config)).not.toThrow();
    expect(config.buckets.map((route) => route.path_prefix)).toEqual(['/uploads', '/team', '/fga']);
    expect(config.buckets[0].s3?.endpoint).toBe('http://minio:9000');

    // The published port is the one the gateway listens on.
    const { port } = parseAddress(config.server.address);
    expect(gateway.ports).toContain(`${port}:${port}`);
  });
});
