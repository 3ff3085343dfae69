/**
 * What a learner (or support, or a service on their behalf) does to a running subscription:
 * cancel (at period end or now, with or without a prorated refund), resume a scheduled
 * cancellation, change plan (an upgrade now with proration, a downgrade at the period end),
 * update the payment method (which retries an open invoice at once), and pay an open invoice
 * on-session (when the issuer demands authentication). Each is one use case with one props
 * object; every refusal happens before anything is written.
 */
import { authorize, mayActFor, notFound, ObolError, type Caller } from '../kernel/index.js';
import { assertPriceId, findPrices } from '../catalog/index.js';
import { money } from '../money/index.js';
import {
  beginSavePaymentMethod,
  completeSavePaymentMethod,
  detachPaymentMethod,
  beginRefund,
  executeAttempt,
  executeRefund,
  loadPaymentMethod,
  type PaymentMethodView,
} from '../payments/index.js';
import type { Tx } from '../platform/db/index.js';
import { cancelJobsOf, scheduleJob } from '../platform/jobs/index.js';
import { beginPresentInvoicePayment, issueInvoice, JOB_KINDS } from './billing.js';
import type { SubscriptionsDeps } from './deps.js';
import { monthsPer, periodOf, unusedShare, unusedTimeCredit, type PeriodShare } from './domain/index.js';
import { emitSubscriptionEvent } from './events.js';
import { chargeInvoice } from './jobs.js';
import { attemptOfRequest, SUBSCRIPTIONS_SERVICE, type InvoiceRow, currencyOf, derivedKey, intervalOf, invoiceStatusOf, lockInvoice, lockSubscription, openChargesOf, saveSubscription, statusOf, taxBehaviorOf, type SubscriptionRow } from './records.js';
import { cancelAwaitingAuthentication, endSubscription, finishSchedules, periodEndKey, settlePaidInvoice } from './settle.js';
import { resultOf, TOKEN_PATTERN, type SubscriptionResult } from './start.js';


export interface SubscriptionRef {
  readonly caller: Caller;
  readonly subscriptionId: string;
}

/** Loads a subscription the caller may manage; someone else's is NOT_FOUND (no probing). */
async function owned(deps: SubscriptionsDeps, props: SubscriptionRef): Promise<SubscriptionRow> {
  authorize(props.caller.actor, 'subscription.manage');
  const row = await deps.db.kysely.selectFrom('subscriptions').selectAll().where('id', '=', props.subscriptionId).executeTakeFirst();
  if (!row || !mayActFor(props.caller.actor, row.customer_id)) throw notFound('subscription', 'subscriptionId');
  return row;
}

function assertLive(sub: SubscriptionRow): void {
  const status = statusOf(sub);
  if (status === 'canceled' || status === 'incomplete_expired') {
    throw new ObolError('SUBSCRIPTION_NOT_ACTIVE', `This subscription has ended (${status}).`, { status });
  }
}

async function lockLive(deps: SubscriptionsDeps, tx: Tx, id: string): Promise<SubscriptionRow> {
  const sub = await lockSubscription(deps.db, tx, id);
  if (!sub) throw notFound('subscription', 'subscriptionId');
  assertLive(sub);
  return sub;
}

export const REFUND_POLICIES = ['none', 'prorated'] as const;
export type RefundPolicy = (typeof REFUND_POLICIES)[number];

export interface CancelSubscriptionProps extends SubscriptionRef {
  /** true: access runs to the period's end, then it ends; false: it ends now. */
  readonly atPeriodEnd: boolean;
  /** Only when ending now: `prorated` refunds the unused part of the period paid for. */
  readonly refund: RefundPolicy;
  readonly requestKey: string;
}

export async function cancelSubscription(deps: SubscriptionsDeps, props: CancelSubscriptionProps): Promise<SubscriptionResult> {
  const { db } = deps;
  const found = await owned(deps, props);
  if (props.atPeriodEnd && props.refund !== 'none') throw new ObolError('VALIDATION_FAILED', 'A cancellation at the period end refunds nothing: the period is used in full.', { field: 'refund' });
  // A repeat of a cancellation that already happened reports where it got to (and finishes its
  // refund, should the first run have stopped before sending it).
  if (statusOf(found) === 'canceled' && found.end_reason !== null) {
    await finishCancellationRefunds(deps, found, props.requestKey);
    return resultOf(deps, found.id);
  }
  if (props.atPeriodEnd && found.cancel_at_period_end === 1) return resultOf(deps, found.id);
  const refunding = await db.transaction(async (tx) => {
    const sub = await lockLive(deps, tx, found.id);
    const now = await deps.clocks.now(sub.test_clock_id, tx);
    if (props.atPeriodEnd) {
      if (statusOf(sub) === 'incomplete') throw new ObolError('SUBSCRIPTION_NOT_ACTIVE', 'This subscription has not started; cancel it now instead.', { status: sub.status });
      // Its period is already over (an unpaid subscription, or one in dunning past its period's
      // end, whose renewal did not happen): there is no end left to wait for.
      if (now >= sub.current_period_end) {
        await endSubscription(deps, tx, { sub, reason: 'canceled_at_period_end', at: now, now });
        return false;
      }
      const scheduled = await saveSubscription(tx, sub, { cancel_at_period_end: 1, canceled_at: now }, now);
      await emitSubscriptionEvent(tx, 'subscription.cancel_scheduled', scheduled, now);
      return false;
    }
    const trial = statusOf(sub) === 'trialing';
    const refunds = props.refund === 'prorated' && !trial ? await proratedRefunds(tx, sub, now) : [];
    await endSubscription(deps, tx, { sub, reason: trial ? 'trial_canceled' : 'canceled_immediately', at: now, now, keepDeferred: refunds.length > 0 });
    // The refunds commit with the cancellation: neither happens without the other.
    const caller = { ...SUBSCRIPTIONS_SERVICE, requestId: props.caller.requestId, ip: props.caller.ip };
    for (const [n, refund] of refunds.entries()) {
      await beginRefund(deps.payments, tx, { caller, paymentId: refund.paymentId, amount: refund.amount, reason: 'subscription_canceled', requestKey: refundKeyOf(props.requestKey, n) });
    }
    return refunds.length > 0;
  });
  if (refunding) await finishCancellationRefunds(deps, found, props.requestKey);
  return resultOf(deps, found.id);
}

/**
 * Sends a cancellation's committed refunds (those still to be sent), then recognises whatever the
 * refunds did not take out of deferred revenue: the service ended with the subscription.
 */
async function finishCancellationRefunds(deps: SubscriptionsDeps, sub: SubscriptionRow, requestKey: string): Promise<void> {
  const { db } = deps;
  const refunds = await db.kysely
    .selectFrom('refunds')
    .innerJoin('payment_intents', 'payment_intents.id', 'refunds.payment_id')
    .innerJoin('invoices', 'invoices.id', 'payment_intents.invoice_id')
    .select('refunds.id')
    .where('invoices.subscription_id', '=', sub.id)
    .where('refunds.request_idempotency_key', 'in', Array.from({ length: MAX_CREDIT_CHAIN }, (_, n) => refundKeyOf(requestKey, n)))
    .execute();
  if (refunds.length === 0) return;
  try {
    for (const refund of refunds) await executeRefund(deps.payments, refund.id);
  } finally {
    await db.transaction(async (tx) => {
      const now = await deps.clocks.now(sub.test_clock_id, tx);
      await finishSchedules(deps, tx, { subscriptionId: sub.id, now });
    });
  }
}

/** Plan changes a prorated refund reaches back through (upgrades in a row are few). */
const MAX_CREDIT_CHAIN = 12;

/**
 * The unused part of the current period, as refunds of the payments that paid for it: the latest
 * invoice's payment for its unused share, and, when that invoice was a plan change paid partly
 * with credit, the earlier plan's payment for the share of its period that the credit carried,
 * times the same unused share (and so on back). Each amount is rounded half up once.
 */
async function proratedRefunds(tx: Tx, sub: SubscriptionRow, now: number): Promise<readonly { readonly paymentId: string; readonly amount: number }[]> {
  if (sub.latest_invoice_id === null) return [];
  let invoice: InvoiceRow | undefined = await tx.selectFrom('invoices').selectAll().where('id', '=', sub.latest_invoice_id).executeTakeFirst();
  if (!invoice || invoice.status !== 'paid' || now >= Number(invoice.period_end)) return [];
  const start = Number(invoice.period_start);
  const shares: PeriodShare[] = [{ num: Number(invoice.period_end) - Math.max(now, start), den: Number(invoice.period_end) - start }];
  const refunds: { paymentId: string; amount: number }[] = [];
  for (let link = 0; invoice !== undefined && link < MAX_CREDIT_CHAIN; link++) {
    const amount = unusedShare(Number(invoice.total), shares);
    if (invoice.payment_id !== null && amount > 0) refunds.push({ paymentId: invoice.payment_id, amount });
    if (invoice.billing_reason !== 'subscription_update' || Number(invoice.credit) === 0) break;
    const changedAt: number = Number(invoice.period_start);
    // The plan it replaced: the paid invoice whose period the change cut short.
    const previous: InvoiceRow | undefined = await tx
      .selectFrom('invoices')
      .selectAll()
      .where('subscription_id', '=', sub.id)
      .where('status', '=', 'paid')
      .where('id', '!=', invoice.id)
      .where('period_start', '<=', changedAt)
      .where('period_end', '>', changedAt)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .executeTakeFirst();
    if (previous === undefined) break;
    shares.push({ num: Number(previous.period_end) - changedAt, den: Number(previous.period_end) - Number(previous.period_start) });
    invoice = previous;
  }
  return refunds;
}

/** The request key of the n-th refund of a cancellation (one per payment it refunds). */
const refundKeyOf = (requestKey: string, n: number): string => (n === 0 ? derivedKey('refund', requestKey) : derivedKey(`refund_${n}`, requestKey));

/** Withdraws a cancellation scheduled for the period end (before that end comes). */
export async function resumeSubscription(deps: SubscriptionsDeps, props: SubscriptionRef): Promise<SubscriptionResult> {
  const found = await owned(deps, props);
  await deps.db.transaction(async (tx) => {
    const sub = await lockLive(deps, tx, found.id);
    if (sub.cancel_at_period_end !== 1) return;
    const now = await deps.clocks.now(sub.test_clock_id, tx);
    const resumed = await saveSubscription(tx, sub, { cancel_at_period_end: 0, canceled_at: null }, now);
    await emitSubscriptionEvent(tx, 'subscription.resumed', resumed, now);
  });
  return resultOf(deps, found.id);
}

export interface ChangePlanProps extends SubscriptionRef {
  readonly priceId: string;
  readonly requestKey: string;
}

/**
 * Upgrade (a longer interval, or a dearer plan of the same interval): takes effect now. The
 * unused time of the current paid period is credited, exact to the minor unit, against the new
 * plan's first invoice; a new billing cycle starts now and is charged at once with the saved
 * method. Downgrade (the reverse): waits for the period end, when the renewal switches plan.
 */
export async function changeSubscriptionPlan(deps: SubscriptionsDeps, props: ChangePlanProps): Promise<SubscriptionResult> {
  const { db } = deps;
  const found = await owned(deps, props);
  // A repeat of an upgrade whose answer was lost: its invoice and charge stand.
  if ((await attemptOfRequest(db.kysely, { subscriptionId: found.id, requestKey: props.requestKey })) !== undefined) return resultOf(deps, found.id);
  assertLive(found);
  assertPriceId(props.priceId);
  const price = (await findPrices(db.kysely, [props.priceId])).get(props.priceId);
  if (!price) throw new ObolError('PRICE_NOT_FOUND', `No price ${props.priceId}.`, { field: 'priceId' });
  if (!price.active) throw new ObolError('PRICE_INACTIVE', `Price ${props.priceId} is no longer for sale.`, { field: 'priceId' });
  if (price.billingInterval === null) throw new ObolError('PRICE_NOT_RECURRING', `Price ${props.priceId} is a one-time price.`, { field: 'priceId' });
  if (price.id === found.price_id) throw new ObolError('PLAN_CHANGE_NOT_ALLOWED', 'The subscription is already on this plan.', { field: 'priceId' });
  // Access follows the product: moving between products would end one product's access and start
  // another's mid-period, which entitlements do not model yet. Within a product (monthly ↔ annual) it does not change.
  if (price.productId !== found.product_id) {
    throw new ObolError('PLAN_CHANGE_NOT_ALLOWED', `A plan change stays within ${found.product_id} (for example monthly to annual); to move to ${price.productId}, cancel and subscribe to it.`, { field: 'priceId' });
  }
  if (price.currency !== found.currency) throw new ObolError('CURRENCY_MISMATCH', `The new plan is in ${price.currency}; this subscription bills in ${found.currency}.`, { field: 'priceId' });
  if (price.taxBehavior !== found.tax_behavior) throw new ObolError('PLAN_CHANGE_NOT_ALLOWED', 'The new plan is priced with another tax treatment; start a new subscription instead.', { field: 'priceId' });
  if (price.country !== null && price.country !== found.country) throw new ObolError('PRICE_NOT_AVAILABLE_IN_COUNTRY', `Price ${props.priceId} is only for learners in ${price.country}.`, { field: 'priceId' });
  const status = statusOf(found);
  if (status !== 'active') throw new ObolError('PLAN_CHANGE_NOT_ALLOWED', `Plans can be changed on an active subscription, not a ${status} one.`, { status });
  const newInterval = price.billingInterval;
  const upgrade = monthsPer(newInterval) > monthsPer(intervalOf(found)) || (newInterval === found.billing_interval && price.unitAmount > Number(found.unit_amount));

  const attemptId = await db.transaction(async (tx): Promise<string | null> => {
    const sub = await lockLive(deps, tx, found.id);
    if (statusOf(sub) !== 'active' || sub.price_id !== found.price_id) throw new ObolError('CONCURRENT_MODIFICATION', 'The subscription changed meanwhile; reload it and try again.');
    const now = await deps.clocks.now(sub.test_clock_id, tx);
    // The current period must be settled first: its renewal may still be charging (its answer not
    // in yet), and crediting or replacing a period that is not paid would pay the same days twice.
    if (sub.latest_invoice_id !== null) {
      const latest = await tx.selectFrom('invoices').select('status').where('id', '=', sub.latest_invoice_id).executeTakeFirst();
      if (latest !== undefined && latest.status !== 'paid') throw new ObolError('PLAN_CHANGE_NOT_ALLOWED', 'The current period is not paid yet; change the plan once it is.', { invoiceStatus: latest.status });
    }
    if (!upgrade) {
      const scheduled = await saveSubscription(tx, sub, { pending_price_id: price.id }, now);
      await emitSubscriptionEvent(tx, 'subscription.plan_changed', scheduled, now, { reason: `downgrade to ${price.id} at the period end` });
      return null;
    }
    // The credit: the unused share of what the current period's invoice charged for the plan,
    // in the plan's own tax basis (the amount before tax is added or with tax included).
    let credit = sub.credit_balance;
    if (sub.latest_invoice_id !== null) {
      const paid = await lockInvoice(db, tx, sub.latest_invoice_id);
      if (paid && invoiceStatusOf(paid) === 'paid' && now < paid.period_end) {
        const basis = taxBehaviorOf(sub) === 'exclusive' ? paid.total - paid.tax : paid.total;
        credit += unusedTimeCredit({ paid: money(basis, currencyOf(paid.currency)), periodStart: paid.period_start, periodEnd: paid.period_end, at: Math.max(now, paid.period_start) }).amount;
      }
    }
    const changed: SubscriptionRow = { ...sub, price_id: price.id, product_id: price.productId, unit_amount: price.unitAmount, billing_interval: newInterval, tax_behavior: price.taxBehavior, billing_anchor: now, period_index: 0 };
    const period = periodOf(now, newInterval, 0);
    const { invoice, unusedCredit } = await issueInvoice(deps, tx, { sub: changed, reason: 'subscription_update', periodStart: period.start, periodEnd: period.end, credit, now });
    await cancelJobsOf(tx, { subjectId: sub.id, kinds: [JOB_KINDS.periodEnd], now });
    const updated = await saveSubscription(
      tx,
      sub,
      {
        price_id: price.id,
        product_id: price.productId,
        unit_amount: price.unitAmount,
        billing_interval: newInterval,
        tax_behavior: price.taxBehavior,
        billing_anchor: now,
        period_index: 0,
        current_period_start: period.start,
        current_period_end: period.end,
        pending_price_id: null,
        credit_balance: unusedCredit,
        latest_invoice_id: invoice.id,
      },
      now,
    );
    // Its own key: an earlier cycle may have ended at this same instant (keys are never reused).
    await scheduleJob(tx, { kind: JOB_KINDS.periodEnd, key: `${periodEndKey(sub.id, period.end)}:change:${sub.version}`, subjectId: sub.id, clockId: sub.test_clock_id, runAt: period.end, now });
    await emitSubscriptionEvent(tx, 'subscription.plan_changed', updated, now, { reason: `upgrade to ${price.id}`, invoiceId: invoice.id });
    if (invoice.total === 0) {
      await settlePaidInvoice(deps, tx, { invoiceId: invoice.id, paymentId: null, savedPaymentMethodId: null, now });
      return null;
    }
    return chargeInvoice(deps, tx, { sub: updated, invoice, requestKey: props.requestKey, now });
  });
  if (attemptId !== null) await executeAttempt(deps.payments, attemptId);
  return resultOf(deps, found.id);
}

export interface UpdatePaymentMethodProps extends SubscriptionRef {
  readonly paymentMethodToken: string;
  readonly requestKey: string;
}

export interface UpdatePaymentMethodResult extends SubscriptionResult {
  /**
   * The method this request saved: `active` (now the subscription's), or `failed` with the
   * issuer's decline when the gateway would not save it (the subscription is then unchanged and
   * keeps its old method). A decline is an outcome to show the learner, not an error.
   */
  readonly savedPaymentMethod: PaymentMethodView;
}

/**
 * Saves a new payment method for the subscription (the old one is detached) and, when an invoice
 * is open in dunning, retries it at once with the new method. A repeat with the same request key
 * saves nothing again and charges nothing again.
 */
export async function updateSubscriptionPaymentMethod(deps: SubscriptionsDeps, props: UpdatePaymentMethodProps): Promise<UpdatePaymentMethodResult> {
  const { db } = deps;
  const found = await owned(deps, props);
  assertLive(found);
  if (!TOKEN_PATTERN.test(props.paymentMethodToken)) {
    throw new ObolError('VALIDATION_FAILED', 'paymentMethodToken must be the gateway token for the payment method (letters, digits, _ - : .).', { field: 'paymentMethodToken' });
  }
  const pendingId = await db.transaction(async (tx) => {
    const sub = await lockLive(deps, tx, found.id);
    const now = await deps.clocks.now(sub.test_clock_id, tx);
    return beginSavePaymentMethod(deps.payments, tx, { customerId: sub.customer_id, customerCountry: sub.country, currency: sub.currency, paymentMethodToken: props.paymentMethodToken, requestKey: derivedKey('update', props.requestKey), now });
  });
  const method = await completeSavePaymentMethod(deps.payments, pendingId);
  if (method.status !== 'active') return { ...(await resultOf(deps, found.id)), savedPaymentMethod: method };
  const attemptId = await db.transaction(async (tx): Promise<string | null> => {
    const sub = await lockLive(deps, tx, found.id);
    // A repeat of a request that already got this far: the switch (and its retry) happened.
    if (sub.payment_method_id === method.id) return null;
    const now = await deps.clocks.now(sub.test_clock_id, tx);
    if (sub.payment_method_id !== null) await detachPaymentMethod(tx, { paymentMethodId: sub.payment_method_id, now });
    const updated = await saveSubscription(tx, sub, { payment_method_id: method.id, ...(sub.dunning_state === 'await_payment_method' ? { dunning_state: 'retrying' } : {}) }, now);
    if (statusOf(updated) !== 'past_due' && statusOf(updated) !== 'unpaid') return null;
    if (updated.latest_invoice_id === null) return null;
    const invoice = await lockInvoice(db, tx, updated.latest_invoice_id);
    if (!invoice || (invoiceStatusOf(invoice) !== 'open' && invoiceStatusOf(invoice) !== 'uncollectible')) return null;
    // A charge of the invoice is still under way (a retry whose answer is not in, the learner
    // authenticating a payment): it decides; should it fail, dunning's next retry uses the new method.
    const open = await openChargesOf(tx, invoice.id);
    if (open.atGateway || open.awaitingAuthentication.length > 0) return null;
    return chargeInvoice(deps, tx, { sub: updated, invoice, requestKey: derivedKey('retry', props.requestKey), now });
  });
  if (attemptId !== null) await executeAttempt(deps.payments, attemptId);
  return { ...(await resultOf(deps, found.id)), savedPaymentMethod: (await loadPaymentMethod(db.kysely, method.id)) ?? method };
}

export interface PayInvoiceProps extends SubscriptionRef {
  /** A fresh token from the customer, who is present (3-D Secure may challenge). */
  readonly paymentMethodToken: string;
  readonly cardCountry: string | null;
  readonly requestKey: string;
}

/**
 * The customer pays the subscription's open invoice themselves, present: the way back when the
 * issuer demanded authentication for a renewal, or to settle an unpaid subscription. The method
 * used is saved for the renewals that follow.
 */
export async function payOpenInvoice(deps: SubscriptionsDeps, props: PayInvoiceProps): Promise<SubscriptionResult> {
  const { db } = deps;
  const found = await owned(deps, props);
  assertLive(found);
  if (!TOKEN_PATTERN.test(props.paymentMethodToken)) {
    throw new ObolError('VALIDATION_FAILED', 'paymentMethodToken must be the gateway token for the payment method (letters, digits, _ - : .).', { field: 'paymentMethodToken' });
  }
  if (props.cardCountry !== null && !/^[A-Z]{2}$/.test(props.cardCountry)) {
    throw new ObolError('VALIDATION_FAILED', 'cardCountry must be an ISO 3166-1 alpha-2 country code, such as DE.', { field: 'cardCountry' });
  }
  // A repeat of this request (its answer was lost): that payment stands, nothing is charged again.
  if ((await attemptOfRequest(db.kysely, { subscriptionId: found.id, requestKey: props.requestKey })) !== undefined) return resultOf(deps, found.id);
  const attemptId = await db.transaction(async (tx) => {
    const sub = await lockLive(deps, tx, found.id);
    const now = await deps.clocks.now(sub.test_clock_id, tx);
    const invoice = sub.latest_invoice_id === null ? undefined : await lockInvoice(db, tx, sub.latest_invoice_id);
    if (!invoice || (invoiceStatusOf(invoice) !== 'open' && invoiceStatusOf(invoice) !== 'uncollectible')) {
      throw new ObolError('INVOICE_NOT_PAYABLE', 'This subscription has no open invoice to pay.');
    }
    const open = await openChargesOf(tx, invoice.id);
    if (open.atGateway) throw new ObolError('INVOICE_PAYMENT_IN_PROGRESS', 'A payment of this invoice is still being processed; look again in a few minutes.');
    // The learner starts over (another card, or a challenge abandoned): the earlier payment that
    // waited for 3-D Secure may no longer complete, or the invoice could be paid twice.
    await cancelAwaitingAuthentication(deps, tx, { invoiceId: invoice.id, reason: 'superseded', now });
    return beginPresentInvoicePayment(deps, tx, { sub, invoice, paymentMethodToken: props.paymentMethodToken, cardCountry: props.cardCountry, requestKey: props.requestKey, now });
  });
  await executeAttempt(deps.payments, attemptId);
  return resultOf(deps, found.id);
}
