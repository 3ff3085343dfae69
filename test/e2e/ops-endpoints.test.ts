/**
 * Every role is probed and scraped the same way: a process without the api role
 * (`obol serve --roles worker`, `--roles grpc`) serves /healthz, /readyz and /metrics on its ops
 * listener (OPS_PORT), says ready once its roles have started, and still stops cleanly on
 * SIGTERM. With Kafka, readiness includes the worker's Kafka clients and /metrics its consumer
 * lag. Needs the build (`npm test` builds first).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseExposition } from '../support/exposition.js';
import { OBOL_BIN, stopChildren, waitForLine } from '../support/processes.js';
import { describeWithKafka, uniqueServiceName } from '../support/services.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 90_000 });

interface Started {
  readonly child: ChildProcessWithoutNullStreams;
  readonly base: string;
}

/** Starts `obol serve --roles <roles>` and waits until it has said where its ops listener is and that it is ready. */
async function serve(roles: string, env: NodeJS.ProcessEnv, children: ChildProcessWithoutNullStreams[]): Promise<Started> {
  const child = spawn(process.execPath, [OBOL_BIN, 'serve', '--roles', roles], { env });
  children.push(child);
  const [ops] = await Promise.all([waitForLine(child, (l) => l.msg === 'obol ops endpoints are listening', 60_000), waitForLine(child, (l) => l.msg === 'obol is ready', 60_000)]);
  return { child, base: `http://127.0.0.1:${String(ops.port)}` };
}

function exited(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

function baseEnv(dir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NODE_ENV: 'development',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    PORT: '0',
    GRPC_PORT: '0',
    GRPC_HOST: '127.0.0.1',
    OPS_PORT: '0',
    WORKER_POLL_INTERVAL_MS: '100',
    DATABASE_URL: `sqlite:${join(dir, 'obol.db')}`,
    AUTH_DEV_KEY_FILE: join(dir, 'signing-key.json'),
    DEV_ENCRYPTION_KEY_FILE: join(dir, 'encryption-keys.json'),
  };
}

describe('ops endpoints of processes without the api role', () => {
  let dir: string;
  const children: ChildProcessWithoutNullStreams[] = [];
  let worker: Started;
  let grpcOnly: Started;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'obol-ops-'));
    const env = baseEnv(dir);
    // The worker migrates the fresh file first; the grpc process then finds it current.
    worker = await serve('worker', env, children);
    grpcOnly = await serve('grpc', env, children);
  });

  afterAll(async () => {
    await stopChildren(children);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the worker answers /healthz and /readyz (database reachable, migrations current)', async () => {
    const health = await fetch(`${worker.base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${worker.base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', database: 'ok', migrations: 'current' });
  });

  it('the worker serves its metrics: the scrape-time gauges and the process metrics', async () => {
    const res = await fetch(`${worker.base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = parseExposition(await res.text());
    expect(m.find('obol_outbox_backlog').map((s) => s.value)).toEqual([0]);
    expect(m.find('obol_outbox_oldest_age_seconds').map((s) => s.value)).toEqual([0]);
    expect(m.find('obol_payments_unknown_outcome').map((s) => s.value)).toEqual([0]);
    expect(m.find('obol_jobs_due', { kind: 'subscription.period_end' }).map((s) => s.value)).toEqual([0]);
    expect(m.find('obol_gateway_circuit_open', { connector: 'sandbox' }).map((s) => s.value)).toEqual([0]);
    for (const family of ['obol_relay_published_total', 'obol_jobs_runs_total', 'obol_jobs_lateness_seconds', 'obol_consumer_lag', 'obol_invoice_payments_total']) {
      expect(m.types.has(family), family).toBe(true);
    }
    expect(m.types.get('obol_process_cpu_user_seconds_total')).toBe('counter');
    expect(m.sum('obol_process_resident_memory_bytes')).toBeGreaterThan(0);
    // No GraphQL here: the families exist, with no series.
    expect(m.find('obol_graphql_requests_total')).toEqual([]);
  });

  it('the grpc-only process serves the same three endpoints', async () => {
    expect((await fetch(`${grpcOnly.base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${grpcOnly.base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', database: 'ok', migrations: 'current' });
    const metrics = await fetch(`${grpcOnly.base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(parseExposition(await metrics.text()).types.get('obol_grpc_requests_total')).toBe('counter');
  });

  it('the api role has no ops listener of its own: it serves the endpoints on PORT', async () => {
    const child = spawn(process.execPath, [OBOL_BIN, 'serve', '--roles', 'api'], { env: baseEnv(dir) });
    children.push(child);
    const listening = await waitForLine(child, (l) => l.msg === 'obol is listening', 60_000);
    const base = `http://127.0.0.1:${String(listening.port)}`;
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(parseExposition(await metrics.text()).types.get('obol_graphql_requests_total')).toBe('counter');
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    await stopChildren([child]);
    expect(child.exitCode).toBe(0);
  });

  it('stops cleanly on SIGTERM, the ops listener included', async () => {
    const code = exited(worker.child);
    worker.child.kill('SIGTERM');
    expect(await code).toBe(0);
    await expect(fetch(`${worker.base}/healthz`)).rejects.toThrow();
  });
});

describeWithKafka('ops endpoints of a worker on Kafka', (brokers) => {
  let dir: string;
  const children: ChildProcessWithoutNullStreams[] = [];
  let worker: Started;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'obol-ops-kafka-'));
    worker = await serve('worker', { ...baseEnv(dir), EVENT_BUS: 'kafka', KAFKA_BROKERS: brokers.join(','), KAFKA_CLIENT_ID: uniqueServiceName('obol-ops') }, children);
  });

  afterAll(async () => {
    await stopChildren(children);
    rmSync(dir, { recursive: true, force: true });
  });

  it('is ready only with its Kafka clients connected, and says so', async () => {
    const ready = await fetch(`${worker.base}/readyz`);
    expect(await ready.json()).toEqual({ status: 'ready', database: 'ok', migrations: 'current', kafka: 'ok' });
    expect(ready.status).toBe(200);
  });

  it('reports consumer lag per group, topic and partition', async () => {
    const scrape = async () => parseExposition(await (await fetch(`${worker.base}/metrics`)).text());
    // A partition has a lag once the group has assigned it to this member: scrape until it has.
    let m = await scrape();
    for (let i = 0; i < 100 && m.find('obol_consumer_lag').length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      m = await scrape();
    }
    expect(m.types.get('obol_consumer_lag')).toBe('gauge');
    expect(m.find('obol_consumer_lag').length).toBeGreaterThan(0);
    expect(m.sum('obol_metrics_source_errors_total', { source: 'consumerLag' })).toBe(0);
    for (const s of m.find('obol_consumer_lag')) {
      expect(Object.keys(s.labels).sort()).toEqual(['group', 'partition', 'topic']);
      expect(s.labels.group).toBe('entitlements');
      expect(s.labels.topic).toMatch(/^obol\.[a-z]+\.v1$/);
      expect(s.labels.partition).toMatch(/^\d+$/);
      expect(s.value).toBeGreaterThanOrEqual(0);
    }
  });
});
