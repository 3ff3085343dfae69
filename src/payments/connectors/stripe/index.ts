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
  reasonOf,
  toDecline,
  toStripeAmount,
  StripeUnreadableResponse,
  type StripeAmount,
  type StripeErrorFields,
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
