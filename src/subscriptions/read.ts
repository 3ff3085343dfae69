/** Reads: a learner sees their own subscriptions and invoices; support, finance and services anyone's. */
import { authorize, mayActFor, notFound, ObolError, type Caller } from '../kernel/index.js';
import { assertCustomerId } from '../checkout/index.js';
import type { Executor } from '../platform/db/index.js';
import { listCustomerSubscriptions, listSubscriptionInvoices, loadInvoiceView, loadSubscriptionView, type InvoiceView, type SubscriptionView } from './records.js';

export async function getSubscription(db: Executor, props: { readonly caller: Caller; readonly subscriptionId: string }): Promise<SubscriptionView> {
  authorize(props.caller.actor, 'subscription.read');
  const view = await loadSubscriptionView(db, props.subscriptionId);
  if (!view || !mayActFor(props.caller.actor, view.customerId)) throw notFound('subscription', 'subscriptionId');
  return view;
}

export async function listSubscriptions(db: Executor, props: { readonly caller: Caller; readonly customerId: string | null }): Promise<readonly SubscriptionView[]> {
  const { actor } = props.caller;
  authorize(actor, 'subscription.read');
  const customerId = props.customerId ?? actor.customerId;
  if (customerId === null) throw new ObolError('VALIDATION_FAILED', 'customerId is required.', { field: 'customerId' });
  assertCustomerId(customerId);
  if (!mayActFor(actor, customerId)) throw notFound('customer', 'customerId');
  return listCustomerSubscriptions(db, customerId);
}

export async function getInvoice(db: Executor, props: { readonly caller: Caller; readonly invoiceId: string }): Promise<InvoiceView> {
  authorize(props.caller.actor, 'subscription.read');
  const view = await loadInvoiceView(db, props.invoiceId);
  if (!view || !mayActFor(props.caller.actor, view.customerId)) throw notFound('invoice', 'invoiceId');
  return view;
}

export async function listInvoices(db: Executor, props: { readonly caller: Caller; readonly subscriptionId: string }): Promise<readonly InvoiceView[]> {
  const sub = await getSubscription(db, props);
  return listSubscriptionInvoices(db, sub.id);
}
