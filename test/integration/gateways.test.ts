/**
 * A payment can be routed to any gateway by configuration alone: real SDKs pointed at local
 * simulators of Stripe, Braintree and Razorpay, rules in ROUTING_CONFIG, whole checkouts through
 * GraphQL, the ledger balanced per connector.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startBraintreeSimulator, SIMULATOR_MERCHANT_ID, SIMULATOR_PRIVATE_KEY, SIMULATOR_PUBLIC_KEY } from '../simulators/braintree.js';
import { startRazorpaySimulator } from '../simulators/razorpay.js';
import { startStripeSimulator } from '../simulators/stripe.js';
import { describeEachDatabase } from '../support/databases.js';
import { errorCode, key, startHarness, type Harness } from '../support/harness.js';
import { CONFIRM, CREATE, REFUND, TRIAL_BALANCE } from './fragments.js';

const ROUTING = {
  rules: [
    { id: 'india', match: { currencies: ['INR'] }, connectors: [{ connector: 'razorpay', weight: 1 }] },
    { id: 'europe', match: { currencies: ['EUR'] }, connectors: [{ connector: 'stripe', weight: 1 }] },
    { id: 'dollars', match: { currencies: ['USD'] }, connectors: [{ connector: 'braintree', weight: 1 }] },
    { id: 'rest', match: {}, connectors: [{ connector: 'sandbox', weight: 1 }] },
  ],
};

describeEachDatabase('routing to real gateways by configuration', (dialect) => {
  let h: Harness;
  const sims: { close(): Promise<void> }[] = [];
  beforeAll(async () => {
    const stripe = await startStripeSimulator();
    const braintree = await startBraintreeSimulator();
    const razorpay = await startRazorpaySimulator();
    sims.push(stripe, braintree, razorpay);
    h = await startHarness(dialect, {
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_API_URL: `http://127.0.0.1:${stripe.port}`,
      BRAINTREE_MERCHANT_ID: SIMULATOR_MERCHANT_ID,
      BRAINTREE_PUBLIC_KEY: SIMULATOR_PUBLIC_KEY,
      BRAINTREE_PRIVATE_KEY: SIMULATOR_PRIVATE_KEY,
      BRAINTREE_ENVIRONMENT: `http://127.0.0.1:${braintree.port}`,
      RAZORPAY_KEY_ID: razorpay.keyId,
      RAZORPAY_KEY_SECRET: razorpay.keySecret,
      RAZORPAY_API_URL: razorpay.baseUrl,
      ROUTING_CONFIG: JSON.stringify(ROUTING),
    });
  });
  afterAll(async () => {
    await h?.close();
    await Promise.all(sims.map((s) => s.close()));
  });

  async function pay(country: string, priceId: string, token: string) {
    const s = (await h.gql(CREATE, { input: { customerId: `cus_gw_${dialect}`, country, items: [{ priceId, quantity: 1 }], idempotencyKey: key() } })).data!.createCheckoutSession.checkoutSession;
    const res = await h.gql(CONFIRM, { input: { sessionId: s.id, paymentMethodToken: token, idempotencyKey: key() } });
    expect(res.errors).toBeUndefined();
    return res.data!.confirmCheckoutSession.payment;
  }

  it.each([
    ['stripe', 'DE', 'price_plus_monthly_eur', 'pm_card_visa'],
    ['braintree', 'US', 'price_ml_certificate_usd', 'fake-valid-nonce'],
    ['razorpay', 'IN', 'price_plus_monthly_inr', 'rzp_sim:success'],
    ['sandbox', 'JP', 'price_plus_annual_jpy', 'tok_visa'],
  ])('routes to %s and captures, then refunds part through the same gateway', async (connector, country, priceId, token) => {
    const payment = await pay(country, priceId, token);
    expect(payment.connector).toBe(connector);
    expect(payment.status).toBe('succeeded');
    const refund = await h.gql(REFUND, { input: { paymentId: payment.id, amount: 100, idempotencyKey: key() } });
    expect(refund.errors).toBeUndefined();
    expect(refund.data!.refundPayment.result).toBe('succeeded');
    const tb = (await h.gql(TRIAL_BALANCE)).data!.trialBalance;
    expect(tb.balanced).toBe(true);
    const accounts = tb.currencies.flatMap((c: { accounts: { code: string }[] }) => c.accounts.map((a) => a.code));
    expect(accounts).toContain(`gateway_clearing:${connector}`);
  });

  it('maps a gateway decline to the same normalized values the sandbox uses', async () => {
    const payment = await pay('DE', 'price_plus_monthly_eur', 'pm_card_chargeDeclinedInsufficientFunds');
    expect(payment.status).toBe('requires_payment_method');
    expect(payment.lastError).toMatchObject({ reason: 'insufficient_funds', declineClass: 'hard' });
  });

  it('refuses to start when a rule names a connector that is not configured', async () => {
    const { loadConfig } = await import('../../src/platform/config.js');
    const { buildGateways } = await import('../../src/platform/gateways.js');
    const config = loadConfig({ ROUTING_CONFIG: JSON.stringify({ rules: [{ id: 'x', match: {}, connectors: [{ connector: 'stripe', weight: 1 }] }] }) });
    expect(() => buildGateways({ config, db: h.app.db, clock: h.clock })).toThrow(/names connector "stripe", which is not configured/);
    expect(errorCode(await h.gql(`{ viewer { subject } }`))).toBeUndefined();
  });
});
