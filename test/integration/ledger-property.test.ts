/**
 * The ledger property, end to end: random sequences of checkouts (automatic and manual capture,
 * declines, 3-D Secure, free orders), partial captures, voids and partial or full refunds,
 * driven through the real use cases, keep every journal transaction balanced per currency, every
 * maintained balance equal to the sum of its entries, and the trial balance balanced.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { recomputeBalancesFromEntries, trialBalance, unbalancedTransactions } from '../../src/ledger/index.js';
import { describeEachDatabase } from '../support/databases.js';
import { key, startHarness, type Harness } from '../support/harness.js';
import { CAPTURE, COMPLETE_3DS, CONFIRM, CREATE, REFUND, VOID } from './fragments.js';

const CARTS = [
  { country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }] },
  { country: 'DE', items: [{ priceId: 'price_plus_monthly_eur', quantity: 3 }] },
  { country: 'FR', items: [{ priceId: 'price_ml_certificate_eur', quantity: 2 }, { priceId: 'price_plus_annual_eur', quantity: 1 }] },
  { country: 'IN', items: [{ priceId: 'price_plus_monthly_inr_in', quantity: 1 }] },
  { country: 'JP', items: [{ priceId: 'price_plus_annual_jpy', quantity: 1 }] },
] as const;

const step = fc.record({
  cart: fc.integer({ min: 0, max: CARTS.length - 1 }),
  coupon: fc.constantFrom(null, 'WELCOME10', 'FREECERT'),
  token: fc.constantFrom('tok_visa', 'tok_visa', 'tok_chargeDeclined', 'tok_threeDSecure2Required', 'tok_timeout'),
  manual: fc.boolean(),
  then: fc.constantFrom('none', 'capture_full', 'capture_part', 'void'),
  refunds: fc.array(fc.integer({ min: 1, max: 100 }), { maxLength: 3 }),
});

type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

describeEachDatabase('ledger invariants under random money movements', (dialect) => {
  let h: Harness;
  let n = 0;
  beforeAll(async () => {
    h = await startHarness(dialect);
  });
  afterAll(async () => h?.close());

  async function run(s: Step) {
    const cart = CARTS[s.cart]!;
    const created = await h.gql(CREATE, { input: { customerId: `cus_prop_${dialect}_${++n}`, ...cart, couponCode: s.coupon, captureMethod: s.manual ? 'manual' : 'automatic', idempotencyKey: key('p') } });
    expect(created.errors).toBeUndefined();
    const session = created.data!.createCheckoutSession.checkoutSession;
    const confirmed = await h.gql(CONFIRM, { input: { sessionId: session.id, paymentMethodToken: s.token, idempotencyKey: key('p') } });
    let payment = confirmed.data?.confirmCheckoutSession.payment;
    if (!payment) return;
    if (payment.status === 'requires_action') payment = (await h.gql(COMPLETE_3DS, { input: { paymentId: payment.id, idempotencyKey: key('p') } })).data!.completeThreeDSecureChallenge.payment;
    if (payment.status === 'processing') {
      await h.runWorker();
      payment = (await h.gql(`query($id: ID!) { payment(id: $id) { id status amountAuthorized { amount } amountCaptured { amount } } }`, { id: payment.id })).data!.payment;
    }
    if (payment.status === 'requires_capture') {
      if (s.then === 'void') payment = (await h.gql(VOID, { input: { paymentId: payment.id, idempotencyKey: key('p') } })).data!.voidPayment.payment;
      else if (s.then !== 'none') {
        const amount = s.then === 'capture_part' ? Math.max(1, Math.floor(payment.amountAuthorized.amount / 2)) : null;
        payment = (await h.gql(CAPTURE, { input: { paymentId: payment.id, amount, idempotencyKey: key('p') } })).data!.capturePayment.payment;
      }
    }
    if (payment.status !== 'succeeded') return;
    let remaining = payment.amountCaptured.amount as number;
    for (const pct of s.refunds) {
      if (remaining <= 0) break;
      const amount = Math.max(1, Math.floor((remaining * pct) / 100));
      const res = await h.gql(REFUND, { input: { paymentId: payment.id, amount, idempotencyKey: key('p') } });
      expect(res.errors).toBeUndefined();
      remaining -= amount;
    }
  }

  it('keeps every transaction balanced and every balance equal to the sum of its entries', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 4 }), async (steps) => {
        for (const s of steps) await run(s);
        const db = h.app.db.kysely;
        expect(await unbalancedTransactions(db)).toEqual([]);
        const sums = await recomputeBalancesFromEntries(db);
        const tb = await trialBalance(db);
        for (const c of tb.currencies) {
          expect(c.totalDebits).toBe(c.totalCredits);
          for (const a of c.accounts) expect(a.balance).toBe(sums.get(`${a.code}:${c.currency}`) ?? 0);
        }
      }),
      { numRuns: 15 },
    );
  });
});
