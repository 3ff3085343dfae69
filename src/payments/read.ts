/** Reading payments, with the same access rules as changing them. */
import { authorize, mayActFor, notFound, type Caller } from '../kernel/index.js';
import type { Executor } from '../platform/db/index.js';
import { listCustomerPayments, loadPaymentView, type PaymentPage, type PaymentView } from './records.js';

export async function getPayment(db: Executor, props: { readonly caller: Caller; readonly paymentId: string }): Promise<PaymentView | null> {
  authorize(props.caller.actor, 'payment.read');
  const view = await loadPaymentView(db, props.paymentId);
  // Someone else's payment reads exactly like no payment at all.
  if (!view || !mayActFor(props.caller.actor, view.customerId)) return null;
  return view;
}

export async function listPayments(db: Executor, props: { readonly caller: Caller; readonly customerId: string; readonly first: number; readonly after: string | null }): Promise<PaymentPage> {
  authorize(props.caller.actor, 'payment.read');
  if (!mayActFor(props.caller.actor, props.customerId)) throw notFound('customer', 'customerId');
  return listCustomerPayments(db, { customerId: props.customerId, first: props.first, after: props.after });
}
