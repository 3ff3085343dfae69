/**
 * What subscriptions tell other services (topic obol.subscriptions.v1, keyed by subscription id so
 * one subscription's events stay in order). Every `subscription.*` event carries the
 * subscription's whole state that matters downstream, so a consumer never needs an earlier event
 * to act on a later one: entitlements grant `[accessFrom, accessUntil)` from any of them and
 * revoke on `subscription.canceled`; email services notify on `past_due` and
 * `authentication_required`.
 */
import type { Tx } from '../platform/db/index.js';
import { enqueueEvent, type EventType } from '../platform/events/index.js';
import type { InvoiceRow, SubscriptionRow } from './records.js';

export type SubscriptionEventType = Extract<EventType, `subscription.${string}`>;
export type InvoiceEventType = Extract<EventType, `invoice.${string}`>;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export interface SubscriptionEventExtras {
  /** Why: a cancellation's or plan change's reason, a decline's normalized reason. */
  readonly reason?: string | null;
  readonly invoiceId?: string | null;
  /** For past_due: when the next automatic retry runs (null: none until the customer acts). */
  readonly nextRetryAt?: number | null;
}

export async function emitSubscriptionEvent(tx: Tx, type: SubscriptionEventType, sub: SubscriptionRow, now: number, extras: SubscriptionEventExtras = {}): Promise<void> {
  await enqueueEvent(tx, {
    type,
    aggregateType: 'subscription',
    aggregateId: sub.id,
    now,
    data: {
      subscriptionId: sub.id,
      customerId: sub.customer_id,
      status: sub.status,
      productId: sub.product_id,
      priceId: sub.price_id,
      // A downgrade waiting for currentPeriodEnd: the plan the subscription then switches to.
      pendingPriceId: sub.pending_price_id,
      currentPeriodStart: iso(sub.current_period_start),
      currentPeriodEnd: iso(sub.current_period_end),
      // Access runs from the subscription's start: a renewal extends the same window.
      accessFrom: iso(sub.created_at),
      accessUntil: iso(sub.access_until),
      cancelAtPeriodEnd: sub.cancel_at_period_end === 1,
      endedAt: iso(sub.ended_at),
      testClockId: sub.test_clock_id,
      reason: extras.reason ?? null,
      invoiceId: extras.invoiceId ?? null,
      nextRetryAt: iso(extras.nextRetryAt ?? null),
    },
  });
}

export async function emitInvoiceEvent(
  tx: Tx,
  type: InvoiceEventType,
  invoice: InvoiceRow,
  now: number,
  extras: { readonly declineCode?: string | null; readonly declineReason?: string | null; readonly declineClass?: string | null } = {},
): Promise<void> {
  await enqueueEvent(tx, {
    type,
    // Keyed by the subscription, so an invoice's events and its subscription's stay in one order.
    aggregateType: 'subscription',
    aggregateId: invoice.subscription_id,
    now,
    data: {
      invoiceId: invoice.id,
      number: invoice.number,
      subscriptionId: invoice.subscription_id,
      customerId: invoice.customer_id,
      status: invoice.status,
      billingReason: invoice.billing_reason,
      total: invoice.total,
      tax: invoice.tax,
      currency: invoice.currency,
      periodStart: iso(invoice.period_start),
      periodEnd: iso(invoice.period_end),
      paymentId: invoice.payment_id,
      attemptCount: invoice.attempt_count,
      declineCode: extras.declineCode ?? null,
      declineReason: extras.declineReason ?? null,
      declineClass: extras.declineClass ?? null,
    },
  });
}
