import { authorize, mayActFor, newId, notFound, ObolError, type Caller } from '../kernel/index.js';
import { markCouponRedeemed, reserveCoupon, findCouponById } from '../catalog/index.js';
import { postJournal, salePosting } from '../ledger/index.js';
import { money } from '../money/index.js';
import { beginAttempt, executeAttempt, loadPaymentView, type PaymentView } from '../payments/index.js';
import type { Tx } from '../platform/db/index.js';
import { enqueueEvent } from '../platform/events/index.js';
import type { CheckoutDeps, CheckoutOutcome } from './deps.js';
import { saleBreakdown } from './domain/totals.js';
import { currencyOf, loadLines, loadSessionView, lockSession, saveSession, sessionStatus, totalsOf, type CheckoutSessionView, type SessionRow } from './records.js';
import { traced } from '../platform/observability/tracing.js';

export interface ConfirmSessionProps {
  readonly caller: Caller;
  readonly sessionId: string;
  /** The gateway's payment-method token (`tok_visa`, a Stripe `pm_…`, …). Not needed for a zero total. */
  readonly paymentMethodToken: string | null;
  /**
   * The card issuer's country (ISO 3166-1 alpha-2) as the gateway's client SDK reports it with
   * the token (Stripe.js `card.country`); it only decides strong customer authentication, and
   * unknown (null) means authenticate where SCA may apply.
   */
  readonly cardCountry: string | null;
  /** The caller's idempotency key, remembered on the attempt. */
  readonly requestKey: string;
}

export interface ConfirmSessionResult {
  readonly session: CheckoutSessionView;
  readonly payment: PaymentView | null;
}

const TOKEN_PATTERN = /^[A-Za-z0-9_\-:.]{3,255}$/;

/**
 * Confirms a checkout: claims the session (so a parallel confirmation cannot charge twice),
 * commits a payment attempt, calls the gateway outside any transaction, and applies the outcome.
 * A zero total (100 % coupon) completes at once without a charge.
 */
async function confirmCheckoutSessionUntraced(deps: CheckoutDeps, props: ConfirmSessionProps): Promise<ConfirmSessionResult> {
  const { db, clock } = deps;
  const { actor } = props.caller;
  authorize(actor, 'checkout.confirm');
  if (props.paymentMethodToken !== null && !TOKEN_PATTERN.test(props.paymentMethodToken)) {
    throw new ObolError('VALIDATION_FAILED', 'paymentMethodToken must be the gateway token for the payment method (letters, digits, _ - : .).', { field: 'paymentMethodToken' });
  }
  if (props.cardCountry !== null && !/^[A-Z]{2}$/.test(props.cardCountry)) {
    throw new ObolError('VALIDATION_FAILED', 'cardCountry must be an ISO 3166-1 alpha-2 country code, such as DE.', { field: 'cardCountry' });
  }
  const owner = await db.kysely.selectFrom('checkout_sessions').select('customer_id').where('id', '=', props.sessionId).executeTakeFirst();
  if (!owner || !mayActFor(actor, owner.customer_id)) throw notFound('checkout session', 'sessionId');
  await deps.limits.beforeCheckoutMutation({ caller: props.caller, customerId: owner.customer_id });
  await deps.limits.beforeConfirm({ caller: props.caller, customerId: owner.customer_id });
  const claimed = await db.transaction(async (tx) => {
    const now = clock.now();
    const session = await lockSession(db, tx, props.sessionId);
    if (!session) throw notFound('checkout session', 'sessionId');
    const status = sessionStatus(session);
    if (status !== 'open') {
      // The same confirmation repeated (after a crash or a lost response) reports where it got to.
      if (session.confirm_request_key === props.requestKey) return { kind: 'existing' as const };
      if (session.payment_id !== null) {
        const same = await tx.selectFrom('payment_attempts').select('id').where('payment_id', '=', session.payment_id).where('request_idempotency_key', '=', props.requestKey).executeTakeFirst();
        if (same) return { kind: 'existing' as const };
      }
      if (status === 'expired') throw new ObolError('CHECKOUT_SESSION_EXPIRED', 'This checkout session has expired; create a new one.');
      throw new ObolError('CHECKOUT_SESSION_NOT_OPEN', `This checkout session is ${status} and cannot be confirmed again.`, { status });
    }
    if (now >= session.expires_at) throw new ObolError('CHECKOUT_SESSION_EXPIRED', 'This checkout session has expired; create a new one.');

    if (session.coupon_id !== null) {
      const coupon = await findCouponById(tx, session.coupon_id);
      if (!coupon) throw new Error(`coupon ${session.coupon_id} of ${session.id} vanished`);
      // The price was fixed when the session opened, but the coupon must still be valid now.
      if (!coupon.active) throw new ObolError('COUPON_NOT_FOUND', 'The coupon on this checkout is no longer available; start a new checkout.');
      if (coupon.expiresAt !== null && now >= coupon.expiresAt) throw new ObolError('COUPON_EXPIRED', 'The coupon on this checkout has expired; start a new checkout.');
      await reserveCoupon(db, tx, { coupon, customerId: session.customer_id, sessionId: session.id, now });
    }

    if (session.total === 0) {
      await completeWithoutCharge(deps, tx, session.id, props.requestKey, now);
      return { kind: 'free' as const };
    }
    if (props.paymentMethodToken === null) {
      throw new ObolError('PAYMENT_METHOD_REQUIRED', 'paymentMethodToken is required: this checkout has something to pay.', { field: 'paymentMethodToken' });
    }
    const { paymentId, attemptId } = await beginAttempt(deps.payments, tx, {
      sale: { kind: 'checkout_session', id: session.id },
      customerId: session.customer_id,
      customerCountry: session.country,
      amount: money(session.total, currencyOf(session.currency)),
      captureMethod: session.capture_method === 'manual' ? 'manual' : 'automatic',
      paymentMethod: props.paymentMethodToken,
      issuerCountry: props.cardCountry,
      requestKey: props.requestKey,
      existingPaymentId: session.payment_id,
      now,
    });
    await saveSession(tx, session, { status: 'processing', payment_id: paymentId }, now);
    return { kind: 'charge' as const, attemptId };
  });

  if (claimed.kind === 'charge') await executeAttempt(deps.payments, claimed.attemptId);
  const session = await loadSessionView(db.kysely, props.sessionId);
  if (!session) throw new Error(`session ${props.sessionId} vanished`);
  const payment = session.paymentId === null ? null : ((await loadPaymentView(db.kysely, session.paymentId)) ?? null);
  if (claimed.kind === 'charge') {
    const attempt = payment?.attempts.find((a) => a.id === claimed.attemptId);
    // A decline by the issuer counts towards the card-testing block; an unreachable gateway does not.
    if (attempt?.status === 'failed' && attempt.declineCode !== 'gateway_unavailable') {
      await deps.limits.afterDeclined({ caller: props.caller, customerId: session.customerId });
    }
  }
  if (claimed.kind !== 'existing') deps.metrics?.confirmed({ currency: session.currency, ...confirmationOutcome(claimed.kind, payment) });
  return { session, payment };
}

/** What this confirmation ended in, from its payment's latest attempt (a failover adds attempts). */
function confirmationOutcome(kind: 'charge' | 'free', payment: PaymentView | null): { readonly outcome: CheckoutOutcome; readonly declineReason: string | null } {
  if (kind === 'free') return { outcome: 'succeeded', declineReason: null };
  const latest = payment?.attempts.reduce<PaymentView['attempts'][number] | undefined>((a, b) => (a === undefined || b.seq > a.seq ? b : a), undefined);
  switch (latest?.status) {
    case 'captured':
    case 'authorized':
      return { outcome: 'succeeded', declineReason: null };
    case 'requires_action':
      return { outcome: 'requires_action', declineReason: null };
    case 'failed':
      return { outcome: 'failed', declineReason: latest.declineReason ?? latest.declineCode };
    default:
      return { outcome: 'unknown', declineReason: null };
  }
}

async function completeWithoutCharge(deps: CheckoutDeps, tx: Tx, sessionId: string, requestKey: string, now: number): Promise<void> {
  const session = await lockSession(deps.db, tx, sessionId);
  if (!session) throw new Error('session vanished');
  const lines = await loadLines(tx, session.id);
  const currency = currencyOf(session.currency);
  const orderId = newId('order', now);
  await tx
    .insertInto('orders')
    .values({ id: orderId, checkout_session_id: session.id, customer_id: session.customer_id, currency, total: 0, payment_id: null, status: 'paid', created_at: now, updated_at: now })
    .execute();
  const sale = saleBreakdown(totalsOf(session, lines));
  // Still booked: gross revenue and the discount that cancelled it, so reports see the giveaway.
  if (sale.discount > 0) {
    await postJournal(tx, salePosting({ paymentId: orderId, referenceType: 'order', connector: 'none', captured: money(0, currency), total: money(0, currency), sale, taxCountry: session.country }), now);
  }
  if (session.coupon_id !== null) await markCouponRedeemed(tx, { couponId: session.coupon_id, sessionId: session.id });
  await saveSession(tx, session, { status: 'complete', order_id: orderId, completed_at: now, confirm_request_key: requestKey }, now);
  await enqueueCheckoutCompleted(tx, { session, orderId, paymentId: null, lines, now });
}

/** `checkout.completed`: the event consumers grant access on, emitted once money is in (or none was due). */
export async function enqueueCheckoutCompleted(
  tx: Tx,
  args: {
    readonly session: SessionRow;
    readonly orderId: string;
    readonly paymentId: string | null;
    readonly lines: readonly { readonly priceId: string; readonly productId: string; readonly quantity: number }[];
    readonly now: number;
  },
): Promise<void> {
  const { session } = args;
  await enqueueEvent(tx, {
    type: 'checkout.completed',
    aggregateType: 'checkout_session',
    aggregateId: session.id,
    now: args.now,
    data: {
      checkoutSessionId: session.id,
      customerId: session.customer_id,
      orderId: args.orderId,
      paymentId: args.paymentId,
      total: session.total,
      currency: session.currency,
      items: args.lines.map((l) => ({ priceId: l.priceId, productId: l.productId, quantity: l.quantity })),
    },
  });
}

/** Each call is one span of the trace it belongs to (platform/observability/tracing.ts). */
export const confirmCheckoutSession = traced('checkout.confirm_session', confirmCheckoutSessionUntraced);
