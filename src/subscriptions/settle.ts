/**
 * What happens to a subscription when money moves or does not, each inside the caller's
 * transaction (a payment outcome's, or a job's): a paid invoice advances it, a failed renewal
 * starts or continues dunning, exhaustion or cancellation ends it.
 *
 *   paid ───────────▶ incomplete→active, trialing/active→active, past_due/unpaid→active (recovered)
 *   renewal failed ─▶ past_due; dunning decides: retry at +N days | wait for a new payment method
 *                     (hard decline) | wait for the customer to authenticate; access stays until
 *                     the dunning deadline (grace)
 *   deadline ───────▶ invoice uncollectible; cancel (revoke) or unpaid (access runs out)
 */
import { beginRefund, cancelPayment, type IntentRow } from '../payments/index.js';
import type { Tx } from '../platform/db/index.js';
import { cancelJob, cancelJobsOf, scheduleJob } from '../platform/jobs/index.js';
import { activeSchedules, JOB_KINDS, markInvoicePaid, openRevenueSchedule, recogniseSchedule } from './billing.js';
import type { SubscriptionsDeps } from './deps.js';
import { decideAfterFailure, transitionInvoice, transitionSubscription, type SubscriptionEvent } from './domain/index.js';
import { emitInvoiceEvent, emitSubscriptionEvent, type SubscriptionEventType } from './events.js';
import { derivedKey, invoiceStatusOf, lockInvoice, lockSubscription, openChargesOf, saveInvoice, saveSubscription, statusOf, SUBSCRIPTIONS_SERVICE, type EndReason, type InvoiceRow, type SubscriptionRow } from './records.js';


async function lockPair(deps: SubscriptionsDeps, tx: Tx, invoiceId: string): Promise<{ readonly sub: SubscriptionRow; readonly invoice: InvoiceRow }> {
  const first = await tx.selectFrom('invoices').select('subscription_id').where('id', '=', invoiceId).executeTakeFirst();
  if (!first) throw new Error(`invoice ${invoiceId} not found`);
  // Subscription first, then invoice: every path takes them in this order.
  const sub = await lockSubscription(deps.db, tx, first.subscription_id);
  const invoice = await lockInvoice(deps.db, tx, invoiceId);
  if (!sub || !invoice) throw new Error(`invoice ${invoiceId} or its subscription vanished`);
  return { sub, invoice };
}

function eventAfterPaid(sub: SubscriptionRow): { readonly event: SubscriptionEvent; readonly type: SubscriptionEventType } | null {
  const status = statusOf(sub);
  switch (status) {
    case 'incomplete':
      return { event: 'first_payment_succeeded', type: 'subscription.activated' };
    case 'trialing':
    case 'active':
      return { event: 'period_paid', type: 'subscription.renewed' };
    case 'past_due':
    case 'unpaid':
      return { event: 'payment_recovered', type: 'subscription.recovered' };
    case 'canceled':
    case 'incomplete_expired':
      return null;
    default: {
      const never: never = status;
      throw new Error(`unknown subscription status ${String(never)}`);
    }
  }
}

/**
 * An invoice was paid (by `paymentId`, or by nothing when its total is zero). The subscription
 * moves on, its access runs to the period's end, dunning stops, and the invoice's revenue is
 * deferred over its period. Applying the same payment twice changes nothing.
 */
export async function settlePaidInvoice(
  deps: SubscriptionsDeps,
  tx: Tx,
  args: { readonly invoiceId: string; readonly paymentId: string | null; readonly savedPaymentMethodId: string | null; readonly now: number },
): Promise<void> {
  const { now } = args;
  const { sub, invoice } = await lockPair(deps, tx, args.invoiceId);
  const status = invoiceStatusOf(invoice);
  // Money that cannot be applied (its invoice was voided: the signup expired or the subscription
  // ended while the charge was in flight; or another payment paid the invoice first) is given
  // back in full, in this same transaction, and never silently kept.
  if (status === 'void' || status === 'paid') {
    if (status === 'paid' && invoice.payment_id === args.paymentId) return; // the same payment, applied again
    if (args.paymentId !== null) await giveBack(deps, tx, { paymentId: args.paymentId, invoice, why: status === 'void' ? 'invoice_voided' : 'invoice_already_paid' });
    return;
  }
  const paid = await markInvoicePaid(tx, invoice, args.paymentId, now);
  if (paid === null) return;
  await emitInvoiceEvent(tx, 'invoice.paid', paid, now);
  await cancelJobsOf(tx, { subjectId: invoice.id, now });
  const next = eventAfterPaid(sub);
  if (next === null) {
    // A debt of a subscription that has since ended (an uncollectible invoice, paid late): owed,
    // so kept and earned, but it revives nothing.
    await openRevenueSchedule(deps, tx, { invoice: paid, sub, paymentId: args.paymentId, carriedOver: 0, serviceStart: invoice.period_start, now });
    return;
  }
  // A plan change's invoice replaces the old plan's schedule: what it had not yet earned carries over.
  let carriedOver = 0;
  if (invoice.billing_reason === 'subscription_update') {
    for (const scheduleId of await activeSchedules(tx, sub.id)) {
      carriedOver += (await recogniseSchedule(deps.db, tx, { scheduleId, at: invoice.period_start, close: true, now })).remaining;
    }
  }
  await openRevenueSchedule(deps, tx, { invoice: paid, sub, paymentId: args.paymentId, carriedOver, serviceStart: invoice.period_start, now });
  // A subscription in dunning or unpaid issues no new invoice when its period ends, so paying its
  // debt after that leaves nothing paid for today: billing starts again now, with a new cycle
  // invoiced and charged at once. Paid before its period ends, the period's own renewal is ahead.
  const owing = statusOf(sub) === 'past_due' || statusOf(sub) === 'unpaid';
  const restart = owing && now >= sub.current_period_end ? await restartBilling(tx, sub, now) : {};
  const updated = await saveSubscription(
    tx,
    sub,
    {
      ...restart,
      status: transitionSubscription(statusOf(sub), next.event),
      payment_method_id: args.savedPaymentMethodId ?? sub.payment_method_id,
      access_until: Math.max(sub.access_until ?? 0, invoice.period_end),
      first_paid_period_start: sub.first_paid_period_start ?? invoice.period_start,
      dunning_state: null,
      dunning_first_failed_at: null,
      dunning_retries: 0,
      dunning_deadline: null,
    },
    now,
  );
  await cancelJob(tx, { key: incompleteExpiryKey(sub.id), now });
  await emitSubscriptionEvent(tx, next.type, updated, now, { invoiceId: invoice.id });
}

/**
 * A new billing cycle anchored at `now`: the period-end job due now invoices [now, now + interval)
 * and charges the saved method, exactly as at the end of a trial.
 */
async function restartBilling(tx: Tx, sub: SubscriptionRow, now: number): Promise<Partial<SubscriptionRow>> {
  await cancelJobsOf(tx, { subjectId: sub.id, kinds: [JOB_KINDS.periodEnd], now });
  // Its own key: the period-end job of a period that ended at this very instant has run already.
  await scheduleJob(tx, { kind: JOB_KINDS.periodEnd, key: `${periodEndKey(sub.id, now)}:restart:${sub.version}`, subjectId: sub.id, clockId: sub.test_clock_id, runAt: now, now });
  return { billing_anchor: now, period_index: -1, current_period_start: sub.current_period_start, current_period_end: now, pending_price_id: null };
}

/**
 * Refunds a payment in full that its invoice cannot take, committed with the decision; the refund
 * is sent after the commit by the reconciler (pending refunds are its work), and the incident is
 * reported so that someone can tell the learner.
 */
async function giveBack(deps: SubscriptionsDeps, tx: Tx, args: { readonly paymentId: string; readonly invoice: InvoiceRow; readonly why: 'invoice_voided' | 'invoice_already_paid' }): Promise<void> {
  deps.payments.onIncident?.(new Error(`payment ${args.paymentId} for invoice ${args.invoice.id} cannot be applied (${args.why}): refunded in full`), { operation: args.why, id: args.paymentId });
  await beginRefund(deps.payments, tx, { caller: SUBSCRIPTIONS_SERVICE, paymentId: args.paymentId, amount: null, reason: args.why, requestKey: derivedKey('give_back', args.paymentId) });
}

export const incompleteExpiryKey = (subscriptionId: string): string => `sub:${subscriptionId}:incomplete_expiry`;
/**
 * The renewal job's key for a period ending at `periodEnd` (a rerun of the job schedules the same
 * next one). Which job acts is decided by its due time, not its key: a plan change or a restart
 * re-anchors periods and schedules under keys of its own.
 */
export const periodEndKey = (subscriptionId: string, periodEnd: number): string => `sub:${subscriptionId}:period_end:${periodEnd}`;

/**
 * A payment for an invoice was declined. A first payment waits for the customer (who is present);
 * a merchant-initiated one (a renewal or a dunning retry) moves the subscription into dunning.
 */
export async function recordFailedPayment(deps: SubscriptionsDeps, tx: Tx, args: { readonly invoiceId: string; readonly intent: IntentRow; readonly now: number }): Promise<void> {
  const { intent, now } = args;
  const { sub, invoice } = await lockPair(deps, tx, args.invoiceId);
  const invoiceStatus = invoiceStatusOf(invoice);
  if (invoiceStatus !== 'open' && invoiceStatus !== 'uncollectible') return;
  const reason = intent.last_error_reason ?? intent.last_error_code ?? 'unknown';
  await emitInvoiceEvent(tx, 'invoice.payment_failed', invoice, now, { declineCode: intent.last_error_code ?? 'unknown', declineReason: reason, declineClass: intent.last_error_class });
  // A failure of an invoice the subscription has moved on from (a later invoice replaced it)
  // says nothing about the subscription now.
  if (invoice.id !== sub.latest_invoice_id) return;
  // The customer trying again by hand while dunning runs does not move its schedule.
  if (intent.initiator === 'customer' && sub.dunning_state !== null) return;
  // A first payment is the customer's, present at signup: they retry; the expiry job ends it if not.
  if (statusOf(sub) === 'incomplete') return;
  const declineClass = intent.last_error_class === 'hard' || intent.last_error_class === 'customer_action' ? intent.last_error_class : 'soft';
  await enterDunning(deps, tx, { sub, invoice, declineClass, reason, declinedMethodId: intent.payment_method_id, now });
}

/** A renewal with no saved payment method to charge: dunning waits for one. */
export async function recordFailedPaymentWithoutMethod(deps: SubscriptionsDeps, tx: Tx, args: { readonly sub: SubscriptionRow; readonly invoice: InvoiceRow; readonly now: number }): Promise<void> {
  await emitInvoiceEvent(tx, 'invoice.payment_failed', args.invoice, args.now, { declineCode: 'no_payment_method', declineReason: 'no_payment_method', declineClass: 'hard' });
  await enterDunning(deps, tx, { ...args, declineClass: 'hard', reason: 'no_payment_method', declinedMethodId: null });
}

async function enterDunning(
  deps: SubscriptionsDeps,
  tx: Tx,
  args: {
    readonly sub: SubscriptionRow;
    readonly invoice: InvoiceRow;
    readonly declineClass: 'soft' | 'hard' | 'customer_action';
    readonly reason: string;
    /** The saved method the declined charge used (null: none was charged). */
    readonly declinedMethodId: string | null;
    readonly now: number;
  },
): Promise<void> {
  const { sub, invoice, now } = args;
  const from = statusOf(sub);
  if (from === 'canceled' || from === 'incomplete_expired' || from === 'unpaid' || from === 'incomplete') return;
  const firstFailedAt = sub.dunning_first_failed_at ?? now;
  const retriesDone = sub.dunning_first_failed_at === null ? 0 : sub.dunning_retries + 1;
  const decided = decideAfterFailure({ policy: deps.dunning, firstFailedAt, retriesDone, decline: { declineClass: args.declineClass, reason: args.reason }, now });
  // The decline was of a card the learner has already replaced (while the charge was unresolved):
  // waiting for a new payment method would wait for what is already there, so retry with it now.
  const replaced = args.declinedMethodId !== null && sub.payment_method_id !== null && sub.payment_method_id !== args.declinedMethodId;
  const decision = decided.kind === 'await_payment_method' && replaced ? ({ kind: 'retry', at: now, deadline: decided.deadline } as const) : decided;
  if (decision.kind === 'exhausted') {
    await exhaustDunning(deps, tx, { sub, invoice, now });
    return;
  }
  if (decision.kind === 'retry') {
    await scheduleJob(tx, { kind: JOB_KINDS.retryPayment, key: `in:${invoice.id}:retry:${retriesDone + 1}`, subjectId: invoice.id, clockId: sub.test_clock_id, runAt: decision.at, now });
  }
  await scheduleJob(tx, { kind: JOB_KINDS.dunningDeadline, key: `in:${invoice.id}:deadline`, subjectId: invoice.id, clockId: sub.test_clock_id, runAt: decision.deadline, now });
  const updated = await saveSubscription(
    tx,
    sub,
    {
      status: from === 'past_due' ? from : transitionSubscription(from, 'payment_failed'),
      dunning_state: decision.kind === 'retry' ? 'retrying' : decision.kind,
      dunning_first_failed_at: firstFailedAt,
      dunning_retries: retriesDone,
      dunning_deadline: decision.deadline,
      // Grace: access stays until the deadline, whatever the period says.
      access_until: Math.max(sub.access_until ?? 0, decision.deadline),
    },
    now,
  );
  await emitSubscriptionEvent(tx, 'subscription.past_due', updated, now, { invoiceId: invoice.id, reason: args.reason, nextRetryAt: decision.kind === 'retry' ? decision.at : null });
  if (decision.kind === 'await_customer_authentication') {
    await emitSubscriptionEvent(tx, 'subscription.authentication_required', updated, now, { invoiceId: invoice.id, reason: args.reason });
  }
}

/** Dunning ran out: the invoice is uncollectible and the subscription is canceled or left unpaid. */
export async function exhaustDunning(deps: SubscriptionsDeps, tx: Tx, args: { readonly sub: SubscriptionRow; readonly invoice: InvoiceRow; readonly now: number }): Promise<void> {
  const { sub, invoice, now } = args;
  let uncollectible = invoice;
  if (invoiceStatusOf(invoice) === 'open') {
    uncollectible = await saveInvoice(tx, invoice, { status: transitionInvoice('open', 'mark_uncollectible') }, now);
    await emitInvoiceEvent(tx, 'invoice.uncollectible', uncollectible, now);
  }
  await cancelJobsOf(tx, { subjectId: invoice.id, now });
  if (deps.dunning.onExhausted === 'cancel') {
    // A payment the learner has not finished authenticating may no longer complete: the
    // subscription it would pay for ends now. (Left unpaid instead, finishing it recovers it.)
    await cancelAwaitingAuthentication(deps, tx, { invoiceId: invoice.id, reason: 'subscription_canceled', now });
    await endSubscription(deps, tx, { sub, reason: 'payment_failed', at: now, now });
    return;
  }
  const updated = await saveSubscription(tx, sub, { status: transitionSubscription(statusOf(sub), 'dunning_exhausted'), dunning_state: null, access_until: now }, now);
  await emitSubscriptionEvent(tx, 'subscription.unpaid', updated, now, { invoiceId: invoice.id });
}

/**
 * Ends a subscription at `at`: access is cut there (entitlements revoke on the event), scheduled
 * work stops, open invoices are voided, and deferred revenue is recognised in full unless the
 * caller refunds it (`keepDeferred`: a prorated refund takes the unused part out of deferred
 * revenue when it posts, and the caller finishes the schedules after it).
 */
export async function endSubscription(
  deps: SubscriptionsDeps,
  tx: Tx,
  args: { readonly sub: SubscriptionRow; readonly reason: EndReason; readonly at: number; readonly now: number; readonly keepDeferred?: boolean },
): Promise<SubscriptionRow> {
  const { sub, at, now } = args;
  await voidOpenInvoices(deps, tx, { sub, now });
  await cancelJobsOf(tx, { subjectId: sub.id, now });
  if (args.keepDeferred !== true) await finishSchedules(deps, tx, { subscriptionId: sub.id, now });
  const updated = await saveSubscription(
    tx,
    sub,
    {
      status: transitionSubscription(statusOf(sub), 'cancel'),
      ended_at: at,
      canceled_at: sub.canceled_at ?? now,
      end_reason: args.reason,
      // A subscription that never gave access (an unpaid signup) still gives none.
      access_until: sub.access_until === null ? null : Math.min(sub.access_until, at),
      cancel_at_period_end: 0,
      pending_price_id: null,
      dunning_state: null,
    },
    now,
  );
  await emitSubscriptionEvent(tx, 'subscription.canceled', updated, now, { reason: args.reason });
  return updated;
}

/**
 * Voids a subscription's unpaid invoices (it ended, or its signup expired). A payment the learner
 * was still authenticating for one of them is canceled, so it cannot complete; one still at the
 * gateway resolves by itself, and if it turns out paid, its money is given back (settlePaidInvoice).
 */
async function voidOpenInvoices(deps: SubscriptionsDeps, tx: Tx, args: { readonly sub: SubscriptionRow; readonly now: number }): Promise<void> {
  const { sub, now } = args;
  const open = await tx.selectFrom('invoices').select('id').where('subscription_id', '=', sub.id).where('status', 'in', ['draft', 'open']).execute();
  for (const { id } of open) {
    const invoice = await lockInvoice(deps.db, tx, id);
    if (!invoice) continue;
    await cancelAwaitingAuthentication(deps, tx, { invoiceId: id, reason: 'invoice_voided', now });
    const voided = await saveInvoice(tx, invoice, { status: transitionInvoice(invoiceStatusOf(invoice), 'void'), voided_at: now }, now);
    await cancelJobsOf(tx, { subjectId: id, now });
    await emitInvoiceEvent(tx, 'invoice.voided', voided, now);
  }
}

/** Cancels the invoice's payments that wait for the learner's 3-D Secure challenge. */
export async function cancelAwaitingAuthentication(deps: SubscriptionsDeps, tx: Tx, args: { readonly invoiceId: string; readonly reason: string; readonly now: number }): Promise<void> {
  for (const paymentId of (await openChargesOf(tx, args.invoiceId)).awaitingAuthentication) {
    await cancelPayment(deps.payments, tx, { paymentId, reason: args.reason, now: args.now });
  }
}

/** Recognises whatever is still deferred on a subscription's schedules and closes them. */
export async function finishSchedules(deps: SubscriptionsDeps, tx: Tx, args: { readonly subscriptionId: string; readonly now: number }): Promise<void> {
  for (const scheduleId of await activeSchedules(tx, args.subscriptionId)) {
    // Recognising "at the end of time" posts everything left.
    await recogniseSchedule(deps.db, tx, { scheduleId, at: Number.MAX_SAFE_INTEGER, now: args.now });
  }
}

/**
 * A signup whose first payment (or payment-method save) never completed: the subscription
 * expires without ever having given access, and its invoice is voided.
 */
export async function expireIncomplete(deps: SubscriptionsDeps, tx: Tx, args: { readonly sub: SubscriptionRow; readonly now: number; readonly reason: string }): Promise<void> {
  const { sub, now } = args;
  if (statusOf(sub) !== 'incomplete') return;
  await voidOpenInvoices(deps, tx, { sub, now });
  await cancelJobsOf(tx, { subjectId: sub.id, now });
  const updated = await saveSubscription(tx, sub, { status: transitionSubscription('incomplete', 'incomplete_expired'), ended_at: now, end_reason: 'incomplete_expired' }, now);
  await emitSubscriptionEvent(tx, 'subscription.canceled', updated, now, { reason: 'incomplete_expired' });
}
