/**
 * obol.v1.SubscriptionService: shape checks, then the subscriptions use cases (which authorize:
 * a service token may act for any customer, a learner's only for itself). Every mutation runs
 * through the same idempotency store as the other gRPC mutations, and also hands its key to the
 * use case, whose own request-key guard finds an earlier attempt (a signup, a charge, a refund)
 * when a claim expired and a retry takes it over.
 */
import { isCatalogId, ObolError } from '../../kernel/index.js';
import {
  cancelSubscription,
  changeSubscriptionPlan,
  getInvoice,
  getSubscription,
  listInvoices,
  listSubscriptions,
  resumeSubscription,
  startSubscription,
  updateSubscriptionPaymentMethod,
  type SubscriptionResult,
  type UpdatePaymentMethodResult,
} from '../../subscriptions/index.js';
import type { SubscriptionService } from '../../gen/obol/v1/subscriptions_pb.js';
import type { App } from '../app.js';
import { invoiceMessage, paymentMethodMessage, refundPolicyFrom, subscriptionMessage, subscriptionResultFields } from './convert.js';
import { optionalText, requireId, requireText } from './payments.js';
import type { UnaryHandlers } from './service.js';

/** Prices may carry readable slugs (price_plus_monthly_usd), so they are checked as catalog ids. */
function requirePriceId(value: string, field: string): string {
  requireText(value, field, 64);
  if (!isCatalogId('price', value)) throw new ObolError('INVALID_ID', `${field} is not a price id (price_…).`, { field });
  return value;
}

export function subscriptionHandlers(app: App): UnaryHandlers<(typeof SubscriptionService)['method']> {
  const deps = app.subscriptions;
  return {
    async getSubscription(req, { caller }) {
      const subscriptionId = requireId('subscription', req.subscriptionId, 'subscription_id');
      return { subscription: subscriptionMessage(await getSubscription(deps.db.kysely, { caller, subscriptionId })) };
    },
    async listSubscriptions(req, { caller }) {
      const customerId = optionalText(req.customerId, 'customer_id', 64);
      const views = await listSubscriptions(deps.db.kysely, { caller, customerId });
      return { subscriptions: views.map(subscriptionMessage) };
    },
    async listInvoices(req, { caller }) {
      const subscriptionId = requireId('subscription', req.subscriptionId, 'subscription_id');
      const views = await listInvoices(deps.db.kysely, { caller, subscriptionId });
      return { invoices: views.map(invoiceMessage) };
    },
    async getInvoice(req, { caller }) {
      const invoiceId = requireId('invoice', req.invoiceId, 'invoice_id');
      return { invoice: invoiceMessage(await getInvoice(deps.db.kysely, { caller, invoiceId })) };
    },
    async createSubscription(req, { caller, idempotent }) {
      const customerId = optionalText(req.customerId, 'customer_id', 64);
      const priceId = requirePriceId(req.priceId, 'price_id');
      const paymentMethodToken = requireText(req.paymentMethodToken, 'payment_method_token', 255);
      const cardCountry = optionalText(req.cardCountry, 'card_country', 2);
      // Coupon codes are stored in upper case; callers type them any way (as at checkout).
      const couponCode = optionalText(req.couponCode.trim(), 'coupon_code', 64);
      const result = await idempotent<SubscriptionResult>(req.idempotencyKey, () =>
        startSubscription(deps, {
          caller,
          customerId,
          priceId,
          country: req.country,
          paymentMethodToken,
          cardCountry,
          couponCode: couponCode === null ? null : couponCode.toUpperCase(),
          // proto3 `optional`: unset takes the plan's default trial, 0 means none.
          trialDays: req.trialDays ?? null,
          requestKey: req.idempotencyKey,
        }),
      );
      return subscriptionResultFields(result);
    },
    async cancelSubscription(req, { caller, idempotent }) {
      const subscriptionId = requireId('subscription', req.subscriptionId, 'subscription_id');
      const refund = refundPolicyFrom(req.refund);
      const result = await idempotent<SubscriptionResult>(req.idempotencyKey, () =>
        cancelSubscription(deps, { caller, subscriptionId, atPeriodEnd: req.atPeriodEnd, refund, requestKey: req.idempotencyKey }),
      );
      return subscriptionResultFields(result);
    },
    async resumeSubscription(req, { caller, idempotent }) {
      const subscriptionId = requireId('subscription', req.subscriptionId, 'subscription_id');
      const result = await idempotent<SubscriptionResult>(req.idempotencyKey, () => resumeSubscription(deps, { caller, subscriptionId }));
      return subscriptionResultFields(result);
    },
    async changeSubscriptionPlan(req, { caller, idempotent }) {
      const subscriptionId = requireId('subscription', req.subscriptionId, 'subscription_id');
      const priceId = requirePriceId(req.priceId, 'price_id');
      const result = await idempotent<SubscriptionResult>(req.idempotencyKey, () =>
        changeSubscriptionPlan(deps, { caller, subscriptionId, priceId, requestKey: req.idempotencyKey }),
      );
      return subscriptionResultFields(result);
    },
    async updateSubscriptionPaymentMethod(req, { caller, idempotent }) {
      const subscriptionId = requireId('subscription', req.subscriptionId, 'subscription_id');
      const paymentMethodToken = requireText(req.paymentMethodToken, 'payment_method_token', 255);
      const result = await idempotent<UpdatePaymentMethodResult>(req.idempotencyKey, () =>
        updateSubscriptionPaymentMethod(deps, { caller, subscriptionId, paymentMethodToken, requestKey: req.idempotencyKey }),
      );
      return { ...subscriptionResultFields(result), savedPaymentMethod: paymentMethodMessage(result.savedPaymentMethod) };
    },
  };
}
