/** The ready-to-paste commands printed at start-up, so a first upload takes one copy and paste. */
import type { AppConfig } from './config/config.schema';

/** The host a local user should type: wildcard binds are reached via loopback. */
export function displayHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** curl and aws CLI lines that upload a small file to each anonymous route. */
export function tryItLines(config: AppConfig, host: string, port: number): string[] {
  const base = `http://${displayHost(host)}:${port}`;
  const lines: string[] = [];
  for (const route of config.buckets) {
    if (route.auth.enabled) continue;
    const bucket = route.path_prefix.slice(1);
    lines.push(
      `echo 'hello from curl' > hello.txt && curl -sS -T hello.txt ${base}${route.path_prefix}/hello.txt && echo uploaded`,
      `aws s3 cp hello.txt s3://${bucket}/hello-aws.txt --endpoint-url ${base} --no-sign-request --region us-east-1`,
    );
  }
  return lines;
}
