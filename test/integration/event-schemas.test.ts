/**
 * The event contract, checked against what the app really writes: drive every flow that emits an
 * event (through GraphQL, the worker, the dispute use case a webhook processor calls, and the
 * subscription use cases on test clocks), then validate every row of the outbox against its
 * schema under schemas/. A use case that adds, renames or drops a field, or an event type without
 * a schema, fails here.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Caller } from '../../src/kernel/index.js';
import { money, parseCurrency, type CurrencyCode } from '../../src/money/index.js';
import { applyDisputeEvent } from '../../src/payments/disputes/index.js';
import { EVENT_TYPES, type EventType } from '../../src/platform/events/index.js';
import { loadEventSchemaFiles, validateEvent } from '../../src/platform/events/schemas.js';
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
  BILLING_REASONS,
  END_REASONS,
  type SubscriptionResult,
} from '../../src/subscriptions/index.js';
import { describeEachDatabase } from '../support/databases.js';
import { key, startHarness, type Harness } from '../support/harness.js';
import { CAPTURE, COMPLETE_3DS, CONFIRM, CREATE, FAIL_3DS, REFUND, VOID } from './fragments.js';

const USD = parseCurrency('USD') as CurrencyCode;
const USD_CERT = 'price_ml_certificate_usd';
const EUR_PLUS = 'price_plus_monthly_eur';
const PLUS_MONTHLY = 'price_plus_monthly_usd'; // a 7-day trial by default
const PLUS_ANNUAL = 'price_plus_annual_usd';
const DATA_SCIENCE = 'price_data_science_monthly_usd'; // no trial
const DAY = 86_400_000;
/** Support staff: subscriptions and test clocks are driven through their use cases as an admin. */
const ADMIN: Caller = { actor: { subject: 'staff_event_schemas', roles: ['admin'], customerId: null, kind: 'staff' }, requestId: null, ip: null };

/**
 * Event types no flow in the app can emit yet, each with the reason. Empty: every type is driven
 * below. A type added to EVENT_TYPES must get a flow here (or an entry with its reason).
 */
const NOT_YET_PRODUCIBLE: Partial<Record<EventType, string>> = {};

interface OutboxRow {
  readonly id: string;
  readonly topic: string;
  readonly type: string;
  readonly aggregate_id: string;
  readonly payload: string;
}

const outboxOf = (h: Harness): Promise<readonly OutboxRow[]> => h.app.db.kysely.selectFrom('outbox').select(['id', 'topic', 'type', 'aggregate_id', 'payload']).orderBy('seq').execute();

/** The subscription use cases on one harness; each scenario runs on its own test clock and customer. */
function subscriptionsOn(h: Harness) {
  const deps = () => ({ ...h.app.subscriptions, jobs: h.app.jobs });
  return {
    deps,
    /** A fresh clock at `start` with the customer attached. */
    async clockFor(customerId: string, start: number): Promise<string> {
      const clock = await createClock(deps(), { caller: ADMIN, name: `schemas ${customerId}`, frozenTime: start });
      await attachCustomer(deps(), { caller: ADMIN, clockId: clock.id, customerId });
      return clock.id;
    },
    /** Moves the clock (running every renewal, retry and deadline due) and relays the events. */
    async advance(clockId: string, to: number): Promise<void> {
      await advanceClock(deps(), { caller: ADMIN, clockId, to });
      await h.runWorker();
    },
    async start(customerId: string, priceId: string, token: string, extra: { readonly couponCode?: string; readonly trialDays?: number | null } = {}): Promise<SubscriptionResult> {
      const result = await startSubscription(deps(), {
        caller: ADMIN,
        customerId,
        priceId,
        country: 'US',
        paymentMethodToken: token,
        cardCountry: null,
        couponCode: extra.couponCode ?? null,
        trialDays: extra.trialDays === undefined ? 0 : extra.trialDays,
        requestKey: key('subscribe'),
      });
      await h.runWorker();
      return result;
    },
    cancel: (subscriptionId: string, atPeriodEnd: boolean) => cancelSubscription(deps(), { caller: ADMIN, subscriptionId, atPeriodEnd, refund: 'none', requestKey: key('cancel') }),
    payInvoice: (subscriptionId: string, token: string) => payOpenInvoice(deps(), { caller: ADMIN, subscriptionId, paymentMethodToken: token, cardCountry: null, requestKey: key('pay-invoice') }),
    sub: (subscriptionId: string) => getSubscription(h.app.db.kysely, { caller: ADMIN, subscriptionId }),
    /** [billing reason, status] of each invoice, in issue order. */
    invoices: async (subscriptionId: string) => (await listInvoices(h.app.db.kysely, { caller: ADMIN, subscriptionId })).map((i) => [i.billingReason, i.status]),
  };
}

describeEachDatabase('every emitted event validates against its schema', (dialect) => {
  let h: Harness;
  /** A second app whose dunning leaves subscriptions unpaid instead of canceling them. */
  let unpaidApp: Harness;
  let rows: readonly OutboxRow[] = [];
  let n = 0;

  const customer = () => `cus_schema_${dialect}_${++n}`;

  async function ok<T extends { errors?: unknown; data: any }>(res: Promise<T>): Promise<NonNullable<T['data']>> {
    const r = await res;
    expect(r.errors).toBeUndefined();
    return r.data;
  }
  const create = async (input: Record<string, unknown> = {}) =>
    (await ok(h.gql(CREATE, { input: { customerId: customer(), country: 'US', items: [{ priceId: USD_CERT, quantity: 1 }], idempotencyKey: key('create'), ...input } }))).createCheckoutSession
      .checkoutSession;
  const confirm = async (sessionId: string, token: string | null) => (await ok(h.gql(CONFIRM, { input: { sessionId, paymentMethodToken: token, idempotencyKey: key('confirm') } }))).confirmCheckoutSession;
  const refund = async (paymentId: string, amount: number) => (await ok(h.gql(REFUND, { input: { paymentId, amount, idempotencyKey: key('refund') } }))).refundPayment;

  /** Every flow that emits an event, each checked to have taken the path it is here for. */
  async function driveEveryEventKind(): Promise<void> {
    // Paid (EUR, tax inclusive), refunded in part and then in full: the full refund revokes the order.
    const paid = await create({ country: 'DE', items: [{ priceId: EUR_PLUS, quantity: 2 }] });
    const paidPayment = (await confirm(paid.id, 'tok_visa')).payment;
    expect(paidPayment.status).toBe('succeeded');
    expect((await refund(paidPayment.id, 500)).result).toBe('succeeded');
    expect((await refund(paidPayment.id, paidPayment.amountCaptured.amount - 500)).payment.amountRefundable.amount).toBe(0);

    // Free: a 100 % coupon completes without a payment.
    const free = await create({ couponCode: 'FREECERT' });
    expect(free.total.amount).toBe(0);
    const freeDone = await confirm(free.id, null);
    expect(freeDone.payment).toBeNull();
    expect(freeDone.checkoutSession.status).toBe('complete');

    // Manual capture, captured later (payment.succeeded without an attempt).
    const captured = await create({ captureMethod: 'manual' });
    const authorized = (await confirm(captured.id, 'tok_visa')).payment;
    expect(authorized.status).toBe('requires_capture');
    expect((await ok(h.gql(CAPTURE, { input: { paymentId: authorized.id, idempotencyKey: key('capture') } }))).capturePayment.result).toBe('succeeded');

    // Manual capture, voided: the payment and the checkout are canceled.
    const voided = await create({ captureMethod: 'manual' });
    const toVoid = (await confirm(voided.id, 'tok_visa')).payment;
    expect((await ok(h.gql(VOID, { input: { paymentId: toVoid.id, idempotencyKey: key('void') } }))).voidPayment.payment.status).toBe('canceled');

    // 3-D Secure: challenged, then authenticated; and challenged, then failed by the cardholder.
    const challenged = await create();
    const action = (await confirm(challenged.id, 'tok_threeDSecure2Required')).payment;
    expect(action.status).toBe('requires_action');
    expect((await ok(h.gql(COMPLETE_3DS, { input: { paymentId: action.id, outcome: 'authenticated', idempotencyKey: key('3ds') } }))).completeThreeDSecureChallenge.payment.status).toBe('succeeded');
    const failedChallenge = await create();
    const failing = (await confirm(failedChallenge.id, 'tok_threeDSecure2Required')).payment;
    expect((await ok(h.gql(FAIL_3DS, { input: { paymentId: failing.id, idempotencyKey: key('3ds-fail') } }))).failThreeDSecureChallenge.payment.lastError.declineClass).toBe('customer_action');

    // Declined until the attempts run out (PAYMENT_MAX_FAILED_ATTEMPTS=2): the checkout expires.
    const declined = await create();
    expect((await confirm(declined.id, 'tok_chargeDeclinedInsufficientFunds')).payment.status).toBe('requires_payment_method');
    const exhausted = await confirm(declined.id, 'tok_chargeDeclined');
    expect(exhausted.payment.status).toBe('failed');
    expect(exhausted.checkoutSession.status).toBe('expired');

    // A refund the gateway refuses: the money was already refunded at the gateway directly (as
    // from its dashboard), so the sandbox declines Obol's refund as too large.
    const refusedSale = await create();
    const refusedPayment = (await confirm(refusedSale.id, 'tok_visa')).payment;
    const attempt = await h.app.db.kysely.selectFrom('payment_attempts').select('gateway_reference').where('payment_id', '=', refusedPayment.id).executeTakeFirstOrThrow();
    const outOfBand = await h.app.sandbox.refund({ idempotencyKey: key('dashboard'), reference: attempt.gateway_reference!, amount: money(refusedPayment.amountCaptured.amount, USD) });
    expect(outOfBand.status).toBe('succeeded');
    const refused = await refund(refusedPayment.id, 100);
    expect(refused.result).toBe('failed');

    // Disputes, as a gateway's webhook processor reports them: opened then won; opened then lost
    // (which revokes the order); and an outcome that arrives before its opening.
    const disputed = async () => {
      const s = await create();
      const p = (await confirm(s.id, 'tok_visa')).payment;
      return { connector: 'sandbox', paymentId: p.id as string, amount: money(s.total.amount, USD), occurredAt: h.clock.now() };
    };
    const won = { ...(await disputed()), gatewayDisputeId: key('dp-won'), fee: money(1500, USD), reason: 'fraudulent' };
    expect((await applyDisputeEvent(h.app.payments, { ...won, kind: 'opened' })).applied).toBe(true);
    expect((await applyDisputeEvent(h.app.payments, { ...won, kind: 'won' })).applied).toBe(true);
    const lost = await disputed();
    const lostId = key('dp-lost');
    expect((await applyDisputeEvent(h.app.payments, { ...lost, gatewayDisputeId: lostId, kind: 'opened', fee: null, reason: null })).applied).toBe(true);
    expect((await applyDisputeEvent(h.app.payments, { ...lost, gatewayDisputeId: lostId, kind: 'lost', fee: null, reason: null })).applied).toBe(true);
    const early = await disputed();
    expect((await applyDisputeEvent(h.app.payments, { ...early, gatewayDisputeId: key('dp-early'), kind: 'won', fee: money(1500, USD), reason: 'product_not_received' })).applied).toBe(true);

    // Expiry: an abandoned 3-D Secure checkout (its payment is canceled) and an untouched one.
    const abandoned = await create();
    expect((await confirm(abandoned.id, 'tok_threeDSecure2Required')).payment.status).toBe('requires_action');
    const untouched = await create();
    h.clock.advance(h.app.config.checkoutSessionTtlSeconds * 1000);
    await h.runWorker();
    for (const id of [abandoned.id, untouched.id]) {
      expect((await ok(h.gql(`query($id: ID!) { checkoutSession(id: $id) { status } }`, { id }))).checkoutSession.status).toBe('expired');
    }
  }

  /** Every subscription flow that emits an event, each on its own clock, checked to have taken its path. */
  async function driveEverySubscriptionEventKind(): Promise<void> {
    const s = subscriptionsOn(h);

    // A trial (created, activated as trialing), charged when it ends (invoice.paid, renewed); a
    // cancellation scheduled, withdrawn, scheduled again, and taking effect at the period end.
    const trialist = customer();
    const t0 = Date.UTC(2027, 0, 10, 12, 0, 0);
    const trialClock = await s.clockFor(trialist, t0);
    const trial = await s.start(trialist, PLUS_MONTHLY, 'tok_visa', { trialDays: null });
    expect(trial.subscription).toMatchObject({ status: 'trialing', trialEnd: t0 + 7 * DAY, latestInvoiceId: null });
    const trialId = trial.subscription.id;
    await s.advance(trialClock, t0 + 7 * DAY);
    expect(await s.sub(trialId)).toMatchObject({ status: 'active', currentPeriodEnd: Date.UTC(2027, 1, 17, 12, 0, 0) });
    expect(await s.invoices(trialId)).toEqual([['subscription_cycle', 'paid']]);
    expect((await s.cancel(trialId, true)).subscription).toMatchObject({ status: 'active', cancelAtPeriodEnd: true });
    expect((await resumeSubscription(s.deps(), { caller: ADMIN, subscriptionId: trialId })).subscription).toMatchObject({ status: 'active', cancelAtPeriodEnd: false });
    await s.cancel(trialId, true);
    await s.advance(trialClock, Date.UTC(2027, 1, 18, 12, 0, 0));
    expect(await s.sub(trialId)).toMatchObject({ status: 'canceled', endReason: 'canceled_at_period_end', endedAt: Date.UTC(2027, 1, 17, 12, 0, 0) });

    // A trial canceled now: it ends at once, never charged.
    const quitter = customer();
    await s.clockFor(quitter, t0);
    const shortTrial = await s.start(quitter, PLUS_MONTHLY, 'tok_visa', { trialDays: null });
    expect((await s.cancel(shortTrial.subscription.id, false)).subscription).toMatchObject({ status: 'canceled', endReason: 'trial_canceled' });
    expect(await s.invoices(shortTrial.subscription.id)).toEqual([]);

    // A first invoice of zero (a 100 % coupon) paid without a payment; an upgrade to annual now,
    // charged at once (plan_changed with its invoice, invoice.paid, renewed); a downgrade back,
    // scheduled for the period end (plan_changed without an invoice).
    const changer = customer();
    const t1 = Date.UTC(2027, 2, 1, 0, 0, 0);
    const changerClock = await s.clockFor(changer, t1);
    const free = await s.start(changer, PLUS_MONTHLY, 'tok_visa', { couponCode: 'FREECERT' });
    expect(free.subscription.status).toBe('active');
    expect(free.invoice).toMatchObject({ billingReason: 'subscription_create', status: 'paid', total: 0, paymentId: null });
    await s.advance(changerClock, t1 + 10 * DAY);
    const upgraded = await changeSubscriptionPlan(s.deps(), { caller: ADMIN, subscriptionId: free.subscription.id, priceId: PLUS_ANNUAL, requestKey: key('upgrade') });
    expect(upgraded.subscription).toMatchObject({ status: 'active', priceId: PLUS_ANNUAL, currentPeriodStart: t1 + 10 * DAY });
    expect(upgraded.invoice).toMatchObject({ billingReason: 'subscription_update', status: 'paid', total: 39900 });
    const downgraded = await changeSubscriptionPlan(s.deps(), { caller: ADMIN, subscriptionId: free.subscription.id, priceId: PLUS_MONTHLY, requestKey: key('downgrade') });
    expect(downgraded.subscription).toMatchObject({ priceId: PLUS_ANNUAL, pendingPriceId: PLUS_MONTHLY });
    expect(downgraded.invoice!.id).toBe(upgraded.invoice!.id);

    // A renewal declined twice for insufficient funds (a reason the same card may still approve,
    // so it is retried on the retry days), paid by the second retry: invoice.payment_failed and
    // past_due with the next retry, twice, then invoice.paid and recovered.
    const retried = customer();
    const t2 = Date.UTC(2027, 3, 5, 9, 0, 0);
    const renewal2 = Date.UTC(2027, 4, 5, 9, 0, 0);
    const retriedClock = await s.clockFor(retried, t2);
    const flaky = await s.start(retried, DATA_SCIENCE, 'tok_visaRenewalDeclinedTwice');
    expect(flaky.subscription.status).toBe('active');
    await s.advance(retriedClock, renewal2);
    expect(await s.sub(flaky.subscription.id)).toMatchObject({ status: 'past_due', dunningState: 'retrying' });
    await s.advance(retriedClock, renewal2 + DAY);
    expect(await s.sub(flaky.subscription.id)).toMatchObject({ status: 'past_due', dunningState: 'retrying', dunningRetries: 1 });
    await s.advance(retriedClock, renewal2 + 3 * DAY);
    expect(await s.sub(flaky.subscription.id)).toMatchObject({ status: 'active', dunningState: null });
    expect(await s.invoices(flaky.subscription.id)).toEqual([
      ['subscription_create', 'paid'],
      ['subscription_cycle', 'paid'],
    ]);

    /** A subscription on a lost card whose first renewal was just declined (hard: no retries). */
    const pastDueOnLostCard = async (): Promise<{ readonly id: string; readonly clockId: string; readonly renewal: number }> => {
      const who = customer();
      const start = Date.UTC(2027, 5, 1, 8, 0, 0);
      const renewal = Date.UTC(2027, 6, 1, 8, 0, 0);
      const clockId = await s.clockFor(who, start);
      const started = await s.start(who, DATA_SCIENCE, 'tok_visaRenewalLostCard');
      expect(started.subscription.status).toBe('active');
      await s.advance(clockId, renewal);
      expect(await s.sub(started.subscription.id)).toMatchObject({ status: 'past_due', dunningState: 'await_payment_method' });
      return { id: started.subscription.id, clockId, renewal };
    };

    // A new payment method retries the open invoice at once: paid, recovered.
    const lost = await pastDueOnLostCard();
    const updated = await updateSubscriptionPaymentMethod(s.deps(), { caller: ADMIN, subscriptionId: lost.id, paymentMethodToken: 'tok_visa', requestKey: key('new-card') });
    expect(updated.savedPaymentMethod.status).toBe('active');
    expect(updated.subscription).toMatchObject({ status: 'active', dunningState: null });
    expect(updated.invoice).toMatchObject({ billingReason: 'subscription_cycle', status: 'paid', attemptCount: 2 });

    // Dunning runs out (DUNNING_ON_EXHAUSTED=cancel): invoice.uncollectible, canceled (payment_failed).
    const exhausted = await pastDueOnLostCard();
    await s.advance(exhausted.clockId, exhausted.renewal + 8 * DAY);
    expect(await s.sub(exhausted.id)).toMatchObject({ status: 'canceled', endReason: 'payment_failed', endedAt: exhausted.renewal + 7 * DAY });
    expect(await s.invoices(exhausted.id)).toEqual([
      ['subscription_create', 'paid'],
      ['subscription_cycle', 'uncollectible'],
    ]);

    // Canceled now while past_due: the open invoice is voided (invoice.voided), canceled (canceled_immediately).
    const abandoned = await pastDueOnLostCard();
    expect((await s.cancel(abandoned.id, false)).subscription).toMatchObject({ status: 'canceled', endReason: 'canceled_immediately' });
    expect(await s.invoices(abandoned.id)).toEqual([
      ['subscription_create', 'paid'],
      ['subscription_cycle', 'void'],
    ]);

    // A card that wants 3-D Secure on every payment: the signup is challenged and authenticated;
    // the renewal, off-session, is refused for missing authentication (payment_failed with
    // customer_action, past_due without a retry, authentication_required); the learner pays the
    // invoice present with another card (invoice.paid, recovered).
    const strict = customer();
    const t3 = Date.UTC(2027, 7, 20, 15, 0, 0);
    const renewal3 = Date.UTC(2027, 8, 20, 15, 0, 0);
    const strictClock = await s.clockFor(strict, t3);
    const challenged = await s.start(strict, DATA_SCIENCE, 'tok_threeDSecure2Required');
    expect(challenged.subscription.status).toBe('incomplete');
    expect(challenged.payment).toMatchObject({ status: 'requires_action' });
    const authenticated = await ok(h.gql(COMPLETE_3DS, { input: { paymentId: challenged.payment!.id, outcome: 'authenticated', idempotencyKey: key('3ds-sub') } }));
    expect(authenticated.completeThreeDSecureChallenge.payment.status).toBe('succeeded');
    expect(await s.sub(challenged.subscription.id)).toMatchObject({ status: 'active' });
    await s.advance(strictClock, renewal3);
    expect(await s.sub(challenged.subscription.id)).toMatchObject({ status: 'past_due', dunningState: 'await_customer_authentication' });
    expect((await s.payInvoice(challenged.subscription.id, 'tok_visa')).subscription).toMatchObject({ status: 'active', dunningState: null });
    expect(await s.invoices(challenged.subscription.id)).toEqual([
      ['subscription_create', 'paid'],
      ['subscription_cycle', 'paid'],
    ]);

    // A signup whose first payment is declined and never retried: payment_failed on the first
    // invoice, then at expiry invoice.voided and canceled with status incomplete_expired.
    const declined = customer();
    const t4 = Date.UTC(2027, 9, 3, 7, 0, 0);
    const declinedClock = await s.clockFor(declined, t4);
    const refused = await s.start(declined, DATA_SCIENCE, 'tok_chargeDeclined');
    expect(refused.subscription.status).toBe('incomplete');
    expect(refused.payment).toMatchObject({ status: 'requires_payment_method' });
    await s.advance(declinedClock, t4 + h.app.config.subscriptionIncompleteExpiryHours * 3_600_000 + 60_000);
    expect(await s.sub(refused.subscription.id)).toMatchObject({ status: 'incomplete_expired', endReason: 'incomplete_expired' });
    expect(await s.invoices(refused.subscription.id)).toEqual([['subscription_create', 'void']]);

    // A chargeback of a subscription's payment, lost: canceled (dispute_lost), at once.
    const disputer = customer();
    const t5 = Date.UTC(2027, 10, 1, 0, 0, 0);
    const disputerClock = await s.clockFor(disputer, t5);
    const charged = await s.start(disputer, DATA_SCIENCE, 'tok_visa');
    await s.advance(disputerClock, t5 + 10 * DAY);
    const dispute = { connector: 'sandbox', gatewayDisputeId: key('dp-sub'), paymentId: charged.payment!.id, amount: money(charged.invoice!.total, USD), fee: null, reason: 'fraudulent', occurredAt: h.clock.now() };
    expect((await applyDisputeEvent(h.app.payments, { ...dispute, kind: 'opened' })).applied).toBe(true);
    expect((await applyDisputeEvent(h.app.payments, { ...dispute, kind: 'lost' })).applied).toBe(true);
    expect(await s.sub(charged.subscription.id)).toMatchObject({ status: 'canceled', endReason: 'dispute_lost', endedAt: t5 + 10 * DAY });
  }

  /** DUNNING_ON_EXHAUSTED=mark_unpaid: dunning runs out into unpaid, and the learner pays the debt. */
  async function driveUnpaidSubscription(): Promise<void> {
    const s = subscriptionsOn(unpaidApp);
    const debtor = customer();
    const t0 = Date.UTC(2027, 4, 1, 8, 0, 0);
    const renewal = Date.UTC(2027, 5, 1, 8, 0, 0);
    const clockId = await s.clockFor(debtor, t0);
    const started = await s.start(debtor, DATA_SCIENCE, 'tok_visaRenewalLostCard');
    const id = started.subscription.id;
    await s.advance(clockId, renewal + 8 * DAY);
    expect(await s.sub(id)).toMatchObject({ status: 'unpaid', accessUntil: renewal + 7 * DAY, endedAt: null });
    expect(await s.invoices(id)).toEqual([
      ['subscription_create', 'paid'],
      ['subscription_cycle', 'uncollectible'],
    ]);
    // The learner's first try is declined (payment_failed on the uncollectible invoice); the second pays it.
    expect((await s.payInvoice(id, 'tok_chargeDeclined')).subscription.status).toBe('unpaid');
    expect((await s.payInvoice(id, 'tok_visa')).subscription).toMatchObject({ status: 'active', dunningState: null });
    await unpaidApp.runWorker();
    expect(await s.invoices(id)).toEqual([
      ['subscription_create', 'paid'],
      ['subscription_cycle', 'paid'],
    ]);
  }

  beforeAll(async () => {
    h = await startHarness(dialect, { PAYMENT_MAX_FAILED_ATTEMPTS: '2' });
    await driveEveryEventKind();
    await driveEverySubscriptionEventKind();
    unpaidApp = await startHarness(dialect, { DUNNING_ON_EXHAUSTED: 'mark_unpaid' });
    await driveUnpaidSubscription();
    rows = [...(await outboxOf(h)), ...(await outboxOf(unpaidApp))];
  });
  afterAll(async () => {
    await h?.close();
    await unpaidApp?.close();
  });

  const events = () => rows.map((r) => ({ row: r, event: JSON.parse(r.payload) as Record<string, any> }));

  it('validates every outbox row against the schema of its type', () => {
    expect(rows.length).toBeGreaterThan(EVENT_TYPES.length);
    const failures = events().flatMap(({ row, event }) => {
      const result = validateEvent(event);
      return result.ok ? [] : [{ type: row.type, id: row.id, errors: result.errors }];
    });
    expect(failures).toEqual([]);
  });

  it('emits every event type at least once, unless listed with the reason it cannot be produced yet', () => {
    const seen = new Set(rows.map((r) => r.type));
    const missing = EVENT_TYPES.filter((t) => !seen.has(t) && NOT_YET_PRODUCIBLE[t] === undefined);
    expect(missing).toEqual([]);
    // A listed type that is produced after all should leave the list.
    expect(Object.keys(NOT_YET_PRODUCIBLE).filter((t) => seen.has(t))).toEqual([]);
  });

  it('publishes each type on the topic its schema is filed under, keyed by the aggregate its envelope names', () => {
    const topicOf = new Map(loadEventSchemaFiles().map((f) => [f.type, f.topic]));
    const mismatches = events().flatMap(({ row, event }) => {
      const wrong: string[] = [];
      if (row.topic !== topicOf.get(row.type)) wrong.push(`${row.type} on ${row.topic}, schema under ${String(topicOf.get(row.type))}`);
      if (event.id !== row.id) wrong.push(`${row.id}: envelope id ${event.id}`);
      if (event.type !== row.type) wrong.push(`${row.id}: envelope type ${event.type}, row type ${row.type}`);
      if (event.subject !== row.aggregate_id || event.partitionkey !== row.aggregate_id) wrong.push(`${row.id}: subject ${event.subject} / partitionkey ${event.partitionkey}, aggregate ${row.aggregate_id}`);
      return wrong;
    });
    expect(mismatches).toEqual([]);
  });

  it('exercised the optional and conditional parts of the schemas, not only their common shape', () => {
    const all = events().map((e) => e.event);
    const some = (type: EventType, test: (data: Record<string, any>) => boolean) => all.some((e) => e.type === type && test(e.data));
    expect({
      freeCompletion: some('checkout.completed', (d) => d.paymentId === null && d.total === 0),
      paidCompletion: some('checkout.completed', (d) => typeof d.paymentId === 'string' && d.total > 0),
      capturedByAttempt: some('payment.succeeded', (d) => 'attemptId' in d),
      capturedLater: some('payment.succeeded', (d) => !('attemptId' in d)),
      voided: some('payment.canceled', (d) => d.reason === 'voided' && 'connector' in d),
      canceledByExpiry: some('payment.canceled', (d) => d.reason === 'checkout_expired'),
      expiredByTtl: some('checkout.expired', (d) => d.reason === 'ttl'),
      expiredByDeclines: some('checkout.expired', (d) => d.reason === 'payment_attempts_exhausted'),
      declinedNotFinal: some('payment.failed', (d) => d.final === false),
      declinedFinal: some('payment.failed', (d) => d.final === true),
      partialRefund: some('refund.succeeded', (d) => d.fullyRefunded === false),
      fullRefund: some('refund.succeeded', (d) => d.fullyRefunded === true),
      revokedByRefund: some('order.access_revoked', (d) => d.reason === 'refunded'),
      revokedByDispute: some('order.access_revoked', (d) => d.reason === 'dispute_lost'),
      disputeWithFee: some('dispute.opened', (d) => d.fee !== null && d.feeCurrency !== null),
      disputeWithoutFee: some('dispute.opened', (d) => d.fee === null && d.feeCurrency === null && d.reason === null),
      openedAfterOutcome: some('dispute.opened', (d) => d.status === 'won'),
      invoicePayment: some('payment.succeeded', (d) => d.checkoutSessionId === null && typeof d.invoiceId === 'string'),
      trialStarted: some('subscription.activated', (d) => d.status === 'trialing' && d.reason === 'trial_started' && d.invoiceId === null),
      firstInvoicePaid: some('subscription.activated', (d) => d.status === 'active' && typeof d.invoiceId === 'string'),
      retryScheduled: some('subscription.past_due', (d) => d.nextRetryAt !== null),
      noRetryScheduled: some('subscription.past_due', (d) => d.nextRetryAt === null),
      upgradedNow: some('subscription.plan_changed', (d) => typeof d.invoiceId === 'string' && d.reason.startsWith('upgrade ')),
      downgradeScheduled: some('subscription.plan_changed', (d) => d.invoiceId === null && d.reason.startsWith('downgrade ')),
      expiredWithoutAccess: some('subscription.canceled', (d) => d.status === 'incomplete_expired' && d.accessUntil === null),
      invoicePaidWithoutPayment: some('invoice.paid', (d) => d.paymentId === null && d.total === 0),
      invoicePaidByPayment: some('invoice.paid', (d) => typeof d.paymentId === 'string' && d.total > 0),
      declinedWhileOpen: some('invoice.payment_failed', (d) => d.status === 'open'),
      declinedWhileUncollectible: some('invoice.payment_failed', (d) => d.status === 'uncollectible'),
      authenticationDemanded: some('invoice.payment_failed', (d) => d.declineClass === 'customer_action'),
      voidedFirstInvoice: some('invoice.voided', (d) => d.billingReason === 'subscription_create'),
      voidedRenewal: some('invoice.voided', (d) => d.billingReason === 'subscription_cycle'),
      ...Object.fromEntries(BILLING_REASONS.map((r) => [`paid:${r}`, some('invoice.paid', (d) => d.billingReason === r)])),
      ...Object.fromEntries(END_REASONS.map((r) => [`canceled:${r}`, some('subscription.canceled', (d) => d.reason === r)])),
    }).toEqual({
      freeCompletion: true,
      paidCompletion: true,
      capturedByAttempt: true,
      capturedLater: true,
      voided: true,
      canceledByExpiry: true,
      expiredByTtl: true,
      expiredByDeclines: true,
      declinedNotFinal: true,
      declinedFinal: true,
      partialRefund: true,
      fullRefund: true,
      revokedByRefund: true,
      revokedByDispute: true,
      disputeWithFee: true,
      disputeWithoutFee: true,
      openedAfterOutcome: true,
      invoicePayment: true,
      trialStarted: true,
      firstInvoicePaid: true,
      retryScheduled: true,
      noRetryScheduled: true,
      upgradedNow: true,
      downgradeScheduled: true,
      expiredWithoutAccess: true,
      invoicePaidWithoutPayment: true,
      invoicePaidByPayment: true,
      declinedWhileOpen: true,
      declinedWhileUncollectible: true,
      authenticationDemanded: true,
      voidedFirstInvoice: true,
      voidedRenewal: true,
      ...Object.fromEntries(BILLING_REASONS.map((r) => [`paid:${r}`, true])),
      ...Object.fromEntries(END_REASONS.map((r) => [`canceled:${r}`, true])),
    });
  });
});
