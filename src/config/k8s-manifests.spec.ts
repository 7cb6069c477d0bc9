/**
 * deploy/k8s/ against the gateway: every manifest parses, the probes hit the app's real health
 * routes on the port the config listens on, the ConfigMap's config validates with the Secret's
 * variables exactly as the Deployment passes them, and the pieces point at each other.
 */
import 'reflect-metadata';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PATH_METADATA } from '@nestjs/common/constants';
import { parseAllDocuments } from 'yaml';
import { HealthController } from '../health/health.controller';
import { HEALTH_PATH } from './config.schema';
import { assertEnforceable } from './enforceable';
import { parseConfigText } from './load-config';
import { parseAddress } from './server.schema';

const DIR = join(__dirname, '..', '..', 'deploy', 'k8s');

/** The parts of the manifests that the checks below read. */
interface Probe {
  httpGet: { path: string; port: number | string };
}
interface Container {
  args?: string[];
  envFrom?: { secretRef?: { name: string } }[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: SecretKeyRef } }[];
  ports: { name: string; containerPort: number }[];
  readinessProbe: Probe;
  livenessProbe: Probe;
  startupProbe: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext: Record<string, unknown>;
  volumeMounts: { name: string; mountPath: string }[];
}
interface SecretKeyRef {
  name: string;
  key: string;
}
interface PodSpec {
  containers: Container[];
  volumes: {
    name: string;
    configMap?: { name: string; items: { key: string; path: string }[] };
  }[];
  securityContext: { runAsNonRoot?: boolean; runAsUser?: number };
  terminationGracePeriodSeconds: number;
}
type Labels = Record<string, string>;
/** Any manifest: kind, name and whatever the kind carries. */
interface Manifest {
  apiVersion?: string;
  kind: string;
  metadata: { name: string };
  [field: string]: unknown;
}
interface Deployment extends Manifest {
  spec: {
    selector: { matchLabels: Labels };
    template: { metadata: { labels: Labels; annotations: Record<string, string> }; spec: PodSpec };
  };
}

function loadManifests(): { file: string; doc: Manifest }[] {
  return readdirSync(DIR)
    .filter((file) => file.endsWith('.yaml'))
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((document) => {
        expect({ file, errors: document.errors.map(String) }).toEqual({ file, errors: [] });
        return { file, doc: document.toJS() as Manifest };
      }),
    );
}

const manifests = loadManifests();

function only<T extends Manifest = Manifest>(kind: string): T {
  const found = manifests.filter(({ doc }) => doc.kind === kind);
  expect(found).toHaveLength(1);
  return found[0].doc as T;
}

const deployment = only<Deployment>('Deployment');
const pod = deployment.spec.template.spec;
const container = pod.containers[0];
const configMap = only<Manifest & { data: Record<string, string> }>('ConfigMap');
const secret = only<Manifest & { stringData: Record<string, string> }>('Secret');
const service = only<Manifest & { spec: { selector: Labels; ports: { targetPort: string }[] } }>(
  'Service',
);
const hpa = only<
  Manifest & { spec: { minReplicas: number; scaleTargetRef: Record<string, string> } }
>('HorizontalPodAutoscaler');
const pdb = only<Manifest & { spec: { selector: { matchLabels: Labels } } }>('PodDisruptionBudget');

/** The route path of a HealthController handler, as Nest maps it: `/health/live`. */
function healthRoute(handler: 'live' | 'ready'): string {
  const base = Reflect.getMetadata(PATH_METADATA, HealthController) as string;
  const path = Reflect.getMetadata(PATH_METADATA, HealthController.prototype[handler]) as string;
  return `/${base}/${path}`;
}

/** The environment the container gets: envFrom Secrets, then `env` entries. */
function containerEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    expect(source.secretRef?.name).toBe(secret.metadata.name);
    Object.assign(env, secret.stringData);
  }
  for (const entry of container.env ?? []) {
    if (entry.value !== undefined) env[entry.name] = String(entry.value);
    else if (entry.valueFrom?.secretKeyRef?.name === secret.metadata.name) {
      env[entry.name] = secret.stringData[entry.valueFrom.secretKeyRef.key];
    }
  }
  return env;
}

/** The config file the container loads, resolved as the gateway resolves it. */
function containerConfig() {
  const args: string[] = container.args ?? [];
  const path = args[args.indexOf('--config') + 1];
  const mount = container.volumeMounts.find((m) => path.startsWith(`${m.mountPath}/`));
  const volume = pod.volumes.find((v) => v.name === mount?.name);
  expect(volume?.configMap?.name).toBe(configMap.metadata.name);
  const fileName = path.slice((mount?.mountPath.length ?? 0) + 1);
  const item = volume?.configMap?.items.find((i) => i.path === fileName);
  const text = configMap.data[item?.key ?? 'missing'];
  expect(text).toEqual(expect.any(String));
  return parseConfigText(text, containerEnv(), `${fileName} (ConfigMap)`);
}

function portNumber(port: number | string): number {
  if (typeof port === 'number') return port;
  const named = container.ports.find((p) => p.name === port);
  expect(named).toBeDefined();
  return named?.containerPort ?? -1;
}

describe('deploy/k8s', () => {
  it('holds one Kubernetes object per document, each with a kind and a name', () => {
    expect(manifests.length).toBeGreaterThanOrEqual(7);
    for (const { file, doc } of manifests) {
      if (doc.kind === 'Kustomization') continue;
      expect({ file, apiVersion: typeof doc.apiVersion, name: typeof doc.metadata?.name }).toEqual({
        file,
        apiVersion: 'string',
        name: 'string',
      });
    }
    const kinds = manifests.map(({ doc }) => doc.kind).sort();
    expect(kinds).toEqual(
      expect.arrayContaining([
        'ConfigMap',
        'Deployment',
        'HorizontalPodAutoscaler',
        'PodDisruptionBudget',
        'Secret',
        'Service',
      ]),
    );
  });

  it('lists every manifest in kustomization.yaml', () => {
    const kustomization = only<Manifest & { resources: string[] }>('Kustomization');
    const files = manifests.filter(({ doc }) => doc.kind !== 'Kustomization').map((m) => m.file);
    expect([...kustomization.resources].sort()).toEqual([...new Set(files)].sort());
  });

  it("loads a ConfigMap config that validates with the Secret's variables", () => {
    const config = containerConfig();
    expect(() => assertEnforceable(config, 'ConfigMap')).not.toThrow();
  });

  it("probes the app's own health routes on the port the config listens on", () => {
    const config = containerConfig();
    const { port } = parseAddress(config.server.address);
    expect(healthRoute('ready')).toBe(`${HEALTH_PATH}/ready`);
    expect(container.readinessProbe.httpGet.path).toBe(healthRoute('ready'));
    expect(container.livenessProbe.httpGet.path).toBe(healthRoute('live'));
    for (const probe of [
      container.readinessProbe,
      container.livenessProbe,
      container.startupProbe,
    ]) {
      expect(portNumber(probe.httpGet.port)).toBe(port);
    }
  });

  it('exposes and annotates the metrics port and path of the config', () => {
    const config = containerConfig();
    expect(config.metrics.enabled).toBe(true);
    const annotations = deployment.spec.template.metadata.annotations;
    expect(Number(annotations['prometheus.io/port'])).toBe(config.metrics.port);
    expect(annotations['prometheus.io/path']).toBe(config.metrics.path);
    expect(portNumber('metrics')).toBe(config.metrics.port);
  });

  it('gives in-flight uploads their whole grace period before the kubelet kills the pod', () => {
    const config = containerConfig();
    const preStop = container.lifecycle?.preStop?.exec?.command ?? [];
    const pause = preStop[0] === 'sleep' ? Number(preStop[1]) : 0;
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(
      config.server.shutdown_grace_seconds + pause,
    );
  });

  it('runs as a non-root user on a read-only root filesystem, with resources set', () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    const volumes = new Set(pod.volumes.map((v) => v.name));
    for (const mount of container.volumeMounts) expect(volumes).toContain(mount.name);
    expect(container.volumeMounts.map((m) => m.mountPath)).toContain('/tmp');
    expect(container.resources.requests).toMatchObject({
      cpu: expect.any(String),
      memory: expect.any(String),
    });
    expect(container.resources.limits?.memory).toEqual(expect.any(String));
  });

  it('is safe to run as many replicas: shared upload-id secret, shared replay store', () => {
    const config = containerConfig();
    expect(hpa.spec.minReplicas).toBeGreaterThan(1);
    expect(config.server.upload_id_secret).toBeDefined();
    for (const route of config.buckets) {
      const sigv4 = route.auth.enabled ? route.auth.sigv4 : undefined;
      if (sigv4?.replay_protection) expect(sigv4.replay_store.type).toBe('redis');
    }
  });

  it('points the Service, the autoscaler and the disruption budget at the Deployment', () => {
    const labels = deployment.spec.template.metadata.labels;
    expect(deployment.spec.selector.matchLabels).toEqual(labels);
    expect(service.spec.selector).toEqual(labels);
    for (const port of service.spec.ports) expect(portNumber(port.targetPort)).toBeGreaterThan(0);
    expect(pdb.spec.selector.matchLabels).toEqual(labels);
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment.metadata.name,
    });
  });
});
