/**
 * The `mizuchi` command line: which action to run (serve, validate, print the resolved config,
 * print the version, print help), which config file, and the help text. Parsing only; main.ts
 * runs the action. Nothing here may load Nest or an HTTP client (tracing must patch `http` first).
 */
import { CONFIG_ENV_VAR } from '../config/load-config';

/** Exit code of a command line that cannot be understood (as with most Unix tools). */
export const EXIT_USAGE = 2;

/** What the process is asked to do. */
export type CliAction = 'serve' | 'validate' | 'print-config' | 'version' | 'help';

/** Output format of `--print-config`. */
export type PrintFormat = 'yaml' | 'json';

const PRINT_FORMATS: readonly PrintFormat[] = ['yaml', 'json'];

/** A parsed command line. */
export interface CommandLine {
  action: CliAction;
  /** `--config FILE`; undefined falls back to MIZUCHI_CONFIG, then the embedded default. */
  configPath?: string;
  /** Format of `--print-config`. */
  format: PrintFormat;
}

/** A command line that cannot be run; main.ts prints it and exits with {@link EXIT_USAGE}. */
export class UsageError extends Error {
  /** One line per problem. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'UsageError';
    this.problems = problems;
  }
}

/** The options, as `--help` lists them. */
const OPTIONS: readonly { flags: string; text: string }[] = [
  {
    flags: '-c, --config FILE',
    text: `YAML config file. Default: $${CONFIG_ENV_VAR}, else the embedded default (one anonymous /uploads route stored under ./data).`,
  },
  {
    flags: '--validate',
    text: 'Check the config (every field, and the start-up checks) and exit: 0 when valid, 1 naming each problem.',
  },
  {
    flags: '--print-config[=yaml|json]',
    text: 'Print the resolved config (defaults applied, ${VAR} expanded) with every secret masked, and exit. Default format: yaml.',
  },
  {
    flags: '-v, --version',
    text: 'Print the gateway and Node.js versions and whether the splice(2) addon is available, and exit.',
  },
  { flags: '-h, --help', text: 'Print this help and exit.' },
];

/** Environment variables the gateway itself reads (besides those a config file references). */
export const ENVIRONMENT: readonly { name: string; text: string }[] = [
  { name: CONFIG_ENV_VAR, text: 'Config file to load when --config is not given.' },
  { name: 'HOST', text: 'Listen host of the embedded default config (no config file).' },
  { name: 'PORT', text: 'Listen port of the embedded default config (no config file).' },
  {
    name: 'MIZUCHI_UPLOAD_ID_SECRET',
    text: 'server.upload_id_secret of the embedded default config (config files use ${VAR}).',
  },
  { name: 'ZERO_COPY', text: "'off' disables the splice(2) zero-copy path." },
  {
    name: 'MIZUCHI_GC_HINTS',
    text: "'off' disables the garbage-collection hints of auto-multipart uploads.",
  },
];

const ENVIRONMENT_NOTES: readonly { name: string; text: string }[] = [
  {
    name: '${VAR}',
    text: 'Any variable the config file references as ${VAR} or ${VAR:-default}.',
  },
  {
    name: 'AWS_*',
    text: 'The AWS default credential chain, for S3 routes without access_key/secret_key.',
  },
];

/** Help lines stay within this many columns. */
const HELP_WIDTH = 100;

/** Two columns; the right one wraps at word boundaries under its own start. */
function table(rows: readonly { left: string; text: string }[]): string {
  const indent = Math.max(...rows.map((row) => row.left.length)) + 4;
  return rows
    .map((row) => {
      const lines: string[] = [];
      let line = `  ${row.left.padEnd(indent - 2)}`;
      for (const word of row.text.split(' ')) {
        if (line.trim() !== row.left && line.length + 1 + word.length > HELP_WIDTH) {
          lines.push(line);
          line = ' '.repeat(indent) + word;
        } else {
          line += line.endsWith(' ') ? word : ` ${word}`;
        }
      }
      lines.push(line);
      return lines.join('\n');
    })
    .join('\n');
}

/** The text of `mizuchi --help`. */
export function helpText(): string {
  return [
    'Usage: mizuchi [--config FILE] [--validate | --print-config[=yaml|json]]',
    '       mizuchi --version | --help',
    '',
    'Mizuchi Uploadr, an upload-only S3 gateway. Without --validate or --print-config it serves',
    'until SIGTERM or SIGINT, then lets in-flight uploads finish (server.shutdown_grace_seconds).',
    '',
    'Options:',
    table(OPTIONS.map(({ flags, text }) => ({ left: flags, text }))),
    '',
    'Environment:',
    table([...ENVIRONMENT, ...ENVIRONMENT_NOTES].map(({ name, text }) => ({ left: name, text }))),
    '',
    'Exit codes: 0 success, 1 invalid config or fatal error, 2 bad command line.',
    'Configuration reference: docs/CONFIGURATION.md; every key with a comment: config.example.yaml.',
    '',
  ].join('\n');
}

/**
 * Parses the arguments after the script name. `--help` wins over any other action; otherwise at
 * most one of --validate, --print-config and --version may be given. Throws a UsageError listing
 * every problem (unknown options, missing values, conflicting actions).
 */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  const problems: string[] = [];
  const actions = new Set<Exclude<CliAction, 'serve' | 'help'>>();
  let help = false;
  let configPath: string | undefined;
  let format: PrintFormat = 'yaml';

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const equals = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = equals === -1 ? arg : arg.slice(0, equals);
    const inline = equals === -1 ? undefined : arg.slice(equals + 1);
    const noValue = (action: () => void) => {
      if (inline === undefined) action();
      else problems.push(`${name} takes no value`);
    };
    switch (name) {
      case '-h':
      case '--help':
        noValue(() => (help = true));
        break;
      case '-v':
      case '--version':
        noValue(() => actions.add('version'));
        break;
      case '--validate':
        noValue(() => actions.add('validate'));
        break;
      case '--print-config': {
        actions.add('print-config');
        if (inline === undefined) break;
        if ((PRINT_FORMATS as readonly string[]).includes(inline)) format = inline as PrintFormat;
        else problems.push(`--print-config takes yaml or json, not '${inline}'`);
        break;
      }
      case '-c':
      case '--config': {
        const value = inline ?? argv[i + 1];
        if (inline === undefined && value !== undefined && !value.startsWith('-')) i++;
        if (
          value === undefined ||
          value === '' ||
          (inline === undefined && value.startsWith('-'))
        ) {
          problems.push(`${name} needs a file path`);
        } else if (configPath !== undefined) {
          problems.push(`${name} given twice`);
        } else {
          configPath = value;
        }
        break;
      }
      default:
        problems.push(
          arg.startsWith('-') && arg !== '-'
            ? `unknown option '${name}'`
            : `unexpected argument '${arg}'`,
        );
    }
  }
  if (actions.size > 1 && !help) {
    problems.push(
      `${[...actions].map((action) => `--${action}`).join(' and ')} cannot be combined; choose one`,
    );
  }
  if (problems.length > 0) throw new UsageError(problems);
  const action: CliAction = help ? 'help' : ([...actions][0] ?? 'serve');
  return { action, configPath, format };
}
