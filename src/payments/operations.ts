/**
 * Capture, void and refund. Same discipline as authorization: the operation row (with the key
 * the gateway sees) commits first, the gateway is called with no transaction open, and the
 * outcome commits after. Refunds in flight reserve their amount, so concurrent refunds can never
 * add up to more than was captured.
 */
import { authorize, mayActFor, newId, notFound, ObolError, type Actor, type Caller } from '../kernel/index.js';
import { appendAudit } from '../platform/audit/index.js';
import { authorizationReleasePosting, postJournal, refundPosting, refundTax } from '../ledger/index.js';
import { money } from '../money/index.js';
import { forUpdate, type Tx } from '../platform/db/index.js';
import { enqueueEvent } from '../platform/events/index.js';
import type { CaptureOutcome, Connector, RefundOutcome, VoidOutcome } from './connectors/port.js';
import type { PaymentsDeps } from './deps.js';
import { postSale } from './authorize.js';
import { transitionAttempt } from './domain/attempt.js';
import { transitionPayment } from './domain/payment-intent.js';
import { transitionRefund } from './domain/refund.js';
import {
  currencyOf,
  loadPaymentView,
  lockIntent,
  normaliseRefund,
  refundView,
  REFUND_RESERVING_STATUSES,
  saveIntent,
  statusOf,
  type PaymentView,
  type RefundView,
} from './records.js';
import { traced } from '../platform/observability/tracing.js';

export const OPERATION_RESULTS = ['succeeded', 'failed', 'pending'] as const;
export type OperationResult = (typeof OPERATION_RESULTS)[number];

export interface OperationOutcome {
  readonly result: OperationResult;
  readonly failureCode: string | null;
  readonly payment: PaymentView;
}

export interface RefundOutcomeView extends OperationOutcome {
  readonly refund: RefundView;
}

function connectorFor(deps: PaymentsDeps, name: string | null): Connector {
  const connector = name === null ? undefined : deps.connectors.get(name);
  if (!connector) throw new Error(`connector ${String(name)} is not configured`);
  return connector;
}

async function gatewayReference(deps: PaymentsDeps, paymentId: string): Promise<string> {
  const row = await deps.db.kysely
    .selectFrom('payment_attempts')
    .select('gateway_reference')
    .where('payment_id', '=', paymentId)
    .where('status', 'in', ['authorized', 'captured'])
    .orderBy('seq', 'desc')
    .executeTakeFirst();
  if (!row?.gateway_reference) throw new Error(`payment ${paymentId} has no authorized attempt`);
  return row.gateway_reference;
}

async function view(deps: PaymentsDeps, id: string): Promise<PaymentView> {
  const v = await loadPaymentView(deps.db.kysely, id);
  if (!v) throw new Error(`payment ${id} vanished`);
  return v;
}

/**
 * Support staff refund within a per-currency limit; admins and internal services are not limited
 * here. A currency without a configured limit cannot be refunded by support at all.
 */
function assertWithinRefundLimit(deps: PaymentsDeps, actor: Actor, amount: number, currency: string): void {
  if (actor.roles.includes('admin') || actor.roles.includes('service')) return;
  const limit = deps.supportRefundLimits[currency];
  if (limit === undefined || amount > limit) {
    throw new ObolError('REFUND_LIMIT_EXCEEDED', `Your role may refund at most ${limit ?? 0} minor units of ${currency} at once; ask an admin.`, { limit: limit ?? 0, currency });
  }
}

export function auditActor(actor: Actor) {
  return { subject: actor.subject, roles: actor.roles, kind: actor.kind };
}

function assertAmount(amount: number, field: string): void {
  if (!Number.isSafeInteger(amount) || amount <= 0) {
    throw new ObolError('AMOUNT_INVALID', `${field} must be a positive whole number of minor units.`, { field });
  }
}

// ---------------------------------------------------------------------------------------------
// capture and void

export interface CaptureProps {
  readonly caller: Caller;
  readonly paymentId: string;
  /** Minor units; null captures everything authorized. Less than authorized releases the rest. */
  readonly amount: number | null;
  readonly requestKey: string;
}

async function capturePaymentUntraced(deps: PaymentsDeps, props: CaptureProps): Promise<OperationOutcome> {
  return runPaymentOperation(deps, { caller: props.caller, kind: 'capture', paymentId: props.paymentId, amount: props.amount, requestKey: props.requestKey });
}

export interface VoidProps {
  readonly caller: Caller;
  readonly paymentId: string;
  readonly requestKey: string;
}

async function voidPaymentUntraced(deps: PaymentsDeps, props: VoidProps): Promise<OperationOutcome> {
  return runPaymentOperation(deps, { caller: props.caller, kind: 'void', paymentId: props.paymentId, amount: null, requestKey: props.requestKey });
}

async function runPaymentOperation(
  deps: PaymentsDeps,
  args: { readonly caller: Caller; readonly kind: 'capture' | 'void'; readonly paymentId: string; readonly amount: number | null; readonly requestKey: string },
): Promise<OperationOutcome> {
  const { db, clock } = deps;
  const { actor } = args.caller;
  authorize(actor, args.kind === 'capture' ? 'payment.capture' : 'payment.void');
  if (args.amount !== null) assertAmount(args.amount, 'amount');
  const op = await db.transaction(async (tx) => {
    const now = clock.now();
    const intent = await lockIntent(db, tx, args.paymentId);
    if (!intent || !mayActFor(actor, intent.customer_id)) throw notFound('payment', 'paymentId');
    // The same request again (a lost response, a retry after a crash) reports what it did.
    const same = await tx.selectFrom('payment_operations').select('id').where('payment_id', '=', intent.id).where('request_idempotency_key', '=', args.requestKey).where('kind', '=', args.kind).executeTakeFirst();
    if (same) return { id: same.id };
    const inFlight = await tx.selectFrom('payment_operations').select('id').where('payment_id', '=', intent.id).where('status', 'in', ['pending', 'unknown']).executeTakeFirst();
    if (inFlight) throw new ObolError('CONCURRENT_MODIFICATION', 'Another capture or void of this payment is in progress; retry shortly.');
    // Validate the transition now so an illegal request changes nothing.
    transitionPayment(statusOf(intent), args.kind === 'capture' ? 'captured' : 'void');
    const amount = args.kind === 'capture' ? (args.amount ?? intent.amount_authorized) : intent.amount_authorized;
    if (args.kind === 'capture' && amount > intent.amount_authorized) {
      throw new ObolError('CAPTURE_EXCEEDS_AUTHORIZED', `Cannot capture ${amount}: only ${intent.amount_authorized} was authorized.`, { authorized: intent.amount_authorized });
    }
    const id = newId('operation', now);
    await tx
      .insertInto('payment_operations')
      .values({
        id,
        payment_id: intent.id,
        kind: args.kind,
        amount,
        currency: intent.currency,
        connector: intent.connector ?? 'none',
        idempotency_key: id,
        request_idempotency_key: args.requestKey,
        status: 'pending',
        failure_code: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    await appendAudit(tx, {
      actor: auditActor(actor),
      action: args.kind === 'capture' ? 'payment.capture' : 'payment.void',
      target: { type: 'payment', id: intent.id },
      before: { status: intent.status, amountAuthorized: intent.amount_authorized, amountCaptured: intent.amount_captured, currency: intent.currency },
      after: { operationId: id, requested: amount, currency: intent.currency },
      requestId: args.caller.requestId,
      now,
    });
    return { id };
  });
  await executeOperation(deps, op.id);
  const row = await db.kysely.selectFrom('payment_operations').select(['status', 'failure_code']).where('id', '=', op.id).executeTakeFirstOrThrow();
  return { result: operationResult(row.status), failureCode: row.failure_code, payment: await view(deps, args.paymentId) };
}

function operationResult(status: string): OperationResult {
  return status === 'succeeded' ? 'succeeded' : status === 'failed' ? 'failed' : 'pending';
}

/** Calls the gateway for a committed capture/void operation and applies the answer. */
export async function executeOperation(deps: PaymentsDeps, operationId: string): Promise<void> {
  const op = await deps.db.kysely.selectFrom('payment_operations').selectAll().where('id', '=', operationId).executeTakeFirstOrThrow();
  if (op.status !== 'pending' && op.status !== 'unknown') return;
  const connector = connectorFor(deps, op.connector);
  const reference = await gatewayReference(deps, op.payment_id);
  let outcome: CaptureOutcome | VoidOutcome;
  try {
    outcome =
      op.kind === 'capture'
        ? await connector.capture({ idempotencyKey: op.idempotency_key, reference, amount: money(Number(op.amount), currencyOf(op.currency)) })
        : await connector.void({ idempotencyKey: op.idempotency_key, reference });
  } catch (err) {
    deps.onIncident?.(err, { operation: op.kind, id: op.id });
    await deps.db.kysely.updateTable('payment_operations').set({ status: 'unknown', updated_at: deps.clock.now() }).where('id', '=', op.id).where('status', '=', 'pending').execute();
    return;
  }
  await applyOperationOutcome(deps, op.id, outcome);
}

export async function applyOperationOutcome(deps: PaymentsDeps, operationId: string, outcome: CaptureOutcome | VoidOutcome): Promise<void> {
  const { db, clock, hooks } = deps;
  await db.transaction(async (tx) => {
    const now = clock.now();
    const op = await forUpdate(db, tx.selectFrom('payment_operations').selectAll().where('id', '=', operationId)).executeTakeFirstOrThrow();
    if (op.status !== 'pending' && op.status !== 'unknown') return;
    if (outcome.status === 'succeeded' && 'captured' in outcome && (outcome.captured.currency !== op.currency || outcome.captured.amount > Number(op.amount))) {
      throw new Error(`gateway captured ${outcome.captured.amount} ${outcome.captured.currency} for operation ${op.id} of ${String(op.amount)} ${op.currency}`);
    }
    const intent = await lockIntent(db, tx, op.payment_id);
    if (!intent) throw new Error(`payment ${op.payment_id} not found`);
    const claimed = await tx
      .updateTable('payment_operations')
      .set({ status: outcome.status === 'succeeded' ? 'succeeded' : 'failed', failure_code: outcome.status === 'declined' ? outcome.decline.code : null, updated_at: now })
      .where('id', '=', op.id)
      .where('status', '=', op.status)
      .executeTakeFirst();
    if (Number(claimed.numUpdatedRows) !== 1) return;
    if (outcome.status === 'declined') return;
    const currency = currencyOf(intent.currency);
    const connector = intent.connector ?? 'none';
    const eventBase = { paymentId: intent.id, checkoutSessionId: intent.checkout_session_id, invoiceId: intent.invoice_id, customerId: intent.customer_id, connector };
    // The authorization hold is released either way: captured money moves to clearing, the rest is freed.
    await postJournal(tx, authorizationReleasePosting({ paymentId: intent.id, connector, amount: money(intent.amount_authorized, currency) }), now);
    if (op.kind === 'capture' && 'captured' in outcome) {
      const captured = outcome.captured.amount;
      const updated = await saveIntent(tx, intent, { status: transitionPayment(statusOf(intent), 'captured'), amount_captured: captured }, now);
      await tx.updateTable('payment_attempts').set({ status: transitionAttempt('authorized', 'capture'), updated_at: now }).where('payment_id', '=', intent.id).where('status', '=', 'authorized').execute();
      await postSale(deps, tx, updated, captured, now);
      await hooks.onSucceeded(tx, updated, now);
      await enqueueEvent(tx, { type: 'payment.succeeded', aggregateType: 'payment', aggregateId: intent.id, now, data: { ...eventBase, amount: captured, currency: intent.currency } });
    } else {
      const updated = await saveIntent(tx, intent, { status: transitionPayment(statusOf(intent), 'void'), canceled_reason: 'voided' }, now);
      await tx.updateTable('payment_attempts').set({ status: transitionAttempt('authorized', 'void'), updated_at: now }).where('payment_id', '=', intent.id).where('status', '=', 'authorized').execute();
      await hooks.onCanceled(tx, updated, now);
      await enqueueEvent(tx, { type: 'payment.canceled', aggregateType: 'payment', aggregateId: intent.id, now, data: { ...eventBase, reason: 'voided' } });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// refunds

export interface RefundProps {
  readonly caller: Caller;
  readonly paymentId: string;
  /** Minor units; null refunds everything still refundable. */
  readonly amount: number | null;
  readonly reason: string | null;
  readonly requestKey: string;
}

async function refundPaymentUntraced(deps: PaymentsDeps, props: RefundProps): Promise<RefundOutcomeView> {
  const { db } = deps;
  const refundId = await db.transaction((tx) => beginRefund(deps, tx, props));
  await executeRefund(deps, refundId);
  const row = await db.kysely.selectFrom('refunds').selectAll().where('id', '=', refundId).executeTakeFirstOrThrow();
  const refund = refundView(row);
  return {
    result: operationResult(refund.status),
    failureCode: refund.failureCode,
    refund,
    payment: await view(deps, props.paymentId),
  };
}

/**
 * Inside the caller's transaction: checks and commits a `pending` refund (or finds the one this
 * request already made), to be sent by `executeRefund` after the commit. A use case that refunds
 * as part of a larger change (a subscription canceled with a prorated refund) commits the refund
 * together with that change, so neither can happen without the other.
 */
export async function beginRefund(deps: PaymentsDeps, tx: Tx, props: RefundProps): Promise<string> {
  const { db, clock } = deps;
  const { actor } = props.caller;
  authorize(actor, 'payment.refund');
  if (props.amount !== null) assertAmount(props.amount, 'amount');
  const now = clock.now();
  const intent = await lockIntent(db, tx, props.paymentId);
  if (!intent || !mayActFor(actor, intent.customer_id)) throw notFound('payment', 'paymentId');
  const same = await tx.selectFrom('refunds').select('id').where('payment_id', '=', intent.id).where('request_idempotency_key', '=', props.requestKey).executeTakeFirst();
  if (same) return same.id;
  if (statusOf(intent) !== 'succeeded') {
    throw new ObolError('ILLEGAL_STATE_TRANSITION', `Only a captured payment can be refunded (status ${intent.status}).`, { status: intent.status });
  }
  const reserved = await tx
    .selectFrom('refunds')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('amount'), eb.lit(0)).as('total'))
    .where('payment_id', '=', intent.id)
    .where('status', 'in', [...REFUND_RESERVING_STATUSES])
    .executeTakeFirst();
  const refundable = intent.amount_captured - Number(reserved?.total ?? 0);
  const amount = props.amount ?? refundable;
  if (amount <= 0 || amount > refundable) {
    throw new ObolError('REFUND_EXCEEDS_CAPTURED', `Cannot refund ${props.amount ?? amount}: ${Math.max(0, refundable)} remains refundable of ${intent.amount_captured} captured.`, {
      refundable: Math.max(0, refundable),
      captured: intent.amount_captured,
    });
  }
  assertWithinRefundLimit(deps, actor, amount, intent.currency);
  const id = newId('refund', now);
  await tx
    .insertInto('refunds')
    .values({
      id,
      payment_id: intent.id,
      amount,
      currency: intent.currency,
      reason: props.reason,
      status: 'pending',
      connector: intent.connector ?? 'none',
      idempotency_key: id,
      request_idempotency_key: props.requestKey,
      gateway_reference: null,
      failure_code: null,
      created_at: now,
      updated_at: now,
    })
    .execute();
  await appendAudit(tx, {
    actor: auditActor(actor),
    action: 'payment.refund',
    target: { type: 'payment', id: intent.id },
    before: { amountCaptured: intent.amount_captured, amountRefunded: intent.amount_refunded, refundable, currency: intent.currency },
    after: { refundId: id, amount, currency: intent.currency },
    requestId: props.caller.requestId,
    now,
  });
  return id;
}

export async function executeRefund(deps: PaymentsDeps, refundId: string): Promise<void> {
  const row = await deps.db.kysely.selectFrom('refunds').selectAll().where('id', '=', refundId).executeTakeFirstOrThrow();
  const refund = normaliseRefund(row);
  if (refund.status !== 'pending' && refund.status !== 'unknown') return;
  const connector = connectorFor(deps, refund.connector);
  const reference = await gatewayReference(deps, refund.payment_id);
  let outcome: RefundOutcome;
  try {
    outcome = await connector.refund({ idempotencyKey: refund.idempotency_key, reference, amount: money(refund.amount, currencyOf(refund.currency)) });
  } catch (err) {
    deps.onIncident?.(err, { operation: 'refund', id: refund.id });
    await deps.db.kysely.updateTable('refunds').set({ status: transitionRefund('pending', 'outcome_unknown'), updated_at: deps.clock.now() }).where('id', '=', refund.id).where('status', '=', 'pending').execute();
    return;
  }
  await applyRefundOutcome(deps, refund.id, outcome);
}

export async function applyRefundOutcome(deps: PaymentsDeps, refundId: string, outcome: RefundOutcome): Promise<void> {
  const { db, clock, hooks } = deps;
  await db.transaction(async (tx) => {
    const now = clock.now();
    // Locked before its status is read: the API and the reconciler may apply answers for the
    // same refund at once, and only the first may act.
    const before = normaliseRefund(await forUpdate(db, tx.selectFrom('refunds').selectAll().where('id', '=', refundId)).executeTakeFirstOrThrow());
    if (before.status !== 'pending' && before.status !== 'unknown') return;
    if (outcome.status === 'processing') {
      if (before.status === 'pending') {
        await tx
          .updateTable('refunds')
          .set({ status: transitionRefund('pending', 'outcome_unknown'), gateway_reference: outcome.reference, updated_at: now })
          .where('id', '=', before.id)
          .where('status', '=', 'pending')
          .execute();
      }
      return;
    }
    const intent = await lockIntent(db, tx, before.payment_id);
    if (!intent) throw new Error(`payment ${before.payment_id} not found`);
    const from = before.status === 'unknown' ? 'unknown' : 'pending';
    const status = transitionRefund(from, outcome.status === 'succeeded' ? 'succeeded' : 'failed');
    const claimed = await tx
      .updateTable('refunds')
      .set({
        status,
        gateway_reference: outcome.status === 'succeeded' ? outcome.reference : null,
        failure_code: outcome.status === 'declined' ? outcome.decline.code : null,
        updated_at: now,
      })
      .where('id', '=', before.id)
      .where('status', '=', before.status)
      .executeTakeFirst();
    if (Number(claimed.numUpdatedRows) !== 1) return;
    const after = refundView({ ...before, status, failure_code: outcome.status === 'declined' ? outcome.decline.code : null, updated_at: now });
    const eventBase = { refundId: before.id, paymentId: intent.id, customerId: intent.customer_id, amount: before.amount, currency: before.currency };
    if (outcome.status === 'declined') {
      await enqueueEvent(tx, { type: 'refund.failed', aggregateType: 'payment', aggregateId: intent.id, now, data: { ...eventBase, failureCode: outcome.decline.code } });
      return;
    }
    const currency = currencyOf(intent.currency);
    const { sale, taxCountry } = await hooks.saleFor(tx, intent);
    const shares = {
      refund: money(before.amount, currency),
      capturedTotal: money(intent.amount_captured, currency),
      refundedBefore: money(intent.amount_refunded, currency),
      // The sale as it was posted at capture: the same scaling the capture used.
      sale,
      total: money(intent.amount, currency),
    };
    const exTax = before.amount - refundTax(shares);
    const fromDeferred = hooks.refundFromDeferred ? await hooks.refundFromDeferred(tx, intent, { exTax, now }) : 0;
    await postJournal(tx, refundPosting({ paymentId: intent.id, refundId: before.id, connector: intent.connector ?? 'none', ...shares, taxCountry, fromDeferred }), now);
    const updated = await saveIntent(tx, intent, { amount_refunded: intent.amount_refunded + before.amount }, now);
    await hooks.onRefunded(tx, updated, after, now);
    await enqueueEvent(tx, { type: 'refund.succeeded', aggregateType: 'payment', aggregateId: intent.id, now, data: { ...eventBase, fullyRefunded: updated.amount_refunded === updated.amount_captured } });
  });
}

/** Each call is one span of the trace it belongs to (platform/observability/tracing.ts). */
export const capturePayment = traced('payments.capture', capturePaymentUntraced);
export const voidPayment = traced('payments.void', voidPaymentUntraced);
export const refundPayment = traced('payments.refund', refundPaymentUntraced);
