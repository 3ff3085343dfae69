import { parseCurrency, type CurrencyCode } from '../money/index.js';
import { dbInt, forUpdate, type CheckoutSessionsTable, type Db, type Executor } from '../platform/db/index.js';
import type { CaptureMethod } from '../payments/index.js';
import { isBillingInterval, isTaxBehavior, type BillingInterval, type LineTotals, type TaxBehavior, type Totals } from './domain/totals.js';

/**
 * Checkout session lifecycle:
 *
 *   open ──confirm──▶ processing ──paid or authorized──▶ complete
 *    ▲                    │
 *    └─────declined───────┘ (the learner may try another payment method)
 *   open ──TTL passed──▶ expired        processing ──attempts exhausted──▶ expired
 */
export const SESSION_STATUSES = ['open', 'processing', 'complete', 'expired'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

export function isSessionStatus(v: unknown): v is SessionStatus {
  return typeof v === 'string' && (SESSION_STATUSES as readonly string[]).includes(v);
}

export interface SessionLineView {
  readonly priceId: string;
  readonly productId: string;
  readonly productName: string;
  readonly billingInterval: BillingInterval | null;
  readonly quantity: number;
  readonly unitAmount: number;
  readonly taxBehavior: TaxBehavior;
  readonly taxRateBps: number;
  readonly amountGross: number;
  readonly discount: number;
  readonly tax: number;
  readonly total: number;
}

export interface CheckoutSessionView {
  readonly id: string;
  readonly customerId: string;
  readonly country: string;
  readonly currency: CurrencyCode;
  readonly status: SessionStatus;
  readonly captureMethod: CaptureMethod;
  readonly couponId: string | null;
  readonly lines: readonly SessionLineView[];
  readonly subtotal: number;
  readonly discountTotal: number;
  readonly taxTotal: number;
  readonly total: number;
  readonly paymentId: string | null;
  readonly orderId: string | null;
  readonly expiresAt: number;
  readonly completedAt: number | null;
  readonly createdAt: number;
}

export type SessionRow = CheckoutSessionsTable;


export function normaliseSession(row: SessionRow): SessionRow {
  return {
    ...row,
    subtotal: dbInt(row.subtotal),
    discount_total: dbInt(row.discount_total),
    tax_total: dbInt(row.tax_total),
    total: dbInt(row.total),
    expires_at: dbInt(row.expires_at),
    completed_at: row.completed_at === null ? null : dbInt(row.completed_at),
    created_at: dbInt(row.created_at),
    updated_at: dbInt(row.updated_at),
    version: dbInt(row.version),
  };
}

export function sessionStatus(row: SessionRow): SessionStatus {
  if (!isSessionStatus(row.status)) throw new Error(`corrupt session ${row.id}: ${row.status}`);
  return row.status;
}

export async function lockSession(db: Db, tx: Executor, id: string): Promise<SessionRow | undefined> {
  const row = await forUpdate(db, tx.selectFrom('checkout_sessions').selectAll().where('id', '=', id)).executeTakeFirst();
  return row ? normaliseSession(row) : undefined;
}

export async function saveSession(tx: Executor, before: SessionRow, changes: Partial<SessionRow>, now: number): Promise<SessionRow> {
  const next = { ...before, ...changes, updated_at: now, version: before.version + 1 };
  const { id: _id, ...rest } = next;
  const res = await tx.updateTable('checkout_sessions').set(rest).where('id', '=', before.id).where('version', '=', before.version).executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) throw new Error(`checkout session ${before.id} changed concurrently`);
  return next;
}

export async function loadLines(db: Executor, sessionId: string): Promise<SessionLineView[]> {
  const rows = await db.selectFrom('checkout_session_lines').selectAll().where('session_id', '=', sessionId).orderBy('position').execute();
  return rows.map((r) => {
    if (!isTaxBehavior(r.tax_behavior)) throw new Error(`corrupt line of ${sessionId}`);
    const interval = r.billing_interval;
    return {
      priceId: r.price_id,
      productId: r.product_id,
      productName: r.product_name,
      billingInterval: interval !== null && isBillingInterval(interval) ? interval : null,
      quantity: dbInt(r.quantity),
      unitAmount: dbInt(r.unit_amount),
      taxBehavior: r.tax_behavior,
      taxRateBps: dbInt(r.tax_rate_bps),
      amountGross: dbInt(r.amount_gross),
      discount: dbInt(r.discount),
      tax: dbInt(r.tax),
      total: dbInt(r.total),
    };
  });
}

export function currencyOf(value: string): CurrencyCode {
  const c = parseCurrency(value);
  if (!c) throw new Error(`corrupt row: currency ${value}`);
  return c;
}

/** Rebuilds the totals the session was priced with, from its stored lines (no re-pricing). */
export function totalsOf(row: SessionRow, lines: readonly SessionLineView[]): Totals {
  const lineTotals: LineTotals[] = lines.map((l) => ({ ...l }));
  return {
    currency: currencyOf(row.currency),
    lines: lineTotals,
    subtotal: row.subtotal,
    discountTotal: row.discount_total,
    taxTotal: row.tax_total,
    total: row.total,
  };
}

export async function loadSessionView(db: Executor, id: string): Promise<CheckoutSessionView | undefined> {
  const raw = await db.selectFrom('checkout_sessions').selectAll().where('id', '=', id).executeTakeFirst();
  if (!raw) return undefined;
  const row = normaliseSession(raw);
  const lines = await loadLines(db, id);
  return {
    id: row.id,
    customerId: row.customer_id,
    country: row.country,
    currency: currencyOf(row.currency),
    status: sessionStatus(row),
    captureMethod: row.capture_method === 'manual' ? 'manual' : 'automatic',
    couponId: row.coupon_id,
    lines,
    subtotal: row.subtotal,
    discountTotal: row.discount_total,
    taxTotal: row.tax_total,
    total: row.total,
    paymentId: row.payment_id,
    orderId: row.order_id,
    expiresAt: row.expires_at,
    completedAt: row.completed_at,
    createdAt: row.created_at,
  };
}
