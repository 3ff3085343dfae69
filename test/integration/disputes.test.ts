/**
 * A chargeback against a paid checkout, as a gateway's webhook processor will report it: the
 * payment shows the dispute, the ledger moves the funds and the fee and stays balanced, and the
 * events tell consumers (a lost dispute is the revocation signal).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { money, parseCurrency, type CurrencyCode } from '../../src/money/index.js';
import { applyDisputeEvent } from '../../src/payments/disputes/index.js';
import { describeEachDatabase } from '../support/databases.js';
import { key, startHarness, type Harness } from '../support/harness.js';
import { CONFIRM, CREATE, REFUND, TRIAL_BALANCE } from './fragments.js';

const USD = parseCurrency('USD') as CurrencyCode;

describeEachDatabase('disputes', (dialect) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(dialect);
  });
  afterAll(async () => h?.close());

  it('opens and loses a dispute: shown on the payment, booked in the ledger, announced as events', async () => {
    const s = (await h.gql(CREATE, { input: { customerId: 'cus_dispute', country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key() } })).data!.createCheckoutSession.checkoutSession;
    const payment = (await h.gql(CONFIRM, { input: { sessionId: s.id, paymentMethodToken: 'tok_visa', idempotencyKey: key() } })).data!.confirmCheckoutSession.payment;
    const base = { connector: 'sandbox', gatewayDisputeId: 'dp_gateway_1', paymentId: payment.id, amount: money(s.total.amount, USD), fee: money(1500, USD), reason: 'fraudulent', occurredAt: h.clock.now() };
    expect((await applyDisputeEvent(h.app.payments, { ...base, kind: 'opened' })).applied).toBe(true);
    expect((await applyDisputeEvent(h.app.payments, { ...base, kind: 'opened' })).applied).toBe(false);
    expect((await applyDisputeEvent(h.app.payments, { ...base, kind: 'lost' })).applied).toBe(true);

    const view = await h.gql(`query($id: ID!) { payment(id: $id) { status disputes { status reason amount { amount currency } fee { amount } } } }`, { id: payment.id });
    expect(view.data!.payment.status).toBe('succeeded');
    expect(view.data!.payment.disputes).toEqual([{ status: 'lost', reason: 'fraudulent', amount: { amount: s.total.amount, currency: 'USD' }, fee: { amount: 1500 } }]);

    const tb = (await h.gql(TRIAL_BALANCE)).data!.trialBalance;
    expect(tb.balanced).toBe(true);
    const usd = tb.currencies.find((c: { currency: string }) => c.currency === 'USD');
    const balance = (code: string) => usd.accounts.find((a: { code: string }) => a.code === code)?.balance;
    expect(balance('chargebacks')).toBe(s.total.amount);
    expect(balance('dispute_fees')).toBe(1500);

    const events = await h.app.db.kysely.selectFrom('outbox').select('type').where('aggregate_id', '=', payment.id).orderBy('seq').execute();
    expect(events.map((e) => e.type)).toEqual(['payment.succeeded', 'dispute.opened', 'dispute.lost']);

    // The loss takes back what was bought, by the same path as a full refund.
    const order = await h.app.db.kysely.selectFrom('orders').select('status').where('checkout_session_id', '=', s.id).executeTakeFirstOrThrow();
    expect(order.status).toBe('charged_back');
    const revoked = await h.app.db.kysely.selectFrom('outbox').select('payload').where('aggregate_id', '=', s.id).where('type', '=', 'order.access_revoked').execute();
    expect(revoked).toHaveLength(1);
    expect(JSON.parse(revoked[0]!.payload).data).toMatchObject({ customerId: 'cus_dispute', paymentId: payment.id, reason: 'dispute_lost', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }] });
  });

  it('revokes a fully refunded order through the same event, once, and a later lost dispute adds no second revocation', async () => {
    const s = (await h.gql(CREATE, { input: { customerId: 'cus_dispute', country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key() } })).data!.createCheckoutSession.checkoutSession;
    const payment = (await h.gql(CONFIRM, { input: { sessionId: s.id, paymentMethodToken: 'tok_visa', idempotencyKey: key() } })).data!.confirmCheckoutSession.payment;
    const refund = (amount: number) => h.gql(REFUND, { input: { paymentId: payment.id, amount, idempotencyKey: key() } });
    expect((await refund(1000)).errors).toBeUndefined();
    const revocations = () => h.app.db.kysely.selectFrom('outbox').select('payload').where('aggregate_id', '=', s.id).where('type', '=', 'order.access_revoked').execute();
    expect(await revocations()).toHaveLength(0); // partial: access stays
    expect((await refund(s.total.amount - 1000)).errors).toBeUndefined();
    const [revoked] = await revocations();
    expect(JSON.parse(revoked!.payload).data).toMatchObject({ paymentId: payment.id, reason: 'refunded' });
    await applyDisputeEvent(h.app.payments, { connector: 'sandbox', gatewayDisputeId: 'dp_gateway_2', paymentId: payment.id, amount: money(s.total.amount, USD), fee: null, reason: 'fraudulent', occurredAt: h.clock.now(), kind: 'lost' });
    expect(await revocations()).toHaveLength(1);
  });
});
