export {
  createStripeConnector,
  refundTagName,
  StripeIdempotencyKeyReusedError,
  STRIPE_CONNECTOR_NAME,
  DEFAULT_STRIPE_RETURN_URL,
  type StripeConnectorArgs,
} from './connector.js';
export {
  authorizeOutcomeOf,
  declineClassOf,
  fromStripeAmount,
  offSessionOutcomeOf,
  parseSavedPaymentMethod,
  reasonOf,
  saveOutcomeOf,
  savedPaymentMethodRef,
  stripeAuthenticationOf,
  threeDsOutcomeOf,
  toDecline,
  toStripeAmount,
  StripeUnreadableResponse,
  type StripeAmount,
  type StripeAuthentication,
  type StripeErrorFields,
  type StripeThreeDSecureFields,
} from './transformers.js';

/** Stripe's documented test payment methods that play each part of the conformance suite (`timeout` is simulator-only). */
export const STRIPE_CONFORMANCE_TOKENS = {
  success: 'pm_card_visa',
  genericDecline: 'pm_card_chargeDeclined',
  insufficientFunds: 'pm_card_chargeDeclinedInsufficientFunds',
  processingError: 'pm_card_chargeDeclinedProcessingError',
  threeDSecure: 'pm_card_threeDSecure2Required',
  timeout: 'pm_card_simulator_timeout',
} as const;

/**
 * Stripe's documented 4000002760003184: "requires authentication on all transactions, regardless of
 * how the card is set up", so once saved, every off-session charge is declined
 * `authentication_required`. (Setting it up needs authentication too: see the simulator's
 * `setupAuthentication` option.)
 */
export const STRIPE_OFF_SESSION_AUTHENTICATION_REQUIRED_TOKEN = 'pm_card_authenticationRequired';
