/**
 * A chargeback reported by a gateway's webhook, end to end: signed delivery → inbox → worker →
 * dispute on the payment, ledger booked, events emitted; duplicates and unrelated events change
 * nothing; an event Obol cannot place is retried, not lost.
 */
import { createHmac } from 'node:crypto';
import Stripe from 'stripe';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRazorpaySimulator } from '../simulators/razorpay.js';
import { startStripeSimulator } from '../simulators/stripe.js';
import { describeEachDatabase } from '../support/databases.js';
import { key, startHarness, type Harness } from '../support/harness.js';
import { CREATE } from './fragments.js';

const STRIPE_SECRET = 'whsec_gateway_events';
const RAZORPAY_SECRET = 'rzp_webhook_secret';

describeEachDatabase('gateway webhooks processed by the worker', (dialect) => {
  let h: Harness;
  const sims: { close(): Promise<void> }[] = [];
  beforeAll(async () => {
    const stripe = await startStripeSimulator();
    const razorpay = await startRazorpaySimulator();
    sims.push(stripe, razorpay);
    h = await startHarness(dialect, {
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_API_URL: `http://127.0.0.1:${stripe.port}`,
      RAZORPAY_KEY_ID: razorpay.keyId,
      RAZORPAY_KEY_SECRET: razorpay.keySecret,
      RAZORPAY_API_URL: razorpay.baseUrl,
      STRIPE_WEBHOOK_SECRETS: STRIPE_SECRET,
      RAZORPAY_WEBHOOK_SECRETS: RAZORPAY_SECRET,
      ROUTING_CONFIG: JSON.stringify({
        rules: [
          { id: 'eur', match: { currencies: ['EUR'] }, connectors: [{ connector: 'stripe', weight: 1 }] },
          { id: 'inr', match: { currencies: ['INR'] }, connectors: [{ connector: 'razorpay', weight: 1 }] },
          { id: 'rest', match: {}, connectors: [{ connector: 'sandbox', weight: 1 }] },
        ],
      }),
    });
  });
  afterAll(async () => {
    await h?.close();
    await Promise.all(sims.map((s) => s.close()));
  });

  async function paid(country: string, priceId: string, token: string) {
    const s = (await h.gql(CREATE, { input: { customerId: `cus_wh_${dialect}`, country, items: [{ priceId, quantity: 1 }], idempotencyKey: key() } })).data!.createCheckoutSession.checkoutSession;
    const res = await h.gql(
      `mutation($input: ConfirmCheckoutSessionInput!) { confirmCheckoutSession(input: $input) { payment { id status amountCaptured { amount } attempts { gatewayReference } } } }`,
      { input: { sessionId: s.id, paymentMethodToken: token, idempotencyKey: key() } },
    );
    const payment = res.data!.confirmCheckoutSession.payment;
    expect(payment.status).toBe('succeeded');
    return { id: payment.id as string, reference: payment.attempts[0].gatewayReference as string, amount: payment.amountCaptured.amount as number };
  }

  const disputesOf = async (id: string) =>
    (await h.gql(`query($id: ID!) { payment(id: $id) { disputes { status amount { amount currency } fee { amount } } } }`, { id })).data!.payment.disputes;

  async function sendStripe(event: Record<string, unknown>) {
    const payload = JSON.stringify({ object: 'event', created: Math.floor(Date.now() / 1000), ...event });
    const header = new Stripe('sk_test_x').webhooks.generateTestHeaderString({ payload, secret: STRIPE_SECRET });
    const res = await h.server.inject({ method: 'POST', url: '/webhooks/stripe', headers: { 'content-type': 'application/json', 'stripe-signature': header }, payload });
    expect(res.statusCode).toBe(200);
  }

  it('books a Stripe chargeback opened then lost, once, however often it is delivered', async () => {
    const payment = await paid('DE', 'price_plus_monthly_eur', 'pm_card_visa');
    const dispute = { id: 'dp_stripe_1', object: 'dispute', payment_intent: payment.reference, amount: payment.amount, currency: 'eur', reason: 'fraudulent', status: 'needs_response', balance_transactions: [{ fee: 1500, currency: 'eur' }] };
    await sendStripe({ id: 'evt_dispute_created', type: 'charge.dispute.created', data: { object: dispute } });
    await sendStripe({ id: 'evt_dispute_created', type: 'charge.dispute.created', data: { object: dispute } });
    await sendStripe({ id: 'evt_unrelated', type: 'customer.created', data: { object: { id: 'cus_x' } } });
    await h.runWorker();
    expect(await disputesOf(payment.id)).toEqual([{ status: 'opened', amount: { amount: payment.amount, currency: 'EUR' }, fee: { amount: 1500 } }]);
    await sendStripe({ id: 'evt_dispute_closed', type: 'charge.dispute.closed', data: { object: { ...dispute, status: 'lost' } } });
    await h.runWorker();
    expect((await disputesOf(payment.id))[0].status).toBe('lost');
    const events = await h.app.db.kysely.selectFrom('outbox').select('type').where('aggregate_id', '=', payment.id).orderBy('seq').execute();
    expect(events.map((e) => e.type)).toEqual(['payment.succeeded', 'dispute.opened', 'dispute.lost']);
    const inbox = await h.app.db.kysely.selectFrom('webhook_inbox').select(['event_id', 'status']).where('gateway', '=', 'stripe').orderBy('event_id').execute();
    expect(inbox).toEqual([
      { event_id: 'evt_dispute_closed', status: 'processed' },
      { event_id: 'evt_dispute_created', status: 'processed' },
      { event_id: 'evt_unrelated', status: 'processed' },
    ]);
    expect((await h.gql(`{ trialBalance { balanced } }`)).data!.trialBalance.balanced).toBe(true);
  });

  it('books a Razorpay dispute reported by its signed webhook', async () => {
    const payment = await paid('IN', 'price_plus_monthly_inr', 'rzp_sim:success');
    const body = JSON.stringify({ entity: 'event', event: 'payment.dispute.created', payload: { dispute: { entity: { id: 'disp_rzp_1', payment_id: payment.reference, amount: payment.amount, currency: 'INR', reason_code: 'chargeback' } } } });
    const signature = createHmac('sha256', RAZORPAY_SECRET).update(body).digest('hex');
    const res = await h.server.inject({ method: 'POST', url: '/webhooks/razorpay', headers: { 'content-type': 'application/json', 'x-razorpay-signature': signature, 'x-razorpay-event-id': 'evt_rzp_dispute_1' }, payload: body });
    expect(res.statusCode).toBe(200);
    await h.runWorker();
    expect(await disputesOf(payment.id)).toEqual([{ status: 'opened', amount: { amount: payment.amount, currency: 'INR' }, fee: null }]);
  });

  it('keeps an event it cannot place for a retry instead of dropping it', async () => {
    await sendStripe({ id: 'evt_orphan', type: 'charge.dispute.created', data: { object: { id: 'dp_orphan', payment_intent: 'pi_unknown', amount: 100, currency: 'eur', status: 'needs_response' } } });
    await h.runWorker();
    const row = await h.app.db.kysely.selectFrom('webhook_inbox').select(['status', 'attempts', 'last_error']).where('event_id', '=', 'evt_orphan').executeTakeFirstOrThrow();
    expect(row.status).toBe('received');
    expect(Number(row.attempts)).toBe(1);
    expect(row.last_error).toMatch(/no stripe payment pi_unknown/);
  });
});
