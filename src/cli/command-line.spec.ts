import { join } from 'node:path';
import { ENVIRONMENT, helpText, parseCommandLine, UsageError } from './command-line';
import { packageVersion, versionText } from './version';

function problemsOf(argv: string[]): readonly string[] {
  try {
    parseCommandLine(argv);
  } catch (error) {
    if (error instanceof UsageError) return error.problems;
    throw error;
  }
  throw new Error(`expected ${argv.join(' ')} to be refused`);
}

describe('parseCommandLine', () => {
  it('serves the embedded default (or MIZUCHI_CONFIG) when given nothing', () => {
    expect(parseCommandLine([])).toEqual({
      action: 'serve',
      configPath: undefined,
      format: 'yaml',
    });
  });

  it.each([[['--config', 'a.yaml']], [['--config=a.yaml']], [['-c', 'a.yaml']]])(
    'reads the config path from %p',
    (argv) => {
      expect(parseCommandLine(argv).configPath).toBe('a.yaml');
    },
  );

  it.each([
    [['--validate', '-c', 'x.yaml'], 'validate'],
    [['--print-config'], 'print-config'],
    [['--version'], 'version'],
    [['-v'], 'version'],
    [['--help'], 'help'],
    [['-h'], 'help'],
  ])('reads the action of %p', (argv, action) => {
    expect(parseCommandLine(argv).action).toBe(action);
  });

  it('prints YAML by default and JSON on request', () => {
    expect(parseCommandLine(['--print-config']).format).toBe('yaml');
    expect(parseCommandLine(['--print-config=json', '-c', 'x']).format).toBe('json');
    expect(parseCommandLine(['--print-config=yaml']).format).toBe('yaml');
  });

  it('lets --help win over any other action', () => {
    expect(parseCommandLine(['--validate', '--version', '--help']).action).toBe('help');
  });

  it('refuses unknown options and stray arguments, naming each', () => {
    expect(problemsOf(['--confg', 'x', '--verbose', 'extra'])).toEqual([
      "unknown option '--confg'",
      "unexpected argument 'x'",
      "unknown option '--verbose'",
      "unexpected argument 'extra'",
    ]);
    expect(problemsOf(['--help', '--bogus=1'])).toEqual(["unknown option '--bogus'"]);
  });

  it('refuses a missing or repeated config path', () => {
    expect(problemsOf(['--config'])).toEqual(['--config needs a file path']);
    expect(problemsOf(['--config='])).toEqual(['--config needs a file path']);
    expect(problemsOf(['-c', '--validate'])).toEqual(['-c needs a file path']);
    expect(problemsOf(['-c', 'a', '--config', 'b'])).toEqual(['--config given twice']);
  });

  it('refuses conflicting actions, bad formats and values for flags that take none', () => {
    expect(problemsOf(['--validate', '--print-config'])).toEqual([
      '--validate and --print-config cannot be combined; choose one',
    ]);
    expect(problemsOf(['--print-config=toml'])).toEqual([
      "--print-config takes yaml or json, not 'toml'",
    ]);
    expect(problemsOf(['--validate=yes'])).toEqual(['--validate takes no value']);
  });
});

describe('helpText', () => {
  const help = helpText();

  it('lists every flag the parser accepts', () => {
    for (const flag of ['--config FILE', '-c', '--validate', '--print-config[=yaml|json]']) {
      expect(help).toContain(flag);
    }
    for (const flag of ['-v, --version', '-h, --help']) expect(help).toContain(flag);
  });

  it('lists the environment variables the gateway reads', () => {
    for (const { name } of ENVIRONMENT) expect(help).toMatch(new RegExp(`^  ${name} `, 'm'));
    expect(ENVIRONMENT.map(({ name }) => name)).toEqual(
      expect.arrayContaining(['MIZUCHI_CONFIG', 'HOST', 'PORT', 'ZERO_COPY']),
    );
    expect(help).toContain('${VAR}');
  });

  it('fits a 100-column terminal', () => {
    expect(help.split('\n').filter((line) => line.length > 100)).toEqual([]);
  });

  it('states the exit codes', () => {
    expect(help).toContain('2 bad command line');
  });
});

describe('versionText', () => {
  it("names the package's version, the Node.js version and the splice addon", () => {
    const text = versionText({});
    expect(text).toMatch(/^mizuchi-uploadr \d+\.\d+\.\d+/);
    expect(text).toContain(`node ${process.version}`);
    expect(text).toMatch(/^splice addon: (available|not available: .+)$/m);
  });

  it('says when ZERO_COPY=off disables an available addon', () => {
    const text = versionText({ ZERO_COPY: 'off' });
    if (text.includes('splice addon: available')) {
      expect(text).toContain('disabled by ZERO_COPY=off');
    } else {
      expect(text).toContain('bodies are streamed');
    }
  });

  it('finds package.json from the source tree and from dist/', () => {
    const version = packageVersion();
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    expect(packageVersion(join(__dirname, '..', '..', 'dist', 'src', 'cli'))).toBe(version);
    expect(packageVersion('/')).toBe('unknown');
  });
});
