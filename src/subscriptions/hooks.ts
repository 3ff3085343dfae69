/**
 * Subscriptions' side of an invoice payment's life (payments calls these inside the payment's own
 * transaction, so the invoice, the subscription, the ledger and the events commit together).
 */
import type { PaymentHooks, IntentRow } from '../payments/index.js';
import type { Tx } from '../platform/db/index.js';
import { currencyOf, lockSubscription, normaliseInvoice, statusOf } from './records.js';
import type { SubscriptionsDeps } from './deps.js';
import { endSubscription, recordFailedPayment, settlePaidInvoice } from './settle.js';
import { takeFromSchedule } from './billing.js';

function invoiceIdOf(intent: IntentRow): string {
  if (intent.invoice_id === null) throw new Error(`payment ${intent.id} pays no invoice`);
  return intent.invoice_id;
}

export function subscriptionPaymentHooks(deps: SubscriptionsDeps): PaymentHooks {
  /**
   * Payments time-stamp with the system clock; a subscription decides on its own clock (a test
   * clock, in tests), so dunning schedules and period boundaries read that one.
   */
  async function clockNow(tx: Tx, intent: IntentRow): Promise<number> {
    const row = await tx
      .selectFrom('invoices')
      .innerJoin('subscriptions', 'subscriptions.id', 'invoices.subscription_id')
      .select('subscriptions.test_clock_id')
      .where('invoices.id', '=', invoiceIdOf(intent))
      .executeTakeFirst();
    return deps.clocks.now(row?.test_clock_id ?? null, tx);
  }

  return {
    async saleFor(tx, intent) {
      // Read, not locked: the settling code locks subscription then invoice, and so must everyone.
      const row = await tx.selectFrom('invoices').selectAll().where('id', '=', invoiceIdOf(intent)).executeTakeFirst();
      if (!row) throw new Error(`invoice ${invoiceIdOf(intent)} of payment ${intent.id} is missing`);
      const invoice = normaliseInvoice(row);
      if (invoice.currency !== intent.currency || invoice.total !== intent.amount) throw new Error(`payment ${intent.id} does not match invoice ${invoice.id}`);
      // A subscription is paid ahead for a period of service: all of it (net of tax) is deferred.
      return { sale: { currency: currencyOf(invoice.currency), revenue: 0, deferredRevenue: invoice.net, discount: 0, tax: invoice.tax }, taxCountry: invoice.tax_country };
    },
    async onAuthorized(_tx, intent) {
      // Invoices are captured at once; an authorization alone pays nothing.
      deps.payments.onIncident?.(new Error(`invoice payment ${intent.id} was only authorized`), { operation: 'invoice_authorized', id: intent.id });
    },
    onSucceeded: async (tx, intent) =>
      settlePaidInvoice(deps, tx, { invoiceId: invoiceIdOf(intent), paymentId: intent.id, savedPaymentMethodId: intent.initiator === 'customer' ? intent.payment_method_id : null, now: await clockNow(tx, intent) }),
    onDeclined: async (tx, intent) => recordFailedPayment(deps, tx, { invoiceId: invoiceIdOf(intent), intent, now: await clockNow(tx, intent) }),
    onFailed: async (tx, intent) => recordFailedPayment(deps, tx, { invoiceId: invoiceIdOf(intent), intent, now: await clockNow(tx, intent) }),
    async onCanceled() {
      // Invoice payments are never authorized-then-voided: nothing to undo.
    },
    async onRefunded() {
      // The ledger side is refundFromDeferred's; a refund alone does not end a subscription
      // (support cancels it if that is what was meant).
    },
    async refundFromDeferred(tx, intent, args) {
      // Service not yet delivered is given back out of deferred revenue, up to what is unearned.
      const at = await clockNow(tx, intent);
      return takeFromSchedule(deps.db, tx, { invoiceId: invoiceIdOf(intent), paymentId: intent.id, upTo: args.exTax, at, now: args.now });
    },
    async onDisputeLost(tx: Tx, intent: IntentRow) {
      const now = await clockNow(tx, intent);
      const invoice = await tx.selectFrom('invoices').select('subscription_id').where('id', '=', invoiceIdOf(intent)).executeTakeFirst();
      if (!invoice) return;
      const sub = await lockSubscription(deps.db, tx, invoice.subscription_id);
      if (!sub) return;
      const status = statusOf(sub);
      if (status === 'canceled' || status === 'incomplete_expired') return;
      await endSubscription(deps, tx, { sub, reason: 'dispute_lost', at: now, now });
    },
  };
}
