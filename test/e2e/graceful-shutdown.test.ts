/**
 * Graceful shutdown, role by role, as an orchestrator does it (SIGTERM, then wait): work in flight
 * when the signal arrives is finished, not cut off — an HTTP confirmation mid gateway call is
 * answered, a gRPC confirmation likewise, and a worker's reconciliation mid gateway call is applied
 * — then the process exits 0. The sandbox gateway's latency keeps each call in flight for seconds,
 * so the signal lands in the middle of it. Needs the build (`npm test` builds first).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openDatabase } from '../../src/platform/db/index.js';
import { OBOL_BIN, stopChildren, waitForLine } from '../support/processes.js';

vi.setConfig({ testTimeout: 90_000, hookTimeout: 60_000 });

/** Long enough that a signal sent shortly after the call started lands in the middle of it. */
const GATEWAY_LATENCY_MS = 2_000;
const SIGNAL_AFTER_MS = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('graceful shutdown drains in-flight work on every role', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const children: ChildProcessWithoutNullStreams[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'obol-drain-'));
    env = {
      ...process.env,
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      DATABASE_URL: `sqlite:${join(dir, 'obol.db')}`,
      AUTH_DEV_KEY_FILE: join(dir, 'signing-key.json'),
      DEV_ENCRYPTION_KEY_FILE: join(dir, 'encryption-keys.json'),
      HOST: '127.0.0.1',
      PORT: '0',
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      OPS_PORT: '0',
      SANDBOX_LATENCY_MS: String(GATEWAY_LATENCY_MS),
      RECONCILE_AFTER_SECONDS: '0',
      WORKER_POLL_INTERVAL_MS: '100',
      SHUTDOWN_TIMEOUT_MS: '20000',
    };
  });
  afterAll(async () => {
    await stopChildren(children);
    rmSync(dir, { recursive: true, force: true });
  });

  function start(roles: string, overrides: NodeJS.ProcessEnv = {}): ChildProcessWithoutNullStreams {
    const child = spawn(process.execPath, [OBOL_BIN, 'serve', '--roles', roles], { env: { ...env, ...overrides } });
    children.push(child);
    return child;
  }

  const token = (sub: string, role: string): string => {
    const out = spawnSync(process.execPath, [OBOL_BIN, 'token', '--sub', sub, '--role', role], { encoding: 'utf8', env });
    if (out.status !== 0) throw new Error(out.stderr);
    return out.stdout.trim();
  };

  /** Sends SIGTERM and resolves with the exit code and how long the process took to go. */
  function terminate(child: ChildProcessWithoutNullStreams): Promise<{ readonly code: number | null; readonly ms: number }> {
    const started = performance.now();
    const exited = new Promise<{ code: number | null; ms: number }>((resolve) => child.once('exit', (code) => resolve({ code, ms: performance.now() - started })));
    child.kill('SIGTERM');
    return exited;
  }

  async function graphql(url: string, bearer: string, query: string, variables: Record<string, unknown>): Promise<Record<string, any>> {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` }, body: JSON.stringify({ query, variables }) });
    const body = (await res.json()) as { data?: Record<string, any>; errors?: unknown };
    expect(body.errors).toBeUndefined();
    expect(res.status).toBe(200);
    return body.data!;
  }

  const CREATE = `mutation($i: CreateCheckoutSessionInput!) { createCheckoutSession(input: $i) { checkoutSession { id } } }`;
  const CONFIRM = `mutation($i: ConfirmCheckoutSessionInput!) { confirmCheckoutSession(input: $i) { payment { id status } } }`;

  it('api: answers a confirmation that is mid gateway call when SIGTERM arrives, refuses new work, then exits 0', async () => {
    const api = start('api');
    const listening = await waitForLine(api, (l) => l.msg === 'obol is listening', 60_000);
    const url = `http://127.0.0.1:${String(listening.port)}/graphql`;
    const learner = token('cus_drain_api', 'learner');
    const created = await graphql(url, learner, CREATE, { i: { customerId: 'cus_drain_api', country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: randomUUID() } });

    const confirming = graphql(url, learner, CONFIRM, { i: { sessionId: created.createCheckoutSession.checkoutSession.id, paymentMethodToken: 'tok_visa', idempotencyKey: randomUUID() } });
    await sleep(SIGNAL_AFTER_MS);
    const exit = terminate(api);
    // While it drains, a new caller is turned away (connection refused, or 503 on a kept-alive one).
    await sleep(100);
    const late = await fetch(url.replace('/graphql', '/readyz')).then(
      (r) => r.status,
      () => 'refused' as const,
    );
    expect([503, 'refused']).toContain(late);

    const confirmed = await confirming;
    expect(confirmed.confirmCheckoutSession.payment.status).toBe('succeeded');
    const { code, ms } = await exit;
    expect(code).toBe(0);
    // It waited for the gateway's answer rather than leaving at once.
    expect(ms).toBeGreaterThan(GATEWAY_LATENCY_MS - SIGNAL_AFTER_MS - 500);
  });

  it('grpc: answers a confirmation that is mid gateway call when SIGTERM arrives, then exits 0', async () => {
    const rpc = start('grpc');
    const listening = await waitForLine(rpc, (l) => l.msg === 'obol grpc is listening', 60_000);
    const definitions = grpc.loadPackageDefinition(
      protoLoader.loadSync(['obol/v1/checkout.proto'], { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [new URL('../../proto', import.meta.url).pathname] }),
    ) as unknown as { obol: { v1: { CheckoutService: grpc.ServiceClientConstructor } } };
    const client = new definitions.obol.v1.CheckoutService(`127.0.0.1:${String(listening.port)}`, grpc.credentials.createInsecure());
    const service = token('svc_checkout', 'service');
    const call = (method: string, request: object) =>
      new Promise<Record<string, any>>((resolve, reject) => {
        const metadata = new grpc.Metadata();
        metadata.set('authorization', `Bearer ${service}`);
        (client as unknown as Record<string, (r: object, m: grpc.Metadata, o: object, cb: (err: Error | null, reply: Record<string, any>) => void) => void>)[method]!(request, metadata, { deadline: Date.now() + 30_000 }, (err, reply) =>
          err ? reject(err) : resolve(reply),
        );
      });
    try {
      const created = await call('CreateCheckoutSession', { customer_id: 'cus_drain_grpc', country: 'US', items: [{ price_id: 'price_ml_certificate_usd', quantity: 1 }], idempotency_key: randomUUID() });
      const confirming = call('ConfirmCheckoutSession', { session_id: created.checkout_session.id, payment_method_token: 'tok_visa', idempotency_key: randomUUID() });
      await sleep(SIGNAL_AFTER_MS);
      const exit = terminate(rpc);
      const confirmed = await confirming;
      expect(confirmed.payment.status).toBe('PAYMENT_STATUS_SUCCEEDED');
      const { code, ms } = await exit;
      expect(code).toBe(0);
      expect(ms).toBeGreaterThan(GATEWAY_LATENCY_MS - SIGNAL_AFTER_MS - 500);
    } finally {
      client.close();
    }
  });

  it('worker: finishes a reconciliation that is mid gateway call when SIGTERM arrives, then exits 0', async () => {
    // A payment whose answer the gateway lost, made by an api process with a fast gateway.
    const api = start('api', { SANDBOX_LATENCY_MS: '0' });
    const listening = await waitForLine(api, (l) => l.msg === 'obol is listening', 60_000);
    const url = `http://127.0.0.1:${String(listening.port)}/graphql`;
    const learner = token('cus_drain_worker', 'learner');
    const created = await graphql(url, learner, CREATE, { i: { customerId: 'cus_drain_worker', country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: randomUUID() } });
    const lost = await graphql(url, learner, CONFIRM, { i: { sessionId: created.createCheckoutSession.checkoutSession.id, paymentMethodToken: 'tok_timeout', idempotencyKey: randomUUID() } });
    const paymentId = lost.confirmCheckoutSession.payment.id as string;
    expect((await terminate(api)).code).toBe(0);

    const db = openDatabase({ kind: 'sqlite', file: join(dir, 'obol.db') });
    try {
      const attemptStatus = async () => (await db.kysely.selectFrom('payment_attempts').select('status').where('payment_id', '=', paymentId).executeTakeFirstOrThrow()).status;
      expect(await attemptStatus()).toBe('unknown');

      // The worker's first reconcile round asks the gateway at once, and the answer takes seconds.
      const worker = start('worker');
      await waitForLine(worker, (l) => l.msg === 'worker started', 60_000);
      await sleep(SIGNAL_AFTER_MS);
      expect(await attemptStatus()).toBe('unknown');
      const { code } = await terminate(worker);
      expect(code).toBe(0);
      // The answer arrived while it drained and was applied before it exited.
      expect(await attemptStatus()).toBe('captured');
      const intent = await db.kysely.selectFrom('payment_intents').select('status').where('id', '=', paymentId).executeTakeFirstOrThrow();
      expect(intent.status).toBe('succeeded');
    } finally {
      await db.close();
    }
  });
});
