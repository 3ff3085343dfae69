/**
 * The billing core every subscription use case shares, each step inside the caller's transaction:
 * issue an invoice for a period (numbered, gap-free), settle a paid invoice onto its
 * subscription, and defer and recognise its revenue.
 *
 * Revenue recognition (our choice, documented in docs/subscriptions.md): a paid invoice's net
 * (total − tax) is deferred, and recognised straight-line over its service period in proportion
 * to elapsed time. It is posted at monthly boundaries of the service period (so an annual plan
 * recognises twelve times), at the period's end, and whenever a plan change, cancellation or
 * refund cuts the period short; each posting catches up everything earned so far, so the deferred
 * balance is exact at every boundary and nothing is left deferred after a period ends.
 */
import { couponTerms, findCouponById, findTaxRate, type CouponTerms } from '../catalog/index.js';
import { newId, ObolError } from '../kernel/index.js';
import { postJournal, recognitionPosting } from '../ledger/index.js';
import { beginAttempt } from '../payments/index.js';
import { money } from '../money/index.js';
import { dbInt, forUpdate, type Db, type Executor, type Tx } from '../platform/db/index.js';
import { scheduleJob } from '../platform/jobs/index.js';
import { addIntervals, couponAppliesToPeriod, formatInvoiceNumber, invoiceTotals, recognitionDue, transitionInvoice } from './domain/index.js';
import type { SubscriptionsDeps } from './deps.js';
import { currencyOf, intervalOf, invoiceStatusOf, saveInvoice, taxBehaviorOf, type BillingReason, type InvoiceLineKind, type InvoiceRow, type SubscriptionRow } from './records.js';

export const JOB_KINDS = {
  periodEnd: 'subscription.period_end',
  retryPayment: 'subscription.retry_payment',
  dunningDeadline: 'subscription.dunning_deadline',
  incompleteExpiry: 'subscription.incomplete_expiry',
  recognise: 'revenue.recognise',
} as const;

/**
 * The next number of a sequence, taken under the sequence row's lock: rolled back with the caller,
 * so a sequence has no gaps. One upsert both creates the row on first use and takes its exclusive
 * lock (on MySQL, insert-then-select would share the lock first and deadlock two first issuers).
 */
async function nextInvoiceNumber(db: Db, tx: Tx, prefix: string): Promise<string> {
  const insert = tx.insertInto('invoice_sequences').values({ name: prefix, next_number: 2 });
  if (db.dialect === 'mysql') await insert.onDuplicateKeyUpdate((eb) => ({ next_number: eb('next_number', '+', 1) })).execute();
  else await insert.onConflict((oc) => oc.column('name').doUpdateSet((eb) => ({ next_number: eb('invoice_sequences.next_number', '+', 1) }))).execute();
  const row = await tx.selectFrom('invoice_sequences').select('next_number').where('name', '=', prefix).executeTakeFirstOrThrow();
  return formatInvoiceNumber(prefix, dbInt(row.next_number) - 1);
}

/** The coupon's terms if it discounts the period starting at `periodStart`; null otherwise. */
async function discountFor(tx: Executor, sub: SubscriptionRow, periodStart: number): Promise<CouponTerms | null> {
  if (sub.coupon_id === null) return null;
  const coupon = await findCouponById(tx, sub.coupon_id);
  if (!coupon) throw new Error(`coupon ${sub.coupon_id} of subscription ${sub.id} vanished`);
  const firstPaid = sub.first_paid_period_start ?? periodStart;
  if (!couponAppliesToPeriod({ duration: coupon.duration, durationInMonths: coupon.durationInMonths, firstPaidPeriodStart: firstPaid, periodStart })) return null;
  return couponTerms(coupon);
}

export interface IssueInvoiceArgs {
  readonly sub: SubscriptionRow;
  readonly reason: BillingReason;
  readonly periodStart: number;
  readonly periodEnd: number;
  /** Proration credit to apply, in the plan's tax basis; what cannot be used stays with the subscription. */
  readonly credit: number;
  readonly now: number;
}

export interface IssuedInvoice {
  readonly invoice: InvoiceRow;
  /** Credit left over for the next invoice. */
  readonly unusedCredit: number;
}

/** Creates and finalizes (numbers) the invoice for one period of `sub`'s plan. */
export async function issueInvoice(deps: SubscriptionsDeps, tx: Tx, args: IssueInvoiceArgs): Promise<IssuedInvoice> {
  const { sub, now } = args;
  const currency = currencyOf(sub.currency);
  const taxRate = await findTaxRate(tx, sub.country);
  if (!taxRate) throw new ObolError('UNSUPPORTED_COUNTRY', `Obol has no tax configuration for ${sub.country}.`, { field: 'country' });
  const discount = await discountFor(tx, sub, args.periodStart);
  const totals = invoiceTotals({ currency, unitAmount: sub.unit_amount, quantity: 1, taxBehavior: taxBehaviorOf(sub), taxRateBps: taxRate.rateBps, discount, credit: args.credit });
  const id = newId('invoice', now);
  const draft: InvoiceRow = {
    id,
    number: null,
    subscription_id: sub.id,
    customer_id: sub.customer_id,
    status: 'draft',
    billing_reason: args.reason,
    currency,
    period_start: args.periodStart,
    period_end: args.periodEnd,
    subtotal: totals.subtotal,
    discount: totals.discount,
    credit: totals.credit,
    tax: totals.tax,
    total: totals.total,
    net: totals.net,
    tax_country: sub.country,
    tax_rate_bps: taxRate.rateBps,
    payment_id: null,
    attempt_count: 0,
    finalized_at: null,
    paid_at: null,
    voided_at: null,
    created_at: now,
    updated_at: now,
    version: 0,
  };
  await tx.insertInto('invoices').values(draft).execute();
  type Line = { readonly kind: InvoiceLineKind; readonly description: string; readonly price_id: string | null; readonly amount: number };
  const line = (kind: InvoiceLineKind, description: string, amount: number, price_id: string | null = null): Line => ({ kind, description, price_id, amount });
  const lines: readonly Line[] = [
    line('subscription', `${sub.product_id} (${intervalOf(sub)}ly plan ${sub.price_id})`, totals.subtotal, sub.price_id),
    ...(totals.discount > 0 ? [line('discount', `coupon ${sub.coupon_id ?? ''}`.trim(), -totals.discount)] : []),
    ...(totals.credit > 0 ? [line('proration_credit', 'unused time on the previous plan', -totals.credit)] : []),
    // Tax is its own line only when it is added; included tax is part of the lines above.
    ...(taxBehaviorOf(sub) === 'exclusive' && totals.tax > 0 ? [line('tax', taxRate.name, totals.tax)] : []),
  ];
  await tx
    .insertInto('invoice_lines')
    .values(lines.map((l, position) => ({ invoice_id: id, position, kind: l.kind, description: l.description.slice(0, 300), price_id: l.price_id, period_start: args.periodStart, period_end: args.periodEnd, amount: l.amount })))
    .execute();
  const number = await nextInvoiceNumber(deps.db, tx, deps.invoicePrefix);
  const invoice = await saveInvoice(tx, draft, { status: transitionInvoice('draft', 'finalize'), number, finalized_at: now }, now);
  return { invoice, unusedCredit: totals.unusedCredit };
}

/**
 * Inside the caller's transaction: a customer-present payment of an invoice with a fresh token
 * (3-D Secure may challenge), which also saves the method for the renewals. Returns the attempt
 * to execute after the commit.
 */
export async function beginPresentInvoicePayment(
  deps: SubscriptionsDeps,
  tx: Tx,
  args: { readonly sub: SubscriptionRow; readonly invoice: InvoiceRow; readonly paymentMethodToken: string; readonly cardCountry: string | null; readonly requestKey: string; readonly now: number },
): Promise<string> {
  const { sub, invoice, now } = args;
  const { paymentId, attemptId } = await beginAttempt(deps.payments, tx, {
    sale: { kind: 'invoice', id: invoice.id },
    customerId: sub.customer_id,
    customerCountry: sub.country,
    amount: money(invoice.total, currencyOf(invoice.currency)),
    captureMethod: 'automatic',
    paymentMethod: args.paymentMethodToken,
    issuerCountry: args.cardCountry,
    requestKey: args.requestKey,
    existingPaymentId: null,
    savePaymentMethod: true,
    now,
  });
  await saveInvoice(tx, invoice, { payment_id: paymentId, attempt_count: invoice.attempt_count + 1 }, now);
  return attemptId;
}

/** Marks an open (or uncollectible) invoice paid by `paymentId`; returns null when it already was. */
export async function markInvoicePaid(tx: Tx, invoice: InvoiceRow, paymentId: string | null, now: number): Promise<InvoiceRow | null> {
  const status = invoiceStatusOf(invoice);
  if (status === 'paid') return null;
  return saveInvoice(tx, invoice, { status: transitionInvoice(status, 'pay'), payment_id: paymentId ?? invoice.payment_id, paid_at: now }, now);
}

/**
 * Defers what a paid invoice earns over its service period (plus any deferred balance carried
 * over from a replaced plan's schedule) and schedules its recognition postings.
 */
export async function openRevenueSchedule(
  deps: SubscriptionsDeps,
  tx: Tx,
  args: { readonly invoice: InvoiceRow; readonly sub: SubscriptionRow; readonly paymentId: string | null; readonly carriedOver: number; readonly serviceStart: number; readonly now: number },
): Promise<void> {
  const { invoice, sub, now } = args;
  const amount = invoice.net + args.carriedOver;
  if (amount <= 0) return;
  const id = newId('revenueSchedule', now);
  await tx
    .insertInto('revenue_schedules')
    .values({
      id,
      invoice_id: invoice.id,
      subscription_id: sub.id,
      payment_id: args.paymentId,
      currency: invoice.currency,
      amount,
      recognised: 0,
      service_start: args.serviceStart,
      service_end: invoice.period_end,
      status: 'active',
      created_at: now,
      updated_at: now,
      version: 0,
    })
    .execute();
  // Monthly boundaries of the service period, and its end.
  const boundaries: number[] = [];
  for (let k = 1; ; k++) {
    const at = addIntervals(args.serviceStart, 'month', k);
    if (at >= invoice.period_end) break;
    boundaries.push(at);
  }
  boundaries.push(invoice.period_end);
  for (const at of boundaries) {
    await scheduleJob(tx, { kind: JOB_KINDS.recognise, key: `rs:${id}:${at}`, subjectId: id, clockId: sub.test_clock_id, runAt: at, now });
  }
}

/**
 * Posts what a schedule has earned by `at` and not yet recognised. With `close`, the schedule
 * ends at `at` (a plan change or cancellation): it recognises up to `at` and hands back the
 * amount still deferred, which the caller carries over or refunds.
 */
export async function recogniseSchedule(db: Db, tx: Tx, args: { readonly scheduleId: string; readonly at: number; readonly close?: boolean; readonly now: number }): Promise<{ readonly posted: number; readonly remaining: number }> {
  const row = await forUpdate(db, tx.selectFrom('revenue_schedules').selectAll().where('id', '=', args.scheduleId)).executeTakeFirst();
  if (!row || row.status !== 'active') return { posted: 0, remaining: 0 };
  const amount = dbInt(row.amount);
  const recognised = dbInt(row.recognised);
  const start = dbInt(row.service_start);
  const end = dbInt(row.service_end);
  const due = recognitionDue({ amount, start, end, at: args.at, alreadyRecognised: recognised });
  if (due > 0) {
    await postJournal(tx, recognitionPosting({ scheduleId: row.id, invoiceId: row.invoice_id, amount: money(due, currencyOf(row.currency)) }), args.now);
  }
  const nowRecognised = recognised + due;
  const finished = nowRecognised >= amount || args.close === true;
  await tx
    .updateTable('revenue_schedules')
    .set({
      recognised: nowRecognised,
      // A closed schedule keeps what it recognised; the rest left it with the caller.
      ...(args.close === true ? { amount: nowRecognised, service_end: Math.max(start, Math.min(end, args.at)) } : {}),
      status: finished ? 'closed' : 'active',
      updated_at: args.now,
      version: dbInt(row.version) + 1,
    })
    .where('id', '=', row.id)
    .where('version', '=', row.version)
    .execute();
  return { posted: due, remaining: amount - nowRecognised };
}

/** The active schedules of a subscription (normally one: the current period's). */
export async function activeSchedules(tx: Executor, subscriptionId: string): Promise<readonly string[]> {
  const rows = await tx.selectFrom('revenue_schedules').select('id').where('subscription_id', '=', subscriptionId).where('status', '=', 'active').orderBy('created_at').execute();
  return rows.map((r) => r.id);
}

/**
 * How much of a refund (ex-tax) of `paymentId` comes out of deferred revenue: what its schedule
 * has not yet recognised, which the schedule then gives up. A payment that never opened a schedule
 * (one that could not be applied to its invoice, and is given back whole) deferred all of it.
 */
export async function takeFromSchedule(db: Db, tx: Tx, args: { readonly invoiceId: string; readonly paymentId: string; readonly upTo: number; readonly at: number; readonly now: number }): Promise<number> {
  const row = await tx.selectFrom('revenue_schedules').select('id').where('invoice_id', '=', args.invoiceId).where('payment_id', '=', args.paymentId).executeTakeFirst();
  if (!row) return args.upTo;
  await recogniseSchedule(db, tx, { scheduleId: row.id, at: args.at, now: args.now });
  const locked = await forUpdate(db, tx.selectFrom('revenue_schedules').selectAll().where('id', '=', row.id)).executeTakeFirstOrThrow();
  const unrecognised = dbInt(locked.amount) - dbInt(locked.recognised);
  const taken = Math.max(0, Math.min(unrecognised, args.upTo));
  if (taken === 0) return 0;
  const amount = dbInt(locked.amount) - taken;
  await tx
    .updateTable('revenue_schedules')
    .set({ amount, status: dbInt(locked.recognised) >= amount ? 'closed' : 'active', updated_at: args.now, version: dbInt(locked.version) + 1 })
    .where('id', '=', locked.id)
    .where('version', '=', locked.version)
    .execute();
  return taken;
}
