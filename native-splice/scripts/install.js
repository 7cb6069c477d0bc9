'use strict';
// Install step of @mizuchi/native-splice: builds the addon with node-gyp and never fails the
// install. The addon is optional (DESIGN.md §7): on a machine without a C++ toolchain the gateway
// streams, and index.js reports why through `loadError`, read from build/install-error.log.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const buildDir = path.join(root, 'build');
const errorLog = path.join(buildDir, 'install-error.log');

function warn(message) {
  process.stderr.write(`@mizuchi/native-splice: ${message}\n`);
}

/** The command that runs the node-gyp npm names, a local one, npm's bundled one, or PATH's. */
function nodeGypCommand() {
  if (process.env.npm_config_node_gyp) {
    return [process.execPath, [process.env.npm_config_node_gyp]];
  }
  try {
    return [process.execPath, [require.resolve('node-gyp/bin/node-gyp.js')]];
  } catch {
    // Run by hand (`node scripts/install.js`): the node-gyp that ships with npm next to node.
    const bundled = path.resolve(
      path.dirname(process.execPath),
      '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    );
    return fs.existsSync(bundled) ? [process.execPath, [bundled]] : ['node-gyp', []];
  }
}

/**
 * Headers installed next to this Node (official tarballs and distro packages ship them) spare
 * node-gyp a download, which fails on machines without internet access.
 */
function localNodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const header = path.join(prefix, 'include', 'node', 'node_api.h');
  return fs.existsSync(header) ? [`--nodedir=${prefix}`] : [];
}

/** One line that says why the build failed, for loadError and the startup log. */
function summarize(output) {
  const lines = output
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const gyp = lines.find((line) => line.startsWith('gyp ERR! stack Error:'));
  const own = lines.filter((line) => !line.startsWith('gyp'));
  // A compiler diagnostic or a missing tool ("make: g++: No such file or directory"), else
  // make's own failure line.
  const cause =
    own.find((line) => /\berror:|no such file or directory|not found|fatal/i.test(line)) ??
    own.find((line) => line.startsWith('make: ***'));
  const picked = [gyp && gyp.replace('gyp ERR! stack ', ''), cause].filter(Boolean);
  return picked.length > 0 ? picked.join('; ') : (lines[lines.length - 1] ?? 'no output');
}

function main() {
  // Never leave a stale binary behind: a failed rebuild must not load an old addon.
  fs.rmSync(buildDir, { recursive: true, force: true });
  if (process.platform !== 'linux') {
    warn(`splice(2) is Linux-only; nothing to build on ${process.platform}.`);
    return;
  }
  const [command, prefixArgs] = nodeGypCommand();
  const args = [...prefixArgs, 'rebuild', ...localNodedirArgs()];
  const result = spawnSync(command, args, {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  process.stdout.write(output);
  if (result.status === 0) return;

  const reason = result.error
    ? `cannot run node-gyp: ${result.error.message}`
    : `node-gyp rebuild failed (${result.signal ?? `exit code ${result.status}`}): ${summarize(output)}`;
  fs.mkdirSync(buildDir, { recursive: true });
  fs.writeFileSync(errorLog, `${reason}\n\n$ ${command} ${args.join(' ')}\n${output}`);
  warn(`${reason}`);
  warn('the addon is optional: the gateway will stream request bodies without splice(2).');
}

main();
