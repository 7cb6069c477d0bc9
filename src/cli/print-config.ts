/**
 * `--print-config`: the configuration exactly as the gateway would run it (every default filled
 * in, every `${VAR}` expanded, sizes in bytes) with its secrets masked, as YAML or JSON.
 */
import { stringify } from 'yaml';
import type { AppConfig } from '../config/config.schema';
import type { PrintFormat } from './command-line';
import { maskSecrets } from './mask-secrets';

/** Renders `config` for stdout; `source` names where it came from (YAML output only). */
export function renderConfig(config: AppConfig, format: PrintFormat, source: string): string {
  const masked = maskSecrets(config);
  if (format === 'json') return `${JSON.stringify(masked, null, 2)}\n`;
  return (
    `# Resolved configuration from ${source.replace(/\s+/g, ' ')}: defaults applied, \${VAR} expanded,\n` +
    '# sizes in bytes, secrets masked. Validate a file with: mizuchi --config FILE --validate\n' +
    stringify(masked, { lineWidth: 0 })
  );
}
