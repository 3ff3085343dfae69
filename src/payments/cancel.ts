import type { Tx } from '../platform/db/index.js';
import { enqueueEvent } from '../platform/events/index.js';
import type { PaymentsDeps } from './deps.js';
import { transitionAttempt } from './domain/attempt.js';
import { nextPaymentStatus } from './domain/payment-intent.js';
import { lockIntent, saveIntent, statusOf } from './records.js';

/**
 * Cancels a payment that no longer can or should complete (its checkout expired), inside the
 * caller's transaction. Returns false, changing nothing, when the payment's state does not allow
 * it (for example money is already authorized: that needs a void through the gateway).
 */
export async function cancelPayment(deps: PaymentsDeps, tx: Tx, args: { readonly paymentId: string; readonly reason: string; readonly now: number }): Promise<boolean> {
  const intent = await lockIntent(deps.db, tx, args.paymentId);
  if (!intent) return false;
  const to = nextPaymentStatus(statusOf(intent), 'cancel');
  if (to === undefined) return false;
  // An attempt still in flight at the gateway must be resolved first, never abandoned.
  const open = await tx.selectFrom('payment_attempts').select('id').where('payment_id', '=', intent.id).where('status', 'in', ['pending', 'unknown']).executeTakeFirst();
  if (open) return false;
  await saveIntent(tx, intent, { status: to, canceled_reason: args.reason, next_action: null }, args.now);
  await tx
    .updateTable('payment_attempts')
    .set({ status: transitionAttempt('requires_action', 'declined'), decline_code: 'canceled', decline_reason: args.reason, updated_at: args.now })
    .where('payment_id', '=', intent.id)
    .where('status', '=', 'requires_action')
    .execute();
  await enqueueEvent(tx, {
    type: 'payment.canceled',
    aggregateType: 'payment',
    aggregateId: intent.id,
    now: args.now,
    data: { paymentId: intent.id, checkoutSessionId: intent.checkout_session_id, invoiceId: intent.invoice_id, customerId: intent.customer_id, reason: args.reason },
  });
  return true;
}
