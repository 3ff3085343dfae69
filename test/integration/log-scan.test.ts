/**
 * The logs of a whole scenario, read back line by line (issue 7): a learner pays with billing
 * details, another is declined, a payment goes through Stripe with its secret key, an admin
 * refunds, a request smuggles a card number (refused) and another a forged token, Stripe webhooks
 * arrive (one signed, one forged), the worker relays and applies everything — all at level
 * trace. Then no line may hold a secret, a token, personal data or anything card-like; every
 * line written while handling a request, an event, a job or a webhook names it and its trace;
 * and each module's level can be set apart.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import Stripe from 'stripe';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { redactConfig } from '../../src/platform/config.js';
import { setupTracing, type Tracing } from '../../src/platform/observability/tracing.js';
import { findCardNumber } from '../../src/platform/security/card-guard.js';
import { startStripeSimulator, type StripeSimulator } from '../simulators/stripe.js';
import { describeEachDatabase } from '../support/databases.js';
import { startHarness, type Harness } from '../support/harness.js';
import { CONFIRM, CREATE, REFUND } from './fragments.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const WEBHOOK_SECRET = `whsec_${randomUUID().replace(/-/g, '')}`;
const OTLP_API_KEY = `otlp-key-${randomUUID()}`;
const PERSON = { name: 'Grace Brewster Hopper', email: 'grace.hopper@example.net', address: { line1: '1 Cobol Court', city: 'Arlington', postalCode: '22201', country: 'US' } };
/** A Visa test number: Luhn-valid, so the card guard must catch it wherever it goes. */
const CARD = '4242424242424242';
/** Lines written before any request, event or job: start-up, which names nothing else. */
const STARTUP = new Set(['database migrated', 'demo catalog seeded (sample data)', 'payment connectors enabled', 'starting obol']);
/** What a line handling something names. */
const SCOPES = ['requestId', 'eventId', 'jobId', 'webhookEventId'] as const;

let tracing: Tracing;
beforeAll(() => {
  // The production default: no exporter, so spans are not recorded, but ids are made and carried.
  tracing = setupTracing({ settings: { exporter: 'none', otlpEndpoint: 'http://127.0.0.1:4318/v1/traces', otlpHeaders: {}, sampleRatio: 1, serviceName: 'obol-test', serviceVersion: 'test' } });
});
afterAll(async () => tracing.shutdown());

function capture() {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString('utf8'));
      callback();
    },
  });
  return { destination, lines: () => chunks.join('').split('\n').filter((l) => l.length > 0) };
}

describeEachDatabase('the logs of a whole scenario', (dialect) => {
  let h: Harness;
  let stripe: StripeSimulator;
  const log = capture();
  const tokens: string[] = [];

  beforeAll(async () => {
    stripe = await startStripeSimulator();
    h = await startHarness(
      dialect,
      {
        LOG_LEVEL: 'trace',
        STRIPE_SECRET_KEY: stripe.secretKey,
        STRIPE_API_URL: `http://127.0.0.1:${stripe.port}`,
        STRIPE_WEBHOOK_SECRETS: WEBHOOK_SECRET,
        OTEL_EXPORTER_OTLP_HEADERS: `x-api-key=${OTLP_API_KEY}`,
        ROUTING_CONFIG: JSON.stringify({
          rules: [
            { id: 'eur', match: { currencies: ['EUR'] }, connectors: [{ connector: 'stripe', weight: 1 }] },
            { id: 'rest', match: {}, connectors: [{ connector: 'sandbox', weight: 1 }] },
          ],
        }),
      },
      { logDestination: log.destination },
    );
    // What `obol serve` logs first.
    h.app.logger.info({ config: redactConfig(h.app.config) }, 'starting obol');
    await scenario();
  });
  afterAll(async () => {
    await h?.close();
    await stripe?.close();
  });

  async function pay(customerId: string, country: string, priceId: string, paymentMethodToken: string, billing: boolean) {
    const learner = await h.token({ sub: customerId, roles: ['learner'] });
    tokens.push(learner);
    const created = await h.gql(CREATE, { input: { customerId, country, items: [{ priceId, quantity: 1 }], idempotencyKey: randomUUID(), ...(billing ? { billingDetails: PERSON } : {}) } }, { as: learner });
    expect(created.errors).toBeUndefined();
    const sessionId = created.data!.createCheckoutSession.checkoutSession.id as string;
    const confirmed = await h.gql(CONFIRM, { input: { sessionId, paymentMethodToken, idempotencyKey: randomUUID() } }, { as: learner });
    expect(confirmed.errors).toBeUndefined();
    return confirmed.data!.confirmCheckoutSession.payment as { id: string; status: string; attempts: { gatewayReference?: string }[] };
  }

  async function scenario() {
    const paid = await pay('cus_grace', 'US', 'price_ml_certificate_usd', 'tok_visa', true);
    expect(paid.status).toBe('succeeded');
    expect((await pay('cus_declined', 'US', 'price_ml_certificate_usd', 'tok_chargeDeclined', true)).status).toBe('requires_payment_method');
    expect((await pay('cus_stripe', 'DE', 'price_plus_monthly_eur', 'pm_card_visa', false)).status).toBe('succeeded');

    const admin = await h.token({ sub: 'staff_log_admin', roles: ['admin'] });
    tokens.push(admin);
    const refunded = await h.gql(REFUND, { input: { paymentId: paid.id, amount: 500, reason: 'requested_by_customer', idempotencyKey: randomUUID() } }, { as: admin });
    expect(refunded.errors).toBeUndefined();

    // A card number in a request, in a request id, and a forged token.
    const smuggled = await h.gql(CREATE, { input: { customerId: 'cus_grace', country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: `k-${CARD}` } }, { as: admin, headers: { 'x-request-id': `req-${CARD}` } });
    expect(smuggled.errors?.[0]?.extensions?.code).toBe('CARD_DATA_REFUSED');
    const forged = `${admin.slice(0, admin.lastIndexOf('.'))}.${'A'.repeat(43)}`;
    const refusedToken = await h.gql('{ __typename }', {}, { as: forged });
    expect(refusedToken.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    tokens.push(forged);

    // Stripe webhooks: a signed one, and one whose signature was made with another secret.
    const payload = JSON.stringify({ id: `evt_${randomUUID().slice(0, 8)}`, object: 'event', created: Math.floor(Date.now() / 1000), type: 'customer.created', data: { object: { id: 'cus_x', email: PERSON.email, name: PERSON.name } } });
    const signed = new Stripe('sk_test_x').webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET });
    expect((await h.server.inject({ method: 'POST', url: '/webhooks/stripe', headers: { 'content-type': 'application/json', 'stripe-signature': signed }, payload })).statusCode).toBe(200);
    const unsigned = new Stripe('sk_test_x').webhooks.generateTestHeaderString({ payload, secret: 'whsec_wrong' });
    expect((await h.server.inject({ method: 'POST', url: '/webhooks/stripe', headers: { 'content-type': 'application/json', 'stripe-signature': unsigned }, payload })).statusCode).toBe(401);

    await h.runWorker();
  }

  it('writes every line as JSON with its level, time and message', () => {
    const lines = log.lines();
    expect(lines.length).toBeGreaterThan(12);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ level: expect.any(String), time: expect.any(String), msg: expect.any(String) });
  });

  it('holds no secret, token, personal data or card-like number anywhere', () => {
    const text = log.lines().join('\n');
    const keyFile = JSON.parse(readFileSync(h.app.config.devEncryptionKeyFile, 'utf8')) as unknown;
    const keyMaterial = JSON.stringify(keyFile).match(/[A-Za-z0-9+/_-]{32,}={0,2}/g) ?? [];
    expect(keyMaterial.length).toBeGreaterThan(0);
    const secrets = [WEBHOOK_SECRET, OTLP_API_KEY, stripe.secretKey, ...tokens, ...tokens.map((t) => t.split('.')[2]!), ...keyMaterial];
    for (const secret of secrets) expect(text.includes(secret), `a secret of ${secret.length} characters is in the log`).toBe(false);
    for (const pii of [PERSON.name, PERSON.email, PERSON.address.line1]) expect(text.includes(pii), 'personal data is in the log').toBe(false);
    log.lines().forEach((line, i) => expect(findCardNumber(line), `line ${i + 1} holds a card-like number`).toBeFalsy());
    expect(text).not.toContain(CARD);
  });

  it('names the request, event, job or webhook and the trace on every line written while handling one', () => {
    const records = log.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    const handling = records.filter((r) => !STARTUP.has(String(r.msg)));
    expect(handling.length).toBeGreaterThan(10);
    for (const r of handling) {
      const scopes = SCOPES.filter((s) => typeof r[s] === 'string');
      expect(scopes, `"${String(r.msg)}" names what it handles`).not.toEqual([]);
      expect(r.traceId, `"${String(r.msg)}" names its trace`).toMatch(/^[0-9a-f]{32}$/);
      expect(r.spanId).toMatch(/^[0-9a-f]{16}$/);
    }
    // One request's lines share its id and trace: the refused bearer token and its request line.
    const refused = records.find((r) => r.msg === 'bearer token refused')!;
    const requestLine = records.find((r) => r.msg === 'request' && r.requestId === refused.requestId)!;
    expect(requestLine.traceId).toBe(refused.traceId);
    // The webhook and consumer lines say which module wrote them.
    expect(records.filter((r) => r.msg === 'webhook received').map((r) => r.module)).toEqual(['webhooks']);
  });
});

describeEachDatabase('log levels per module', (dialect) => {
  it('writes a module at its own level, above or below LOG_LEVEL, and refuses an unknown module', async () => {
    const log = capture();
    const h = await startHarness(dialect, { LOG_LEVEL: 'warn', LOG_MODULE_LEVELS: 'http=debug,webhooks=silent' }, { logDestination: log.destination });
    try {
      await h.server.inject({ method: 'GET', url: '/healthz' });
      await h.server.inject({ method: 'POST', url: '/webhooks/stripe', headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=00' }, payload: '{}' });
      const records = log.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
      // Probes log at debug: written, because http is at debug though LOG_LEVEL is warn.
      expect(records.filter((r) => r.msg === 'request' && r.path === '/healthz')).toHaveLength(1);
      // The refused webhook would warn; webhooks are silenced.
      expect(records.filter((r) => r.module === 'webhooks')).toEqual([]);
      // Nothing below warn from modules left at LOG_LEVEL.
      expect(records.filter((r) => r.module !== 'http' && (r.level === 'info' || r.level === 'debug'))).toEqual([]);
    } finally {
      await h.close();
    }
    await expect(startHarness(dialect, { LOG_MODULE_LEVELS: 'paymnts=debug' })).rejects.toThrow(/LOG_MODULE_LEVELS: has an unknown module "paymnts"/);
  });
});
