/**
 * The awkward interleavings: answers for the same gateway call arriving from the API and the
 * reconciler at once, two confirmations racing for one coupon, and replays of every mutation
 * after the process died between its effect and storing its response.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applyRefundOutcome } from '../../src/payments/operations.js';
import type { PaymentsDeps } from '../../src/payments/index.js';
import { describeEachDatabase } from '../support/databases.js';
import { errorCode, key, startHarness, type Harness } from '../support/harness.js';
import { CAPTURE, COMPLETE_3DS, CONFIRM, CREATE, REFUND, VOID } from './fragments.js';

describeEachDatabase('races and replays', (dialect) => {
  let h: Harness;
  let n = 0;
  beforeAll(async () => {
    h = await startHarness(dialect);
  });
  afterAll(async () => h?.close());
  const customer = () => `cus_race_${dialect}_${++n}`;

  async function paidPayment(input: Record<string, unknown> = {}, token = 'tok_visa') {
    const s = (await h.gql(CREATE, { input: { customerId: customer(), country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key('c'), ...input } })).data!.createCheckoutSession.checkoutSession;
    const res = await h.gql(CONFIRM, { input: { sessionId: s.id, paymentMethodToken: token, idempotencyKey: key('f') } });
    return { session: s, payment: res.data!.confirmCheckoutSession.payment };
  }

  /** What a crash between the use case's commit and storing its response leaves behind. */
  async function forgetResponse(idempotencyKey: string) {
    await h.app.db.kysely.updateTable('idempotency_keys').set({ status: 'in_progress', response: null, locked_until: 0 }).where('idem_key', '=', idempotencyKey).execute();
  }

  it('books a refund once when a late "processing" answer races a committed success', async () => {
    const { payment } = await paidPayment();
    const now = h.clock.now();
    const refundId = 're_01JZZZZZZZZZZZZZZZZZZZZZZZ';
    await h.app.db.kysely
      .insertInto('refunds')
      .values({ id: refundId, payment_id: payment.id, amount: 100, currency: 'USD', reason: null, status: 'pending', connector: 'sandbox', idempotency_key: refundId, request_idempotency_key: 'race', gateway_reference: null, failure_code: null, created_at: now, updated_at: now })
      .execute();
    // The success is applied first but held inside its transaction; the "processing" answer arrives meanwhile.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const base = h.app.payments;
    const held: PaymentsDeps = { ...base, hooks: { ...base.hooks, saleFor: async (tx, intent) => { await gate; return base.hooks.saleFor(tx, intent); } } };
    const success = applyRefundOutcome(held, refundId, { status: 'succeeded', reference: 're_1' });
    await new Promise((r) => setTimeout(r, 100));
    const late = applyRefundOutcome(base, refundId, { status: 'processing', reference: 're_1' });
    await new Promise((r) => setTimeout(r, 100));
    release();
    await Promise.all([success, late]);
    // …and the reconciler later applies the gateway's final answer again.
    await applyRefundOutcome(base, refundId, { status: 'succeeded', reference: 're_1' });
    const refund = await h.app.db.kysely.selectFrom('refunds').select('status').where('id', '=', refundId).executeTakeFirstOrThrow();
    expect(refund.status).toBe('succeeded');
    const intent = await h.app.db.kysely.selectFrom('payment_intents').select('amount_refunded').where('id', '=', payment.id).executeTakeFirstOrThrow();
    expect(Number(intent.amount_refunded)).toBe(100);
    const journals = await h.app.db.kysely.selectFrom('journal_transactions').select('kind').where('reference_id', '=', payment.id).where('kind', '=', 'refund').execute();
    expect(journals).toHaveLength(1);
  });

  it('gives the typed error, not a crash, when one customer confirms two sessions with one coupon at once', async () => {
    const customerId = customer();
    const sessions = await Promise.all(
      [1, 2].map(async () => (await h.gql(CREATE, { input: { customerId, country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], couponCode: 'WELCOME10', idempotencyKey: key('c') } })).data!.createCheckoutSession.checkoutSession),
    );
    const results = await Promise.all(sessions.map((s) => h.gql(CONFIRM, { input: { sessionId: s.id, paymentMethodToken: 'tok_visa', idempotencyKey: key('f') } })));
    expect(results.filter((r) => r.errors === undefined)).toHaveLength(1);
    expect(results.map(errorCode).filter(Boolean)).toEqual(['COUPON_ALREADY_REDEEMED']);
  });

    it('replays a capture after a crash before its response was stored', async () => {
      const { payment } = await paidPayment({ captureMethod: 'manual' });
      const input = { paymentId: payment.id, amount: 1000, idempotencyKey: key('cap') };
      const first = await h.gql(CAPTURE, { input });
      await forgetResponse(input.idempotencyKey);
      const again = await h.gql(CAPTURE, { input });
      expect(again.errors).toBeUndefined();
      expect(again.data!.capturePayment.result).toBe(first.data!.capturePayment.result);
      expect(again.data!.capturePayment.payment.amountCaptured).toEqual(first.data!.capturePayment.payment.amountCaptured);
    });

    it('replays a void after a crash before its response was stored', async () => {
      const { payment } = await paidPayment({ captureMethod: 'manual' });
      const input = { paymentId: payment.id, idempotencyKey: key('void') };
      await h.gql(VOID, { input });
      await forgetResponse(input.idempotencyKey);
      const again = await h.gql(VOID, { input });
      expect(again.errors).toBeUndefined();
      expect(again.data!.voidPayment.payment.status).toBe('canceled');
    });

    it('replays a refund after a crash before its response was stored, refunding once', async () => {
      const { payment } = await paidPayment();
      const input = { paymentId: payment.id, amount: 700, idempotencyKey: key('ref') };
      await h.gql(REFUND, { input });
      await forgetResponse(input.idempotencyKey);
      const again = await h.gql(REFUND, { input });
      expect(again.errors).toBeUndefined();
      expect(again.data!.refundPayment.payment.amountRefunded.amount).toBe(700);
    });

    it('replays a free checkout after a crash before its response was stored', async () => {
      const s = (await h.gql(CREATE, { input: { customerId: customer(), country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], couponCode: 'FREECERT', idempotencyKey: key('c') } })).data!.createCheckoutSession.checkoutSession;
      const input = { sessionId: s.id, paymentMethodToken: null, idempotencyKey: key('free') };
      await h.gql(CONFIRM, { input });
      await forgetResponse(input.idempotencyKey);
      const again = await h.gql(CONFIRM, { input });
      expect(again.errors).toBeUndefined();
      expect(again.data!.confirmCheckoutSession.checkoutSession.status).toBe('complete');
    });

    it('replays a 3-D Secure completion after a crash before its response was stored', async () => {
      const { payment } = await paidPayment({}, 'tok_threeDSecure2Required');
      const input = { paymentId: payment.id, idempotencyKey: key('3ds') };
      await h.gql(COMPLETE_3DS, { input });
      await forgetResponse(input.idempotencyKey);
      const again = await h.gql(COMPLETE_3DS, { input });
      expect(again.errors).toBeUndefined();
      expect(again.data!.completeThreeDSecureChallenge.payment.status).toBe('succeeded');
    });

  it('keeps a card number out of the echoed request id', async () => {
    const res = await h.server.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': '4242424242424242' } });
    expect(res.headers['x-request-id']).not.toContain('4242424242424242');
  });

  it('refuses a card number sent as a JSON number too long for JavaScript', async () => {
    const res = await h.server.inject({ method: 'POST', url: '/graphql', headers: { 'content-type': 'application/json' }, payload: '{"query":"{ products { id } }","variables":{"x":4242424242424242428}}' });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0].extensions.code).toBe('CARD_DATA_REFUSED');
  });
});
