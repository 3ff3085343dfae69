/**
 * Checkout's side of a payment's life: what a paid, authorized, declined or refunded payment
 * means for the session and its order. Runs inside the payment's transaction.
 */
import { newId } from '../kernel/index.js';
import { markCouponRedeemed, releaseCoupon } from '../catalog/index.js';
import type { PaymentHooks, IntentRow } from '../payments/index.js';
import type { Tx, Db } from '../platform/db/index.js';
import { enqueueEvent } from '../platform/events/index.js';
import { enqueueCheckoutCompleted } from './confirm-session.js';
import { saleBreakdown } from './domain/totals.js';
import { currencyOf, loadLines, lockSession, saveSession, totalsOf, type SessionRow } from './records.js';

/** The checkout session a payment pays for; payments routed to these hooks always have one. */
function sessionIdOf(intent: IntentRow): string {
  if (intent.checkout_session_id === null) throw new Error(`payment ${intent.id} pays no checkout session`);
  return intent.checkout_session_id;
}

async function sessionOf(db: Db, tx: Tx, intent: IntentRow): Promise<SessionRow> {
  const session = await lockSession(db, tx, sessionIdOf(intent));
  if (!session) throw new Error(`payment ${intent.id} has no checkout session`);
  return session;
}

export function checkoutPaymentHooks(args: { readonly db: Db }): PaymentHooks {
  const { db } = args;

  /**
   * The learner is done: the session completes and its order opens (once). The order is `paid`
   * only when money was captured, and only then is `checkout.completed` emitted, because that is
   * the event consumers grant access on; an authorization alone grants nothing.
   */
  async function complete(tx: Tx, intent: IntentRow, orderStatus: 'paid' | 'awaiting_capture', now: number): Promise<void> {
    const session = await sessionOf(db, tx, intent);
    let order = await tx.selectFrom('orders').select(['id', 'status']).where('checkout_session_id', '=', session.id).executeTakeFirst();
    if (!order) {
      order = { id: newId('order', now), status: orderStatus };
      await tx
        .insertInto('orders')
        .values({ id: order.id, checkout_session_id: session.id, customer_id: session.customer_id, currency: session.currency, total: session.total, payment_id: intent.id, status: orderStatus, created_at: now, updated_at: now })
        .execute();
      await saveSession(tx, session, { status: 'complete', order_id: order.id, completed_at: now }, now);
    } else if (order.status !== orderStatus) {
      await tx.updateTable('orders').set({ status: orderStatus, updated_at: now }).where('id', '=', order.id).execute();
    } else {
      return;
    }
    if (orderStatus !== 'paid') return;
    if (session.coupon_id !== null) await markCouponRedeemed(tx, { couponId: session.coupon_id, sessionId: session.id });
    const lines = await loadLines(tx, session.id);
    await enqueueCheckoutCompleted(tx, { session, orderId: order.id, paymentId: intent.id, lines, now });
  }

  /**
   * The one way a paid order loses what it bought: a full refund or a lost chargeback. The order
   * records why, and `order.access_revoked` tells consumers (entitlements) to take access back,
   * once per order whichever way came first.
   */
  async function revokeOrder(tx: Tx, intent: IntentRow, status: 'refunded' | 'charged_back', now: number): Promise<void> {
    const sessionId = sessionIdOf(intent);
    const order = await tx.selectFrom('orders').select(['id', 'status', 'customer_id']).where('checkout_session_id', '=', sessionId).executeTakeFirst();
    if (!order) return;
    const alreadyRevoked = order.status === 'refunded' || order.status === 'charged_back';
    await tx.updateTable('orders').set({ status, updated_at: now }).where('id', '=', order.id).execute();
    if (alreadyRevoked) return;
    const lines = await loadLines(tx, sessionId);
    await enqueueEvent(tx, {
      type: 'order.access_revoked',
      aggregateType: 'checkout_session',
      aggregateId: sessionId,
      now,
      data: {
        orderId: order.id,
        checkoutSessionId: sessionId,
        customerId: order.customer_id,
        paymentId: intent.id,
        reason: status === 'refunded' ? 'refunded' : 'dispute_lost',
        items: lines.map((l) => ({ priceId: l.priceId, productId: l.productId, quantity: l.quantity })),
      },
    });
  }

  return {
    async saleFor(tx, intent) {
      const session = await sessionOf(db, tx, intent);
      const lines = await loadLines(tx, session.id);
      const sale = saleBreakdown(totalsOf(session, lines));
      if (sale.currency !== currencyOf(intent.currency)) throw new Error(`payment ${intent.id} currency differs from its session`);
      return { sale, taxCountry: session.country };
    },
    onAuthorized: (tx, intent, now) => complete(tx, intent, 'awaiting_capture', now),
    onSucceeded: (tx, intent, now) => complete(tx, intent, 'paid', now),
    async onDeclined(tx, intent, now) {
      const session = await sessionOf(db, tx, intent);
      // Back to open so the learner can try another payment method (expiry still applies).
      if (session.status === 'processing') await saveSession(tx, session, { status: 'open' }, now);
    },
    async onFailed(tx, intent, now) {
      const session = await sessionOf(db, tx, intent);
      if (session.status === 'processing' || session.status === 'open') {
        await saveSession(tx, session, { status: 'expired' }, now);
        if (session.coupon_id !== null) await releaseCoupon(tx, { couponId: session.coupon_id, sessionId: session.id });
        await enqueueEvent(tx, { type: 'checkout.expired', aggregateType: 'checkout_session', aggregateId: session.id, now, data: { checkoutSessionId: session.id, customerId: session.customer_id, reason: 'payment_attempts_exhausted' } });
      }
    },
    async onCanceled(tx, intent, now) {
      // A voided authorization: the order is off and an unredeemed coupon goes back.
      const session = await sessionOf(db, tx, intent);
      const order = await tx.selectFrom('orders').select('id').where('checkout_session_id', '=', session.id).executeTakeFirst();
      if (!order) return;
      await tx.updateTable('orders').set({ status: 'canceled', updated_at: now }).where('id', '=', order.id).execute();
      if (session.coupon_id !== null) await releaseCoupon(tx, { couponId: session.coupon_id, sessionId: session.id });
      await enqueueEvent(tx, {
        type: 'checkout.canceled',
        aggregateType: 'checkout_session',
        aggregateId: session.id,
        now,
        data: { checkoutSessionId: session.id, customerId: session.customer_id, orderId: order.id, paymentId: intent.id, reason: intent.canceled_reason ?? 'canceled' },
      });
    },
    async onRefunded(tx, intent, _refund, now) {
      if (intent.amount_refunded >= intent.amount_captured) return revokeOrder(tx, intent, 'refunded', now);
      await tx.updateTable('orders').set({ status: 'partially_refunded', updated_at: now }).where('checkout_session_id', '=', sessionIdOf(intent)).execute();
    },
    onDisputeLost: (tx, intent, now) => revokeOrder(tx, intent, 'charged_back', now),
  };
}
