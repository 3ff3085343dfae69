import { releaseCoupon } from '../catalog/index.js';
import { cancelPayment } from '../payments/index.js';
import { enqueueEvent } from '../platform/events/index.js';
import type { CheckoutDeps } from './deps.js';
import { lockSession, saveSession } from './records.js';

/**
 * Expires open sessions past their TTL: the session closes, its unpaid payment is canceled and a
 * reserved coupon is given back. Sessions whose payment is in flight are left to finish.
 */
export async function expireCheckoutSessions(deps: CheckoutDeps, args: { readonly limit?: number } = {}): Promise<number> {
  const { db, clock } = deps;
  const due = await db.kysely
    .selectFrom('checkout_sessions')
    .select('id')
    .where('status', '=', 'open')
    .where('expires_at', '<=', clock.now())
    .orderBy('expires_at')
    .limit(args.limit ?? 100)
    .execute();
  let expired = 0;
  for (const { id } of due) {
    const done = await db.transaction(async (tx) => {
      const now = clock.now();
      const session = await lockSession(db, tx, id);
      if (!session || session.status !== 'open' || session.expires_at > now) return false;
      if (session.payment_id !== null) {
        const canceled = await cancelPayment(deps.payments, tx, { paymentId: session.payment_id, reason: 'checkout_expired', now });
        const intent = await tx.selectFrom('payment_intents').select('status').where('id', '=', session.payment_id).executeTakeFirst();
        if (!canceled && intent && intent.status !== 'canceled' && intent.status !== 'failed') return false;
      }
      await saveSession(tx, session, { status: 'expired' }, now);
      if (session.coupon_id !== null) await releaseCoupon(tx, { couponId: session.coupon_id, sessionId: session.id });
      await enqueueEvent(tx, { topic: 'obol.checkout.v1', type: 'checkout.expired', aggregateType: 'checkout_session', aggregateId: session.id, now, data: { checkoutSessionId: session.id, customerId: session.customer_id, reason: 'ttl' } });
      return true;
    });
    if (done) expired++;
  }
  return expired;
}
