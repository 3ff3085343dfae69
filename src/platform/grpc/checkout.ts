/** obol.v1.CheckoutService: checkout for server-side callers, through the checkout use cases. */
import { confirmCheckoutSession, createCheckoutSession, type CheckoutSessionView } from '../../checkout/index.js';
import type { CheckoutService } from '../../gen/obol/v1/checkout_pb.js';
import type { App } from '../app.js';
import { captureMethodFrom, checkoutSessionMessage, paymentMessage } from './convert.js';
import { optionalText, requireId } from './payments.js';
import type { UnaryHandlers } from './service.js';

export function checkoutHandlers(app: App): UnaryHandlers<(typeof CheckoutService)['method']> {
  return {
    async createCheckoutSession(req, { caller, idempotent }) {
      const couponCode = optionalText(req.couponCode.trim(), 'coupon_code', 64);
      const captureMethod = captureMethodFrom(req.captureMethod);
      const b = req.billingDetails;
      // The use case validates billing details (and refuses card-shaped text in them); empty
      // proto3 strings are the optional parts left out.
      const a = b?.address;
      const billingDetails =
        b === undefined
          ? null
          : { name: b.name, email: b.email, address: a === undefined ? null : { line1: a.line1, line2: a.line2, city: a.city, postalCode: a.postalCode, region: a.region, country: a.country } };
      const view = await idempotent<CheckoutSessionView>(req.idempotencyKey, (run) =>
        createCheckoutSession(
          app.checkout,
          {
            caller,
            customerId: optionalText(req.customerId, 'customer_id', 64),
            country: req.country,
            items: req.items.map((it) => ({ priceId: it.priceId, quantity: it.quantity })),
            couponCode: couponCode === null ? null : couponCode.toUpperCase(),
            captureMethod,
            billingDetails,
          },
          (tx, v) => run.finish(tx, v),
        ),
      );
      return { checkoutSession: checkoutSessionMessage(view) };
    },
    async confirmCheckoutSession(req, { caller, idempotent }) {
      const sessionId = requireId('checkoutSession', req.sessionId, 'session_id');
      const paymentMethodToken = optionalText(req.paymentMethodToken, 'payment_method_token', 255);
      const cardCountry = optionalText(req.cardCountry, 'card_country', 2);
      const result = await idempotent(req.idempotencyKey, () => confirmCheckoutSession(app.checkout, { caller, sessionId, paymentMethodToken, cardCountry, requestKey: req.idempotencyKey }));
      return { checkoutSession: checkoutSessionMessage(result.session), ...(result.payment ? { payment: paymentMessage(result.payment) } : {}) };
    },
  };
}
