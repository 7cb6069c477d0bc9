/**
 * `--version`: the gateway's package version, the Node.js runtime, and whether the optional
 * splice(2) addon loaded (and why not), which decides whether zero-copy can ever be used.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spliceAddon } from '../zero-copy/splice-addon';

const PACKAGE_NAME = 'mizuchi-uploadr';

/**
 * The version in the gateway's package.json, found by walking up from this file (src/cli when
 * run from source, dist/src/cli when built, /app/dist/src/cli in the image).
 */
export function packageVersion(start: string = __dirname): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === PACKAGE_NAME && typeof pkg.version === 'string') return pkg.version;
    }
    if (dirname(dir) === dir) return 'unknown';
  }
}

/** The lines `mizuchi --version` prints. */
export function versionText(
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  const addon = spliceAddon();
  const disabled = env.ZERO_COPY?.toLowerCase() === 'off' ? ' (disabled by ZERO_COPY=off)' : '';
  const splice = addon.available
    ? `available${disabled}`
    : `not available: ${addon.loadError ?? 'unknown reason'}; bodies are streamed`;
  return [
    `mizuchi-uploadr ${packageVersion()}`,
    `node ${process.version} (${process.platform}-${process.arch})`,
    `splice addon: ${splice}`,
    '',
  ].join('\n');
}
