/**
 * /metrics after real traffic, on every database: a paid checkout (tok_visa), a declined one
 * (tok_chargeDeclined), one whose gateway answer was lost (tok_timeout), a subscription that
 * renews when the system clock passes its period end, GraphQL mistakes, and gRPC calls. Every
 * metric family the alert rules and dashboards use must be there with its labels and, where the
 * traffic implies it, non-zero counts; and no label may carry an id, an email or an amount.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGrpcServer, type GrpcServer } from '../../src/platform/grpc/server.js';
import { DECLINE_REASON_LABELS } from '../../src/platform/observability/labels.js';
import { describeEachDatabase } from '../support/databases.js';
import { parseExposition, type Exposition } from '../support/exposition.js';
import { key, startHarness, type Harness } from '../support/harness.js';
import { CONFIRM, CREATE, START_SUBSCRIPTION } from './fragments.js';

const PROTO_DIR = new URL('../../proto', import.meta.url).pathname;
const definitions = grpc.loadPackageDefinition(
  protoLoader.loadSync(['obol/v1/payments.proto'], { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_DIR] }),
) as unknown as { obol: { v1: { PaymentService: grpc.ServiceClientConstructor } } };

const DAY = 86_400_000;

/** Every family the alert rules and dashboards (deploy/) rely on, with its label names. */
const REQUIRED_FAMILIES: Readonly<Record<string, { readonly type: string; readonly labels: readonly string[] }>> = {
  obol_graphql_requests_total: { type: 'counter', labels: ['field', 'type', 'outcome'] },
  obol_graphql_request_duration_seconds: { type: 'histogram', labels: ['field', 'type'] },
  obol_graphql_errors_total: { type: 'counter', labels: ['field', 'code'] },
  obol_grpc_requests_total: { type: 'counter', labels: ['method', 'code'] },
  obol_grpc_request_duration_seconds: { type: 'histogram', labels: ['method'] },
  obol_checkout_sessions_created_total: { type: 'counter', labels: ['currency'] },
  obol_checkout_confirmations_total: { type: 'counter', labels: ['currency'] },
  obol_checkout_outcomes_total: { type: 'counter', labels: ['outcome', 'reason'] },
  obol_gateway_call_duration_seconds: { type: 'histogram', labels: ['connector', 'operation'] },
  obol_gateway_calls_total: { type: 'counter', labels: ['connector', 'operation', 'outcome', 'reason'] },
  obol_gateway_authorization_rate: { type: 'gauge', labels: ['connector'] },
  obol_gateway_circuit_open: { type: 'gauge', labels: ['connector'] },
  obol_outbox_backlog: { type: 'gauge', labels: [] },
  obol_outbox_oldest_age_seconds: { type: 'gauge', labels: [] },
  obol_relay_published_total: { type: 'counter', labels: ['topic'] },
  obol_consumer_lag: { type: 'gauge', labels: ['group', 'topic', 'partition'] },
  obol_jobs_due: { type: 'gauge', labels: ['kind'] },
  obol_jobs_lateness_seconds: { type: 'histogram', labels: ['kind'] },
  obol_jobs_runs_total: { type: 'counter', labels: ['kind', 'outcome'] },
  obol_invoice_payments_total: { type: 'counter', labels: ['billing_reason', 'outcome'] },
  obol_payments_unknown_outcome: { type: 'gauge', labels: [] },
  obol_payments_unknown_oldest_age_seconds: { type: 'gauge', labels: [] },
  obol_db_pool_connections: { type: 'gauge', labels: ['state'] },
};

/** Label values that may legitimately be digits only: histogram bounds, Kafka partitions, Node's version parts. */
const NUMERIC_LABELS = new Set(['le', 'quantile', 'partition', 'major', 'minor', 'patch']);
const ID_PATTERN = /\b(cs|pay|sub|cus|in|att|ord|order|evt|job|pm|clock|price|prod|re|dp|staff|svc)_[A-Za-z0-9]/;

/** Every sample's labels are exactly the family's label names (plus `le` on histogram buckets). */
function expectLabels(m: Exposition, family: string, labels: readonly string[]): void {
  const type = REQUIRED_FAMILIES[family]!.type;
  const names = type === 'histogram' ? [`${family}_bucket`, `${family}_sum`, `${family}_count`] : [family];
  for (const s of m.samples.filter((x) => names.includes(x.name))) {
    const expected = s.name.endsWith('_bucket') ? [...labels, 'le'] : labels;
    expect(Object.keys(s.labels).sort(), `${s.name} ${JSON.stringify(s.labels)}`).toEqual([...expected].sort());
  }
}

describeEachDatabase('Prometheus metrics', (dialect) => {
  let h: Harness;
  let grpcServer: GrpcServer;
  let payments: grpc.Client;
  let learner: { readonly id: string; readonly token: string };
  let service: string;
  /** Ids this test created: none may appear anywhere in the exposition. */
  const ids = new Set<string>();
  let declineReason = '';

  const scrape = async (): Promise<{ readonly text: string; readonly m: Exposition; readonly contentType: string }> => {
    const res = await h.server.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    return { text: res.body, m: parseExposition(res.body), contentType: String(res.headers['content-type']) };
  };

  const getPayment = (paymentId: string) =>
    new Promise<grpc.status>((resolve) => {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${service}`);
      (payments as any).GetPayment({ payment_id: paymentId }, metadata, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null) => resolve(err ? err.code : grpc.status.OK));
    });

  async function checkout(token: string) {
    const created = await h.gql(CREATE, { input: { customerId: learner.id, country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key('create') } }, { as: learner.token });
    expect(created.errors).toBeUndefined();
    const sessionId = created.data!.createCheckoutSession.checkoutSession.id as string;
    ids.add(sessionId);
    const confirmed = await h.gql(CONFIRM, { input: { sessionId, paymentMethodToken: token, idempotencyKey: key('confirm') } }, { as: learner.token });
    expect(confirmed.errors).toBeUndefined();
    const payment = confirmed.data!.confirmCheckoutSession.payment;
    ids.add(payment.id);
    for (const a of payment.attempts) ids.add(a.id);
    return payment as { id: string; status: string; attempts: { status: string; declineReason: string | null }[] };
  }

  beforeAll(async () => {
    h = await startHarness(dialect);
    grpcServer = await startGrpcServer(h.app, { host: '127.0.0.1', port: 0 });
    payments = new definitions.obol.v1.PaymentService(`127.0.0.1:${grpcServer.port}`, grpc.credentials.createInsecure());
    const id = `cus_metrics_${dialect}_${randomUUID().slice(0, 8)}`;
    learner = { id, token: await h.token({ sub: id, roles: ['learner'] }) };
    ids.add(id);
    service = await h.token({ sub: 'svc_metrics', roles: ['service'] });

    // One paid checkout and one declined.
    const paid = await checkout('tok_visa');
    expect(paid.status).toBe('succeeded');
    const declined = await checkout('tok_chargeDeclined');
    const failedAttempt = declined.attempts.find((a) => a.status === 'failed');
    expect(failedAttempt?.declineReason).toBeTruthy();
    declineReason = failedAttempt!.declineReason!;

    // GraphQL mistakes: a document that does not parse, and a field nobody may read anonymously.
    expect((await h.gql('{ this is not graphql', {}, { as: learner.token })).errors?.length).toBeGreaterThan(0);
    expect((await h.gql(`query { payment(id: "${paid.id}") { id } }`, {}, { as: 'anonymous' })).errors?.length).toBeGreaterThan(0);

    // gRPC: one found, one not.
    expect(await getPayment(paid.id)).toBe(grpc.status.OK);
    expect(await getPayment('pay_01JZZZZZZZZZZZZZZZZZZZZZZZ')).toBe(grpc.status.NOT_FOUND);
  });

  afterAll(async () => {
    payments?.close();
    await grpcServer?.close({ graceMs: 1000 });
    await h?.close();
  });

  it('counts a lost gateway answer as an unknown outcome until the reconciler resolves it', async () => {
    const lost = await checkout('tok_timeout');
    expect(lost.attempts.some((a) => a.status === 'unknown')).toBe(true);
    const before = (await scrape()).m;
    expect(before.sum('obol_payments_unknown_outcome')).toBe(1);
    expect(before.sum('obol_checkout_outcomes_total', { outcome: 'unknown', reason: 'none' })).toBe(1);
    expect(before.sum('obol_gateway_calls_total', { connector: 'sandbox', operation: 'authorize', outcome: 'unknown', reason: 'none' })).toBe(1);
    // Ten minutes on: the gauge's age grows with the clock (the reconciler has not run).
    h.clock.advance(600_000);
    expect((await scrape()).m.sum('obol_payments_unknown_oldest_age_seconds')).toBeGreaterThanOrEqual(600);
    // Reconciling asks the gateway (a retrieve call) and settles the attempt.
    await h.runWorker();
    const after = (await scrape()).m;
    expect(after.sum('obol_payments_unknown_outcome')).toBe(0);
    expect(after.sum('obol_payments_unknown_oldest_age_seconds')).toBe(0);
    expect(after.sum('obol_gateway_calls_total', { connector: 'sandbox', operation: 'retrieve' })).toBeGreaterThanOrEqual(1);
  });

  it('counts a subscription renewal run by the system clock: the job, its lateness and the invoice payments', async () => {
    const started = await h.gql(START_SUBSCRIPTION, { input: { priceId: 'price_data_science_monthly_usd', country: 'US', paymentMethodToken: 'tok_visa', trialDays: 0, idempotencyKey: key('start') } }, { as: learner.token });
    expect(started.errors).toBeUndefined();
    ids.add(started.data!.startSubscription.subscription.id);
    // Relay the first invoice's events, then let the period end pass on the system clock.
    await h.runWorker();
    const dueBefore = (await scrape()).m;
    expect(dueBefore.sum('obol_jobs_due', { kind: 'subscription.period_end' })).toBe(0);
    h.clock.advance(32 * DAY);
    expect((await scrape()).m.sum('obol_jobs_due', { kind: 'subscription.period_end' })).toBeGreaterThanOrEqual(1);
    await h.runWorker();
    await h.runWorker();
    const m = (await scrape()).m;
    expect(m.sum('obol_jobs_due', { kind: 'subscription.period_end' })).toBe(0);
    expect(m.sum('obol_jobs_runs_total', { kind: 'subscription.period_end', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(m.sum('obol_jobs_lateness_seconds_count', { kind: 'subscription.period_end' })).toBeGreaterThanOrEqual(1);
    // Due 30 or 31 days in, run at 32: between one and two days late.
    expect(m.sum('obol_jobs_lateness_seconds_sum', { kind: 'subscription.period_end' })).toBeGreaterThanOrEqual(DAY / 1000);
    expect(m.sum('obol_invoice_payments_total', { billing_reason: 'subscription_create', outcome: 'paid' })).toBe(1);
    expect(m.sum('obol_invoice_payments_total', { billing_reason: 'subscription_cycle', outcome: 'paid' })).toBe(1);
    expect(m.sum('obol_gateway_calls_total', { connector: 'sandbox', operation: 'charge_off_session', outcome: 'approved' })).toBe(1);
  });

  describe('after the traffic', () => {
    let text: string;
    let m: Exposition;
    beforeAll(async () => {
      await h.runWorker();
      const scraped = await scrape();
      text = scraped.text;
      m = scraped.m;
      expect(scraped.contentType).toContain('text/plain');
    });

    it('has every metric family the alerts and dashboards use, with its type and exactly its labels', () => {
      for (const [family, { type, labels }] of Object.entries(REQUIRED_FAMILIES)) {
        expect(m.types.get(family), family).toBe(type);
        expectLabels(m, family, labels);
      }
      // prom-client's process metrics, under the same prefix.
      for (const family of ['obol_process_cpu_user_seconds_total', 'obol_process_resident_memory_bytes', 'obol_nodejs_eventloop_lag_seconds', 'obol_nodejs_heap_size_used_bytes']) {
        expect(m.types.has(family), family).toBe(true);
      }
    });

    it('counts GraphQL operations per root field, with durations and error codes', () => {
      expect(m.sum('obol_graphql_requests_total', { field: 'createCheckoutSession', type: 'mutation', outcome: 'ok' })).toBeGreaterThanOrEqual(3);
      expect(m.sum('obol_graphql_requests_total', { field: 'confirmCheckoutSession', type: 'mutation', outcome: 'ok' })).toBeGreaterThanOrEqual(3);
      expect(m.sum('obol_graphql_request_duration_seconds_count', { field: 'confirmCheckoutSession', type: 'mutation' })).toBeGreaterThanOrEqual(3);
      expect(m.sum('obol_graphql_request_duration_seconds_sum', { field: 'confirmCheckoutSession', type: 'mutation' })).toBeGreaterThan(0);
      expect(m.sum('obol_graphql_request_duration_seconds_bucket', { field: 'confirmCheckoutSession', type: 'mutation', le: '+Inf' })).toBeGreaterThanOrEqual(3);
      // The unparseable document: no known field, a caller's mistake.
      expect(m.sum('obol_graphql_requests_total', { field: 'unknown', type: 'unknown', outcome: 'error' })).toBeGreaterThanOrEqual(1);
      expect(m.sum('obol_graphql_errors_total', { field: 'unknown', code: 'VALIDATION_FAILED' })).toBeGreaterThanOrEqual(1);
      // The anonymous read of a payment: answered with Obol's code, on its field.
      const refused = m.find('obol_graphql_errors_total', { field: 'payment' });
      expect(refused.length).toBeGreaterThanOrEqual(1);
      for (const s of refused) expect(['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND']).toContain(s.labels.code);
      expect(m.sum('obol_graphql_requests_total', { field: 'payment', type: 'query', outcome: 'error' })).toBeGreaterThanOrEqual(1);
    });

    it('counts gRPC calls per method and status code, with durations', () => {
      expect(m.sum('obol_grpc_requests_total', { method: 'obol.v1.PaymentService/GetPayment', code: 'OK' })).toBe(1);
      expect(m.sum('obol_grpc_requests_total', { method: 'obol.v1.PaymentService/GetPayment', code: 'NOT_FOUND' })).toBe(1);
      expect(m.sum('obol_grpc_request_duration_seconds_count', { method: 'obol.v1.PaymentService/GetPayment' })).toBe(2);
    });

    it('follows the checkout funnel: sessions, confirmations, outcomes by decline reason', () => {
      expect(m.sum('obol_checkout_sessions_created_total', { currency: 'USD' })).toBe(3);
      expect(m.sum('obol_checkout_confirmations_total', { currency: 'USD' })).toBe(3);
      expect(m.sum('obol_checkout_outcomes_total', { outcome: 'succeeded', reason: 'none' })).toBe(1);
      const reasonLabel = (DECLINE_REASON_LABELS as readonly string[]).includes(declineReason) ? declineReason : 'other';
      expect(m.sum('obol_checkout_outcomes_total', { outcome: 'failed', reason: reasonLabel })).toBe(1);
    });

    it('times gateway calls and counts their outcomes, and reports routing health per connector', () => {
      expect(m.sum('obol_gateway_call_duration_seconds_count', { connector: 'sandbox', operation: 'authorize' })).toBeGreaterThanOrEqual(3);
      expect(m.sum('obol_gateway_calls_total', { connector: 'sandbox', operation: 'authorize', outcome: 'approved', reason: 'none' })).toBeGreaterThanOrEqual(1);
      const reasonLabel = (DECLINE_REASON_LABELS as readonly string[]).includes(declineReason) ? declineReason : 'other';
      expect(m.sum('obol_gateway_calls_total', { connector: 'sandbox', operation: 'authorize', outcome: 'declined', reason: reasonLabel })).toBe(1);
      // Issuer decisions in the window: approvals and one decline (the clock moved 32 days, so
      // only the renewal's decision is still in the 15-minute window).
      const rate = m.find('obol_gateway_authorization_rate', { connector: 'sandbox' });
      expect(rate).toHaveLength(1);
      expect(rate[0]!.value).toBeGreaterThanOrEqual(0);
      expect(rate[0]!.value).toBeLessThanOrEqual(1);
      expect(m.sum('obol_gateway_authorization_decisions', { connector: 'sandbox' })).toBeGreaterThanOrEqual(1);
      expect(m.find('obol_gateway_circuit_open', { connector: 'sandbox' }).map((s) => s.value)).toEqual([0]);
    });

    it('reports the outbox empty after the relay, and what the relay published per topic', () => {
      expect(m.sum('obol_outbox_backlog')).toBe(0);
      expect(m.find('obol_outbox_oldest_age_seconds').map((s) => s.value)).toEqual([0]);
      expect(m.sum('obol_relay_published_total', { topic: 'obol.checkout.v1' })).toBeGreaterThanOrEqual(3);
      expect(m.sum('obol_relay_published_total', { topic: 'obol.payments.v1' })).toBeGreaterThanOrEqual(2);
      expect(m.sum('obol_relay_published_total', { topic: 'obol.subscriptions.v1' })).toBeGreaterThanOrEqual(2);
      // Consumer lag exists only with Kafka (the worker e2e test covers it).
      expect(m.find('obol_consumer_lag')).toEqual([]);
    });

    it('reports the MySQL pool (used, free, queued) and nothing on SQLite', () => {
      const pool = m.find('obol_db_pool_connections');
      if (dialect === 'mysql') {
        expect(pool.map((s) => s.labels.state).sort()).toEqual(['free', 'queued', 'used']);
        expect(m.sum('obol_db_pool_connections', { state: 'used' }) + m.sum('obol_db_pool_connections', { state: 'free' })).toBeGreaterThanOrEqual(1);
      } else {
        expect(pool).toEqual([]);
      }
    });

    it('never puts an id, an email or an amount in a label', () => {
      expect(ids.size).toBeGreaterThan(5);
      for (const id of ids) expect(text, `${id} in the exposition`).not.toContain(id);
      expect(text).not.toMatch(/@/);
      for (const s of m.samples) {
        for (const [label, value] of Object.entries(s.labels)) {
          expect(value, `${s.name}{${label}="${value}"}`).not.toMatch(ID_PATTERN);
          if (!NUMERIC_LABELS.has(label)) expect(value, `${s.name}{${label}="${value}"} is digits only`).not.toMatch(/^\d+$/);
          expect(value.length, `${s.name}{${label}} is long`).toBeLessThanOrEqual(64);
        }
      }
    });
  });
});
