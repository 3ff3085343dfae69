/**
 * The sandbox's test payment methods, modelled on Stripe's test tokens so that scripts written
 * against Stripe test mode read the same here. Each token names a behaviour of the simulated
 * gateway; the connector never looks at tokens, only at what the gateway answers.
 *
 * Both spellings are accepted: `tok_visa` and `pm_card_visa` name the same test card.
 */

export const SANDBOX_TOKEN_BEHAVIORS = [
  /** The issuer approves. */
  'approve',
  /** The issuer declines with the given gateway code and decline code. */
  'decline',
  /**
   * The issuer asks for a 3-D Secure challenge before it decides, whatever was requested; once
   * saved, it also refuses merchant-initiated charges for missing authentication.
   */
  'challenge',
  /**
   * The issuer approves, but refuses an exemption request with a soft decline for missing
   * authentication (the SCA soft decline, Visa/Mastercard `1A`); authenticated or out of scope,
   * it approves.
   */
  'refuse_exemption',
  /** The gateway performs and logs the charge, then the response is lost on the way back. */
  'lose_response',
  /** The connection is refused before the request leaves: nothing reaches the gateway. */
  'refuse_connection',
  /**
   * The issuer approves the customer-present charge (and saving the card), then declines the
   * first `times` merchant-initiated charges of the saved card with the given decline code (all
   * of them when `times` is null): a renewal that fails, and perhaps recovers, for dunning tests.
   */
  'decline_renewals',
] as const;
export type SandboxTokenBehavior = (typeof SANDBOX_TOKEN_BEHAVIORS)[number];

export type SandboxTokenSpec =
  | { readonly behavior: 'approve' | 'challenge' | 'refuse_exemption' | 'lose_response' | 'refuse_connection' }
  | { readonly behavior: 'decline'; readonly code: 'card_declined' | 'processing_error'; readonly declineCode: string | null }
  | { readonly behavior: 'decline_renewals'; readonly code: 'card_declined'; readonly declineCode: string; readonly times: number | null };

export const SANDBOX_TOKENS = {
  tok_visa: { behavior: 'approve' },
  tok_mastercard: { behavior: 'approve' },
  tok_chargeDeclined: { behavior: 'decline', code: 'card_declined', declineCode: 'generic_decline' },
  tok_chargeDeclinedInsufficientFunds: { behavior: 'decline', code: 'card_declined', declineCode: 'insufficient_funds' },
  tok_chargeDeclinedProcessingError: { behavior: 'decline', code: 'processing_error', declineCode: null },
  tok_threeDSecure2Required: { behavior: 'challenge' },
  tok_visaExemptionRefused: { behavior: 'refuse_exemption' },
  tok_timeout: { behavior: 'lose_response' },
  tok_sandbox_timeout: { behavior: 'lose_response' },
  tok_unavailable: { behavior: 'refuse_connection' },
  /** Renewals: insufficient funds twice, then the card works again. */
  tok_visaRenewalDeclinedTwice: { behavior: 'decline_renewals', code: 'card_declined', declineCode: 'insufficient_funds', times: 2 },
  /** Renewals: the card was reported lost after it was saved; every renewal is declined. */
  tok_visaRenewalLostCard: { behavior: 'decline_renewals', code: 'card_declined', declineCode: 'lost_card', times: null },
} as const satisfies Readonly<Record<string, SandboxTokenSpec>>;

export type SandboxToken = keyof typeof SANDBOX_TOKENS;

export function isSandboxToken(value: string): value is SandboxToken {
  return Object.hasOwn(SANDBOX_TOKENS, value);
}

/** `pm_card_visa` → `tok_visa`; anything else unchanged. */
export function canonicalSandboxToken(paymentMethod: string): string {
  return paymentMethod.startsWith('pm_card_') ? `tok_${paymentMethod.slice('pm_card_'.length)}` : paymentMethod;
}

/** The token's behaviour, or undefined for a payment method the sandbox does not know (the gateway refuses it as invalid). */
export function sandboxTokenSpec(paymentMethod: string): SandboxTokenSpec | undefined {
  const token = canonicalSandboxToken(paymentMethod);
  return isSandboxToken(token) ? SANDBOX_TOKENS[token] : undefined;
}

/** Which sandbox token plays which part in the connector conformance suite. */
export const SANDBOX_CONFORMANCE_TOKENS = {
  success: 'tok_visa',
  genericDecline: 'tok_chargeDeclined',
  insufficientFunds: 'tok_chargeDeclinedInsufficientFunds',
  processingError: 'tok_chargeDeclinedProcessingError',
  threeDSecure: 'tok_threeDSecure2Required',
  timeout: 'tok_timeout',
} as const satisfies Readonly<Record<string, SandboxToken>>;
