/**
 * Subscriptions through GraphQL, as learners' apps and the console use them, on every database:
 * signing up with and without a trial, reading subscriptions and invoices, canceling and
 * resuming, changing plan, an admin driving a test clock through a renewal, a renewal the issuer
 * refused for authentication paid by the learner, replays, other learners' subscriptions, and
 * bad input that must change nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachDatabase } from '../support/databases.js';
import { errorCode, key, startHarness, type GraphQLResult, type Harness } from '../support/harness.js';
import {
  ADVANCE_TEST_CLOCK,
  ATTACH_TEST_CLOCK,
  CANCEL_SUBSCRIPTION,
  CHANGE_SUBSCRIPTION_PLAN,
  COMPLETE_3DS,
  CONFIRM,
  CREATE,
  CREATE_TEST_CLOCK,
  INVOICE,
  PAY_SUBSCRIPTION_INVOICE,
  RESUME_SUBSCRIPTION,
  START_SUBSCRIPTION,
  SUBSCRIPTION,
  SUBSCRIPTION_INVOICES,
  SUBSCRIPTIONS,
  TEST_CLOCK,
  UPDATE_SUBSCRIPTION_PAYMENT_METHOD,
} from './fragments.js';

const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
const GHOST_SUBSCRIPTION = 'sub_01JZZZZZZZZZZZZZZZZZZZZZZZ';
const GHOST_INVOICE = 'in_01JZZZZZZZZZZZZZZZZZZZZZZZ';
const GHOST_CLOCK = 'clock_01JZZZZZZZZZZZZZZZZZZZZZZZ';

type Data = Record<string, any>;

function ok(res: GraphQLResult): Data {
  expect(res.errors).toBeUndefined();
  return res.data!;
}

describeEachDatabase('subscriptions over GraphQL', (dialect) => {
  let h: Harness;
  let n = 0;
  beforeAll(async () => {
    h = await startHarness(dialect);
  });
  afterAll(async () => h?.close());

  const customer = (label: string) => `cus_sg_${label}_${++n}`;
  async function learner(label: string) {
    const id = customer(label);
    return { id, token: await h.token({ sub: id, roles: ['learner'] }) };
  }

  /** h.snapshot() plus the test clock tables, which it does not count. */
  async function snapshot() {
    const out: Record<string, number> = { ...(await h.snapshot()) };
    for (const table of ['test_clocks', 'test_clock_customers'] as const) {
      const row = await h.app.db.kysely
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirst();
      out[table] = Number(row?.n ?? 0);
    }
    return out;
  }

  async function start(as: string, over: Record<string, unknown> = {}) {
    const res = await h.gql(START_SUBSCRIPTION, { input: { priceId: 'price_data_science_monthly_usd', country: 'US', paymentMethodToken: 'tok_visa', trialDays: 0, idempotencyKey: key('start'), ...over } }, { as });
    return ok(res).startSubscription as Data;
  }

  async function readSubscription(id: string, as?: string) {
    return ok(await h.gql(SUBSCRIPTION, { id }, as ? { as } : {})).subscription as Data;
  }

  async function invoicesOf(id: string, as?: string) {
    return ok(await h.gql(SUBSCRIPTION_INVOICES, { id }, as ? { as } : {})).subscription.invoices as Data[];
  }

  /** A fresh test clock at `at` with `customerId` attached, through the admin's GraphQL. */
  async function clockFor(customerId: string, at: number) {
    const created = ok(await h.gql(CREATE_TEST_CLOCK, { input: { name: `graphql ${customerId}`, frozenTime: iso(at), idempotencyKey: key('clock') } })).createTestClock.testClock;
    ok(await h.gql(ATTACH_TEST_CLOCK, { input: { clockId: created.id, customerId, idempotencyKey: key('attach') } }));
    return created.id as string;
  }

  async function advance(clockId: string, to: number) {
    const res = await h.gql(ADVANCE_TEST_CLOCK, { input: { clockId, to: iso(to), idempotencyKey: key('advance') } });
    const clock = ok(res).advanceTestClock.testClock;
    await h.runWorker();
    return clock as Data;
  }

  describe('a learner', () => {
    it('subscribes with the plan’s trial: nothing is charged, the method is saved, and the subscription reads back', async () => {
      const prices = ok(await h.gql(`{ prices(productId: "prod_obol_plus", currency: "USD") { id billingInterval trialPeriodDays } }`, {}, { as: 'anonymous' })).prices;
      expect(prices).toContainEqual({ id: 'price_plus_monthly_usd', billingInterval: 'month', trialPeriodDays: 7 });

      const alice = await learner('trial');
      const result = ok(await h.gql(START_SUBSCRIPTION, { input: { priceId: 'price_plus_monthly_usd', country: 'us', paymentMethodToken: 'tok_visa', idempotencyKey: key('start') } }, { as: alice.token })).startSubscription;
      const sub = result.subscription;
      expect(sub).toMatchObject({
        customerId: alice.id,
        status: 'trialing',
        productId: 'prod_obol_plus',
        priceId: 'price_plus_monthly_usd',
        currency: 'USD',
        unitAmount: { amount: 5900, currency: 'USD', decimal: '59.00' },
        billingInterval: 'month',
        taxBehavior: 'exclusive',
        country: 'US',
        testClockId: null,
        cancelAtPeriodEnd: false,
        latestInvoiceId: null,
        creditBalance: { amount: 0, currency: 'USD', decimal: '0.00' },
        dunningState: null,
        endReason: null,
      });
      expect(Date.parse(sub.trialEnd) - Date.parse(sub.createdAt)).toBe(7 * DAY);
      expect(sub.accessUntil).toBe(sub.trialEnd);
      expect(result.invoice).toBeNull();
      expect(result.payment).toBeNull();
      expect(result.paymentMethod).toMatchObject({ customerId: alice.id, connector: expect.any(String), status: 'active', declineCode: null });
      // A token goes to the gateway; nothing of it comes back.
      expect(JSON.stringify(result)).not.toContain('tok_visa');

      const read = await readSubscription(sub.id, alice.token);
      expect(read).toMatchObject({ id: sub.id, status: 'trialing', trialEnd: sub.trialEnd, latestInvoice: null, paymentMethod: { id: result.paymentMethod.id, status: 'active' } });
      expect(await invoicesOf(sub.id, alice.token)).toEqual([]);
      expect(ok(await h.gql(SUBSCRIPTIONS, {}, { as: alice.token })).subscriptions).toEqual([{ id: sub.id, customerId: alice.id, status: 'trialing', priceId: 'price_plus_monthly_usd', cancelAtPeriodEnd: false }]);
      expect(await h.app.db.kysely.selectFrom('payment_intents').select('id').where('customer_id', '=', alice.id).execute()).toEqual([]);
    });

    it('subscribes without a trial and with a coupon: the first invoice is paid at once, every amount a Money (discount lines negative)', async () => {
      const bob = await learner('paid');
      const result = await start(bob.token, { country: 'GB', couponCode: ' welcome10 ', cardCountry: 'GB' });
      expect(result.subscription).toMatchObject({ status: 'active', trialEnd: null, couponId: 'coupon_welcome10' });
      const invoice = result.invoice;
      expect(invoice).toMatchObject({
        status: 'paid',
        billingReason: 'subscription_create',
        customerId: bob.id,
        subscriptionId: result.subscription.id,
        currency: 'USD',
        subtotal: { amount: 3900, currency: 'USD', decimal: '39.00' },
        discount: { amount: 390, currency: 'USD', decimal: '3.90' },
        credit: { amount: 0, currency: 'USD', decimal: '0.00' },
        tax: { amount: 702, currency: 'USD', decimal: '7.02' },
        total: { amount: 4212, currency: 'USD', decimal: '42.12' },
        taxCountry: 'GB',
        taxRateBps: 2000,
        attemptCount: 1,
        periodStart: result.subscription.currentPeriodStart,
        periodEnd: result.subscription.currentPeriodEnd,
      });
      expect(invoice.number).toMatch(/^OBOL-\d{6}$/);
      expect(invoice.lines.map((l: Data) => [l.kind, l.amount.amount, l.amount.decimal])).toEqual([
        ['subscription', 3900, '39.00'],
        ['discount', -390, '-3.90'],
        ['tax', 702, '7.02'],
      ]);
      expect(invoice.lines.reduce((sum: number, l: Data) => sum + l.amount.amount, 0)).toBe(invoice.total.amount);
      expect(result.payment).toMatchObject({ status: 'succeeded', initiator: 'customer', invoiceId: invoice.id, checkoutSessionId: null, amount: { amount: 4212, currency: 'USD' } });
      expect(result.paymentMethod).toMatchObject({ status: 'active' });

      const read = ok(await h.gql(INVOICE, { id: invoice.id }, { as: bob.token })).invoice;
      expect(read).toMatchObject({ id: invoice.id, total: invoice.total, lines: invoice.lines, subscription: { id: result.subscription.id, status: 'active' }, payment: { id: result.payment.id, status: 'succeeded', invoiceId: invoice.id } });
      const latest = (await readSubscription(result.subscription.id, bob.token)).latestInvoice;
      expect(latest).toMatchObject({ id: invoice.id, payment: { id: result.payment.id, status: 'succeeded' } });
      // From the payment back to its invoice.
      const payment = ok(await h.gql(`query($id: ID!) { payment(id: $id) { id invoice { id status total { amount } } } }`, { id: result.payment.id }, { as: bob.token })).payment;
      expect(payment.invoice).toEqual({ id: invoice.id, status: 'paid', total: { amount: 4212 } });
      // A second subscription to the same product is refused.
      const before = await snapshot();
      const again = await h.gql(START_SUBSCRIPTION, { input: { priceId: 'price_data_science_monthly_usd', country: 'GB', paymentMethodToken: 'tok_visa', idempotencyKey: key() } }, { as: bob.token });
      expect(errorCode(again)).toBe('SUBSCRIPTION_ALREADY_EXISTS');
      expect(await snapshot()).toEqual(before);
    });

    it('cancels at the period end, keeping access to it, and resumes before it comes', async () => {
      const carol = await learner('cancel');
      const started = await start(carol.token);
      const id = started.subscription.id;
      const canceled = ok(await h.gql(CANCEL_SUBSCRIPTION, { input: { subscriptionId: id, idempotencyKey: key('cancel') } }, { as: carol.token })).cancelSubscription;
      expect(canceled.subscription).toMatchObject({ status: 'active', cancelAtPeriodEnd: true, endedAt: null, accessUntil: started.subscription.currentPeriodEnd });
      expect(canceled.subscription.canceledAt).not.toBeNull();
      expect(ok(await h.gql(SUBSCRIPTIONS, { customerId: carol.id }, { as: carol.token })).subscriptions[0]).toMatchObject({ id, cancelAtPeriodEnd: true });

      const resumed = ok(await h.gql(RESUME_SUBSCRIPTION, { input: { subscriptionId: id, idempotencyKey: key('resume') } }, { as: carol.token })).resumeSubscription;
      expect(resumed.subscription).toMatchObject({ status: 'active', cancelAtPeriodEnd: false, canceledAt: null });
      expect(await readSubscription(id, carol.token)).toMatchObject({ cancelAtPeriodEnd: false, canceledAt: null });

      // Ended now, it is over: nothing more can be done to it.
      const ended = ok(await h.gql(CANCEL_SUBSCRIPTION, { input: { subscriptionId: id, atPeriodEnd: false, idempotencyKey: key('end') } }, { as: carol.token })).cancelSubscription;
      expect(ended.subscription).toMatchObject({ status: 'canceled', endReason: 'canceled_immediately' });
      expect(ended.payment).toMatchObject({ amountRefunded: { amount: 0 } });
      const before = await snapshot();
      for (const [mutation, input] of [
        [RESUME_SUBSCRIPTION, { subscriptionId: id }],
        [CHANGE_SUBSCRIPTION_PLAN, { subscriptionId: id, priceId: 'price_data_science_monthly_eur' }],
        [PAY_SUBSCRIPTION_INVOICE, { subscriptionId: id, paymentMethodToken: 'tok_visa' }],
      ] as const) {
        expect(errorCode(await h.gql(mutation, { input: { ...input, idempotencyKey: key() } }, { as: carol.token }))).toBe('SUBSCRIPTION_NOT_ACTIVE');
      }
      expect(await snapshot()).toEqual(before);
    });

    it('upgrades to the annual plan now, with the unused month credited as a negative line, and downgrades at the period end', async () => {
      const dave = await learner('plan');
      const started = await start(dave.token, { priceId: 'price_plus_monthly_usd' });
      expect(started.invoice).toMatchObject({ status: 'paid', total: { amount: 5900 } });

      const before = await snapshot();
      for (const [priceId, code] of [
        ['price_plus_monthly_usd', 'PLAN_CHANGE_NOT_ALLOWED'],
        ['price_data_science_monthly_usd', 'PLAN_CHANGE_NOT_ALLOWED'],
        ['price_ml_certificate_usd', 'PRICE_NOT_RECURRING'],
        ['price_plus_annual_eur', 'CURRENCY_MISMATCH'],
        ['price_plus_annual_gbp', 'PRICE_NOT_FOUND'],
      ] as const) {
        const res = await h.gql(CHANGE_SUBSCRIPTION_PLAN, { input: { subscriptionId: started.subscription.id, priceId, idempotencyKey: key() } }, { as: dave.token });
        expect(errorCode(res), priceId).toBe(code);
      }
      expect(await snapshot()).toEqual(before);

      const upgraded = ok(await h.gql(CHANGE_SUBSCRIPTION_PLAN, { input: { subscriptionId: started.subscription.id, priceId: 'price_plus_annual_usd', idempotencyKey: key('up') } }, { as: dave.token })).changeSubscriptionPlan;
      expect(upgraded.subscription).toMatchObject({ status: 'active', priceId: 'price_plus_annual_usd', billingInterval: 'year', unitAmount: { amount: 39900 }, creditBalance: { amount: 0 } });
      // No time has passed: the whole month paid for is unused.
      expect(upgraded.invoice).toMatchObject({ status: 'paid', billingReason: 'subscription_update', subtotal: { amount: 39900 }, credit: { amount: 5900, decimal: '59.00' }, total: { amount: 34000, decimal: '340.00' } });
      expect(upgraded.invoice.lines.map((l: Data) => [l.kind, l.amount.amount])).toEqual([
        ['subscription', 39900],
        ['proration_credit', -5900],
      ]);
      // Charged at once, off-session, with the saved method.
      expect(upgraded.payment).toMatchObject({ status: 'succeeded', initiator: 'merchant', amount: { amount: 34000 } });

      const downgraded = ok(await h.gql(CHANGE_SUBSCRIPTION_PLAN, { input: { subscriptionId: started.subscription.id, priceId: 'price_plus_monthly_usd', idempotencyKey: key('down') } }, { as: dave.token })).changeSubscriptionPlan;
      expect(downgraded.subscription).toMatchObject({ priceId: 'price_plus_annual_usd', pendingPriceId: 'price_plus_monthly_usd' });
      expect(downgraded.invoice.id).toBe(upgraded.invoice.id);
      const all = await invoicesOf(started.subscription.id, dave.token);
      expect(all.map((i) => [i.billingReason, i.total.amount, i.status])).toEqual([
        ['subscription_create', 5900, 'paid'],
        ['subscription_update', 34000, 'paid'],
      ]);
    });

    it('replaces the payment method: a card the issuer refuses is an outcome, not an error', async () => {
      const erin = await learner('method');
      const started = await start(erin.token);
      const refused = ok(await h.gql(UPDATE_SUBSCRIPTION_PAYMENT_METHOD, { input: { subscriptionId: started.subscription.id, paymentMethodToken: 'tok_chargeDeclined', idempotencyKey: key() } }, { as: erin.token })).updateSubscriptionPaymentMethod;
      expect(refused.savedPaymentMethod).toMatchObject({ status: 'failed', declineReason: 'generic_decline' });
      expect(refused.paymentMethod.id).toBe(started.paymentMethod.id);
      const updated = ok(await h.gql(UPDATE_SUBSCRIPTION_PAYMENT_METHOD, { input: { subscriptionId: started.subscription.id, paymentMethodToken: 'tok_mastercard', idempotencyKey: key() } }, { as: erin.token })).updateSubscriptionPaymentMethod;
      expect(updated.savedPaymentMethod).toMatchObject({ status: 'active' });
      expect(updated.paymentMethod.id).toBe(updated.savedPaymentMethod.id);
      expect((await readSubscription(started.subscription.id, erin.token)).paymentMethod).toMatchObject({ id: updated.savedPaymentMethod.id, status: 'active' });
    });
  });

  describe('test clocks', () => {
    it('let an admin drive a subscription through its renewal', async () => {
      const t0 = Date.UTC(2027, 0, 15, 10, 0, 0);
      const created = ok(await h.gql(CREATE_TEST_CLOCK, { input: { name: 'renewal via GraphQL', frozenTime: iso(t0), idempotencyKey: key('clock') } })).createTestClock.testClock;
      expect(created).toMatchObject({ name: 'renewal via GraphQL', frozenTime: iso(t0), status: 'ready', advanceTo: null });
      expect(created.id).toMatch(/^clock_/);
      const customerId = customer('clock');
      const attached = ok(await h.gql(ATTACH_TEST_CLOCK, { input: { clockId: created.id, customerId, idempotencyKey: key('attach') } })).attachCustomerToTestClock.testClock;
      expect(attached.id).toBe(created.id);

      const started = ok(
        await h.gql(START_SUBSCRIPTION, { input: { customerId, priceId: 'price_data_science_monthly_usd', country: 'US', paymentMethodToken: 'tok_visa', trialDays: 0, idempotencyKey: key('start') } }),
      ).startSubscription;
      const feb15 = Date.UTC(2027, 1, 15, 10, 0, 0);
      expect(started.subscription).toMatchObject({ status: 'active', testClockId: created.id, currentPeriodStart: iso(t0), currentPeriodEnd: iso(feb15) });
      expect(started.invoice).toMatchObject({ status: 'paid', periodStart: iso(t0), paidAt: iso(t0) });

      const advanced = await advance(created.id, feb15);
      expect(advanced).toMatchObject({ id: created.id, frozenTime: iso(feb15), status: 'ready' });
      expect(ok(await h.gql(TEST_CLOCK, { id: created.id })).testClock).toMatchObject({ frozenTime: iso(feb15), status: 'ready' });

      // The learner sees the renewal: paid off-session, the next period running.
      const as = await h.token({ sub: customerId, roles: ['learner'] });
      const sub = await readSubscription(started.subscription.id, as);
      expect(sub).toMatchObject({ status: 'active', currentPeriodStart: iso(feb15), currentPeriodEnd: iso(Date.UTC(2027, 2, 15, 10, 0, 0)), accessUntil: iso(Date.UTC(2027, 2, 15, 10, 0, 0)) });
      expect(sub.latestInvoice).toMatchObject({ billingReason: 'subscription_cycle', status: 'paid', periodStart: iso(feb15), total: { amount: 3900 }, payment: { status: 'succeeded', initiator: 'merchant' } });
      const all = await invoicesOf(started.subscription.id, as);
      expect(all.map((i) => [i.billingReason, i.status, i.periodStart])).toEqual([
        ['subscription_create', 'paid', iso(t0)],
        ['subscription_cycle', 'paid', iso(feb15)],
      ]);
      expect(Number(all[1]!.number.slice('OBOL-'.length))).toBeGreaterThan(Number(all[0]!.number.slice('OBOL-'.length)));

      const before = await snapshot();
      // A clock only moves forward; a customer with history cannot move to another clock.
      expect(errorCode(await h.gql(ADVANCE_TEST_CLOCK, { input: { clockId: created.id, to: iso(t0), idempotencyKey: key() } }))).toBe('TEST_CLOCK_ADVANCE_INVALID');
      expect(errorCode(await h.gql(ADVANCE_TEST_CLOCK, { input: { clockId: created.id, to: iso(feb15 + 6 * 366 * DAY), idempotencyKey: key() } }))).toBe('TEST_CLOCK_ADVANCE_INVALID');
      const other = ok(await h.gql(CREATE_TEST_CLOCK, { input: { name: 'other', frozenTime: iso(t0), idempotencyKey: key() } })).createTestClock.testClock;
      const afterCreate = await snapshot();
      expect(afterCreate.test_clocks).toBe(before.test_clocks! + 1);
      expect(errorCode(await h.gql(ATTACH_TEST_CLOCK, { input: { clockId: other.id, customerId, idempotencyKey: key() } }))).toBe('TEST_CLOCK_IN_USE');
      expect(errorCode(await h.gql(ATTACH_TEST_CLOCK, { input: { clockId: GHOST_CLOCK, customerId: customer('ghost'), idempotencyKey: key() } }))).toBe('TEST_CLOCK_NOT_FOUND');
      expect(errorCode(await h.gql(TEST_CLOCK, { id: GHOST_CLOCK }))).toBe('TEST_CLOCK_NOT_FOUND');
      expect(await snapshot()).toEqual(afterCreate);
    });

    it('are for admins only: a learner is FORBIDDEN and nothing changes', async () => {
      const clockId = await clockFor(customer('admin_only'), Date.UTC(2027, 5, 1));
      const mallory = await learner('clocks');
      const before = await snapshot();
      for (const [mutation, input] of [
        [CREATE_TEST_CLOCK, { name: 'mine', frozenTime: iso(Date.UTC(2027, 5, 1)) }],
        [ATTACH_TEST_CLOCK, { clockId, customerId: mallory.id }],
        [ADVANCE_TEST_CLOCK, { clockId, to: iso(Date.UTC(2027, 6, 1)) }],
      ] as const) {
        expect(errorCode(await h.gql(mutation, { input: { ...input, idempotencyKey: key() } }, { as: mallory.token }))).toBe('FORBIDDEN');
      }
      expect(errorCode(await h.gql(TEST_CLOCK, { id: clockId }, { as: mallory.token }))).toBe('FORBIDDEN');
      const support = await h.token({ sub: 'staff_sg_support', roles: ['support'] });
      expect(errorCode(await h.gql(ADVANCE_TEST_CLOCK, { input: { clockId, to: iso(Date.UTC(2027, 6, 1)), idempotencyKey: key() } }, { as: support }))).toBe('FORBIDDEN');
      expect(await snapshot()).toEqual(before);
      expect(ok(await h.gql(TEST_CLOCK, { id: clockId })).testClock.frozenTime).toBe(iso(Date.UTC(2027, 5, 1)));
    });
  });

  it('a renewal the issuer refuses for authentication is paid by the learner, present, through 3-D Secure', async () => {
    const frank = await learner('sca');
    const t0 = Date.UTC(2027, 2, 1, 9, 0, 0);
    const clockId = await clockFor(frank.id, t0);
    // The card saves fine for the trial, and its issuer then refuses merchant-initiated charges.
    const started = ok(await h.gql(START_SUBSCRIPTION, { input: { priceId: 'price_plus_monthly_usd', country: 'US', paymentMethodToken: 'tok_threeDSecure2Required', idempotencyKey: key('start') } }, { as: frank.token })).startSubscription;
    expect(started.subscription).toMatchObject({ status: 'trialing', testClockId: clockId, trialEnd: iso(t0 + 7 * DAY) });
    expect(started.paymentMethod).toMatchObject({ status: 'active' });

    await advance(clockId, t0 + 7 * DAY);
    const pastDue = await readSubscription(started.subscription.id, frank.token);
    expect(pastDue).toMatchObject({ status: 'past_due', dunningState: 'await_customer_authentication', accessUntil: pastDue.dunningDeadline });
    expect(pastDue.latestInvoice).toMatchObject({ status: 'open', billingReason: 'subscription_cycle', total: { amount: 5900 }, payment: { initiator: 'merchant', lastError: { declineClass: 'customer_action' } } });
    expect(pastDue.latestInvoice.payment.status).not.toBe('succeeded');

    // Another learner happens to have used the same idempotency key: keys are the caller's own.
    const grace = await learner('same_key');
    const payKey = key('pay');
    const session = ok(await h.gql(CREATE, { input: { country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key() } }, { as: grace.token })).createCheckoutSession.checkoutSession;
    ok(await h.gql(CONFIRM, { input: { sessionId: session.id, paymentMethodToken: 'tok_visa', idempotencyKey: payKey } }, { as: grace.token }));

    const payInput = { subscriptionId: started.subscription.id, paymentMethodToken: 'tok_threeDSecure2Required', cardCountry: 'DE', idempotencyKey: payKey };
    const pay = await h.gql(PAY_SUBSCRIPTION_INVOICE, { input: payInput }, { as: frank.token });
    const paying = ok(pay).paySubscriptionInvoice;
    expect(paying.invoice).toMatchObject({ id: pastDue.latestInvoice.id, status: 'open' });
    expect(paying.payment).toMatchObject({ status: 'requires_action', initiator: 'customer', invoiceId: pastDue.latestInvoice.id, amount: { amount: 5900 } });
    expect(paying.payment.nextAction).toMatchObject({ type: expect.any(String), challengeId: expect.any(String), redirectUrl: expect.stringMatching(/^https?:\/\//) });
    expect(paying.subscription.status).toBe('past_due');

    // A replay (the app retrying after a lost answer) returns the same challenge and charges nothing more.
    const attempts = await snapshot();
    expect(await h.gql(PAY_SUBSCRIPTION_INVOICE, { input: payInput }, { as: frank.token })).toEqual(pay);
    expect(await snapshot()).toEqual(attempts);

    const completed = ok(await h.gql(COMPLETE_3DS, { input: { paymentId: paying.payment.id, idempotencyKey: key('3ds') } }, { as: frank.token })).completeThreeDSecureChallenge;
    expect(completed.payment.status).toBe('succeeded');
    await h.runWorker();
    const recovered = await readSubscription(started.subscription.id, frank.token);
    expect(recovered).toMatchObject({ status: 'active', dunningState: null, dunningDeadline: null, latestInvoice: { id: pastDue.latestInvoice.id, status: 'paid', payment: { id: paying.payment.id, status: 'succeeded' } } });
    expect(recovered.accessUntil).toBe(recovered.currentPeriodEnd);
    expect(recovered.paymentMethod.status).toBe('active');

    // Nothing is left to pay.
    const before = await snapshot();
    expect(errorCode(await h.gql(PAY_SUBSCRIPTION_INVOICE, { input: { ...payInput, idempotencyKey: key() } }, { as: frank.token }))).toBe('INVOICE_NOT_PAYABLE');
    expect(await snapshot()).toEqual(before);
  });

  describe('idempotency', () => {
    it('a replayed signup returns the first response, with one subscription and one charge', async () => {
      const george = await learner('replay');
      const input = { priceId: 'price_data_science_monthly_usd', country: 'US', paymentMethodToken: 'tok_visa', trialDays: 0, idempotencyKey: key('start') };
      const first = await h.gql(START_SUBSCRIPTION, { input }, { as: george.token });
      expect(ok(first).startSubscription.payment.status).toBe('succeeded');
      const before = await snapshot();
      const charges = (await h.app.sandbox.chargeLog()).length;
      const second = await h.gql(START_SUBSCRIPTION, { input }, { as: george.token });
      expect(second).toEqual(first);
      expect(await snapshot()).toEqual(before);
      expect((await h.app.sandbox.chargeLog()).length).toBe(charges);

      // The same key for another request, or another mutation, is refused and changes nothing.
      expect(errorCode(await h.gql(START_SUBSCRIPTION, { input: { ...input, country: 'GB' } }, { as: george.token }))).toBe('IDEMPOTENCY_KEY_REUSED');
      const subscriptionId = ok(first).startSubscription.subscription.id;
      expect(errorCode(await h.gql(CANCEL_SUBSCRIPTION, { input: { subscriptionId, idempotencyKey: input.idempotencyKey } }, { as: george.token }))).toBe('IDEMPOTENCY_KEY_REUSED');
      expect(await snapshot()).toEqual(before);

      // A replayed cancellation answers as the first did.
      const cancel = { subscriptionId, atPeriodEnd: true, idempotencyKey: key('cancel') };
      const canceled = await h.gql(CANCEL_SUBSCRIPTION, { input: cancel }, { as: george.token });
      expect(ok(canceled).cancelSubscription.subscription.cancelAtPeriodEnd).toBe(true);
      expect(await h.gql(CANCEL_SUBSCRIPTION, { input: cancel }, { as: george.token })).toEqual(canceled);
    });

    it('parallel duplicates of a signup have one effect', async () => {
      const hana = await learner('parallel');
      const input = { priceId: 'price_data_science_monthly_usd', country: 'US', paymentMethodToken: 'tok_visa', trialDays: 0, idempotencyKey: key('start') };
      const results = await Promise.all(Array.from({ length: 4 }, () => h.gql(START_SUBSCRIPTION, { input }, { as: hana.token })));
      const ids = new Set(results.map((r) => ok(r).startSubscription.subscription.id));
      expect(ids.size).toBe(1);
      expect(await h.app.db.kysely.selectFrom('subscriptions').select('id').where('customer_id', '=', hana.id).execute()).toHaveLength(1);
      const attempts = await h.app.db.kysely.selectFrom('payment_attempts').innerJoin('payment_intents', 'payment_intents.id', 'payment_attempts.payment_id').select('payment_attempts.id').where('payment_intents.customer_id', '=', hana.id).execute();
      expect(attempts).toHaveLength(1);
    });

    it('accepts the longest idempotency key on every mutation (the use cases’ own keys stay within their columns)', async () => {
      const ivan = await learner('long_key');
      const long = (c: string) => c.repeat(255);
      const trial = ok(await h.gql(START_SUBSCRIPTION, { input: { priceId: 'price_plus_monthly_usd', country: 'US', paymentMethodToken: 'tok_visa', idempotencyKey: long('a') } }, { as: ivan.token })).startSubscription;
      expect(trial.subscription.status).toBe('trialing');
      const updated = ok(await h.gql(UPDATE_SUBSCRIPTION_PAYMENT_METHOD, { input: { subscriptionId: trial.subscription.id, paymentMethodToken: 'tok_mastercard', idempotencyKey: long('b') } }, { as: ivan.token })).updateSubscriptionPaymentMethod;
      expect(updated.savedPaymentMethod.status).toBe('active');

      const paid = ok(await h.gql(START_SUBSCRIPTION, { input: { priceId: 'price_data_science_monthly_usd', country: 'US', paymentMethodToken: 'tok_visa', trialDays: 0, idempotencyKey: long('c') } }, { as: ivan.token })).startSubscription;
      expect(paid.payment.status).toBe('succeeded');
      // Canceled now, before any of the month is used: all of it comes back.
      const ended = ok(await h.gql(CANCEL_SUBSCRIPTION, { input: { subscriptionId: paid.subscription.id, atPeriodEnd: false, refund: 'prorated', idempotencyKey: long('d') } }, { as: ivan.token })).cancelSubscription;
      expect(ended.subscription).toMatchObject({ status: 'canceled', endReason: 'canceled_immediately' });
      expect(ended.payment).toMatchObject({ amountRefunded: { amount: 3900 } });
    });
  });

  describe("another learner's subscription", () => {
    it('is invisible: reads and writes are NOT_FOUND exactly as for ids that do not exist, and nothing changes', async () => {
      const judy = await learner('owner');
      const kim = await learner('other');
      const theirs = await start(judy.token);
      const subscriptionId = theirs.subscription.id;

      const read = await h.gql(SUBSCRIPTION, { id: subscriptionId }, { as: kim.token });
      const ghost = await h.gql(SUBSCRIPTION, { id: GHOST_SUBSCRIPTION }, { as: kim.token });
      expect(errorCode(read)).toBe('NOT_FOUND');
      expect(read.data).toEqual({ subscription: null });
      expect(read).toEqual(ghost);
      const invoice = await h.gql(INVOICE, { id: theirs.invoice.id }, { as: kim.token });
      expect(errorCode(invoice)).toBe('NOT_FOUND');
      expect(invoice).toEqual(await h.gql(INVOICE, { id: GHOST_INVOICE }, { as: kim.token }));
      expect(errorCode(await h.gql(SUBSCRIPTIONS, { customerId: judy.id }, { as: kim.token }))).toBe('NOT_FOUND');
      // Their payment, reached through its id, says nothing either.
      const paymentQuery = `query($id: ID!) { payment(id: $id) { id invoice { id } } }`;
      const payment = await h.gql(paymentQuery, { id: theirs.payment.id }, { as: kim.token });
      expect(payment.data).toEqual({ payment: null });
      expect(payment).toEqual(await h.gql(paymentQuery, { id: 'pay_01JZZZZZZZZZZZZZZZZZZZZZZZ' }, { as: kim.token }));

      const before = await snapshot();
      for (const id of [subscriptionId, GHOST_SUBSCRIPTION]) {
        for (const [mutation, input] of [
          [CANCEL_SUBSCRIPTION, { subscriptionId: id, atPeriodEnd: false, refund: 'prorated' }],
          [RESUME_SUBSCRIPTION, { subscriptionId: id }],
          [CHANGE_SUBSCRIPTION_PLAN, { subscriptionId: id, priceId: 'price_data_science_monthly_eur' }],
          [UPDATE_SUBSCRIPTION_PAYMENT_METHOD, { subscriptionId: id, paymentMethodToken: 'tok_visa' }],
          [PAY_SUBSCRIPTION_INVOICE, { subscriptionId: id, paymentMethodToken: 'tok_visa' }],
        ] as const) {
          const res = await h.gql(mutation, { input: { ...input, idempotencyKey: key() } }, { as: kim.token });
          expect(errorCode(res)).toBe('NOT_FOUND');
          expect(JSON.stringify(res.errors)).not.toContain(judy.id);
        }
      }
      // Nor can one subscribe in their name.
      expect(errorCode(await h.gql(START_SUBSCRIPTION, { input: { customerId: judy.id, priceId: 'price_plus_monthly_usd', country: 'US', paymentMethodToken: 'tok_visa', idempotencyKey: key() } }, { as: kim.token }))).toBe('FORBIDDEN');
      expect(await snapshot()).toEqual(before);
      expect(await readSubscription(subscriptionId, judy.token)).toMatchObject({ status: 'active', cancelAtPeriodEnd: false });
    });

    it('is readable by support and finance, and only support may manage it', async () => {
      const lena = await learner('staff');
      const theirs = await start(lena.token);
      const support = await h.token({ sub: 'staff_sg_sam', roles: ['support'] });
      const finance = await h.token({ sub: 'staff_sg_fin', roles: ['finance'] });
      expect((await readSubscription(theirs.subscription.id, finance)).latestInvoice.total.amount).toBe(3900);
      expect(ok(await h.gql(SUBSCRIPTIONS, { customerId: lena.id }, { as: finance })).subscriptions).toHaveLength(1);
      const before = await snapshot();
      expect(errorCode(await h.gql(CANCEL_SUBSCRIPTION, { input: { subscriptionId: theirs.subscription.id, idempotencyKey: key() } }, { as: finance }))).toBe('FORBIDDEN');
      expect(errorCode(await h.gql(SUBSCRIPTIONS, {}, { as: finance }))).toBe('VALIDATION_FAILED');
      expect(await snapshot()).toEqual(before);
      const canceled = ok(await h.gql(CANCEL_SUBSCRIPTION, { input: { subscriptionId: theirs.subscription.id, idempotencyKey: key() } }, { as: support })).cancelSubscription;
      expect(canceled.subscription.cancelAtPeriodEnd).toBe(true);
      expect(errorCode(await h.gql(SUBSCRIPTION, { id: theirs.subscription.id }, { as: 'anonymous' }))).toBe('UNAUTHENTICATED');
    });
  });

  describe('bad input: a typed error, and nothing changes', () => {
    let mia: { id: string; token: string };
    let subscriptionId: string;
    beforeAll(async () => {
      mia = await learner('bad_input');
      subscriptionId = (await start(mia.token)).subscription.id;
    });

    const startInput = (over: Record<string, unknown>) => ({ priceId: 'price_plus_annual_usd', country: 'US', paymentMethodToken: 'tok_visa', idempotencyKey: key(), ...over });

    async function expectRefused(query: string, variables: Record<string, unknown>, code: string, who: 'learner' | 'admin' = 'learner') {
      const before = await snapshot();
      const res = await h.gql(query, variables, who === 'admin' ? {} : { as: mia.token });
      expect(errorCode(res)).toBe(code);
      expect(res.data?.[Object.keys(res.data ?? {})[0] ?? ''] ?? null).toBeNull();
      expect(await snapshot()).toEqual(before);
      return res;
    }

    it.each([
      ['a malformed price id', { priceId: '../../etc/passwd' }, 'INVALID_ID'],
      ['an unknown price', { priceId: 'price_does_not_exist' }, 'PRICE_NOT_FOUND'],
      ['a one-time price', { priceId: 'price_ml_certificate_usd' }, 'PRICE_NOT_RECURRING'],
      ['a localized price from another country', { priceId: 'price_plus_annual_usd_br' }, 'PRICE_NOT_AVAILABLE_IN_COUNTRY'],
      ['a negative trial', { trialDays: -1 }, 'VALIDATION_FAILED'],
      ['a trial longer than a year', { trialDays: 366 }, 'VALIDATION_FAILED'],
      ['a trial beyond 32 bits', { trialDays: 2 ** 40 }, 'VALIDATION_FAILED'],
      ['a fractional trial', { trialDays: 1.5 }, 'VALIDATION_FAILED'],
      ['a malformed token', { paymentMethodToken: 'not a token; DROP TABLE' }, 'VALIDATION_FAILED'],
      ['an empty token', { paymentMethodToken: '' }, 'VALIDATION_FAILED'],
      ['a card number as the token', { paymentMethodToken: '4242 4242 4242 4242' }, 'CARD_DATA_REFUSED'],
      ['a card number as the token, without spaces', { paymentMethodToken: '4000002760003184' }, 'CARD_DATA_REFUSED'],
      ['a card number as the coupon', { couponCode: '4111-1111-1111-1111' }, 'CARD_DATA_REFUSED'],
      ['a card number as the card country', { cardCountry: '5555555555554444' }, 'CARD_DATA_REFUSED'],
      ['a malformed card country', { cardCountry: 'Germany' }, 'VALIDATION_FAILED'],
      ['a malformed country', { country: 'Narnia' }, 'VALIDATION_FAILED'],
      ['a country without tax configuration', { country: 'ZZ' }, 'UNSUPPORTED_COUNTRY'],
      ['an unknown coupon', { couponCode: 'NOPE' }, 'COUPON_NOT_FOUND'],
      ['an expired coupon', { couponCode: 'EXPIRED20' }, 'COUPON_EXPIRED'],
      ['a malformed customer id', { customerId: 'robert"); DROP TABLE' }, 'INVALID_ID'],
      ['someone else as the customer', { customerId: 'cus_sg_somebody_else' }, 'FORBIDDEN'],
      ['a missing idempotency key', { idempotencyKey: '' }, 'IDEMPOTENCY_KEY_REQUIRED'],
      ['an idempotency key with spaces', { idempotencyKey: 'two words' }, 'VALIDATION_FAILED'],
    ] as const)('startSubscription: %s', async (_label, over, code) => {
      await expectRefused(START_SUBSCRIPTION, { input: startInput(over) }, code);
    });

    it('startSubscription: a required field left out', async () => {
      await expectRefused(START_SUBSCRIPTION, { input: { priceId: 'price_plus_annual_usd', country: 'US', idempotencyKey: key() } }, 'VALIDATION_FAILED');
    });

    it.each([
      ['cancelSubscription: a malformed subscription id', CANCEL_SUBSCRIPTION, () => ({ subscriptionId: 'sub_123' }), 'INVALID_ID'],
      ['cancelSubscription: a subscription that does not exist', CANCEL_SUBSCRIPTION, () => ({ subscriptionId: GHOST_SUBSCRIPTION }), 'NOT_FOUND'],
      ['cancelSubscription: a refund at the period end', CANCEL_SUBSCRIPTION, () => ({ subscriptionId, atPeriodEnd: true, refund: 'prorated' }), 'VALIDATION_FAILED'],
      ['cancelSubscription: an unknown refund policy', CANCEL_SUBSCRIPTION, () => ({ subscriptionId, atPeriodEnd: false, refund: 'everything' }), 'VALIDATION_FAILED'],
      ['resumeSubscription: a card number as the id', RESUME_SUBSCRIPTION, () => ({ subscriptionId: '4242424242424242' }), 'CARD_DATA_REFUSED'],
      ['changeSubscriptionPlan: a malformed price id', CHANGE_SUBSCRIPTION_PLAN, () => ({ subscriptionId, priceId: 'plan_gold' }), 'INVALID_ID'],
      ['updateSubscriptionPaymentMethod: a malformed token', UPDATE_SUBSCRIPTION_PAYMENT_METHOD, () => ({ subscriptionId, paymentMethodToken: '<script>' }), 'VALIDATION_FAILED'],
      ['updateSubscriptionPaymentMethod: a card number', UPDATE_SUBSCRIPTION_PAYMENT_METHOD, () => ({ subscriptionId, paymentMethodToken: '4242424242424242' }), 'CARD_DATA_REFUSED'],
      ['paySubscriptionInvoice: nothing open to pay', PAY_SUBSCRIPTION_INVOICE, () => ({ subscriptionId, paymentMethodToken: 'tok_visa' }), 'INVOICE_NOT_PAYABLE'],
      ['paySubscriptionInvoice: a malformed card country', PAY_SUBSCRIPTION_INVOICE, () => ({ subscriptionId, paymentMethodToken: 'tok_visa', cardCountry: 'de' }), 'VALIDATION_FAILED'],
      ['paySubscriptionInvoice: a card number', PAY_SUBSCRIPTION_INVOICE, () => ({ subscriptionId, paymentMethodToken: '4000 0027 6000 3184' }), 'CARD_DATA_REFUSED'],
    ] as const)('%s', async (_label, mutation, build, code) => {
      await expectRefused(mutation, { input: { ...build(), idempotencyKey: key() } }, code);
    });

    it.each([
      ['a malformed subscription id', SUBSCRIPTION, { id: 'sub_../../x' }, 'INVALID_ID'],
      ['a malformed invoice id', INVOICE, { id: 'in_1' }, 'INVALID_ID'],
      ['a malformed customer id', SUBSCRIPTIONS, { customerId: 'cus_<script>' }, 'INVALID_ID'],
    ] as const)('reads: %s', async (_label, query, variables, code) => {
      await expectRefused(query, variables, code);
    });

    it.each([
      ['a frozen time that is not a date', CREATE_TEST_CLOCK, { name: 'x', frozenTime: 'next tuesday' }, 'VALIDATION_FAILED'],
      ['a frozen time that is a number', CREATE_TEST_CLOCK, { name: 'x', frozenTime: 1_800_000_000_000 }, 'VALIDATION_FAILED'],
      ['a frozen time past the year 9999', CREATE_TEST_CLOCK, { name: 'x', frozenTime: '+010000-01-01T00:00:00.000Z' }, 'VALIDATION_FAILED'],
      ['a blank name', CREATE_TEST_CLOCK, { name: '   ', frozenTime: '2027-01-01T00:00:00Z' }, 'VALIDATION_FAILED'],
      ['a malformed clock id', ADVANCE_TEST_CLOCK, { clockId: 'clock_1', to: '2027-01-01T00:00:00Z' }, 'INVALID_ID'],
      ['a clock that does not exist', ADVANCE_TEST_CLOCK, { clockId: GHOST_CLOCK, to: '2027-01-01T00:00:00Z' }, 'TEST_CLOCK_NOT_FOUND'],
      ['a malformed customer id', ATTACH_TEST_CLOCK, { clockId: GHOST_CLOCK, customerId: 'someone' }, 'INVALID_ID'],
    ] as const)('test clocks (admin): %s', async (_label, mutation, input, code) => {
      await expectRefused(mutation, { input: { ...input, idempotencyKey: key() } }, code, 'admin');
    });
  });
});
