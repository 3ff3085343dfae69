/**
 * Row ↔ record mapping for the payments tables, and the read model (views) the API returns.
 * Views are plain JSON-serialisable data: an idempotent replay returns exactly the stored view.
 */
import { parseCurrency, type CurrencyCode } from '../money/index.js';
import { dbInt, forUpdate, type Db, type Executor, type PaymentAttemptsTable, type PaymentIntentsTable, type RefundsTable } from '../platform/db/index.js';
import type { DeclineClass, NextAction } from './connectors/port.js';
import { isPaymentStatus, type PaymentStatus } from './domain/payment-intent.js';
import { listPaymentDisputes, type DisputeView } from './disputes/records.js';
import { parseThreeDs } from './authentication.js';
import type { ThreeDsOutcome } from './sca/decide.js';

export const CAPTURE_METHODS = ['automatic', 'manual'] as const;
export type CaptureMethod = (typeof CAPTURE_METHODS)[number];
export function isCaptureMethod(v: unknown): v is CaptureMethod {
  return typeof v === 'string' && (CAPTURE_METHODS as readonly string[]).includes(v);
}

export interface PaymentError {
  readonly code: string;
  readonly reason: string;
  readonly declineClass: DeclineClass | null;
}

export interface AttemptView {
  readonly id: string;
  readonly seq: number;
  readonly connector: string;
  readonly status: string;
  readonly amount: number;
  readonly currency: CurrencyCode;
  readonly gatewayReference: string | null;
  readonly declineCode: string | null;
  readonly declineReason: string | null;
  readonly declineClass: string | null;
  readonly nextAction: NextAction | null;
  /** Why the attempt went to its connector. */
  readonly routing: string | null;
  /** What Obol asked the gateway about 3-D Secure (`gateway_default`, `required`, `exemption:<name>`). */
  readonly authentication: string | null;
  readonly scaDecision: string | null;
  readonly threeDSecure: ThreeDsOutcome | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface RefundView {
  readonly id: string;
  readonly paymentId: string;
  readonly amount: number;
  readonly currency: CurrencyCode;
  readonly status: string;
  readonly reason: string | null;
  readonly failureCode: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface OperationView {
  readonly id: string;
  readonly kind: 'capture' | 'void';
  readonly amount: number;
  readonly currency: CurrencyCode;
  readonly status: string;
  readonly failureCode: string | null;
  readonly createdAt: number;
}

export interface PaymentView {
  readonly id: string;
  /** The checkout session paid for; null when the payment pays an invoice. */
  readonly checkoutSessionId: string | null;
  /** The invoice paid for (subscriptions); null for a checkout's payment. */
  readonly invoiceId: string | null;
  /** `customer` (the payer was present) or `merchant` (a renewal charging a saved payment method). */
  readonly initiator: PaymentInitiator;
  readonly customerId: string;
  readonly amount: number;
  readonly currency: CurrencyCode;
  readonly captureMethod: CaptureMethod;
  readonly status: PaymentStatus;
  readonly connector: string | null;
  readonly amountAuthorized: number;
  readonly amountCaptured: number;
  readonly amountRefunded: number;
  /** Captured minus refunded minus refunds still in flight. */
  readonly amountRefundable: number;
  readonly failedAttempts: number;
  readonly lastError: PaymentError | null;
  readonly nextAction: NextAction | null;
  readonly attempts: readonly AttemptView[];
  readonly refunds: readonly RefundView[];
  readonly operations: readonly OperationView[];
  readonly disputes: readonly DisputeView[];
  readonly createdAt: number;
  readonly updatedAt: number;
}

export type IntentRow = PaymentIntentsTable;

/** What a payment pays for: exactly one of a checkout session and an invoice. */
export type SaleRef = { readonly kind: 'checkout_session'; readonly id: string } | { readonly kind: 'invoice'; readonly id: string };

export function saleOf(intent: Pick<IntentRow, 'id' | 'checkout_session_id' | 'invoice_id'>): SaleRef {
  if (intent.invoice_id !== null && intent.checkout_session_id === null) return { kind: 'invoice', id: intent.invoice_id };
  if (intent.checkout_session_id !== null && intent.invoice_id === null) return { kind: 'checkout_session', id: intent.checkout_session_id };
  throw new Error(`corrupt payment ${intent.id}: it must pay for exactly one checkout session or invoice`);
}

export const PAYMENT_INITIATORS = ['customer', 'merchant'] as const;
export type PaymentInitiator = (typeof PAYMENT_INITIATORS)[number];

export function initiatorOf(intent: Pick<IntentRow, 'id' | 'initiator'>): PaymentInitiator {
  if (intent.initiator === 'customer' || intent.initiator === 'merchant') return intent.initiator;
  throw new Error(`corrupt payment ${intent.id}: initiator ${intent.initiator}`);
}
export type AttemptRow = PaymentAttemptsTable;

export function currencyOf(value: string): CurrencyCode {
  const c = parseCurrency(value);
  if (!c) throw new Error(`corrupt row: unknown currency ${value}`);
  return c;
}

export function statusOf(row: IntentRow): PaymentStatus {
  if (!isPaymentStatus(row.status)) throw new Error(`corrupt payment ${row.id}: status ${row.status}`);
  return row.status;
}


export function normaliseIntent(row: IntentRow): IntentRow {
  return {
    ...row,
    amount: dbInt(row.amount),
    amount_authorized: dbInt(row.amount_authorized),
    amount_captured: dbInt(row.amount_captured),
    amount_refunded: dbInt(row.amount_refunded),
    failed_attempts: dbInt(row.failed_attempts),
    created_at: dbInt(row.created_at),
    updated_at: dbInt(row.updated_at),
    version: dbInt(row.version),
  };
}

export function normaliseAttempt(row: AttemptRow): AttemptRow {
  return { ...row, amount: dbInt(row.amount), seq: dbInt(row.seq), save_payment_method: dbInt(row.save_payment_method), created_at: dbInt(row.created_at), updated_at: dbInt(row.updated_at), version: dbInt(row.version) };
}

export function normaliseRefund(row: RefundsTable): RefundsTable {
  return { ...row, amount: dbInt(row.amount), created_at: dbInt(row.created_at), updated_at: dbInt(row.updated_at) };
}

/** Reads an intent, locking its row for the rest of the transaction (MySQL: FOR UPDATE). */
export async function lockIntent(db: Db, tx: Executor, id: string): Promise<IntentRow | undefined> {
  const row = await forUpdate(db, tx.selectFrom('payment_intents').selectAll().where('id', '=', id)).executeTakeFirst();
  return row ? normaliseIntent(row) : undefined;
}

export async function lockAttempt(db: Db, tx: Executor, id: string): Promise<AttemptRow | undefined> {
  const row = await forUpdate(db, tx.selectFrom('payment_attempts').selectAll().where('id', '=', id)).executeTakeFirst();
  return row ? normaliseAttempt(row) : undefined;
}

/** Writes the changed columns of an intent, guarded by its version (optimistic lock as a second line). */
export async function saveIntent(tx: Executor, before: IntentRow, changes: Partial<IntentRow>, now: number): Promise<IntentRow> {
  const next = { ...before, ...changes, updated_at: now, version: before.version + 1 };
  const { id: _id, ...rest } = next;
  const res = await tx.updateTable('payment_intents').set(rest).where('id', '=', before.id).where('version', '=', before.version).executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) throw new Error(`payment ${before.id} changed concurrently`);
  return next;
}

export async function saveAttempt(tx: Executor, before: AttemptRow, changes: Partial<AttemptRow>, now: number): Promise<AttemptRow> {
  const next = { ...before, ...changes, updated_at: now, version: before.version + 1 };
  const { id: _id, ...rest } = next;
  const res = await tx.updateTable('payment_attempts').set(rest).where('id', '=', before.id).where('version', '=', before.version).executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) throw new Error(`attempt ${before.id} changed concurrently`);
  return next;
}

function parseAction(json: string | null): NextAction | null {
  return json === null ? null : (JSON.parse(json) as NextAction);
}

export function attemptView(row: AttemptRow): AttemptView {
  return {
    id: row.id,
    seq: row.seq,
    connector: row.connector,
    status: row.status,
    amount: row.amount,
    currency: currencyOf(row.currency),
    gatewayReference: row.gateway_reference,
    declineCode: row.decline_code,
    declineReason: row.decline_reason,
    declineClass: row.decline_class,
    nextAction: row.status === 'requires_action' ? parseAction(row.next_action) : null,
    routing: row.routing,
    authentication: row.authentication,
    scaDecision: row.sca_decision,
    threeDSecure: parseThreeDs(row.three_ds),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function refundView(row: RefundsTable): RefundView {
  const r = normaliseRefund(row);
  return {
    id: r.id,
    paymentId: r.payment_id,
    amount: r.amount,
    currency: currencyOf(r.currency),
    status: r.status,
    reason: r.reason,
    failureCode: r.failure_code,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Refunds that count against the refundable amount: succeeded ones and ones still in flight. */
export const REFUND_RESERVING_STATUSES = ['pending', 'unknown', 'succeeded'] as const;

export async function loadPaymentView(db: Executor, id: string): Promise<PaymentView | undefined> {
  const row = await db.selectFrom('payment_intents').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) return undefined;
  const intent = normaliseIntent(row);
  const [attempts, refunds, operations, disputes] = await Promise.all([
    db.selectFrom('payment_attempts').selectAll().where('payment_id', '=', id).orderBy('seq').execute(),
    db.selectFrom('refunds').selectAll().where('payment_id', '=', id).orderBy('created_at').orderBy('id').execute(),
    db.selectFrom('payment_operations').selectAll().where('payment_id', '=', id).orderBy('created_at').orderBy('id').execute(),
    listPaymentDisputes(db, id),
  ]);
  const refundViews = refunds.map(refundView);
  const inFlight = refundViews.filter((r) => r.status === 'pending' || r.status === 'unknown').reduce((a, r) => a + r.amount, 0);
  return {
    id: intent.id,
    checkoutSessionId: intent.checkout_session_id,
    invoiceId: intent.invoice_id,
    initiator: initiatorOf(intent),
    customerId: intent.customer_id,
    amount: intent.amount,
    currency: currencyOf(intent.currency),
    captureMethod: isCaptureMethod(intent.capture_method) ? intent.capture_method : 'automatic',
    status: statusOf(intent),
    connector: intent.connector,
    amountAuthorized: intent.amount_authorized,
    amountCaptured: intent.amount_captured,
    amountRefunded: intent.amount_refunded,
    amountRefundable: Math.max(0, intent.amount_captured - intent.amount_refunded - inFlight),
    failedAttempts: intent.failed_attempts,
    lastError:
      intent.last_error_code === null
        ? null
        : { code: intent.last_error_code, reason: intent.last_error_reason ?? intent.last_error_code, declineClass: (intent.last_error_class as DeclineClass | null) ?? null },
    nextAction: intent.status === 'requires_action' ? parseAction(intent.next_action) : null,
    attempts: attempts.map((a) => attemptView(normaliseAttempt(a))),
    refunds: refundViews,
    operations: operations.map((o) => ({
      id: o.id,
      kind: o.kind === 'void' ? 'void' : 'capture',
      amount: dbInt(o.amount),
      currency: currencyOf(o.currency),
      status: o.status,
      failureCode: o.failure_code,
      createdAt: dbInt(o.created_at),
    })),
    disputes,
    createdAt: intent.created_at,
    updatedAt: intent.updated_at,
  };
}

export interface PaymentPage {
  readonly nodes: readonly PaymentView[];
  readonly endCursor: string | null;
  readonly hasNextPage: boolean;
}

/** Newest first; the cursor is the last id seen (ids sort by creation time). */
export async function listCustomerPayments(db: Executor, args: { readonly customerId: string; readonly first: number; readonly after: string | null }): Promise<PaymentPage> {
  let q = db.selectFrom('payment_intents').select('id').where('customer_id', '=', args.customerId);
  if (args.after !== null) q = q.where('id', '<', args.after);
  const rows = await q.orderBy('id', 'desc').limit(args.first + 1).execute();
  const page = rows.slice(0, args.first);
  const nodes: PaymentView[] = [];
  for (const r of page) {
    const v = await loadPaymentView(db, r.id);
    if (v) nodes.push(v);
  }
  return { nodes, endCursor: page.length > 0 ? page[page.length - 1]!.id : null, hasNextPage: rows.length > args.first };
}

export type { RefundsTable };
