/** The checkout context's public face. */
export { assertCustomerId, createCheckoutSession, MAX_ITEMS, MAX_QUANTITY, MAX_TOTAL, normaliseCountry, type CreateSessionProps } from './create-session.js';
export { confirmCheckoutSession, type ConfirmSessionProps, type ConfirmSessionResult } from './confirm-session.js';
export { expireCheckoutSessions } from './expire.js';
export { checkoutPaymentHooks } from './hooks.js';
export { NO_LIMITS, type CheckoutDeps, type CheckoutLimits, type CheckoutMetrics, type CheckoutOutcome } from './deps.js';
export { getBillingDetails, getCheckoutSession } from './read.js';
export type { BillingDetails } from './billing-details.js';
export { loadSessionView, SESSION_STATUSES, type CheckoutSessionView, type SessionLineView, type SessionStatus } from './records.js';
export * from './domain/totals.js';
