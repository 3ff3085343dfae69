/**
 * Row ↔ record mapping for subscriptions and invoices, and the views the APIs return. Views are
 * plain JSON-serialisable data, so an idempotent replay returns exactly the stored view.
 */
import { createHash } from 'node:crypto';
import type { Caller } from '../kernel/index.js';
import { parseCurrency, type CurrencyCode } from '../money/index.js';
import { dbInt, forUpdate, type Db, type Executor, type InvoicesTable, type SubscriptionsTable } from '../platform/db/index.js';
import { isBillingInterval, isTaxBehavior, type BillingInterval, type TaxBehavior } from '../catalog/index.js';
import { isInvoiceStatus, isSubscriptionStatus, isTerminal, type InvoiceStatus, type SubscriptionStatus } from './domain/index.js';

export type SubscriptionRow = SubscriptionsTable;
export type InvoiceRow = InvoicesTable;

export const DUNNING_STATES = ['retrying', 'await_payment_method', 'await_customer_authentication'] as const;
export type DunningState = (typeof DUNNING_STATES)[number];
export function isDunningState(v: unknown): v is DunningState {
  return typeof v === 'string' && (DUNNING_STATES as readonly string[]).includes(v);
}

export const BILLING_REASONS = ['subscription_create', 'subscription_cycle', 'subscription_update'] as const;
export type BillingReason = (typeof BILLING_REASONS)[number];
function isBillingReason(v: unknown): v is BillingReason {
  return typeof v === 'string' && (BILLING_REASONS as readonly string[]).includes(v);
}

/** Lines of an invoice: the plan, a coupon's discount, a proration credit, added (exclusive) tax. */
export const INVOICE_LINE_KINDS = ['subscription', 'discount', 'proration_credit', 'tax'] as const;
export type InvoiceLineKind = (typeof INVOICE_LINE_KINDS)[number];
function isInvoiceLineKind(v: unknown): v is InvoiceLineKind {
  return typeof v === 'string' && (INVOICE_LINE_KINDS as readonly string[]).includes(v);
}

/** Why a subscription ended. */
export const END_REASONS = ['canceled_immediately', 'canceled_at_period_end', 'payment_failed', 'dispute_lost', 'trial_canceled', 'incomplete_expired'] as const;
export type EndReason = (typeof END_REASONS)[number];
function isEndReason(v: unknown): v is EndReason {
  return typeof v === 'string' && (END_REASONS as readonly string[]).includes(v);
}

/**
 * Subscriptions acting on their own decisions (a prorated refund when the owner cancels, giving
 * back a payment that could not be applied): as the service itself, not as the learner (who may
 * not refund payments).
 */
export const SUBSCRIPTIONS_SERVICE: Caller = { actor: { subject: 'obol:subscriptions', roles: ['service'], customerId: null, kind: 'service' }, requestId: null, ip: null };

/** What the request-key columns hold. */
const MAX_REQUEST_KEY = 255;

/**
 * The key one effect of a request is remembered under (`refund`, `retry`, `update`…), derived
 * from the caller's request key. Bounded to what the key columns hold: a caller's key may itself
 * be 255 characters, so a derived key that would be longer is hashed, and the same request always
 * derives the same key.
 */
export function derivedKey(purpose: string, requestKey: string): string {
  const plain = `${purpose}:${requestKey}`;
  return plain.length <= MAX_REQUEST_KEY ? plain : `${purpose}:sha256:${createHash('sha256').update(requestKey).digest('hex')}`;
}

/** What is still moving money for an invoice: calls at the gateway, and payments waiting for 3-D Secure. */
export interface OpenCharges {
  /** An attempt is pending or its outcome unknown: the gateway may still charge (the reconciler will say). */
  readonly atGateway: boolean;
  /** Customer-present payments waiting for the learner's 3-D Secure challenge. */
  readonly awaitingAuthentication: readonly string[];
}

export async function openChargesOf(db: Executor, invoiceId: string): Promise<OpenCharges> {
  const rows = await db
    .selectFrom('payment_attempts')
    .innerJoin('payment_intents', 'payment_intents.id', 'payment_attempts.payment_id')
    .select(['payment_attempts.status', 'payment_intents.id as payment_id'])
    .where('payment_intents.invoice_id', '=', invoiceId)
    .where('payment_attempts.status', 'in', ['pending', 'unknown', 'requires_action'])
    .execute();
  return { atGateway: rows.some((r) => r.status !== 'requires_action'), awaitingAuthentication: [...new Set(rows.filter((r) => r.status === 'requires_action').map((r) => r.payment_id))] };
}

/** A payment attempt an earlier run of the same request made on one of this subscription's invoices. */
export async function attemptOfRequest(db: Executor, args: { readonly subscriptionId: string; readonly requestKey: string }): Promise<string | undefined> {
  const row = await db
    .selectFrom('payment_attempts')
    .innerJoin('payment_intents', 'payment_intents.id', 'payment_attempts.payment_id')
    .innerJoin('invoices', 'invoices.id', 'payment_intents.invoice_id')
    .select('payment_attempts.id')
    .where('invoices.subscription_id', '=', args.subscriptionId)
    .where('payment_attempts.request_idempotency_key', '=', args.requestKey)
    .executeTakeFirst();
  return row?.id;
}

export function currencyOf(value: string): CurrencyCode {
  const c = parseCurrency(value);
  if (!c) throw new Error(`corrupt row: unknown currency ${value}`);
  return c;
}

function corrupt(what: string): never {
  throw new Error(`corrupt row: ${what}`);
}

const nullableInt = (v: number | null): number | null => (v === null ? null : dbInt(v));

export function normaliseSubscription(row: SubscriptionRow): SubscriptionRow {
  return {
    ...row,
    unit_amount: dbInt(row.unit_amount),
    billing_anchor: dbInt(row.billing_anchor),
    trial_end: nullableInt(row.trial_end),
    first_paid_period_start: nullableInt(row.first_paid_period_start),
    period_index: dbInt(row.period_index),
    current_period_start: dbInt(row.current_period_start),
    current_period_end: dbInt(row.current_period_end),
    access_until: nullableInt(row.access_until),
    cancel_at_period_end: dbInt(row.cancel_at_period_end),
    canceled_at: nullableInt(row.canceled_at),
    ended_at: nullableInt(row.ended_at),
    credit_balance: dbInt(row.credit_balance),
    dunning_first_failed_at: nullableInt(row.dunning_first_failed_at),
    dunning_retries: dbInt(row.dunning_retries),
    dunning_deadline: nullableInt(row.dunning_deadline),
    created_at: dbInt(row.created_at),
    updated_at: dbInt(row.updated_at),
    version: dbInt(row.version),
  };
}

export function normaliseInvoice(row: InvoiceRow): InvoiceRow {
  return {
    ...row,
    period_start: dbInt(row.period_start),
    period_end: dbInt(row.period_end),
    subtotal: dbInt(row.subtotal),
    discount: dbInt(row.discount),
    credit: dbInt(row.credit),
    tax: dbInt(row.tax),
    total: dbInt(row.total),
    net: dbInt(row.net),
    tax_rate_bps: dbInt(row.tax_rate_bps),
    attempt_count: dbInt(row.attempt_count),
    finalized_at: nullableInt(row.finalized_at),
    paid_at: nullableInt(row.paid_at),
    voided_at: nullableInt(row.voided_at),
    created_at: dbInt(row.created_at),
    updated_at: dbInt(row.updated_at),
    version: dbInt(row.version),
  };
}

export function statusOf(row: SubscriptionRow): SubscriptionStatus {
  if (!isSubscriptionStatus(row.status)) throw new Error(`corrupt subscription ${row.id}: status ${row.status}`);
  return row.status;
}

export function invoiceStatusOf(row: InvoiceRow): InvoiceStatus {
  if (!isInvoiceStatus(row.status)) throw new Error(`corrupt invoice ${row.id}: status ${row.status}`);
  return row.status;
}

export function intervalOf(row: SubscriptionRow): BillingInterval {
  if (!isBillingInterval(row.billing_interval)) throw new Error(`corrupt subscription ${row.id}: interval ${row.billing_interval}`);
  return row.billing_interval;
}

export function taxBehaviorOf(row: SubscriptionRow): TaxBehavior {
  if (!isTaxBehavior(row.tax_behavior)) throw new Error(`corrupt subscription ${row.id}: tax behavior ${row.tax_behavior}`);
  return row.tax_behavior;
}

export async function lockSubscription(db: Db, tx: Executor, id: string): Promise<SubscriptionRow | undefined> {
  const row = await forUpdate(db, tx.selectFrom('subscriptions').selectAll().where('id', '=', id)).executeTakeFirst();
  return row ? normaliseSubscription(row) : undefined;
}

export async function lockInvoice(db: Db, tx: Executor, id: string): Promise<InvoiceRow | undefined> {
  const row = await forUpdate(db, tx.selectFrom('invoices').selectAll().where('id', '=', id)).executeTakeFirst();
  return row ? normaliseInvoice(row) : undefined;
}

/** The unique `live_key` of a subscription in `status`: set while it lives, null once it has ended. */
export function liveKeyOf(row: Pick<SubscriptionRow, 'id' | 'customer_id' | 'product_id' | 'status'>): string | null {
  if (!isSubscriptionStatus(row.status)) throw new Error(`corrupt subscription ${row.id}: status ${row.status}`);
  return isTerminal(row.status) ? null : `${row.customer_id}|${row.product_id}`;
}

/** Writes the changed columns, guarded by the version (the row lock is the first line). */
export async function saveSubscription(tx: Executor, before: SubscriptionRow, changes: Partial<SubscriptionRow>, now: number): Promise<SubscriptionRow> {
  const changed = { ...before, ...changes };
  const next = { ...changed, live_key: liveKeyOf(changed), updated_at: now, version: before.version + 1 };
  const { id: _id, ...rest } = next;
  const res = await tx.updateTable('subscriptions').set(rest).where('id', '=', before.id).where('version', '=', before.version).executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) throw new Error(`subscription ${before.id} changed concurrently`);
  return next;
}

export async function saveInvoice(tx: Executor, before: InvoiceRow, changes: Partial<InvoiceRow>, now: number): Promise<InvoiceRow> {
  const next = { ...before, ...changes, updated_at: now, version: before.version + 1 };
  const { id: _id, ...rest } = next;
  const res = await tx.updateTable('invoices').set(rest).where('id', '=', before.id).where('version', '=', before.version).executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) throw new Error(`invoice ${before.id} changed concurrently`);
  return next;
}

export interface InvoiceLineView {
  readonly kind: InvoiceLineKind;
  readonly description: string;
  readonly priceId: string | null;
  readonly periodStart: number;
  readonly periodEnd: number;
  readonly amount: number;
}

export interface InvoiceView {
  readonly id: string;
  readonly number: string | null;
  readonly subscriptionId: string;
  readonly customerId: string;
  readonly status: InvoiceStatus;
  readonly billingReason: BillingReason;
  readonly currency: CurrencyCode;
  readonly periodStart: number;
  readonly periodEnd: number;
  readonly subtotal: number;
  readonly discount: number;
  readonly credit: number;
  readonly tax: number;
  readonly total: number;
  readonly taxCountry: string;
  readonly taxRateBps: number;
  readonly paymentId: string | null;
  readonly attemptCount: number;
  readonly lines: readonly InvoiceLineView[];
  readonly finalizedAt: number | null;
  readonly paidAt: number | null;
  readonly createdAt: number;
}

export interface SubscriptionView {
  readonly id: string;
  readonly customerId: string;
  readonly status: SubscriptionStatus;
  readonly productId: string;
  readonly priceId: string;
  readonly currency: CurrencyCode;
  readonly unitAmount: number;
  readonly billingInterval: BillingInterval;
  readonly taxBehavior: TaxBehavior;
  readonly country: string;
  readonly couponId: string | null;
  readonly testClockId: string | null;
  readonly paymentMethodId: string | null;
  readonly trialEnd: number | null;
  readonly currentPeriodStart: number;
  readonly currentPeriodEnd: number;
  readonly accessUntil: number | null;
  readonly cancelAtPeriodEnd: boolean;
  readonly canceledAt: number | null;
  readonly endedAt: number | null;
  readonly endReason: EndReason | null;
  readonly pendingPriceId: string | null;
  readonly creditBalance: number;
  readonly latestInvoiceId: string | null;
  readonly dunningState: DunningState | null;
  readonly dunningRetries: number;
  readonly dunningDeadline: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export function subscriptionView(row: SubscriptionRow): SubscriptionView {
  const r = normaliseSubscription(row);
  return {
    id: r.id,
    customerId: r.customer_id,
    status: statusOf(r),
    productId: r.product_id,
    priceId: r.price_id,
    currency: currencyOf(r.currency),
    unitAmount: r.unit_amount,
    billingInterval: intervalOf(r),
    taxBehavior: taxBehaviorOf(r),
    country: r.country,
    couponId: r.coupon_id,
    testClockId: r.test_clock_id,
    paymentMethodId: r.payment_method_id,
    trialEnd: r.trial_end,
    currentPeriodStart: r.current_period_start,
    currentPeriodEnd: r.current_period_end,
    accessUntil: r.access_until,
    cancelAtPeriodEnd: r.cancel_at_period_end === 1,
    canceledAt: r.canceled_at,
    endedAt: r.ended_at,
    endReason: r.end_reason === null ? null : isEndReason(r.end_reason) ? r.end_reason : corrupt(`subscription ${r.id}: end reason ${r.end_reason}`),
    pendingPriceId: r.pending_price_id,
    creditBalance: r.credit_balance,
    latestInvoiceId: r.latest_invoice_id,
    dunningState: isDunningState(r.dunning_state) ? r.dunning_state : null,
    dunningRetries: r.dunning_retries,
    dunningDeadline: r.dunning_deadline,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export async function loadSubscriptionView(db: Executor, id: string): Promise<SubscriptionView | undefined> {
  const row = await db.selectFrom('subscriptions').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? subscriptionView(row) : undefined;
}

export async function loadInvoiceView(db: Executor, id: string): Promise<InvoiceView | undefined> {
  const row = await db.selectFrom('invoices').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) return undefined;
  const r = normaliseInvoice(row);
  const lines = await db.selectFrom('invoice_lines').selectAll().where('invoice_id', '=', id).orderBy('position').execute();
  return {
    id: r.id,
    number: r.number,
    subscriptionId: r.subscription_id,
    customerId: r.customer_id,
    status: invoiceStatusOf(r),
    billingReason: isBillingReason(r.billing_reason) ? r.billing_reason : corrupt(`invoice ${r.id}: billing reason ${r.billing_reason}`),
    currency: currencyOf(r.currency),
    periodStart: r.period_start,
    periodEnd: r.period_end,
    subtotal: r.subtotal,
    discount: r.discount,
    credit: r.credit,
    tax: r.tax,
    total: r.total,
    taxCountry: r.tax_country,
    taxRateBps: r.tax_rate_bps,
    paymentId: r.payment_id,
    attemptCount: r.attempt_count,
    lines: lines.map((l) => ({
      kind: isInvoiceLineKind(l.kind) ? l.kind : corrupt(`invoice ${r.id}: line kind ${l.kind}`),
      description: l.description,
      priceId: l.price_id,
      periodStart: dbInt(l.period_start),
      periodEnd: dbInt(l.period_end),
      amount: dbInt(l.amount),
    })),
    finalizedAt: r.finalized_at,
    paidAt: r.paid_at,
    createdAt: r.created_at,
  };
}

export async function listCustomerSubscriptions(db: Executor, customerId: string): Promise<readonly SubscriptionView[]> {
  const rows = await db.selectFrom('subscriptions').selectAll().where('customer_id', '=', customerId).orderBy('id', 'desc').limit(100).execute();
  return rows.map(subscriptionView);
}

export async function listSubscriptionInvoices(db: Executor, subscriptionId: string): Promise<readonly InvoiceView[]> {
  const rows = await db.selectFrom('invoices').select('id').where('subscription_id', '=', subscriptionId).orderBy('created_at').orderBy('id').execute();
  const out: InvoiceView[] = [];
  for (const r of rows) {
    const v = await loadInvoiceView(db, r.id);
    if (v) out.push(v);
  }
  return out;
}
