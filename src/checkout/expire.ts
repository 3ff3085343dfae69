import { releaseCoupon } from '../catalog/index.js';
import { cancelPayment } from '../payments/index.js';
import { enqueueEvent } from '../platform/events/index.js';
import type { CheckoutDeps } from './deps.js';
import { lockSession, saveSession } from './records.js';

/**
 * Expires sessions past their TTL: open ones, and ones still waiting for the learner to finish
 * 3-D Secure (waiting for a person is not a gateway call in flight). The session closes, its
 * unpaid payment is canceled and a reserved coupon is given back. A session whose gateway call
 * is in flight or unresolved is left to finish: cancelPayment refuses it.
 */
export async function expireCheckoutSessions(deps: CheckoutDeps, args: { readonly limit?: number } = {}): Promise<number> {
  const { db, clock } = deps;
  const due = await db.kysely
    .selectFrom('checkout_sessions')
    .select('id')
    .where('status', 'in', ['open', 'processing'])
    .where('expires_at', '<=', clock.now())
    .orderBy('expires_at')
    .limit(args.limit ?? 100)
    .execute();
  let expired = 0;
  for (const { id } of due) {
    const done = await db.transaction(async (tx) => {
      const now = clock.now();
      const session = await lockSession(db, tx, id);
      if (!session || (session.status !== 'open' && session.status !== 'processing') || session.expires_at > now) return false;
      if (session.payment_id !== null) {
        const canceled = await cancelPayment(deps.payments, tx, { paymentId: session.payment_id, reason: 'checkout_expired', now });
        const intent = await tx.selectFrom('payment_intents').select('status').where('id', '=', session.payment_id).executeTakeFirst();
        if (!canceled && intent && intent.status !== 'canceled' && intent.status !== 'failed') return false;
      } else if (session.status === 'processing') {
        return false;
      }
      await saveSession(tx, session, { status: 'expired' }, now);
      if (session.coupon_id !== null) await releaseCoupon(tx, { couponId: session.coupon_id, sessionId: session.id });
      await enqueueEvent(tx, { type: 'checkout.expired', aggregateType: 'checkout_session', aggregateId: session.id, now, data: { checkoutSessionId: session.id, customerId: session.customer_id, reason: 'ttl' } });
      return true;
    });
    if (done) expired++;
  }
  return expired;
}
