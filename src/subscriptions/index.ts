/** The subscriptions context's public face. */
export * from './domain/index.js';
export type { SubscriptionsDeps } from './deps.js';
export { startSubscription, type StartSubscriptionProps, type SubscriptionResult } from './start.js';
export {
  cancelSubscription,
  changeSubscriptionPlan,
  payOpenInvoice,
  resumeSubscription,
  updateSubscriptionPaymentMethod,
  REFUND_POLICIES,
  type RefundPolicy,
  type CancelSubscriptionProps,
  type ChangePlanProps,
  type PayInvoiceProps,
  type UpdatePaymentMethodProps,
  type UpdatePaymentMethodResult,
} from './manage.js';
export { getInvoice, getSubscription, listInvoices, listSubscriptions } from './read.js';
export { subscriptionPaymentHooks } from './hooks.js';
export { subscriptionJobHandlers } from './jobs.js';
export { advanceClock, attachCustomer, createClock, getClock } from './test-clocks.js';
export { BILLING_REASONS, DUNNING_STATES, END_REASONS, INVOICE_LINE_KINDS, type BillingReason, type DunningState, type EndReason, type InvoiceLineKind, type InvoiceView, type InvoiceLineView, type SubscriptionView } from './records.js';
export { JOB_KINDS } from './billing.js';
