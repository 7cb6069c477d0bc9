/**
 * Reads the keys of a YAML file that documents optional settings as comments, the way
 * config.example.yaml does (`# max_concurrent_uploads: 256`, `#   # secret: ${JWT_SECRET}`).
 * The specs that hold config.example.yaml and .env.example to the schema use it; the gateway
 * itself never reads comments.
 */

/** One `key: value` line, commented out or not. */
export interface KeyLine {
  /** The keys from the root, list items adding no segment: `buckets.s3.bucket`. */
  path: string;
  /** The text after `key:` (empty for a mapping or list that follows on the next lines). */
  value: string;
  /** Whether the line is commented out. */
  commented: boolean;
}

/**
 * Every line whose text, after any number of `# ` markers, is `key:` or `- key:`, placed at the
 * indentation it would have once uncommented (`      #   algorithms:` is a child of
 * `      # jwt:`). Prose comments never look like that: they do not start with a lower-case
 * key followed by a colon.
 */
export function keyLines(text: string): KeyLine[] {
  const lines: KeyLine[] = [];
  const stack: { indent: number; key: string }[] = [];
  for (const raw of text.split('\n')) {
    let indent = /^ */.exec(raw)?.[0].length ?? 0;
    let rest = raw.slice(indent);
    let commented = false;
    while (rest.startsWith('#')) {
      commented = true;
      rest = rest.replace(/^# ?/, '');
      const spaces = /^ */.exec(rest)?.[0].length ?? 0;
      indent += spaces;
      rest = rest.slice(spaces);
    }
    const item = /^- +/.exec(rest);
    if (item) {
      indent += item[0].length;
      rest = rest.slice(item[0].length);
    }
    const match = /^([a-z0-9_]+):(?:\s+(.*))?$/.exec(rest);
    if (!match) continue;
    while (stack.length > 0 && stack[stack.length - 1].indent >= indent) stack.pop();
    stack.push({ indent, key: match[1] });
    lines.push({
      path: stack.map((entry) => entry.key).join('.'),
      value: match[2] ?? '',
      commented,
    });
  }
  return lines;
}
