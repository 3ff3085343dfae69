/**
 * Subscription billing when answers are lost and requests race: a charge whose outcome is not known
 * yet, a learner acting meanwhile, dunning running out mid-authentication, a cancellation right
 * after a plan change, subscriptions whose period ended before they were resolved. Each test was
 * written against a bug found in review and states what must hold. Scenarios run on test clocks
 * through the use cases the APIs call.
 *
 * "The gateway's answer is lost" is simulated by wrapping the sandbox connector's method once:
 * either the request never reaches the gateway (`before`), or the gateway performs it and the
 * answer is lost on the way back (`after`). Obol sees a ConnectorUnknownOutcomeError either way
 * (a timeout), exactly as with a real gateway, and the reconciler resolves it later.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Caller } from '../../src/kernel/index.js';
import { ConnectorUnavailableError, ConnectorUnknownOutcomeError } from '../../src/payments/connectors/port.js';
import { completeThreeDSecure } from '../../src/payments/index.js';
import {
  advanceClock,
  attachCustomer,
  cancelSubscription,
  changeSubscriptionPlan,
  createClock,
  getSubscription,
  listInvoices,
  payOpenInvoice,
  startSubscription,
  updateSubscriptionPaymentMethod,
} from '../../src/subscriptions/index.js';
import { describeEachDatabase } from '../support/databases.js';
import { key, startHarness, type Harness } from '../support/harness.js';

const DAY = 86_400_000;
const ADMIN: Caller = { actor: { subject: 'staff_billing_review', roles: ['admin'], customerId: null, kind: 'staff' }, requestId: null, ip: null };

function tools(get: () => Harness, dialect: string, label: string) {
  let n = 0;
  const h = () => get();
  const deps = () => h().app.subscriptions;
  return {
    customer: (what: string) => `cus_rev_${label}_${what}_${dialect}_${++n}`,
    async clockFor(customerId: string, start: number): Promise<string> {
      const clock = await createClock(deps(), { caller: ADMIN, name: `review ${customerId}`, frozenTime: start });
      await attachCustomer(deps(), { caller: ADMIN, clockId: clock.id, customerId });
      return clock.id;
    },
    /** Advances the clock (running its jobs) without a worker round: unknown outcomes stay unknown. */
    advance: (clockId: string, to: number) => advanceClock({ ...deps(), jobs: h().app.jobs }, { caller: ADMIN, clockId, to }),
    start: (customerId: string, priceId: string, token: string, extra: { trialDays?: number | null; country?: string; requestKey?: string } = {}) =>
      startSubscription(deps(), {
        caller: ADMIN,
        customerId,
        priceId,
        country: extra.country ?? 'US',
        paymentMethodToken: token,
        cardCountry: null,
        couponCode: null,
        trialDays: extra.trialDays === undefined ? 0 : extra.trialDays,
        requestKey: extra.requestKey ?? key(),
      }),
    sub: (id: string) => getSubscription(h().app.db.kysely, { caller: ADMIN, subscriptionId: id }),
    invoices: (id: string) => listInvoices(h().app.db.kysely, { caller: ADMIN, subscriptionId: id }),
    /** Succeeded payments of one invoice. */
    async succeededPayments(invoiceId: string) {
      return h().app.db.kysely.selectFrom('payment_intents').select(['id', 'amount_captured', 'amount_refunded']).where('invoice_id', '=', invoiceId).where('status', '=', 'succeeded').execute();
    },
    /** The next merchant-initiated charge loses its answer: before reaching the gateway, or after the gateway performed it. */
    loseNextOffSessionAnswer(when: 'before' | 'after') {
      // The sandbox connector itself (the registry's is the same one, instrumented for metrics).
      const connector = h().app.sandbox as any;
      const original = connector.chargeOffSession;
      connector.chargeOffSession = async (args: unknown) => {
        connector.chargeOffSession = original;
        if (when === 'after') await original(args);
        throw new ConnectorUnknownOutcomeError('sandbox', 'review: the answer was lost');
      };
      return () => {
        connector.chargeOffSession = original;
      };
    },
  };
}

describeEachDatabase('subscriptions: charges whose answer is lost, and what the learner does meanwhile', (dialect) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(dialect);
  });
  afterAll(async () => h?.close());
  const t = tools(() => h, dialect, 'race');

  it('a new payment method while a dunning retry’s answer is lost does not charge the invoice a second time', async () => {
    const customerId = t.customer('double');
    const t0 = Date.UTC(2027, 8, 1, 8, 0, 0);
    const clockId = await t.clockFor(customerId, t0);
    const started = await t.start(customerId, 'price_data_science_monthly_usd', 'tok_visaRenewalDeclinedTwice');
    const id = started.subscription.id;
    const renewal = Date.UTC(2027, 9, 1, 8, 0, 0);
    await t.advance(clockId, renewal + 1 * DAY); // the renewal and retry 1 are declined
    expect(await t.sub(id)).toMatchObject({ status: 'past_due', dunningState: 'retrying' });
    // Retry 2 (day 3): the card now works; the gateway charges it, but its answer is lost.
    const restore = t.loseNextOffSessionAnswer('after');
    try {
      await t.advance(clockId, renewal + 3 * DAY);
    } finally {
      restore();
    }
    const invoice = (await t.invoices(id)).at(-1)!;
    expect(invoice.status).toBe('open');
    // The learner, still shown past_due, puts in a new card: it is charged for the same invoice at once.
    await t.advance(clockId, renewal + 3 * DAY + 3_600_000);
    await updateSubscriptionPaymentMethod(h.app.subscriptions, { caller: ADMIN, subscriptionId: id, paymentMethodToken: 'tok_visa', requestKey: key() });
    // The reconciler learns that retry 2 succeeded too.
    await h.runWorker();
    const paid = await t.succeededPayments(invoice.id);
    // One invoice of 3900, paid once: anything else is a double charge (silently kept: no refund, no schedule).
    expect(paid.map((p) => Number(p.amount_captured) - Number(p.amount_refunded)).reduce((a, b) => a + b, 0)).toBe(3900);
  });

  it('no upgrade while the renewal charge’s answer is lost; once the renewal is paid, the upgrade credits it', async () => {
    const customerId = t.customer('upgrade_paid');
    const t0 = Date.UTC(2027, 2, 1, 0, 0, 0);
    const clockId = await t.clockFor(customerId, t0);
    const started = await t.start(customerId, 'price_plus_monthly_usd', 'tok_visa');
    const id = started.subscription.id;
    const renewal = Date.UTC(2027, 3, 1, 0, 0, 0);
    const restore = t.loseNextOffSessionAnswer('before');
    try {
      await t.advance(clockId, renewal);
    } finally {
      restore();
    }
    expect(await t.sub(id)).toMatchObject({ status: 'active' });
    await t.advance(clockId, renewal + DAY);
    // The period is not paid yet (its charge's answer is lost): no plan change on top of it.
    const upgrade = { caller: ADMIN, subscriptionId: id, priceId: 'price_plus_annual_usd', requestKey: key() };
    await expect(changeSubscriptionPlan(h.app.subscriptions, upgrade)).rejects.toMatchObject({ code: 'PLAN_CHANGE_NOT_ALLOWED', details: { invoiceStatus: 'open' } });
    await h.runWorker(); // the reconciler sends the lost renewal again: the gateway charges it, once
    const renewalInvoice = (await t.invoices(id)).at(-1)!;
    expect(renewalInvoice).toMatchObject({ status: 'paid', billingReason: 'subscription_cycle' });
    expect(await t.succeededPayments(renewalInvoice.id)).toHaveLength(1);
    // Now the upgrade credits the paid renewal's unused days: 5900 × (30 − 1)/30.
    const changed = await changeSubscriptionPlan(h.app.subscriptions, { ...upgrade, requestKey: key() });
    expect(changed.invoice).toMatchObject({ status: 'paid', billingReason: 'subscription_update', credit: Math.round((5900 * 29) / 30) });
  });

  it('a card replaced while the renewal charge’s answer is lost is charged at once when that renewal turns out declined', async () => {
    const customerId = t.customer('upgrade_declined');
    const t0 = Date.UTC(2027, 2, 1, 0, 0, 0);
    const clockId = await t.clockFor(customerId, t0);
    const started = await t.start(customerId, 'price_plus_monthly_usd', 'tok_visaRenewalLostCard');
    const id = started.subscription.id;
    const renewal = Date.UTC(2027, 3, 1, 0, 0, 0);
    const restore = t.loseNextOffSessionAnswer('after'); // the issuer declines; Obol does not hear it
    try {
      await t.advance(clockId, renewal);
    } finally {
      restore();
    }
    expect(await t.sub(id)).toMatchObject({ status: 'active' });
    await t.advance(clockId, renewal + 3_600_000);
    // The learner replaces the card: saved, but not charged while the renewal's own charge is unresolved;
    // and no upgrade on top of an unpaid period.
    const replaced = await updateSubscriptionPaymentMethod(h.app.subscriptions, { caller: ADMIN, subscriptionId: id, paymentMethodToken: 'tok_visa', requestKey: key() });
    expect(replaced.savedPaymentMethod.status).toBe('active');
    await expect(changeSubscriptionPlan(h.app.subscriptions, { caller: ADMIN, subscriptionId: id, priceId: 'price_plus_annual_usd', requestKey: key() })).rejects.toMatchObject({ code: 'PLAN_CHANGE_NOT_ALLOWED' });
    await h.runWorker(); // the reconciler learns the renewal was declined (lost card): dunning begins
    expect(await t.sub(id)).toMatchObject({ status: 'past_due' });
    await t.advance(clockId, renewal + 10 * DAY); // the first retry charges the new card
    const s = await t.sub(id);
    expect(s).toMatchObject({ status: 'active', priceId: 'price_plus_monthly_usd', paymentMethodId: replaced.savedPaymentMethod.id });
    const renewalInvoice = (await t.invoices(id)).find((i) => i.periodStart === renewal)!;
    expect(renewalInvoice.status).toBe('paid');
    expect(await t.succeededPayments(renewalInvoice.id)).toHaveLength(1);
  });

  it('dunning that runs out while the learner is authenticating a payment cancels that payment with the subscription: nothing is kept', async () => {
    const customerId = t.customer('sca_deadline');
    const t0 = Date.UTC(2027, 2, 1, 9, 0, 0);
    const clockId = await t.clockFor(customerId, t0);
    const started = await t.start(customerId, 'price_plus_monthly_usd', 'tok_threeDSecure2Required', { trialDays: null });
    const id = started.subscription.id;
    await t.advance(clockId, t0 + 7 * DAY);
    expect(await t.sub(id)).toMatchObject({ status: 'past_due', dunningState: 'await_customer_authentication' });
    await t.advance(clockId, t0 + 14 * DAY - 3_600_000);
    const paying = await payOpenInvoice(h.app.subscriptions, { caller: ADMIN, subscriptionId: id, paymentMethodToken: 'tok_threeDSecure2Required', cardCountry: 'DE', requestKey: key() });
    expect(paying.payment).toMatchObject({ status: 'requires_action', initiator: 'customer' });
    await t.advance(clockId, t0 + 14 * DAY + 3_600_000); // grace ends while the challenge is open
    expect(await t.sub(id)).toMatchObject({ status: 'canceled', endReason: 'payment_failed' });
    // The payment the learner was authenticating was canceled with the subscription: it cannot complete.
    await expect(completeThreeDSecure(h.app.payments, { caller: ADMIN, paymentId: paying.payment!.id, outcome: 'authenticated', requestKey: key() })).rejects.toMatchObject({ code: 'NO_ACTION_REQUIRED', details: { status: 'canceled' } });
    await h.runWorker();
    expect(await t.sub(id)).toMatchObject({ status: 'canceled' });
    const kept = await h.app.db.kysely.selectFrom('payment_intents').select(['amount_captured', 'amount_refunded']).where('customer_id', '=', customerId).where('initiator', '=', 'customer').execute();
    expect(kept.reduce((sum, p) => sum + Number(p.amount_captured) - Number(p.amount_refunded), 0)).toBe(0);
  });

  it('canceling with a prorated refund right after an upgrade also refunds the earlier plan’s unused time that was credited', async () => {
    const customerId = t.customer('upgrade_refund');
    const t0 = Date.UTC(2027, 2, 1, 0, 0, 0);
    const clockId = await t.clockFor(customerId, t0);
    const started = await t.start(customerId, 'price_plus_monthly_eur', 'tok_visa', { country: 'DE' });
    expect(started.invoice).toMatchObject({ total: 5900 });
    const at = Date.UTC(2027, 2, 17, 0, 0, 0); // 16 of 31 days used: 5900 × 15/31 → 2855 credited
    await t.advance(clockId, at);
    const changed = await changeSubscriptionPlan(h.app.subscriptions, { caller: ADMIN, subscriptionId: started.subscription.id, priceId: 'price_plus_annual_eur', requestKey: key() });
    expect(changed.invoice).toMatchObject({ status: 'paid', credit: 2855, total: 39900 - 2855 });
    // Changed their mind the same instant: cancel now, refund the unused time.
    await cancelSubscription(h.app.subscriptions, { caller: ADMIN, subscriptionId: started.subscription.id, atPeriodEnd: false, refund: 'prorated', requestKey: key() });
    const payments = await h.app.db.kysely.selectFrom('payment_intents').select(['amount_captured', 'amount_refunded']).where('customer_id', '=', customerId).where('status', '=', 'succeeded').execute();
    const kept = payments.reduce((sum, p) => sum + Number(p.amount_captured) - Number(p.amount_refunded), 0);
    // Used: 16 of 31 days of the monthly plan = 5900 − 2855 = 3045; nothing of the annual plan.
    expect(kept).toBe(3045);
  });
});

describeEachDatabase('subscriptions: unpaid ones canceled late', (dialect) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(dialect, { DUNNING_ON_EXHAUSTED: 'mark_unpaid' });
  });
  afterAll(async () => h?.close());
  const t = tools(() => h, dialect, 'unpaid');

  it('an unpaid subscription canceled at the period end after that period is over ends at once and no longer blocks a new signup', async () => {
    const customerId = t.customer('cancel');
    const t0 = Date.UTC(2027, 4, 1, 8, 0, 0);
    const clockId = await t.clockFor(customerId, t0);
    const started = await t.start(customerId, 'price_data_science_monthly_usd', 'tok_visaRenewalLostCard');
    const id = started.subscription.id;
    const renewal = Date.UTC(2027, 5, 1, 8, 0, 0);
    await t.advance(clockId, Date.UTC(2027, 6, 1, 8, 0, 0) + DAY); // unpaid since day 7; its period ended on 1 July
    expect(await t.sub(id)).toMatchObject({ status: 'unpaid', currentPeriodEnd: Date.UTC(2027, 6, 1, 8, 0, 0) });
    expect(renewal).toBeLessThan(Date.UTC(2027, 6, 1, 8, 0, 0));
    const canceled = await cancelSubscription(h.app.subscriptions, { caller: ADMIN, subscriptionId: id, atPeriodEnd: true, refund: 'none', requestKey: key() });
    // Its period is over: there is no end left to wait for, so it ends now.
    expect(canceled.subscription).toMatchObject({ status: 'canceled', endReason: 'canceled_at_period_end', endedAt: Date.UTC(2027, 6, 1, 8, 0, 0) + DAY });
    await t.advance(clockId, Date.UTC(2027, 11, 1, 8, 0, 0));
    expect((await t.sub(id)).status).toBe('canceled');
    // …and it no longer blocks a new signup.
    expect((await t.start(customerId, 'price_data_science_monthly_usd', 'tok_visa')).subscription.status).toBe('active');
  });
});

describeEachDatabase('subscriptions: a signup waiting longer than its trial', (dialect) => {
  let h: Harness;
  beforeAll(async () => {
    // The longest wait the configuration allows (23 hours: shorter than any trial or period).
    h = await startHarness(dialect, { SUBSCRIPTION_INCOMPLETE_EXPIRY_HOURS: '23' });
  });
  afterAll(async () => h?.close());
  const t = tools(() => h, dialect, 'trial');

  it('a signup whose card could not be saved expires before its one-day trial would have ended, and is never billed', async () => {
    const customerId = t.customer('late_save');
    const t0 = Date.UTC(2027, 1, 1, 8, 0, 0);
    const clockId = await t.clockFor(customerId, t0);
    const connector = h.app.sandbox as any;
    const original = connector.savePaymentMethod;
    connector.savePaymentMethod = async () => {
      connector.savePaymentMethod = original;
      throw new ConnectorUnavailableError('sandbox', 'review: gateway unreachable');
    };
    const requestKey = key();
    try {
      await expect(t.start(customerId, 'price_plus_monthly_usd', 'tok_visa', { trialDays: 1, requestKey })).rejects.toMatchObject({ code: 'GATEWAY_UNAVAILABLE' });
    } finally {
      connector.savePaymentMethod = original;
    }
    await t.advance(clockId, t0 + DAY + 3_600_000); // the trial's end passes while the signup waits
    const repeated = await t.start(customerId, 'price_plus_monthly_usd', 'tok_visa', { trialDays: 1, requestKey }); // the client repeats its request
    // The signup expired (after 23 hours, before its first trial day ended): the repeat reports that.
    expect(repeated.subscription.status).toBe('incomplete_expired');
    await t.advance(clockId, Date.UTC(2027, 4, 1, 8, 0, 0));
    const s = await t.sub(repeated.subscription.id);
    // Three months after a one-day trial: billed (or ended), not still trialing with no invoice.
    expect({ status: s.status, invoices: (await t.invoices(s.id)).length }).not.toEqual({ status: 'trialing', invoices: 0 });
  });
});
