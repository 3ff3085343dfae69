import { parse, buildSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { money } from '../../money/index.js';
import { ConnectorUnavailableError, ConnectorUnknownOutcomeError, type AuthorizeOutcome, type Connector } from '../../payments/connectors/port.js';
import type { CurrencyCode } from '../../money/index.js';
import { instrumentConnector } from '../gateways.js';
import { errorCodeLabel, operationLabels } from './graphql-metrics.js';
import { currencyLabel, declineReasonLabel } from './labels.js';
import { createMetrics, type GatewayCallSample } from './metrics.js';
import { createReadiness } from './readiness.js';

const sample = (text: string, name: string): string[] => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));

describe('labels', () => {
  it('reports known decline reasons by name and anything else as other', () => {
    expect(declineReasonLabel('insufficient_funds')).toBe('insufficient_funds');
    expect(declineReasonLabel('something the gateway made up today')).toBe('other');
    expect(declineReasonLabel('cus_01ABC')).toBe('other');
    expect(declineReasonLabel(null)).toBe('none');
  });

  it('passes ISO 4217 codes only', () => {
    expect(currencyLabel('EUR')).toBe('EUR');
    expect(currencyLabel('eur; drop')).toBe('other');
  });
});

describe('createMetrics', () => {
  it('keeps each registry to itself: two apps in one process do not collide', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.checkoutSessionCreated({ currency: 'USD' });
    expect(sample(await a.render(), 'obol_checkout_sessions_created_total')).toEqual(['obol_checkout_sessions_created_total{currency="USD"} 1']);
    expect(sample(await b.render(), 'obol_checkout_sessions_created_total')).toEqual([]);
    a.close();
    b.close();
  });

  it('reads NaN for a failing source (never a made-up 0), counts the failure and still renders the rest', async () => {
    const errors: string[] = [];
    const m = createMetrics({ defaultMetrics: false, onSourceError: (_err, source) => errors.push(source) });
    m.setSources({
      outboxBacklog: async () => {
        throw new Error('database gone');
      },
      outboxOldestAgeSeconds: async () => 12,
    });
    const text = await m.render();
    // prom-client writes "Nan"; Prometheus reads NaN in any case.
    expect(sample(text, 'obol_outbox_backlog').map((l) => l.toLowerCase())).toEqual(['obol_outbox_backlog nan']);
    expect(sample(text, 'obol_outbox_oldest_age_seconds')).toEqual(['obol_outbox_oldest_age_seconds 12']);
    expect(sample(text, 'obol_metrics_source_errors_total')).toEqual(['obol_metrics_source_errors_total{source="outboxBacklog"} 1']);
    expect(errors).toEqual(['outboxBacklog']);
    m.close();
  });

  it('bounds every label: unknown topics, kinds, connectors, reasons and outcomes fold into a few values', async () => {
    const m = createMetrics({ defaultMetrics: false, topics: ['obol.checkout.v1'] });
    m.declareJobKinds(['subscription.period_end']);
    m.declareConnectors(['sandbox']);
    m.eventPublished({ topic: 'obol.checkout.v1', type: 'checkout.completed', data: {} });
    m.eventPublished({ topic: 'evil-topic-cus_123', type: 'invoice.paid', data: { billingReason: 'free text' } });
    m.jobRun({ kind: 'job_for_sub_123', clockId: 'clock_1', ok: true, startedAt: 5000, runAt: 1000 });
    m.jobRun({ kind: 'subscription.period_end', clockId: null, ok: false, startedAt: 5000, runAt: 1000 });
    m.gatewayCall({ connector: 'pay_123', operation: 'authorize', outcome: 'declined', reason: 'made_up', seconds: 0.1 });
    m.checkoutConfirmed({ currency: 'USD', outcome: 'failed', declineReason: null });
    const text = await m.render();
    expect(sample(text, 'obol_relay_published_total').sort()).toEqual(['obol_relay_published_total{topic="obol.checkout.v1"} 1', 'obol_relay_published_total{topic="other"} 1']);
    expect(sample(text, 'obol_invoice_payments_total')).toEqual(['obol_invoice_payments_total{billing_reason="other",outcome="paid"} 1']);
    expect(sample(text, 'obol_jobs_runs_total').sort()).toEqual(['obol_jobs_runs_total{kind="other",outcome="ok"} 1', 'obol_jobs_runs_total{kind="subscription.period_end",outcome="error"} 1']);
    // Lateness only for the system clock's jobs: 4 s late.
    expect(sample(text, 'obol_jobs_lateness_seconds_sum')).toEqual(['obol_jobs_lateness_seconds_sum{kind="subscription.period_end"} 4']);
    expect(sample(text, 'obol_gateway_calls_total')).toEqual(['obol_gateway_calls_total{connector="other",operation="authorize",outcome="declined",reason="other"} 1']);
    expect(sample(text, 'obol_checkout_outcomes_total')).toEqual(['obol_checkout_outcomes_total{outcome="failed",reason="other"} 1']);
    m.close();
  });

  it('reports routing health: the authorized share of recent decisions, and open breakers', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.setSource('gateways', () => [
      { connector: 'stripe', circuitOpen: true, authorized: 3, declined: 1 },
      { connector: 'sandbox', circuitOpen: false, authorized: 0, declined: 0 },
    ]);
    const text = await m.render();
    expect(sample(text, 'obol_gateway_authorization_rate')).toEqual(['obol_gateway_authorization_rate{connector="stripe"} 0.75']);
    expect(sample(text, 'obol_gateway_circuit_open').sort()).toEqual(['obol_gateway_circuit_open{connector="sandbox"} 0', 'obol_gateway_circuit_open{connector="stripe"} 1']);
    m.close();
  });
});

describe('instrumentConnector', () => {
  const USD = 'USD' as CurrencyCode;
  function fakeConnector(answer: () => Promise<AuthorizeOutcome>): Connector & { completeChallenge(): Promise<string> } {
    return {
      name: 'sandbox',
      authorize: answer,
      resume: answer,
      chargeOffSession: answer,
      capture: async () => ({ status: 'succeeded', captured: money(1, USD) }),
      void: async () => ({ status: 'succeeded' }),
      refund: async () => ({ status: 'processing', reference: 're_1' }),
      savePaymentMethod: async () => ({ status: 'saved', savedPaymentMethod: 'pm_1' }),
      retrieve: async () => ({ status: 'not_found' }),
      async completeChallenge() {
        return this.name;
      },
    };
  }
  const args = { idempotencyKey: 'k', amount: money(100, USD), paymentMethod: 'tok_visa', captureMethod: 'automatic', customerId: 'cus_a', description: 'd' } as const;

  it('times each call and reports its outcome, passing everything else through', async () => {
    const seen: GatewayCallSample[] = [];
    const outcomes: AuthorizeOutcome[] = [
      { status: 'succeeded', reference: 'ch_1', captured: money(100, USD) },
      { status: 'declined', reference: null, decline: { code: 'card_declined', reason: 'insufficient_funds', declineClass: 'hard', message: 'no' } },
      { status: 'requires_action', reference: 'ch_2', action: { type: 'three_d_secure_challenge', challengeId: 'c', redirectUrl: 'https://x' } },
    ];
    const connector = instrumentConnector(
      fakeConnector(async () => outcomes.shift()!),
      (s) => seen.push(s),
    );
    for (let i = 0; i < 3; i++) await connector.authorize(args);
    await connector.refund({ idempotencyKey: 'r', reference: 'ch_1', amount: money(1, USD) });
    await connector.retrieve({ idempotencyKey: 'k', operation: 'authorize' });
    expect(seen.map((s) => [s.operation, s.outcome, s.reason])).toEqual([
      ['authorize', 'approved', null],
      ['authorize', 'declined', 'insufficient_funds'],
      ['authorize', 'requires_action', null],
      ['refund', 'pending', null],
      ['retrieve', 'approved', null],
    ]);
    expect(seen.every((s) => s.connector === 'sandbox' && s.seconds >= 0)).toBe(true);
    expect(connector.name).toBe('sandbox');
    expect(await connector.completeChallenge()).toBe('sandbox');
  });

  it('reports thrown failures as unavailable, unknown or error, and rethrows them unchanged', async () => {
    const seen: string[] = [];
    const errors = [new ConnectorUnavailableError('sandbox', 'refused'), new ConnectorUnknownOutcomeError('sandbox', 'timeout'), new Error('bug')];
    for (const err of errors) {
      const connector = instrumentConnector(
        fakeConnector(async () => {
          throw err;
        }),
        (s) => seen.push(s.outcome),
      );
      await expect(connector.chargeOffSession({ idempotencyKey: 'k', amount: money(1, USD), savedPaymentMethod: 'pm_1', customerId: 'cus_a', description: 'd' })).rejects.toBe(err);
    }
    expect(seen).toEqual(['unavailable', 'unknown', 'error']);
  });

  it('never lets a failing observer change the call', async () => {
    const connector = instrumentConnector(
      fakeConnector(async () => ({ status: 'processing', reference: 'x' })),
      () => {
        throw new Error('observer broke');
      },
    );
    expect((await connector.authorize(args)).status).toBe('processing');
  });
});

describe('GraphQL operation labels', () => {
  const schema = buildSchema('type Query { products: [String] payment(id: ID!): String } type Mutation { confirmCheckoutSession: String }');

  it('names the first root field, through fragments, and the named operation', () => {
    expect(operationLabels(schema, parse('{ products payment(id: "pay_1") }'), null)).toEqual({ field: 'products', type: 'query' });
    expect(operationLabels(schema, parse('query { ...F } fragment F on Query { payment(id: "x") }'), null)).toEqual({ field: 'payment', type: 'query' });
    expect(operationLabels(schema, parse('query A { products } mutation B { confirmCheckoutSession }'), 'B')).toEqual({ field: 'confirmCheckoutSession', type: 'mutation' });
  });

  it('says unknown for what the schema does not name (no caller text reaches a label)', () => {
    expect(operationLabels(schema, parse('{ cus_01ABCDEF }'), null)).toEqual({ field: 'unknown', type: 'query' });
    expect(operationLabels(schema, parse('query A { products } query B { products }'), null)).toEqual({ field: 'unknown', type: 'unknown' });
    expect(operationLabels(schema, undefined, null)).toEqual({ field: 'unknown', type: 'unknown' });
  });

  it('keeps error codes to Obol’s list', () => {
    expect(errorCodeLabel({ path: ['payment'], extensions: { code: 'NOT_FOUND' } })).toBe('NOT_FOUND');
    expect(errorCodeLabel({ extensions: { code: 'GRAPHQL_PARSE_FAILED' } })).toBe('VALIDATION_FAILED');
    expect(errorCodeLabel({ path: ['payment'], extensions: { code: 'SOMETHING_ELSE' } })).toBe('INTERNAL');
  });
});

describe('readiness', () => {
  it('is ready when every check passes, and reports each one', async () => {
    const r = createReadiness();
    r.add('database', async () => ({ ok: true, detail: 'ok' }));
    expect(await r.evaluate()).toEqual({ ready: true, body: { status: 'ready', database: 'ok' } });
  });

  it('is not ready while a check fails, throws or hangs; removing a check removes it', async () => {
    const failures: string[] = [];
    const r = createReadiness({ timeoutMs: 20, onFailure: (name) => failures.push(name) });
    r.add('database', async () => ({ ok: true, detail: 'ok' }));
    r.add('kafka', async () => {
      throw new Error('brokers down');
    });
    const remove = r.add('dynamodb', () => new Promise(() => undefined));
    expect(await r.evaluate()).toEqual({ ready: false, body: { status: 'not_ready', database: 'ok', kafka: 'unreachable', dynamodb: 'timeout' } });
    expect(failures).toEqual(['kafka']);
    remove();
    expect((await r.evaluate()).body).toEqual({ status: 'not_ready', database: 'ok', kafka: 'unreachable' });
  });
});
