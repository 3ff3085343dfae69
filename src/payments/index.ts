/** The payments context's public face. */
export * from './connectors/port.js';
export * from './domain/payment-intent.js';
export { beginAttempt, beginMerchantInitiatedAttempt, executeAttempt, completeThreeDSecure, type BeginAttemptArgs, type BeginMerchantInitiatedArgs, type CompleteThreeDSecureProps } from './authorize.js';
export {
  beginSavePaymentMethod,
  completeSavePaymentMethod,
  detachPaymentMethod,
  loadPaymentMethod,
  PAYMENT_METHOD_STATUSES,
  type PaymentMethodStatus,
  type PaymentMethodView,
} from './payment-methods.js';
export { beginRefund, executeRefund, capturePayment, voidPayment, refundPayment, OPERATION_RESULTS, type OperationResult, type OperationOutcome, type RefundOutcomeView, type CaptureProps, type VoidProps, type RefundProps } from './operations.js';
export { resolveUnknownOutcomes, type ReconcileArgs, type ReconcileResult } from './reconcile.js';
export { cancelPayment } from './cancel.js';
export { hooksBySale, singleConnectorRegistry, type ConnectorRegistry, type PaymentHooks, type PaymentsDeps, type RouteArgs, type RouteChoice } from './deps.js';
export {
  CAPTURE_METHODS,
  isCaptureMethod,
  loadPaymentView,
  listCustomerPayments,
  type CaptureMethod,
  type PaymentView,
  type AttemptView,
  type RefundView,
  type OperationView,
  type PaymentPage,
  type PaymentError,
  type IntentRow,
  type SaleRef,
  type PaymentInitiator,
  saleOf,
  PAYMENT_INITIATORS,
} from './records.js';
export { getPayment, listPayments } from './read.js';
export { auditActor } from './operations.js';
export { applyGatewayFact } from './gateway-facts.js';
export { mapBraintreeNotification, mapRazorpayEvent, mapStripeEvent, type GatewayFact } from './gateway-events.js';
