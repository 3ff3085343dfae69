/**
 * The durable jobs that move subscriptions through time. Each runs once in effect: the job queue
 * may run a job again after a crash, so every handler first checks, under the subscription's lock,
 * whether its work is still to do, and a gateway call it starts is an attempt committed with its
 * own idempotency key before the call (a repeat resumes that attempt, never charges again).
 *
 *   subscription.period_end     trial end or period end: end a scheduled cancellation, apply a
 *                               scheduled downgrade, invoice the next period and charge it
 *   subscription.retry_payment  a dunning retry of an open invoice
 *   subscription.dunning_deadline  grace is over: exhaust dunning
 *   subscription.incomplete_expiry a first payment never completed
 *   revenue.recognise           a revenue schedule's boundary
 */
import { money } from '../money/index.js';
import { beginMerchantInitiatedAttempt, executeAttempt } from '../payments/index.js';
import type { Tx } from '../platform/db/index.js';
import { scheduleJob, type ClaimedJob, type JobHandler } from '../platform/jobs/index.js';
import { findPrices } from '../catalog/index.js';
import { issueInvoice, JOB_KINDS, recogniseSchedule } from './billing.js';
import type { SubscriptionsDeps } from './deps.js';
import { periodOf } from './domain/index.js';
import { currencyOf, intervalOf, invoiceStatusOf, lockInvoice, lockSubscription, openChargesOf, saveInvoice, saveSubscription, statusOf, type InvoiceRow, type SubscriptionRow } from './records.js';
import { endSubscription, exhaustDunning, expireIncomplete, periodEndKey, recordFailedPaymentWithoutMethod, settlePaidInvoice } from './settle.js';

/**
 * Inside the caller's transaction: charge an open invoice off-session with the subscription's
 * saved method. Returns the attempt to execute after the commit, or null when there is no method
 * to charge (recorded as a failure awaiting a new payment method).
 */
export async function chargeInvoice(deps: SubscriptionsDeps, tx: Tx, args: { readonly sub: SubscriptionRow; readonly invoice: InvoiceRow; readonly requestKey: string; readonly now: number }): Promise<string | null> {
  const { sub, invoice, now } = args;
  if (sub.payment_method_id === null) {
    await recordFailedPaymentWithoutMethod(deps, tx, { sub, invoice, now });
    return null;
  }
  const { paymentId, attemptId } = await beginMerchantInitiatedAttempt(deps.payments, tx, {
    invoiceId: invoice.id,
    customerId: sub.customer_id,
    amount: money(invoice.total, currencyOf(invoice.currency)),
    paymentMethodId: sub.payment_method_id,
    requestKey: args.requestKey,
    now,
  });
  await saveInvoice(tx, invoice, { payment_id: paymentId, attempt_count: invoice.attempt_count + 1 }, now);
  return attemptId;
}

async function periodEnd(deps: SubscriptionsDeps, job: ClaimedJob): Promise<void> {
  const { db } = deps;
  const attemptId = await db.transaction(async (tx): Promise<string | null> => {
    const sub = await lockSubscription(db, tx, job.subjectId);
    if (!sub) return null;
    const status = statusOf(sub);
    // Only the job due at the current period's end acts; a stale one (after a plan change
    // re-anchored the periods) or one for an ended subscription has nothing to do.
    if (job.runAt !== sub.current_period_end) return null;
    if (status === 'canceled' || status === 'incomplete_expired' || status === 'incomplete') return null;
    const now = await deps.clocks.now(sub.test_clock_id, tx);
    if (sub.cancel_at_period_end === 1) {
      await endSubscription(deps, tx, { sub, reason: sub.trial_end !== null && sub.period_index === -1 ? 'trial_canceled' : 'canceled_at_period_end', at: sub.current_period_end, now });
      return null;
    }
    // An earlier invoice is still in dunning (a grace period longer than what was left of the
    // period), or dunning gave up (unpaid): no new invoice on top of an unpaid one. Paying it
    // restarts billing from that day (settlePaidInvoice); dunning running out ends it.
    if (status === 'past_due' || status === 'unpaid') return null;
    let current = sub;
    if (sub.pending_price_id !== null) {
      const price = (await findPrices(tx, [sub.pending_price_id])).get(sub.pending_price_id);
      if (!price || price.billingInterval === null) throw new Error(`scheduled plan ${sub.pending_price_id} of ${sub.id} is not a recurring price`);
      // A downgrade takes effect at the period end: the new plan's periods start here.
      current = { ...sub, price_id: price.id, product_id: price.productId, unit_amount: price.unitAmount, billing_interval: price.billingInterval, tax_behavior: price.taxBehavior, billing_anchor: sub.current_period_end, period_index: -1, pending_price_id: null };
    }
    const index = current.period_index + 1;
    const period = periodOf(current.billing_anchor, intervalOf(current), index);
    const { invoice, unusedCredit } = await issueInvoice(deps, tx, { sub: current, reason: 'subscription_cycle', periodStart: period.start, periodEnd: period.end, credit: current.credit_balance, now });
    const advanced = await saveSubscription(
      tx,
      sub,
      {
        price_id: current.price_id,
        product_id: current.product_id,
        unit_amount: current.unit_amount,
        billing_interval: current.billing_interval,
        tax_behavior: current.tax_behavior,
        billing_anchor: current.billing_anchor,
        pending_price_id: null,
        period_index: index,
        current_period_start: period.start,
        current_period_end: period.end,
        credit_balance: unusedCredit,
        latest_invoice_id: invoice.id,
      },
      now,
    );
    await scheduleJob(tx, { kind: JOB_KINDS.periodEnd, key: periodEndKey(sub.id, period.end), subjectId: sub.id, clockId: sub.test_clock_id, runAt: period.end, now });
    if (invoice.total === 0) {
      await settlePaidInvoice(deps, tx, { invoiceId: invoice.id, paymentId: null, savedPaymentMethodId: null, now });
      return null;
    }
    return chargeInvoice(deps, tx, { sub: advanced, invoice, requestKey: job.key, now });
  });
  if (attemptId !== null) await executeAttempt(deps.payments, attemptId);
}

async function retryPayment(deps: SubscriptionsDeps, job: ClaimedJob): Promise<void> {
  const { db } = deps;
  const attemptId = await db.transaction(async (tx): Promise<string | null> => {
    const invoiceRow = await tx.selectFrom('invoices').select('subscription_id').where('id', '=', job.subjectId).executeTakeFirst();
    if (!invoiceRow) return null;
    const sub = await lockSubscription(db, tx, invoiceRow.subscription_id);
    const invoice = await lockInvoice(db, tx, job.subjectId);
    if (!sub || !invoice) return null;
    if (invoiceStatusOf(invoice) !== 'open' || statusOf(sub) !== 'past_due' || sub.dunning_state !== 'retrying') return null;
    // Already charging this invoice (a crash after the attempt was committed, or the learner paying
    // it through 3-D Secure right now): that payment decides; a second one could charge twice.
    const open = await openChargesOf(tx, invoice.id);
    if (open.atGateway || open.awaitingAuthentication.length > 0) return null;
    const now = await deps.clocks.now(sub.test_clock_id, tx);
    return chargeInvoice(deps, tx, { sub, invoice, requestKey: job.key, now });
  });
  if (attemptId !== null) await executeAttempt(deps.payments, attemptId);
}

async function dunningDeadline(deps: SubscriptionsDeps, job: ClaimedJob): Promise<void> {
  const { db } = deps;
  await db.transaction(async (tx) => {
    const invoiceRow = await tx.selectFrom('invoices').select('subscription_id').where('id', '=', job.subjectId).executeTakeFirst();
    if (!invoiceRow) return;
    const sub = await lockSubscription(db, tx, invoiceRow.subscription_id);
    const invoice = await lockInvoice(db, tx, job.subjectId);
    if (!sub || !invoice || invoiceStatusOf(invoice) !== 'open' || statusOf(sub) !== 'past_due') return;
    // A retry is still scheduled (retry days never lie after the deadline): its outcome decides,
    // so the last retry day is tried even when it falls on the deadline itself.
    if (sub.dunning_state === 'retrying') return;
    // A charge still at the gateway decides first: the job runs again later (it throws to be retried).
    if ((await openChargesOf(tx, invoice.id)).atGateway) throw new Error(`a charge of invoice ${invoice.id} is still in flight at its dunning deadline`);
    const now = await deps.clocks.now(sub.test_clock_id, tx);
    await exhaustDunning(deps, tx, { sub, invoice, now });
  });
}

async function incompleteExpiry(deps: SubscriptionsDeps, job: ClaimedJob): Promise<void> {
  const { db } = deps;
  await db.transaction(async (tx) => {
    const sub = await lockSubscription(db, tx, job.subjectId);
    if (!sub || statusOf(sub) !== 'incomplete') return;
    // A payment still at the gateway decides first; the job runs again later (it throws to be retried).
    if (sub.latest_invoice_id !== null && (await openChargesOf(tx, sub.latest_invoice_id)).atGateway) throw new Error(`first payment of ${sub.id} is still in flight`);
    const now = await deps.clocks.now(sub.test_clock_id, tx);
    await expireIncomplete(deps, tx, { sub, now, reason: 'first payment not completed in time' });
  });
}

async function recognise(deps: SubscriptionsDeps, job: ClaimedJob): Promise<void> {
  const { db } = deps;
  await db.transaction(async (tx) => {
    const now = await deps.clocks.now(job.clockId, tx);
    // At the boundary itself, whatever the clock reads when the job finally runs.
    await recogniseSchedule(db, tx, { scheduleId: job.subjectId, at: Math.max(job.runAt, 0), now });
  });
}

export function subscriptionJobHandlers(deps: SubscriptionsDeps): readonly JobHandler[] {
  return [
    { kind: JOB_KINDS.periodEnd, run: (job) => periodEnd(deps, job) },
    { kind: JOB_KINDS.retryPayment, run: (job) => retryPayment(deps, job) },
    { kind: JOB_KINDS.dunningDeadline, run: (job) => dunningDeadline(deps, job) },
    { kind: JOB_KINDS.incompleteExpiry, run: (job) => incompleteExpiry(deps, job) },
    { kind: JOB_KINDS.recognise, run: (job) => recognise(deps, job) },
  ];
}
