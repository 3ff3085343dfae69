/**
 * Failover after a soft decline: the sandbox (first in the route) fails every authorization with a
 * processing error, a decline in which no issuer judged the account, so the payment moves to
 * Stripe (its simulator); the two share Stripe's `pm_card_*` test tokens, as gateways behind one
 * token vault would. Hard declines, insufficient funds and declines that need the customer stay
 * where they were; an unknown outcome never moves.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStripeSimulator, type StripeSimulator } from '../simulators/stripe.js';
import { describeEachDatabase, type TestDialect } from '../support/databases.js';
import { key, startHarness, type Harness } from '../support/harness.js';
import { CREATE } from './fragments.js';

const CONFIRM = `mutation($input: ConfirmCheckoutSessionInput!) { confirmCheckoutSession(input: $input) { payment { id status connector failedAttempts attempts { connector status declineCode declineClass routing gatewayReference } } } }`;

/** Obol with the sandbox first and Stripe (its simulator) as the fallback; the returned getter reads the harness once it runs. */
function sandboxThenStripe(dialect: TestDialect, env: Record<string, string> = {}): () => Harness {
  let h: Harness | undefined;
  let stripe: StripeSimulator | undefined;
  beforeAll(async () => {
    stripe = await startStripeSimulator();
    h = await startHarness(dialect, {
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_API_URL: `http://127.0.0.1:${stripe.port}`,
      ROUTING_CONFIG: JSON.stringify({ rules: [{ id: 'all', match: {}, connectors: [{ connector: 'sandbox', weight: 1 }, { connector: 'stripe', weight: 0 }] }] }),
      ...env,
    });
  });
  afterAll(async () => {
    await h?.close();
    await stripe?.close();
  });
  return () => {
    if (!h) throw new Error('the harness did not start');
    return h;
  };
}

describeEachDatabase('failover after a soft decline', (dialect) => {
  const harness = sandboxThenStripe(dialect, { SANDBOX_FAILURE_RATE: '1' });

  async function pay(token: string) {
    const s = (await harness().gql(CREATE, { input: { customerId: `cus_sdf_${dialect}`, country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key() } })).data!
      .createCheckoutSession.checkoutSession;
    const res = await harness().gql(CONFIRM, { input: { sessionId: s.id, paymentMethodToken: token, idempotencyKey: key() } });
    expect(res.errors).toBeUndefined();
    return res.data!.confirmCheckoutSession.payment;
  }

  it('moves a soft decline (processing error) to the next connector, which authorizes it, and records both attempts', async () => {
    const payment = await pay('pm_card_visa');
    expect(payment.status).toBe('succeeded');
    expect(payment.connector).toBe('stripe');
    expect(payment.failedAttempts).toBe(0);
    expect(payment.attempts.map((a: { connector: string; status: string; declineCode: string | null }) => [a.connector, a.status, a.declineCode])).toEqual([
      ['sandbox', 'failed', 'processing_error'],
      ['stripe', 'captured', null],
    ]);
    expect(payment.attempts[1].routing).toMatch(/^processing_error at sandbox; failover after sandbox/);
    // One charge: the sandbox logged a failed authorization, Stripe one PaymentIntent.
    const mine = await harness().app.db.kysely.selectFrom('payment_attempts').select('idempotency_key').where('payment_id', '=', payment.id).execute();
    const sandboxRows = (await harness().app.sandbox.chargeLog()).filter((c) => mine.some((m) => m.idempotency_key === c.idempotencyKey));
    expect(sandboxRows.map((r) => r.status)).toEqual(['failed']);
  });

  it('stops at the last connector: a soft decline there stands, and counts against the learner once', async () => {
    const payment = await pay('pm_card_chargeDeclinedProcessingError');
    expect(payment.status).toBe('requires_payment_method');
    expect(payment.attempts.map((a: { connector: string; declineCode: string | null }) => [a.connector, a.declineCode])).toEqual([
      ['sandbox', 'processing_error'],
      ['stripe', 'processing_error'],
    ]);
    expect(payment.failedAttempts).toBe(1);
  });
});

describeEachDatabase('no failover after an issuer decision', (dialect) => {
  const harness = sandboxThenStripe(dialect);

  it.each([
    { token: 'pm_card_chargeDeclined', declineClass: 'hard' },
    { token: 'pm_card_chargeDeclinedInsufficientFunds', declineClass: 'hard' },
  ])('keeps $token at the first connector ($declineClass decline)', async ({ token, declineClass }) => {
    const s = (await harness().gql(CREATE, { input: { customerId: `cus_nfo_${dialect}`, country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key() } })).data!
      .createCheckoutSession.checkoutSession;
    const payment = (await harness().gql(CONFIRM, { input: { sessionId: s.id, paymentMethodToken: token, idempotencyKey: key() } })).data!.confirmCheckoutSession.payment;
    expect(payment.status).toBe('requires_payment_method');
    expect(payment.attempts.map((a: { connector: string; declineClass: string }) => [a.connector, a.declineClass])).toEqual([['sandbox', declineClass]]);
  });

  it('never moves an unknown outcome: the attempt waits for the reconciler, and no second gateway is asked', async () => {
    const s = (await harness().gql(CREATE, { input: { customerId: `cus_nfo_${dialect}`, country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key() } })).data!
      .createCheckoutSession.checkoutSession;
    const payment = (await harness().gql(CONFIRM, { input: { sessionId: s.id, paymentMethodToken: 'tok_timeout', idempotencyKey: key() } })).data!.confirmCheckoutSession.payment;
    expect(payment.status).toBe('processing');
    expect(payment.attempts.map((a: { connector: string; status: string }) => [a.connector, a.status])).toEqual([['sandbox', 'unknown']]);
    await harness().runWorker();
    const after = await harness().gql(`query($id: ID!) { payment(id: $id) { status attempts { connector status } } }`, { id: payment.id });
    expect(after.data!.payment.status).toBe('succeeded');
    expect(after.data!.payment.attempts).toEqual([{ connector: 'sandbox', status: 'captured' }]);
  });
});
