/**
 * The Prometheus of docker-compose.yml against the gateway it scrapes: the scrape config
 * (examples/prometheus/prometheus.yml) reaches the compose gateway's port and metrics path, the
 * rules file it loads sits beside it, and every alert of that file is the one docs/METRICS.md
 * describes, over metrics the page documents. test/prometheus-scrape.e2e-spec.ts runs the same
 * files through promtool and a real Prometheus.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { composeInterpolate } from '../../libs/testing/compose';
import { parseAddress } from './server.schema';

const ROOT = join(__dirname, '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

interface ComposeService {
  image?: string;
  command?: string[];
  ports?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
}
interface PrometheusConfig {
  rule_files: string[];
  scrape_configs: {
    job_name: string;
    metrics_path: string;
    static_configs: { targets: string[] }[];
  }[];
}
interface RulesFile {
  groups: { name: string; rules: { alert: string; expr: string; for?: string }[] }[];
}

const compose = parse(read('docker-compose.yml')) as { services: Record<string, ComposeService> };
const prometheus = parse(read('examples/prometheus/prometheus.yml')) as PrometheusConfig;
const rules = parse(read('examples/prometheus/mizuchi.rules.yml')) as RulesFile;
const metricsPage = read('docs/METRICS.md');
const alerts = rules.groups.flatMap((group) => group.rules);

/** A value as docker compose reads it without a .env file: every `${NAME:-default}` its default. */
const withDefaults = (text: string) => composeInterpolate(text, {});

describe('the Prometheus of docker-compose.yml', () => {
  const service = compose.services.prometheus;

  it('mounts examples/prometheus where its command reads the config', () => {
    expect(service.image).toMatch(/^prom\/prometheus:/);
    expect(service.volumes).toContain('./examples/prometheus:/etc/prometheus:ro');
    expect(service.command).toContain('--config.file=/etc/prometheus/prometheus.yml');
    for (const file of prometheus.rule_files) {
      expect(existsSync(join(ROOT, 'examples', 'prometheus', file))).toBe(true);
    }
  });

  it("scrapes the compose gateway's port on the metrics path of config.compose.yaml", () => {
    const gateway = compose.services.gateway;
    const address = withDefaults(gateway.environment?.MIZUCHI_ADDRESS ?? '');
    const { port } = parseAddress(address);
    expect(gateway.ports).toContain(`${port}:${port}`);
    const gatewayConfig = parse(withDefaults(read('config.compose.yaml'))) as {
      metrics: { enabled: boolean; path: string; port?: number };
    };
    expect(gatewayConfig.metrics.enabled).toBe(true);
    expect(gatewayConfig.metrics.port).toBeUndefined();

    const [job] = prometheus.scrape_configs;
    expect(prometheus.scrape_configs).toHaveLength(1);
    expect(job.job_name).toBe('mizuchi'); // the job the alerts select
    expect(job.metrics_path).toBe(gatewayConfig.metrics.path);
    expect(job.static_configs.flatMap((c) => c.targets)).toEqual([`gateway:${port}`]);
  });

  it('has exactly the alerts docs/METRICS.md names, each over documented metrics', () => {
    const named = new Set([...metricsPage.matchAll(/`(Mizuchi[A-Za-z]+)`/g)].map((m) => m[1]));
    expect(alerts.map((rule) => rule.alert).sort()).toEqual([...named].sort());
    const documented = new Set([...metricsPage.matchAll(/^### `([a-z_]+)`/gm)].map((m) => m[1]));
    let checked = 0;
    for (const rule of alerts) {
      const used = [...rule.expr.matchAll(/\b(mizuchi_[a-z_]+?)(?:_bucket|_count|_sum)?\b/g)];
      for (const [, metric] of used) {
        expect({ alert: rule.alert, metric, documented: documented.has(metric) }).toEqual({
          alert: rule.alert,
          metric,
          documented: true,
        });
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(10);
  });

  it('selects the scrape job by the name prometheus.yml gives it', () => {
    const jobs = alerts.flatMap((rule) =>
      [...rule.expr.matchAll(/job="([^"]+)"/g)].map((m) => m[1]),
    );
    expect(jobs.length).toBeGreaterThan(0);
    expect(new Set(jobs)).toEqual(new Set([prometheus.scrape_configs[0].job_name]));
  });
});
