/**
 * A real Prometheus server (Debian's `prometheus` package, started by
 * scripts/services/prometheus.mjs) scrapes a real Obol deployed as in production: three `obol
 * serve` processes, one per role (api on its HTTP port; grpc and worker on their ops ports), on
 * one SQLite file. Its configuration is deploy/prometheus/prometheus.yml itself, with each job's
 * DNS discovery replaced by the local process, and the real alert rules loaded.
 *
 * A learner pays (one checkout approved, one declined) through GraphQL; PromQL through
 * Prometheus' HTTP API must then return the series Obol exported: the checkout funnel, gateway
 * calls, the worker's relay, process metrics, `up` for every role. Every metric the alerts and the
 * dashboard read is one Obol declares; every dashboard query evaluates; every alert rule evaluates
 * without error on the scraped data. Needs the build (`npm test` builds first).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { freePort, startPrometheus, type PrometheusServer } from '../../scripts/services/prometheus.mjs';
import { OBOL_BIN, stopChildren, waitForLine } from '../support/processes.js';
import { alertRules, DEPLOY, describeWithPrometheus, metricNamesIn, promtool, readYamlDocuments, ROOT } from './support.js';

vi.setConfig({ testTimeout: 90_000, hookTimeout: 120_000 });

interface PromVector {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

interface Panel {
  readonly type: string;
  readonly title: string;
  readonly targets?: readonly { readonly expr: string }[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeWithPrometheus('a real Prometheus scrapes a running Obol', (tools) => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const children: ChildProcessWithoutNullStreams[] = [];
  /** Where each role serves /metrics: host:port. */
  const targets: Record<'api' | 'grpc' | 'worker', string> = { api: '', grpc: '', worker: '' };
  let graphqlUrl: string;
  let prometheus: PrometheusServer | undefined;
  let configFile: string;

  const start = (roles: string) => {
    const child = spawn(process.execPath, [OBOL_BIN, 'serve', '--roles', roles], { env });
    children.push(child);
    return child;
  };

  async function query(expr: string): Promise<PromVector[]> {
    const res = await fetch(`${prometheus!.url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
    const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: PromVector[] } };
    if (body.status !== 'success') throw new Error(`PromQL ${expr}: ${body.error ?? res.status}`);
    return body.data!.result;
  }

  /** Polls until `expr` returns a sample accepted by `accept` (Prometheus scrapes every second). */
  async function eventually(expr: string, accept: (values: number[]) => boolean, timeoutMs = 45_000): Promise<PromVector[]> {
    const deadline = Date.now() + timeoutMs;
    let last: PromVector[] = [];
    while (Date.now() < deadline) {
      last = await query(expr);
      if (accept(last.map((v) => Number(v.value[1])))) return last;
      await sleep(500);
    }
    throw new Error(`PromQL ${expr} never satisfied the test within ${timeoutMs / 1000}s; last answer: ${JSON.stringify(last)}\nPrometheus log:\n${prometheus?.log() ?? ''}`);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'obol-prometheus-scrape-'));
    env = {
      ...process.env,
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      DATABASE_URL: `sqlite:${join(dir, 'obol.db')}`,
      SEED_DEMO_CATALOG: 'true',
      HOST: '127.0.0.1',
      PORT: '0',
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      OPS_PORT: '0',
      AUTH_DEV_KEY_FILE: join(dir, 'signing-key.json'),
      DEV_ENCRYPTION_KEY_FILE: join(dir, 'encryption-keys.json'),
      WORKER_POLL_INTERVAL_MS: '100',
    };
    // The api process migrates, seeds and writes the development keys; the others start after it.
    const api = start('api');
    const listening = await waitForLine(api, (l) => l.msg === 'obol is listening', 60_000);
    targets.api = `127.0.0.1:${String(listening.port)}`;
    graphqlUrl = `http://${targets.api}/graphql`;
    const grpc = start('grpc');
    const worker = start('worker');
    const [grpcOps, workerOps] = await Promise.all([
      waitForLine(grpc, (l) => l.msg === 'obol ops endpoints are listening', 60_000),
      waitForLine(worker, (l) => l.msg === 'obol ops endpoints are listening', 60_000),
    ]);
    targets.grpc = `127.0.0.1:${String(grpcOps.port)}`;
    targets.worker = `127.0.0.1:${String(workerOps.port)}`;

    // deploy/prometheus/prometheus.yml, with each role's DNS discovery pointed at the local process.
    const [deployed] = readYamlDocuments(join(DEPLOY, 'prometheus', 'prometheus.yml')) as [
      { global: Record<string, unknown>; rule_files: string[]; alerting?: unknown; scrape_configs: { job_name: string; dns_sd_configs?: unknown }[] },
    ];
    // No Alertmanager here: the rules' state is read from Prometheus' own API.
    const { alerting: _alertmanagers, ...rest } = deployed;
    const config = {
      ...rest,
      global: { ...deployed.global, scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: deployed.rule_files.map((f) => join(DEPLOY, 'prometheus', f)),
      scrape_configs: deployed.scrape_configs.map(({ dns_sd_configs: _dns, ...job }) => {
        const role = job.job_name.replace(/^obol-/, '') as keyof typeof targets;
        if (!targets[role]) throw new Error(`prometheus.yml has a job ${job.job_name} for no role this test runs`);
        return { ...job, static_configs: [{ targets: [targets[role]] }] };
      }),
    };
    configFile = join(dir, 'prometheus.yml');
    writeFileSync(configFile, stringify(config));
    prometheus = await startPrometheus({ config: configFile, binary: tools.prometheus });
  });

  afterAll(async () => {
    await prometheus?.stop();
    await stopChildren(children);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the configuration it runs (prometheus.yml with local targets) passes `promtool check config`', () => {
    const result = promtool(tools, ['check', 'config', configFile]);
    expect(result.status, result.output).toBe(0);
  });

  it('scrapes every role: up == 1 for obol-api, obol-grpc and obol-worker', async () => {
    const up = await eventually('up{job=~"obol-.*"} == 1', (values) => values.length === 3);
    expect(up.map((v) => v.metric.job).sort()).toEqual(['obol-api', 'obol-grpc', 'obol-worker']);
    expect((await query('up{job="obol-api"} == 1')).map((v) => v.metric.instance)).toEqual([targets.api]);
  });

  it('a checkout through GraphQL shows up in PromQL: funnel, outcomes, gateway calls, the relay', async () => {
    const token = spawnSync(process.execPath, [OBOL_BIN, 'token', '--sub', 'cus_ops_scrape', '--role', 'learner'], { encoding: 'utf8', env });
    expect(token.status, token.stderr).toBe(0);
    const post = async (query: string, variables: Record<string, unknown>) => {
      const res = await fetch(graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token.stdout.trim()}` },
        body: JSON.stringify({ query, variables }),
      });
      return (await res.json()) as { data: Record<string, any> | null; errors?: unknown };
    };
    const checkout = async (paymentMethodToken: string) => {
      const created = await post(`mutation($i: CreateCheckoutSessionInput!) { createCheckoutSession(input: $i) { checkoutSession { id } } }`, {
        i: { customerId: 'cus_ops_scrape', country: 'IN', items: [{ priceId: 'price_plus_monthly_inr', quantity: 1 }], idempotencyKey: randomUUID() },
      });
      expect(created.errors).toBeUndefined();
      const confirmed = await post(`mutation($i: ConfirmCheckoutSessionInput!) { confirmCheckoutSession(input: $i) { payment { status } } }`, {
        i: { sessionId: created.data!.createCheckoutSession.checkoutSession.id, paymentMethodToken, idempotencyKey: randomUUID() },
      });
      expect(confirmed.errors).toBeUndefined();
      return confirmed.data!.confirmCheckoutSession.payment.status as string;
    };
    expect(await checkout('tok_visa')).toBe('succeeded');
    // Declined: the payment waits for another payment method; the checkout outcome is `failed`.
    expect(await checkout('tok_chargeDeclined')).toBe('requires_payment_method');

    const atLeast = (n: number) => (values: number[]) => values.length > 0 && values.reduce((a, b) => a + b, 0) >= n;
    const succeeded = await eventually('obol_checkout_outcomes_total{outcome="succeeded"}', atLeast(1));
    expect(succeeded[0]!.metric).toMatchObject({ job: 'obol-api', instance: targets.api, outcome: 'succeeded', reason: 'none' });
    const failed = await eventually('obol_checkout_outcomes_total{outcome="failed"}', atLeast(1));
    expect(failed[0]!.metric.reason).not.toBe('none');
    await eventually('sum(obol_checkout_sessions_created_total{currency="INR"})', atLeast(2));
    await eventually('sum(obol_checkout_confirmations_total{currency="INR"})', atLeast(2));
    await eventually('sum(obol_graphql_requests_total{field="confirmCheckoutSession",type="mutation"})', atLeast(2));
    await eventually('sum(obol_graphql_request_duration_seconds_count{field="createCheckoutSession"})', atLeast(2));
    await eventually('sum(obol_gateway_calls_total{outcome="approved"})', atLeast(1));
    await eventually('sum(obol_gateway_calls_total{outcome="declined"})', atLeast(1));
    await eventually('sum(obol_gateway_call_duration_seconds_count)', atLeast(2));
    // The worker, a separate process scraped on its ops port, relayed the checkout's events.
    const relayed = await eventually('sum by (job) (obol_relay_published_total)', atLeast(1));
    expect(relayed[0]!.metric.job).toBe('obol-worker');
    await eventually('max(obol_outbox_backlog{job="obol-worker"})', (values) => values.length === 1 && values[0] === 0);
    // prom-client's process metrics, prefixed, from every role.
    const cpu = await eventually('obol_process_cpu_seconds_total', (values) => values.length === 3);
    expect(cpu.map((v) => v.metric.job).sort()).toEqual(['obol-api', 'obol-grpc', 'obol-worker']);
    await eventually('obol_nodejs_eventloop_lag_p99_seconds{job="obol-api"}', (values) => values.length === 1);
  });

  it('every metric the alerts and the dashboard read is one Obol declares on /metrics', async () => {
    const declared = new Set<string>();
    for (const target of Object.values(targets)) {
      const text = await (await fetch(`http://${target}/metrics`)).text();
      for (const match of text.matchAll(/^# TYPE (\S+) \S+$/gm)) declared.add(match[1]!);
    }
    expect(declared.size).toBeGreaterThan(30);
    const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'obol-dashboard.json'), 'utf8')) as { panels: Panel[] };
    const used = new Map<string, string>();
    for (const rule of alertRules()) for (const name of metricNamesIn(rule.expr)) used.set(name, `alert ${rule.alert}`);
    for (const panel of dashboard.panels) for (const t of panel.targets ?? []) for (const name of metricNamesIn(t.expr)) used.set(name, `panel "${panel.title}"`);
    expect(used.size).toBeGreaterThan(20);
    const undeclared = [...used].filter(([name]) => !declared.has(name)).map(([name, where]) => `${name} (${where})`);
    expect(undeclared, 'metrics read by deploy/ files that Obol does not export').toEqual([]);
  });

  it('every dashboard query evaluates in Prometheus', async () => {
    const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'obol-dashboard.json'), 'utf8')) as { panels: Panel[] };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThan(30);
    const failures: string[] = [];
    for (const { title, expr } of exprs) {
      // Grafana's variables as "All" would set them.
      const promql = expr.replaceAll('$job', 'obol-.*').replaceAll('$instance', '.*').replaceAll('$__rate_interval', '1m');
      await query(promql).catch((err: Error) => failures.push(`${title}: ${err.message}`));
    }
    expect(failures).toEqual([]);
    // And they see this deployment's data: the funnel panel has the checkout.
    await eventually('sum(rate(obol_checkout_sessions_created_total{job=~"obol-.*", instance=~".*"}[1m]))', (values) => values.length === 1);
  });

  it('loads every alert rule, and each one evaluates without error on the scraped data', async () => {
    const names = alertRules().map((r) => r.alert).sort();
    type Rule = { name: string; health: string; lastError?: string; lastEvaluation: string; state: string; alerts: { labels: Record<string, string> }[] };
    let rules: Rule[] = [];
    const deadline = Date.now() + 30_000;
    // Evaluated at least twice since the checkout, so the rates have data.
    const since = Date.now();
    while (Date.now() < deadline) {
      const body = (await (await fetch(`${prometheus!.url}/api/v1/rules?type=alert`)).json()) as { data: { groups: { rules: Rule[] }[] } };
      rules = body.data.groups.flatMap((g) => g.rules);
      if (rules.length === names.length && rules.every((r) => Date.parse(r.lastEvaluation) > since + 1000)) break;
      await sleep(500);
    }
    expect(rules.map((r) => r.name).sort()).toEqual(names);
    expect(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`)).toEqual([]);
    // Every role is up and present: neither availability alert is even pending.
    for (const name of ['ObolTargetDown', 'ObolRoleAbsent']) expect(rules.find((r) => r.name === name)!.state, name).toBe('inactive');
  });
});

describeWithPrometheus('scripts/services/prometheus.mjs on the command line', () => {
  it('reports the tools, starts a server with a config, and stops it', async () => {
    const script = join(ROOT, 'scripts', 'services', 'prometheus.mjs');
    const dir = mkdtempSync(join(tmpdir(), 'obol-prometheus-cli-'));
    const port = await freePort();
    const run = (args: string[]) => spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, OBOL_SERVICES_RUN: dir } });
    try {
      const status = run(['status', '--port', String(port)]);
      expect(status.status, status.stderr).toBe(0);
      expect(status.stdout).toMatch(/promtool: \//);
      expect(status.stdout).toContain('not running');
      writeFileSync(join(dir, 'prometheus.yml'), 'global:\n  scrape_interval: 5s\nscrape_configs: []\n');
      const started = run(['start', '--config', join(dir, 'prometheus.yml'), '--port', String(port)]);
      expect(started.status, `${started.stdout}${started.stderr}`).toBe(0);
      expect((await fetch(`http://127.0.0.1:${port}/-/ready`)).status).toBe(200);
      expect(run(['status', '--port', String(port)]).stdout).toContain('running at');
      const stopped = run(['stop', '--port', String(port)]);
      expect(stopped.status, stopped.stderr).toBe(0);
      expect(stopped.stdout).toContain('stopped');
      await expect(fetch(`http://127.0.0.1:${port}/-/ready`)).rejects.toThrow();
    } finally {
      run(['stop', '--port', String(port)]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
