/**
 * Year-long billing simulations on test clocks, through the use cases the APIs call, on every
 * database: renewals, dunning, proration, trials, coupons, revenue recognition. Each scenario
 * runs on its own clock and customer, so time moves only for it.
 *
 * What is checked against what: charges against the sandbox gateway's own log (what the gateway
 * really did), access against the entitlement check (what other services are told), money
 * against the ledger (balanced, deferred revenue recognised by the end of each period).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Caller } from '../../src/kernel/index.js';
import { accountBalance, unbalancedTransactions } from '../../src/ledger/index.js';
import { computeTotals } from '../../src/checkout/index.js';
import { parseCurrency, type CurrencyCode } from '../../src/money/index.js';
import {
  advanceClock,
  attachCustomer,
  cancelSubscription,
  changeSubscriptionPlan,
  createClock,
  getSubscription,
  listInvoices,
  payOpenInvoice,
  resumeSubscription,
  startSubscription,
  updateSubscriptionPaymentMethod,
  type SubscriptionResult,
} from '../../src/subscriptions/index.js';
import { money as moneyOf } from '../../src/money/index.js';
import { applyDisputeEvent } from '../../src/payments/disputes/index.js';
import { describeEachDatabase } from '../support/databases.js';
import { key, startHarness, type Harness } from '../support/harness.js';

const DAY = 86_400_000;
const ADMIN: Caller = { actor: { subject: 'staff_billing_sim', roles: ['admin'], customerId: null, kind: 'staff' }, requestId: null, ip: null };
const CHECK = `query Check($customerId: ID, $resource: String!, $at: DateTime) { checkAccess(customerId: $customerId, resource: $resource, at: $at) { allowed validUntil } }`;
const EUR = parseCurrency('EUR') as CurrencyCode;

describeEachDatabase('subscription billing on test clocks', (dialect) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(dialect);
  });
  afterAll(async () => h?.close());

  const deps = () => h.app.subscriptions;
  let customers = 0;
  const customer = (label: string) => `cus_sim_${label}_${dialect}_${++customers}`;

  /** A fresh clock at `start` with one customer attached. */
  async function clockFor(customerId: string, start: number): Promise<string> {
    const clock = await createClock(deps(), { caller: ADMIN, name: `sim ${customerId}`, frozenTime: start });
    await attachCustomer(deps(), { caller: ADMIN, clockId: clock.id, customerId });
    return clock.id;
  }

  /** Moves the clock (running every renewal, retry and recognition due) and relays the events. */
  async function advance(clockId: string, to: number): Promise<void> {
    await advanceClock({ ...deps(), jobs: h.app.jobs }, { caller: ADMIN, clockId, to });
    await h.runWorker();
  }

  async function start(customerId: string, priceId: string, token: string, extra: { couponCode?: string; trialDays?: number; country?: string } = {}): Promise<SubscriptionResult> {
    const result = await startSubscription(deps(), {
      caller: ADMIN,
      customerId,
      priceId,
      country: extra.country ?? 'US',
      paymentMethodToken: token,
      cardCountry: null,
      couponCode: extra.couponCode ?? null,
      trialDays: extra.trialDays ?? 0,
      requestKey: key(),
    });
    await h.runWorker();
    return result;
  }

  const sub = (id: string) => getSubscription(h.app.db.kysely, { caller: ADMIN, subscriptionId: id });
  const invoices = (id: string) => listInvoices(h.app.db.kysely, { caller: ADMIN, subscriptionId: id });

  /** The sandbox's own log of merchant-initiated charges for a customer's saved methods. */
  async function offSessionCharges(customerId: string) {
    const methods = await h.app.db.kysely.selectFrom('payment_methods').select('gateway_reference').where('customer_id', '=', customerId).execute();
    const refs = new Set(methods.map((m) => m.gateway_reference));
    const log = await h.app.sandbox.chargeLog();
    return log.filter((r) => r.operation === 'charge_off_session' && refs.has(r.paymentMethod));
  }

  async function access(customerId: string, resource: string, at: number): Promise<boolean> {
    const res = await h.gql(CHECK, { customerId, resource, at: new Date(at).toISOString() });
    expect(res.errors).toBeUndefined();
    return res.data!.checkAccess.allowed as boolean;
  }

  async function ledgerBalanced(): Promise<void> {
    expect(await unbalancedTransactions(h.app.db.kysely)).toEqual([]);
  }

  it('a monthly subscription whose card fails twice recovers on the third try, and bills every month of the year exactly once', async () => {
    const customerId = customer('recover');
    const t0 = Date.UTC(2027, 0, 31, 10, 0, 0);
    const clockId = await clockFor(customerId, t0);
    const started = await start(customerId, 'price_data_science_monthly_usd', 'tok_visaRenewalDeclinedTwice');
    expect(started.subscription.status).toBe('active');
    expect(started.invoice).toMatchObject({ status: 'paid', total: 3900, periodStart: t0 });
    expect(started.invoice!.number).toMatch(/^OBOL-\d{6}$/);
    // Periods keep the anchor's day, clamped to shorter months.
    const feb28 = Date.UTC(2027, 1, 28, 10, 0, 0);
    expect(started.subscription.currentPeriodEnd).toBe(feb28);

    await advance(clockId, feb28);
    let s = await sub(started.subscription.id);
    expect(s).toMatchObject({ status: 'past_due', dunningState: 'retrying', currentPeriodStart: feb28, currentPeriodEnd: Date.UTC(2027, 2, 31, 10, 0, 0) });
    // Grace: access stays while dunning runs, though the paid period is over.
    expect(await access(customerId, 'specialization:data-science', feb28 + 2 * DAY)).toBe(true);

    await advance(clockId, feb28 + 1 * DAY); // retry 1 (+1 day): declined again
    expect((await sub(started.subscription.id)).status).toBe('past_due');
    await advance(clockId, feb28 + 3 * DAY); // retry 2 (+3 days): the card works again
    s = await sub(started.subscription.id);
    expect(s).toMatchObject({ status: 'active', dunningState: null, accessUntil: Date.UTC(2027, 2, 31, 10, 0, 0) });

    await advance(clockId, Date.UTC(2028, 0, 31, 10, 0, 0) - 1);
    const all = await invoices(started.subscription.id);
    expect(all).toHaveLength(12);
    expect(all.every((i) => i.status === 'paid' && i.total === 3900)).toBe(true);
    expect(all.map((i) => i.attemptCount)).toEqual([1, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    // Gap-free numbering: consecutive numbers in issue order (other suites share the sequence, so
    // the check is on differences within this subscription's invoices being positive).
    const numbers = all.map((i) => Number(i.number!.slice('OBOL-'.length)));
    expect([...numbers].sort((a, b) => a - b)).toEqual(numbers);

    const charges = await offSessionCharges(customerId);
    expect(charges.filter((c) => c.status === 'failed')).toHaveLength(2);
    expect(charges.filter((c) => c.status === 'succeeded')).toHaveLength(11);
    await ledgerBalanced();
  });

  it('an upgrade from monthly to annual mid-period credits the unused time exactly and starts an annual cycle now', async () => {
    const customerId = customer('upgrade');
    const t0 = Date.UTC(2027, 2, 1, 0, 0, 0);
    const clockId = await clockFor(customerId, t0);
    const started = await start(customerId, 'price_plus_monthly_eur', 'tok_visa', { country: 'DE' });
    expect(started.invoice).toMatchObject({ status: 'paid', total: 5900 });
    const at = Date.UTC(2027, 2, 17, 0, 0, 0); // 16 of 31 days used, 15 unused
    await advance(clockId, at);
    const changed = await changeSubscriptionPlan(deps(), { caller: ADMIN, subscriptionId: started.subscription.id, priceId: 'price_plus_annual_eur', requestKey: key() });
    await h.runWorker();
    // 5900 × 15/31 = 2854.84 → 2855 (half up), credited against 39900 in the same (tax-included) basis.
    const credit = 2855;
    const expected = computeTotals({ currency: EUR, items: [{ priceId: 'x', productId: 'y', productName: 'z', billingInterval: 'year', quantity: 1, unitAmount: 39900 - credit, taxBehavior: 'inclusive' }], taxRateBps: 1900, coupon: null });
    expect(changed.invoice).toMatchObject({ status: 'paid', billingReason: 'subscription_update', subtotal: 39900, credit, total: 39900 - credit, tax: expected.taxTotal, periodStart: at });
    expect(changed.subscription).toMatchObject({ status: 'active', priceId: 'price_plus_annual_eur', billingInterval: 'year', currentPeriodStart: at, currentPeriodEnd: Date.UTC(2028, 2, 17, 0, 0, 0) });

    await advance(clockId, Date.UTC(2028, 2, 17, 0, 0, 0));
    const all = await invoices(started.subscription.id);
    expect(all.map((i) => [i.billingReason, i.total, i.status])).toEqual([
      ['subscription_create', 5900, 'paid'],
      ['subscription_update', 39900 - credit, 'paid'],
      ['subscription_cycle', 39900, 'paid'],
    ]);
    await ledgerBalanced();
    // Everything paid for periods that have ended is recognised: what is still deferred is exactly
    // the unearned part of the running annual period (it started this instant: all of its net).
    const running = all[2]!;
    expect(await accountBalance(h.app.db.kysely, 'deferred_revenue', 'EUR')).toBeLessThanOrEqual(-(running.total - running.tax));
  });

  it('two signups racing for the same product (different requests) leave one subscription, the other refused', async () => {
    const customerId = customer('race');
    await clockFor(customerId, Date.UTC(2027, 3, 1, 0, 0, 0));
    const attempt = () => startSubscription(deps(), { caller: ADMIN, customerId, priceId: 'price_plus_monthly_usd', country: 'US', paymentMethodToken: 'tok_visa', cardCountry: null, couponCode: null, trialDays: 0, requestKey: key() });
    const results = await Promise.allSettled([attempt(), attempt(), attempt()]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'SUBSCRIPTION_ALREADY_EXISTS' });
    expect(await h.app.db.kysely.selectFrom('subscriptions').select('id').where('customer_id', '=', customerId).execute()).toHaveLength(1);
    expect(await h.app.db.kysely.selectFrom('payment_intents').select('id').where('customer_id', '=', customerId).execute()).toHaveLength(1);
  });

  it('a downgrade from annual to monthly waits for the year to end, then bills monthly', async () => {
    const customerId = customer('downgrade');
    const t0 = Date.UTC(2027, 5, 15, 0, 0, 0);
    const clockId = await clockFor(customerId, t0);
    const started = await start(customerId, 'price_plus_annual_usd', 'tok_visa');
    expect(started.invoice).toMatchObject({ status: 'paid', subtotal: 39900 });
    await advance(clockId, Date.UTC(2027, 9, 1, 0, 0, 0));
    const scheduled = await changeSubscriptionPlan(deps(), { caller: ADMIN, subscriptionId: started.subscription.id, priceId: 'price_plus_monthly_usd', requestKey: key() });
    // Nothing changes before the year is over: no credit, no invoice, the annual plan runs on.
    expect(scheduled.subscription).toMatchObject({ priceId: 'price_plus_annual_usd', pendingPriceId: 'price_plus_monthly_usd', currentPeriodEnd: Date.UTC(2028, 5, 15, 0, 0, 0) });
    expect(scheduled.invoice!.id).toBe(started.invoice!.id);
    await advance(clockId, Date.UTC(2028, 7, 15, 0, 0, 0));
    const all = await invoices(started.subscription.id);
    expect(all.map((i) => [i.billingReason, i.subtotal, i.periodStart, i.status])).toEqual([
      ['subscription_create', 39900, t0, 'paid'],
      ['subscription_cycle', 5900, Date.UTC(2028, 5, 15, 0, 0, 0), 'paid'],
      ['subscription_cycle', 5900, Date.UTC(2028, 6, 15, 0, 0, 0), 'paid'],
      ['subscription_cycle', 5900, Date.UTC(2028, 7, 15, 0, 0, 0), 'paid'],
    ]);
    expect(await sub(started.subscription.id)).toMatchObject({ priceId: 'price_plus_monthly_usd', billingInterval: 'month', pendingPriceId: null, status: 'active' });
    await ledgerBalanced();
  });

  it('a cancellation at the period end keeps access to the end, and resuming it before then keeps the subscription renewing', async () => {
    const customerId = customer('resume');
    const t0 = Date.UTC(2027, 2, 5, 0, 0, 0);
    const clockId = await clockFor(customerId, t0);
    const started = await start(customerId, 'price_data_science_monthly_usd', 'tok_visa');
    await advance(clockId, t0 + 10 * DAY);
    const canceled = await cancelSubscription(deps(), { caller: ADMIN, subscriptionId: started.subscription.id, atPeriodEnd: true, refund: 'none', requestKey: key() });
    expect(canceled.subscription).toMatchObject({ status: 'active', cancelAtPeriodEnd: true });
    await advance(clockId, t0 + 20 * DAY);
    const resumed = await resumeSubscription(deps(), { caller: ADMIN, subscriptionId: started.subscription.id });
    expect(resumed.subscription).toMatchObject({ status: 'active', cancelAtPeriodEnd: false, canceledAt: null });
    await advance(clockId, Date.UTC(2027, 4, 5, 0, 0, 0));
    expect((await invoices(started.subscription.id)).map((i) => i.status)).toEqual(['paid', 'paid', 'paid']);

    // Canceled at the period end for good this time: access to the end, then nothing more billed.
    await cancelSubscription(deps(), { caller: ADMIN, subscriptionId: started.subscription.id, atPeriodEnd: true, refund: 'none', requestKey: key() });
    const end = Date.UTC(2027, 5, 5, 0, 0, 0);
    await advance(clockId, end + 40 * DAY);
    expect(await sub(started.subscription.id)).toMatchObject({ status: 'canceled', endReason: 'canceled_at_period_end', endedAt: end });
    expect(await invoices(started.subscription.id)).toHaveLength(3);
    expect(await access(customerId, 'specialization:data-science', end - 1)).toBe(true);
    expect(await access(customerId, 'specialization:data-science', end)).toBe(false);
    await ledgerBalanced();
    expect(await h.app.db.kysely.selectFrom('revenue_schedules').select('status').where('subscription_id', '=', started.subscription.id).where('status', '=', 'active').execute()).toEqual([]);
  });

  it('a trial canceled before it ends charges nothing and access ends with the trial', async () => {
    const customerId = customer('trial');
    const t0 = Date.UTC(2027, 4, 10, 12, 0, 0);
    const clockId = await clockFor(customerId, t0);
    const started = await startSubscription(deps(), { caller: ADMIN, customerId, priceId: 'price_plus_monthly_usd', country: 'US', paymentMethodToken: 'tok_visa', cardCountry: null, couponCode: null, trialDays: null, requestKey: key() });
    await h.runWorker();
    expect(started.subscription).toMatchObject({ status: 'trialing', trialEnd: t0 + 7 * DAY, latestInvoiceId: null });
    expect(started.paymentMethod).toMatchObject({ status: 'active' });
    expect(await access(customerId, 'catalog:all', t0 + DAY)).toBe(true);

    await advance(clockId, t0 + 3 * DAY);
    await cancelSubscription(deps(), { caller: ADMIN, subscriptionId: started.subscription.id, atPeriodEnd: true, refund: 'none', requestKey: key() });
    await advance(clockId, t0 + 40 * DAY);
    const s = await sub(started.subscription.id);
    expect(s).toMatchObject({ status: 'canceled', endReason: 'trial_canceled', endedAt: t0 + 7 * DAY });
    expect(await invoices(started.subscription.id)).toEqual([]);
    expect(await offSessionCharges(customerId)).toEqual([]);
    // Nothing was charged at all: no payment exists for this customer.
    expect(await h.app.db.kysely.selectFrom('payment_intents').select('id').where('customer_id', '=', customerId).execute()).toEqual([]);
    expect(await access(customerId, 'catalog:all', t0 + 6 * DAY)).toBe(true);
    expect(await access(customerId, 'catalog:all', t0 + 8 * DAY)).toBe(false);
  });

  it('an introductory coupon halves the first three months only', async () => {
    const customerId = customer('intro');
    const t0 = Date.UTC(2027, 6, 1, 9, 0, 0);
    const clockId = await clockFor(customerId, t0);
    const started = await start(customerId, 'price_data_science_monthly_usd', 'tok_visa', { couponCode: 'INTRO3' });
    await advance(clockId, Date.UTC(2027, 11, 1, 9, 0, 0));
    const all = await invoices(started.subscription.id);
    expect(all.map((i) => [i.discount, i.total])).toEqual([
      [1950, 1950],
      [1950, 1950],
      [1950, 1950],
      [0, 3900],
      [0, 3900],
      [0, 3900],
    ]);
    await ledgerBalanced();
  });

  it('a hard decline stops dunning until the payment method changes, which retries at once', async () => {
    const customerId = customer('hard');
    const t0 = Date.UTC(2027, 8, 1, 8, 0, 0);
    const clockId = await clockFor(customerId, t0);
    const started = await start(customerId, 'price_data_science_monthly_usd', 'tok_visaRenewalLostCard');
    const renewal = Date.UTC(2027, 9, 1, 8, 0, 0);
    await advance(clockId, renewal);
    expect(await sub(started.subscription.id)).toMatchObject({ status: 'past_due', dunningState: 'await_payment_method' });
    await advance(clockId, renewal + 5 * DAY);
    // No retries were made against the lost card.
    expect((await offSessionCharges(customerId)).map((c) => c.status)).toEqual(['failed']);
    // A card the issuer will not save is an outcome: the subscription keeps waiting, unchanged.
    const refused = await updateSubscriptionPaymentMethod(deps(), { caller: ADMIN, subscriptionId: started.subscription.id, paymentMethodToken: 'tok_chargeDeclined', requestKey: key() });
    expect(refused.savedPaymentMethod).toMatchObject({ status: 'failed', declineReason: 'generic_decline' });
    expect(refused.subscription).toMatchObject({ status: 'past_due', dunningState: 'await_payment_method', paymentMethodId: started.subscription.paymentMethodId });
    const request = { caller: ADMIN, subscriptionId: started.subscription.id, paymentMethodToken: 'tok_visa', requestKey: key() };
    const updated = await updateSubscriptionPaymentMethod(deps(), request);
    await h.runWorker();
    expect(updated.subscription).toMatchObject({ status: 'active', dunningState: null, paymentMethodId: updated.savedPaymentMethod.id });
    expect(updated.invoice).toMatchObject({ status: 'paid', periodStart: renewal });
    expect((await offSessionCharges(customerId)).map((c) => c.status)).toEqual(['failed', 'succeeded']);
    // The same request again (a client retrying after a lost answer) saves nothing and charges nothing.
    const saves = (await h.app.sandbox.chargeLog()).filter((c) => c.operation === 'save').length;
    const again = await updateSubscriptionPaymentMethod(deps(), request);
    expect(again.savedPaymentMethod.id).toBe(updated.savedPaymentMethod.id);
    expect((await h.app.sandbox.chargeLog()).filter((c) => c.operation === 'save').length).toBe(saves);
    expect((await offSessionCharges(customerId)).map((c) => c.status)).toEqual(['failed', 'succeeded']);
    await ledgerBalanced();
  });

  it('dunning that runs out cancels the subscription and takes access away', async () => {
    const customerId = customer('exhausted');
    const t0 = Date.UTC(2027, 8, 1, 8, 0, 0);
    const clockId = await clockFor(customerId, t0);
    const started = await start(customerId, 'price_data_science_monthly_usd', 'tok_visaRenewalLostCard');
    const renewal = Date.UTC(2027, 9, 1, 8, 0, 0);
    await advance(clockId, renewal + 10 * DAY);
    const s = await sub(started.subscription.id);
    expect(s).toMatchObject({ status: 'canceled', endReason: 'payment_failed', endedAt: renewal + 7 * DAY });
    const last = (await invoices(started.subscription.id)).at(-1)!;
    expect(last.status).toBe('uncollectible');
    expect(await access(customerId, 'specialization:data-science', renewal + 6 * DAY)).toBe(true);
    expect(await access(customerId, 'specialization:data-science', renewal + 8 * DAY)).toBe(false);
    await ledgerBalanced();
  });

  it('a lost dispute on a renewal ends the subscription and its access at once, and recognises what was deferred', async () => {
    const customerId = customer('dispute');
    const t0 = Date.UTC(2027, 1, 1, 0, 0, 0);
    const clockId = await clockFor(customerId, t0);
    const started = await start(customerId, 'price_data_science_monthly_usd', 'tok_visa');
    const paymentId = started.payment!.id;
    const at = Date.UTC(2027, 1, 11, 0, 0, 0);
    await advance(clockId, at);
    const dispute = { connector: 'sandbox', gatewayDisputeId: `dp_sub_${dialect}_${customers}`, paymentId, amount: moneyOf(started.invoice!.total, parseCurrency('USD') as CurrencyCode), fee: null, reason: 'fraudulent', occurredAt: h.clock.now() };
    await applyDisputeEvent(h.app.payments, { ...dispute, kind: 'opened' });
    await applyDisputeEvent(h.app.payments, { ...dispute, kind: 'lost' });
    await h.runWorker();
    expect(await sub(started.subscription.id)).toMatchObject({ status: 'canceled', endReason: 'dispute_lost', endedAt: at });
    expect(await access(customerId, 'specialization:data-science', at - 1)).toBe(true);
    expect(await access(customerId, 'specialization:data-science', at)).toBe(false);
    const schedules = await h.app.db.kysely.selectFrom('revenue_schedules').selectAll().where('subscription_id', '=', started.subscription.id).execute();
    expect(schedules.every((r) => r.status === 'closed' && Number(r.recognised) === Number(r.amount))).toBe(true);
    await ledgerBalanced();
  });

  it('canceling now with a prorated refund returns the unused time and recognises the rest', async () => {
    const customerId = customer('refund');
    const t0 = Date.UTC(2027, 3, 1, 0, 0, 0);
    const clockId = await clockFor(customerId, t0);
    const started = await start(customerId, 'price_data_science_monthly_usd', 'tok_visa');
    await advance(clockId, Date.UTC(2027, 3, 11, 0, 0, 0)); // 10 of 30 days used
    const request = { caller: ADMIN, subscriptionId: started.subscription.id, atPeriodEnd: false, refund: 'prorated' as const, requestKey: key() };
    const canceled = await cancelSubscription(deps(), request);
    await h.runWorker();
    expect(canceled.subscription).toMatchObject({ status: 'canceled', endReason: 'canceled_immediately' });
    expect(canceled.payment).toMatchObject({ amountRefunded: 2600 }); // 3900 × 20/30
    // The same request again (its answer lost) refunds nothing more: one refund row, one gateway refund.
    const refundsAtGateway = (await h.app.sandbox.chargeLog()).filter((c) => c.operation === 'refund').length;
    const again = await cancelSubscription(deps(), request);
    expect(again.payment).toMatchObject({ amountRefunded: 2600 });
    expect(await h.app.db.kysely.selectFrom('refunds').select('id').where('payment_id', '=', canceled.payment!.id).execute()).toHaveLength(1);
    expect((await h.app.sandbox.chargeLog()).filter((c) => c.operation === 'refund')).toHaveLength(refundsAtGateway);
    await ledgerBalanced();
    const schedules = await h.app.db.kysely.selectFrom('revenue_schedules').selectAll().where('subscription_id', '=', started.subscription.id).execute();
    expect(schedules.every((r) => r.status === 'closed' && Number(r.recognised) === Number(r.amount))).toBe(true);
  });
});

describeEachDatabase('subscription billing when dunning leaves subscriptions unpaid', (dialect) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(dialect, { DUNNING_ON_EXHAUSTED: 'mark_unpaid' });
  });
  afterAll(async () => h?.close());

  it('an unpaid subscription keeps its debt, issues nothing more, and restarts billing when the learner pays it', async () => {
    const deps = { ...h.app.subscriptions, jobs: h.app.jobs };
    const customerId = `cus_sim_unpaid_${dialect}`;
    const t0 = Date.UTC(2027, 4, 1, 8, 0, 0);
    const clock = await createClock(deps, { caller: ADMIN, name: 'unpaid', frozenTime: t0 });
    await attachCustomer(deps, { caller: ADMIN, clockId: clock.id, customerId });
    const started = await startSubscription(deps, { caller: ADMIN, customerId, priceId: 'price_data_science_monthly_usd', country: 'US', paymentMethodToken: 'tok_visaRenewalLostCard', cardCountry: null, couponCode: null, trialDays: 0, requestKey: key() });
    const id = started.subscription.id;
    const renewal = Date.UTC(2027, 5, 1, 8, 0, 0);
    await advanceClock(deps, { caller: ADMIN, clockId: clock.id, to: renewal + 8 * DAY });
    let s = await getSubscription(h.app.db.kysely, { caller: ADMIN, subscriptionId: id });
    expect(s).toMatchObject({ status: 'unpaid', accessUntil: renewal + 7 * DAY, endedAt: null });
    // Past the unpaid period's end: no new invoice while the debt is open.
    const july = Date.UTC(2027, 6, 1, 8, 0, 0);
    await advanceClock(deps, { caller: ADMIN, clockId: clock.id, to: july + 10 * DAY });
    expect((await listInvoices(h.app.db.kysely, { caller: ADMIN, subscriptionId: id })).map((i) => [i.billingReason, i.status])).toEqual([
      ['subscription_create', 'paid'],
      ['subscription_cycle', 'uncollectible'],
    ]);

    // The learner comes back with a working card and pays the debt; billing restarts from today.
    const paid = await payOpenInvoice(deps, { caller: ADMIN, subscriptionId: id, paymentMethodToken: 'tok_visa', cardCountry: null, requestKey: key() });
    expect(paid.subscription).toMatchObject({ status: 'active', dunningState: null });
    const back = july + 10 * DAY;
    await advanceClock(deps, { caller: ADMIN, clockId: clock.id, to: back + 60_000 });
    await h.runWorker();
    s = await getSubscription(h.app.db.kysely, { caller: ADMIN, subscriptionId: id });
    expect(s).toMatchObject({ status: 'active', currentPeriodStart: back, currentPeriodEnd: Date.UTC(2027, 7, 11, 8, 0, 0), accessUntil: Date.UTC(2027, 7, 11, 8, 0, 0) });
    const all = await listInvoices(h.app.db.kysely, { caller: ADMIN, subscriptionId: id });
    expect(all.map((i) => [i.billingReason, i.status, i.periodStart])).toEqual([
      ['subscription_create', 'paid', t0],
      ['subscription_cycle', 'paid', renewal],
      ['subscription_cycle', 'paid', back],
    ]);
    const check = await h.gql(CHECK, { customerId, resource: 'specialization:data-science', at: new Date(back + DAY).toISOString() });
    expect(check.data!.checkAccess.allowed).toBe(true);
    expect(await unbalancedTransactions(h.app.db.kysely)).toEqual([]);
  });
});

describeEachDatabase('subscription billing when grace outlasts the period', (dialect) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(dialect, { DUNNING_RETRY_DAYS: '1,35', DUNNING_GRACE_DAYS: '40' });
  });
  afterAll(async () => h?.close());

  it('issues no new invoice on top of one in dunning, and restarts billing on the day the old one is paid', async () => {
    const deps = { ...h.app.subscriptions, jobs: h.app.jobs };
    const customerId = `cus_sim_longgrace_${dialect}`;
    const t0 = Date.UTC(2027, 0, 10, 8, 0, 0);
    const clock = await createClock(deps, { caller: ADMIN, name: 'long grace', frozenTime: t0 });
    await attachCustomer(deps, { caller: ADMIN, clockId: clock.id, customerId });
    const started = await startSubscription(deps, { caller: ADMIN, customerId, priceId: 'price_data_science_monthly_usd', country: 'US', paymentMethodToken: 'tok_visaRenewalDeclinedTwice', cardCountry: null, couponCode: null, trialDays: 0, requestKey: key() });
    const id = started.subscription.id;
    const renewal = Date.UTC(2027, 1, 10, 8, 0, 0);
    // Declined at the renewal and on day 1; the period after it ends on 10 March while still in dunning.
    await advanceClock(deps, { caller: ADMIN, clockId: clock.id, to: Date.UTC(2027, 2, 12, 0, 0, 0) });
    expect(await getSubscription(h.app.db.kysely, { caller: ADMIN, subscriptionId: id })).toMatchObject({ status: 'past_due', dunningRetries: 1 });
    expect(await listInvoices(h.app.db.kysely, { caller: ADMIN, subscriptionId: id })).toHaveLength(2);
    // Day 35 (17 March): the card works again; the February invoice is paid and billing restarts that day.
    const retry = renewal + 35 * DAY;
    await advanceClock(deps, { caller: ADMIN, clockId: clock.id, to: retry + 60_000 });
    const s = await getSubscription(h.app.db.kysely, { caller: ADMIN, subscriptionId: id });
    expect(s).toMatchObject({ status: 'active', currentPeriodStart: retry, currentPeriodEnd: Date.UTC(2027, 3, 17, 8, 0, 0) });
    expect((await listInvoices(h.app.db.kysely, { caller: ADMIN, subscriptionId: id })).map((i) => [i.billingReason, i.status, i.periodStart, i.attemptCount])).toEqual([
      ['subscription_create', 'paid', t0, 1],
      ['subscription_cycle', 'paid', renewal, 3],
      ['subscription_cycle', 'paid', retry, 1],
    ]);
    expect(await unbalancedTransactions(h.app.db.kysely)).toEqual([]);
  });
});
