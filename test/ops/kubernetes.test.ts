/**
 * The Kubernetes manifests under deploy/kubernetes, parsed with a YAML parser and checked for the
 * facts a cluster would only reveal at the worst moment: one Deployment per role Obol can run,
 * probes on the right port, resources, non-root, PodDisruptionBudgets and autoscalers that select
 * their Deployment, Services whose ports exist, and configuration that Obol itself accepts (every
 * variable is a real one, and the ConfigMap with the example Secret passes Obol's own loadConfig).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { AVAILABLE_ROLES, CONFIG_REFERENCE, loadConfig } from '../../src/platform/config.js';
import { DEPLOY, readYamlDocuments } from './support.js';

const K8S = join(DEPLOY, 'kubernetes');

// Just enough of the Kubernetes API's shape for these checks.
interface Meta {
  readonly name: string;
  readonly labels?: Record<string, string>;
}
interface Probe {
  readonly httpGet?: { readonly path: string; readonly port: string | number };
  readonly grpc?: { readonly port: number; readonly service?: string };
  readonly tcpSocket?: { readonly port: string | number };
}
interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: { readonly secretKeyRef?: { readonly name: string; readonly key: string; readonly optional?: boolean }; readonly configMapKeyRef?: { readonly name: string; readonly key: string } };
}
interface Container {
  readonly name: string;
  readonly image: string;
  readonly args?: readonly string[];
  readonly command?: readonly string[];
  readonly ports?: readonly { readonly name?: string; readonly containerPort: number }[];
  readonly env?: readonly EnvVar[];
  readonly envFrom?: readonly { readonly configMapRef?: { readonly name: string }; readonly secretRef?: { readonly name: string } }[];
  readonly livenessProbe?: Probe;
  readonly readinessProbe?: Probe;
  readonly startupProbe?: Probe;
  readonly resources?: { readonly requests?: Record<string, string>; readonly limits?: Record<string, string> };
  readonly securityContext?: { readonly runAsNonRoot?: boolean; readonly runAsUser?: number; readonly allowPrivilegeEscalation?: boolean; readonly readOnlyRootFilesystem?: boolean; readonly capabilities?: { readonly drop?: readonly string[] } };
}
interface PodSpec {
  readonly containers: readonly Container[];
  readonly securityContext?: { readonly runAsNonRoot?: boolean; readonly runAsUser?: number };
  readonly terminationGracePeriodSeconds?: number;
  readonly restartPolicy?: string;
  readonly serviceAccountName?: string;
}
interface Workload {
  readonly kind: 'Deployment' | 'Job';
  readonly metadata: Meta;
  readonly spec: { readonly replicas?: number; readonly selector?: { readonly matchLabels: Record<string, string> }; readonly template: { readonly metadata: { readonly labels: Record<string, string> }; readonly spec: PodSpec } };
}
interface Resource {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: Meta;
  readonly spec?: any;
  readonly data?: Record<string, string>;
  readonly stringData?: Record<string, string>;
  readonly file: string;
}

function load(): Resource[] {
  const out: Resource[] = [];
  for (const file of readdirSync(K8S).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))) {
    for (const doc of readYamlDocuments(join(K8S, file))) out.push({ ...(doc as Omit<Resource, 'file'>), file });
  }
  return out;
}

const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined) => Object.entries(selector).every(([k, v]) => labels?.[k] === v);

describe('deploy/kubernetes', () => {
  let all: Resource[];
  let deployments: Workload[];
  let config: Record<string, string>;
  let secretExample: Record<string, string>;
  const roleOf = (d: Workload) => {
    const args = d.spec.template.spec.containers[0]!.args ?? [];
    return args[args.indexOf('--roles') + 1];
  };

  beforeAll(() => {
    all = load();
    deployments = all.filter((r) => r.kind === 'Deployment') as unknown as Workload[];
    const cm = all.find((r) => r.kind === 'ConfigMap' && r.metadata.name === 'obol-config');
    config = cm?.data ?? {};
    const secret = all.find((r) => r.kind === 'Secret' && r.metadata.name === 'obol-secrets');
    secretExample = secret?.stringData ?? {};
  });

  it('parses: every file is YAML of Kubernetes objects (or the kustomization)', () => {
    expect(all.length).toBeGreaterThan(10);
    for (const r of all) {
      expect(typeof r.apiVersion, r.file).toBe('string');
      expect(typeof r.kind, r.file).toBe('string');
      if (r.kind !== 'Kustomization') expect(r.metadata?.name, r.file).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
    expect(Object.keys(config).length).toBeGreaterThan(5);
    expect(Object.keys(secretExample)).toContain('DATABASE_URL');
  });

  it('has one Deployment per role this build can run, each started as `obol serve --roles <role>`', () => {
    expect(deployments.map(roleOf).sort()).toEqual([...AVAILABLE_ROLES].sort());
    for (const d of deployments) {
      const role = roleOf(d)!;
      expect(d.metadata.name).toBe(`obol-${role}`);
      const [container, ...others] = d.spec.template.spec.containers;
      expect(others).toEqual([]);
      expect(container!.args).toEqual(['serve', '--roles', role]);
      expect(container!.command, 'the image entrypoint (node bin/obol.js) is kept').toBeUndefined();
      expect(matches(d.spec.selector!.matchLabels, d.spec.template.metadata.labels), `${d.metadata.name}: selector does not select its own pods`).toBe(true);
      expect(d.spec.template.metadata.labels['app.kubernetes.io/component']).toBe(role);
    }
    // One image for every role and for the migration Job.
    const images = new Set(all.filter((r) => r.kind === 'Deployment' || r.kind === 'Job').map((r) => (r as unknown as Workload).spec.template.spec.containers[0]!.image));
    expect(images.size).toBe(1);
  });

  it('probes every role on the right port: /healthz and /readyz (or gRPC health, on the grpc role)', () => {
    const port = (c: Container, ref: string | number) => (typeof ref === 'number' ? ref : c.ports?.find((p) => p.name === ref)?.containerPort);
    for (const d of deployments) {
      const role = roleOf(d)!;
      const c = d.spec.template.spec.containers[0]!;
      const live = c.livenessProbe;
      const ready = c.readinessProbe;
      expect(live, `${role}: livenessProbe`).toBeDefined();
      expect(ready, `${role}: readinessProbe`).toBeDefined();
      // Obol's ops endpoints: on PORT with the api role, else on OPS_PORT.
      const opsPort = role === 'api' ? Number(config.PORT) : Number(config.OPS_PORT ?? 9464);
      expect(live!.httpGet?.path).toBe('/healthz');
      expect(port(c, live!.httpGet!.port), `${role}: liveness port`).toBe(opsPort);
      if (c.startupProbe) expect(port(c, c.startupProbe.httpGet!.port)).toBe(opsPort);
      if (role === 'grpc' && ready!.grpc) {
        expect(ready!.grpc.port).toBe(Number(config.GRPC_PORT));
        expect(c.ports?.some((p) => p.containerPort === Number(config.GRPC_PORT))).toBe(true);
      } else {
        expect(ready!.httpGet?.path, `${role}: readiness`).toBe('/readyz');
        expect(port(c, ready!.httpGet!.port), `${role}: readiness port`).toBe(opsPort);
      }
      // Every named port a probe uses exists on the container.
      for (const probe of [live, ready, c.startupProbe]) {
        const ref = probe?.httpGet?.port;
        if (typeof ref === 'string') expect(c.ports?.map((p) => p.name), `${role}: probe port ${ref}`).toContain(ref);
      }
    }
  });

  it('gives every container resource requests and limits, and runs it as non-root without privileges', () => {
    const workloads = all.filter((r) => r.kind === 'Deployment' || r.kind === 'Job') as unknown as Workload[];
    for (const w of workloads) {
      const pod = w.spec.template.spec;
      for (const c of pod.containers) {
        const where = `${w.metadata.name}/${c.name}`;
        for (const kind of ['requests', 'limits'] as const) {
          expect(c.resources?.[kind]?.cpu, `${where}: ${kind}.cpu`).toBeTruthy();
          expect(c.resources?.[kind]?.memory, `${where}: ${kind}.memory`).toBeTruthy();
        }
        expect(c.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot, `${where}: runAsNonRoot`).toBe(true);
        const uid = c.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
        expect(uid, `${where}: runAsUser`).toBeGreaterThan(0);
        expect(c.securityContext?.allowPrivilegeEscalation, `${where}: allowPrivilegeEscalation`).toBe(false);
        expect(c.securityContext?.readOnlyRootFilesystem, `${where}: readOnlyRootFilesystem`).toBe(true);
        expect(c.securityContext?.capabilities?.drop).toContain('ALL');
      }
      expect(pod.serviceAccountName).toBe('obol');
    }
  });

  it('lets a pod drain: the grace period outlasts SHUTDOWN_TIMEOUT_MS', () => {
    const shutdownMs = Number(config.SHUTDOWN_TIMEOUT_MS);
    expect(shutdownMs).toBeGreaterThan(0);
    for (const d of deployments) expect((d.spec.template.spec.terminationGracePeriodSeconds ?? 30) * 1000, d.metadata.name).toBeGreaterThan(shutdownMs);
  });

  it('has a PodDisruptionBudget per role that selects exactly its Deployment\'s pods', () => {
    const pdbs = all.filter((r) => r.kind === 'PodDisruptionBudget');
    expect(pdbs).toHaveLength(deployments.length);
    for (const d of deployments) {
      const own = pdbs.filter((p) => matches(p.spec.selector.matchLabels, d.spec.template.metadata.labels));
      expect(own.map((p) => p.metadata.name), d.metadata.name).toEqual([d.metadata.name]);
      expect(own[0]!.apiVersion).toBe('policy/v1');
      // Exactly one of the two (the API refuses both).
      expect([own[0]!.spec.minAvailable, own[0]!.spec.maxUnavailable].filter((v) => v !== undefined)).toHaveLength(1);
      // It must not also select another role's pods.
      for (const other of deployments.filter((o) => o !== d)) expect(matches(own[0]!.spec.selector.matchLabels, other.spec.template.metadata.labels)).toBe(false);
    }
  });

  it('autoscales every Deployment from at least two replicas (so the budget can allow an eviction)', () => {
    const hpas = all.filter((r) => r.kind === 'HorizontalPodAutoscaler');
    for (const d of deployments) {
      const hpa = hpas.find((h) => h.spec.scaleTargetRef.kind === 'Deployment' && h.spec.scaleTargetRef.name === d.metadata.name);
      expect(hpa, `${d.metadata.name}: HorizontalPodAutoscaler`).toBeDefined();
      expect(hpa!.apiVersion).toBe('autoscaling/v2');
      expect(hpa!.spec.minReplicas).toBeGreaterThanOrEqual(2);
      expect(hpa!.spec.maxReplicas).toBeGreaterThanOrEqual(hpa!.spec.minReplicas);
      expect(hpa!.spec.metrics.length).toBeGreaterThan(0);
      // A replica count in the Deployment would reset the autoscaler's choice on every apply.
      expect(d.spec.replicas, `${d.metadata.name}: replicas`).toBeUndefined();
      // Kafka consumers beyond the partition count would sit idle.
      if (roleOf(d) === 'worker') expect(hpa!.spec.maxReplicas).toBeLessThanOrEqual(Number(config.KAFKA_TOPIC_PARTITIONS));
    }
  });

  it('has Services whose selectors match a role and whose target ports exist, and a metrics Service per role', () => {
    const services = all.filter((r) => r.kind === 'Service');
    for (const s of services) {
      const targets = deployments.filter((d) => matches(s.spec.selector, d.spec.template.metadata.labels));
      expect(targets, `${s.metadata.name} selects exactly one role`).toHaveLength(1);
      const c = targets[0]!.spec.template.spec.containers[0]!;
      for (const p of s.spec.ports as { name: string; targetPort: string | number }[]) {
        const ok = typeof p.targetPort === 'number' ? c.ports?.some((cp) => cp.containerPort === p.targetPort) : c.ports?.some((cp) => cp.name === p.targetPort);
        expect(ok, `${s.metadata.name}: targetPort ${p.targetPort}`).toBe(true);
      }
    }
    const prometheus = readFileSync(join(DEPLOY, 'prometheus', 'prometheus.yml'), 'utf8');
    const namespace = (all.find((r) => r.kind === 'Kustomization') as unknown as { namespace: string }).namespace;
    for (const d of deployments) {
      const role = roleOf(d)!;
      const metrics = services.find((s) => s.metadata.name === `obol-${role}-metrics`);
      expect(metrics, `obol-${role}-metrics`).toBeDefined();
      expect(metrics!.spec.clusterIP).toBe('None');
      expect(metrics!.spec.ports.map((p: { name: string }) => p.name)).toEqual(['metrics']);
      const target = metrics!.spec.ports[0].targetPort as string;
      const port = d.spec.template.spec.containers[0]!.ports!.find((p) => p.name === target)!.containerPort;
      expect(port).toBe(role === 'api' ? Number(config.PORT) : Number(config.OPS_PORT ?? 9464));
      // prometheus.yml finds the pods through exactly this Service's DNS SRV record.
      expect(prometheus).toContain(`_metrics._tcp.obol-${role}-metrics.${namespace}.svc.cluster.local`);
    }
  });

  it('names only real Obol variables, from the ConfigMap or the Secret, and never a secret in the ConfigMap', () => {
    const known = new Set(CONFIG_REFERENCE.map((v) => v.name));
    const secretNames = new Set(CONFIG_REFERENCE.filter((v) => v.description.startsWith('Secret.')).map((v) => v.name));
    for (const name of Object.keys(config)) {
      expect(known.has(name), `ConfigMap obol-config: ${name} is not an Obol variable (obol --help)`).toBe(true);
      expect(secretNames.has(name), `ConfigMap obol-config: ${name} is a secret`).toBe(false);
      expect(name).not.toBe('DATABASE_URL');
    }
    for (const name of Object.keys(secretExample)) expect(known.has(name), `secret.example.yaml: ${name}`).toBe(true);
    const workloads = all.filter((r) => r.kind === 'Deployment' || r.kind === 'Job') as unknown as Workload[];
    for (const w of workloads) {
      const c = w.spec.template.spec.containers[0]!;
      for (const e of c.env ?? []) {
        expect(known.has(e.name), `${w.metadata.name}: ${e.name} is not an Obol variable`).toBe(true);
        // Values come from somewhere that is managed: secrets from the Secret, never inline.
        expect(e.value, `${w.metadata.name}: ${e.name} is set inline`).toBeUndefined();
        const ref = e.valueFrom?.secretKeyRef;
        expect(ref, `${w.metadata.name}: ${e.name}`).toBeDefined();
        expect(ref!.name).toBe('obol-secrets');
        expect(ref!.key).toBe(e.name);
        expect(Object.keys(secretExample), `secret.example.yaml lacks ${ref!.key}`).toContain(ref!.key);
        // Only the two the platform cannot start without are required.
        expect(ref!.optional ?? false).toBe(!['DATABASE_URL', 'ENCRYPTION_KEYS'].includes(e.name));
      }
      for (const from of c.envFrom ?? []) expect(from.configMapRef?.name).toBe('obol-config');
      expect(c.env?.map((e) => e.name)).toContain('DATABASE_URL');
    }
    // Every secret Obol knows is given to the api role (webhook secrets included).
    const api = deployments.find((d) => roleOf(d) === 'api')!;
    const given = new Set(api.spec.template.spec.containers[0]!.env!.map((e) => e.name));
    for (const name of secretNames) expect(given.has(name), `api is not given ${name}`).toBe(true);
  });

  it('is a configuration Obol accepts, for every role (its own loadConfig, as at start)', () => {
    for (const d of deployments) {
      const role = roleOf(d)!;
      const env: Record<string, string> = { ...config };
      for (const e of d.spec.template.spec.containers[0]!.env ?? []) {
        const value = secretExample[e.valueFrom!.secretKeyRef!.key];
        if (value !== undefined) env[e.name] = value;
      }
      const loaded = loadConfig({ ...env, OBOL_ROLES: role });
      expect(loaded.roles).toEqual([role]);
      expect(loaded.nodeEnv).toBe('production');
      expect(loaded.port).toBe(Number(config.PORT));
      expect(loaded.grpcPort).toBe(Number(config.GRPC_PORT));
      expect(loaded.graphiql).toBe(false);
      expect(loaded.testClocks).toBe(false);
      expect(loaded.seedDemoCatalog).toBe(false);
      expect(loaded.authMode).toBe('jwks');
      expect(loaded.database.kind).toBe('mysql');
    }
  });

  it('runs migrations as a Job: `obol migrate`, never restarted in a loop, same configuration', () => {
    const jobs = all.filter((r) => r.kind === 'Job') as unknown as (Workload & { spec: { backoffLimit?: number } })[];
    expect(jobs.map((j) => j.metadata.name)).toEqual(['obol-migrate']);
    const job = jobs[0]!;
    const pod = job.spec.template.spec;
    expect(pod.containers[0]!.args).toEqual(['migrate']);
    expect(pod.restartPolicy).toBe('Never');
    expect(job.spec.backoffLimit).toBeLessThanOrEqual(3);
    expect(pod.containers[0]!.envFrom?.[0]?.configMapRef?.name).toBe('obol-config');
    expect(pod.containers[0]!.env?.map((e) => e.name)).toContain('DATABASE_URL');
  });

  it('has a kustomization that lists every manifest except the example Secret and the per-release Job', () => {
    const kustomization = all.find((r) => r.kind === 'Kustomization') as unknown as { resources: string[]; namespace: string; file: string };
    expect(kustomization.file).toBe('kustomization.yaml');
    expect(kustomization.namespace).toBe('obol');
    for (const file of kustomization.resources) expect(existsSync(join(K8S, file)), file).toBe(true);
    const manifests = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...kustomization.resources, 'secret.example.yaml', 'migrate-job.yaml'].sort()).toEqual(manifests.sort());
    const namespace = all.find((r) => r.kind === 'Namespace');
    expect(namespace?.metadata.name).toBe(kustomization.namespace);
  });
});
