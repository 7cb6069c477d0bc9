/**
 * A real Prometheus server (Debian's `prometheus` package, installed by .ci/run) scrapes the
 * gateway's metrics endpoint, and its query API returns the gateway's series with their labels
 * and values. This is what an operator's scrape config relies on (docs/METRICS.md): the
 * exposition text parses, the target is healthy, and the labels survive the round trip. The same
 * server loads the alerting rules of examples/prometheus/ and evaluates each without an error, and
 * promtool accepts the compose stack's Prometheus config as shipped.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestApp, filesystemRoute, type TestApp } from './helpers/create-test-app';
import { freePort } from './helpers/processes';

const PROMETHEUS = 'prometheus';
const PROMTOOL = 'promtool';
const EXAMPLES = join(__dirname, '..', 'examples', 'prometheus');
const RULES_FILE = join(EXAMPLES, 'mizuchi.rules.yml');
/** The alerts the shipped rules file defines. */
const ALERTS = [...readFileSync(RULES_FILE, 'utf8').matchAll(/alert: (\w+)/g)].map((m) => m[1]);
const METRICS_PATH = '/internal/metrics';
const JOB = 'mizuchi';

/** Why the prometheus binary cannot run here, or undefined when it can. */
function prometheusMissing(): string | undefined {
  const probe = spawnSync(PROMETHEUS, ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined) return `cannot run '${PROMETHEUS}': ${probe.error.message}`;
  if (probe.status !== 0) return `'${PROMETHEUS} --version' exited with ${probe.status}`;
  return undefined;
}

const missing = prometheusMissing();
if (missing !== undefined) {
  console.warn(
    `skipping the Prometheus scrape test: ${missing} (install it with apt-get install prometheus)`,
  );
}

/** One series of an instant-vector query result. */
interface Series {
  metric: Record<string, string>;
  value: [number, string];
}

/** The subset of Prometheus' /api/v1/rules answer the test reads. */
interface RulesAnswer {
  data: {
    groups: Array<{
      name: string;
      file: string;
      rules: Array<{ name: string; health: string; lastError?: string; lastEvaluation: string }>;
    }>;
  };
}

/** The subset of Prometheus' /api/v1/targets answer the test reads. */
interface TargetsAnswer {
  data: {
    activeTargets: Array<{ scrapeUrl: string; health: string; lastError: string }>;
  };
}

const POLL_DEADLINE_MS = 90_000;

/** Calls `probe` until it returns a value, or fails with what it last saw after a deadline. */
async function pollUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  context: () => string,
): Promise<T> {
  const deadline = Date.now() + POLL_DEADLINE_MS;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      // Prometheus may not be listening yet: keep polling.
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `gave up waiting for ${what} (last error: ${String(lastError)})\n${context()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe('Prometheus scraping the gateway', () => {
  let gw: TestApp;
  let metricsPort: number;
  let workDir: string;
  let prometheus: ChildProcess | undefined;
  let prometheusLog = '';
  let api: string;

  beforeAll(async () => {
    metricsPort = await freePort();
    gw = await createTestApp({
      metrics: { port: metricsPort, path: METRICS_PATH },
      buckets: [filesystemRoute('scraped')],
    });
    workDir = mkdtempSync(join(tmpdir(), 'mizuchi-prometheus-'));
  });

  afterAll(async () => {
    if (
      prometheus !== undefined &&
      prometheus.exitCode === null &&
      prometheus.signalCode === null
    ) {
      const exited = once(prometheus, 'exit');
      prometheus.kill('SIGTERM');
      await exited;
    }
    await gw.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  /** Runs an instant query and returns its series. */
  async function query(promql: string): Promise<Series[]> {
    const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const answer = (await res.json()) as { status: string; data: { result: Series[] } };
    if (answer.status !== 'success') throw new Error(`query ${promql}: ${JSON.stringify(answer)}`);
    return answer.data.result;
  }

  /** Polls `promql` until it returns at least one series (a scrape may still be in flight). */
  function series(promql: string): Promise<Series[]> {
    return pollUntil(
      `a result for ${promql}`,
      async () => {
        const result = await query(promql);
        return result.length > 0 ? result : undefined;
      },
      () => `--- prometheus log ---\n${prometheusLog}`,
    );
  }

  (missing === undefined ? it : it.skip)(
    'scrapes the metrics port and returns the upload counters with their route, operation and status labels',
    async () => {
      const put = (key: string, body: string) =>
        fetch(`${gw.url}/scraped/${key}`, { method: 'PUT', body });
      expect((await put('one.txt', 'hello')).status).toBe(200);
      expect((await put('two.txt', 'hello world')).status).toBe(200);
      expect((await fetch(`${gw.url}/scraped/one.txt`)).status).toBe(405);

      const webPort = await freePort();
      api = `http://127.0.0.1:${webPort}`;
      const target = `127.0.0.1:${metricsPort}`;
      writeFileSync(
        join(workDir, 'prometheus.yml'),
        [
          'global:',
          '  scrape_interval: 1s',
          '  scrape_timeout: 1s',
          '  evaluation_interval: 1s',
          'rule_files:',
          `  - ${RULES_FILE}`,
          'scrape_configs:',
          `  - job_name: ${JOB}`,
          `    metrics_path: ${METRICS_PATH}`,
          '    static_configs:',
          `      - targets: ['${target}']`,
          '',
        ].join('\n'),
      );
      prometheus = spawn(
        PROMETHEUS,
        [
          `--config.file=${join(workDir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(workDir, 'data')}`,
          `--web.listen-address=127.0.0.1:${webPort}`,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      prometheus.stdout?.setEncoding('utf8').on('data', (text: string) => (prometheusLog += text));
      prometheus.stderr?.setEncoding('utf8').on('data', (text: string) => (prometheusLog += text));

      const scraped = await pollUntil(
        `the target ${target} to be up`,
        async () => {
          const res = await fetch(`${api}/api/v1/targets`);
          const { data } = (await res.json()) as TargetsAnswer;
          return data.activeTargets.find((t) => t.health === 'up');
        },
        () => `--- prometheus log ---\n${prometheusLog}`,
      );
      expect(scraped.scrapeUrl).toBe(`http://${target}${METRICS_PATH}`);
      expect(scraped.lastError).toBe('');

      const up = await series(`up{job="${JOB}"}`);
      expect(up).toHaveLength(1);
      expect(up[0].metric).toEqual({ __name__: 'up', job: JOB, instance: target });
      expect(up[0].value[1]).toBe('1');

      const uploads = await series('mizuchi_uploads_total');
      expect(uploads.map((s) => ({ metric: s.metric, value: s.value[1] }))).toEqual(
        expect.arrayContaining([
          {
            metric: {
              __name__: 'mizuchi_uploads_total',
              job: JOB,
              instance: target,
              bucket: 'scraped',
              operation: 'PutObject',
              status: '200',
            },
            value: '2',
          },
        ]),
      );
      // Only bounded labels: nothing names a key.
      for (const s of uploads) {
        expect(Object.keys(s.metric).sort()).toEqual(
          ['__name__', 'bucket', 'instance', 'job', 'operation', 'status'].sort(),
        );
        expect(JSON.stringify(s.metric)).not.toContain('one.txt');
      }

      const bytes = await series('mizuchi_upload_bytes_total{bucket="scraped"}');
      expect(bytes).toHaveLength(1);
      expect(bytes[0].value[1]).toBe(String('hello'.length + 'hello world'.length));

      const durations = await series(
        'mizuchi_upload_duration_seconds_count{bucket="scraped",operation="PutObject"}',
      );
      expect(durations).toHaveLength(1);
      expect(durations[0].value[1]).toBe('2');

      const errors = await series('mizuchi_errors_total{code="MethodNotAllowed"}');
      expect(errors).toHaveLength(1);
      expect(errors[0].value[1]).toBe('1');

      const inFlight = await series('mizuchi_uploads_in_flight');
      expect(inFlight[0].value[1]).toBe('0');

      // The default process metrics come along on the same endpoint.
      expect(await series(`process_cpu_user_seconds_total{job="${JOB}"}`)).toHaveLength(1);

      // Every alerting rule of the shipped file has been evaluated against these series, and
      // none failed (a bad expression or a vector mismatch would show as health "err").
      const evaluated = await pollUntil(
        'every alerting rule to have been evaluated',
        async () => {
          const res = await fetch(`${api}/api/v1/rules?type=alert`);
          const { data } = (await res.json()) as RulesAnswer;
          const rules = data.groups.flatMap((group) => group.rules);
          return rules.length === ALERTS.length &&
            rules.every(
              (rule) => rule.health !== 'unknown' && !rule.lastEvaluation.startsWith('0001'),
            )
            ? rules
            : undefined;
        },
        () => `--- prometheus log ---\n${prometheusLog}`,
      );
      expect(evaluated.map((rule) => rule.name).sort()).toEqual([...ALERTS].sort());
      expect(evaluated.filter((rule) => rule.health !== 'ok')).toEqual([]);
    },
  );

  (missing === undefined ? it : it.skip)(
    "accepts docker-compose.yml's Prometheus config and rules as shipped (promtool)",
    () => {
      const check = spawnSync(PROMTOOL, ['check', 'config', join(EXAMPLES, 'prometheus.yml')], {
        encoding: 'utf8',
      });
      expect({ status: check.status, error: check.error?.message }).toEqual({
        status: 0,
        error: undefined,
      });
      expect(check.stdout).toContain(`${ALERTS.length} rules found`);
    },
  );
});
