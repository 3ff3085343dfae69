/**
 * Pure mapping between Obol's port and Stripe's API objects: amounts, PaymentIntent statuses,
 * and Stripe's error codes / decline codes / advice codes to Obol's normalized declines. No I/O
 * here, so every rule can be unit-tested without the SDK or the simulator.
 */
import type Stripe from 'stripe';
import { currencyExponent, money, parseCurrency, type Money } from '../../../money/index.js';
import type { AuthorizeOutcome, CaptureOutcome, Decline, DeclineClass, RefundOutcome, VoidOutcome } from '../port.js';

/** The gateway's answer could not be understood: for Obol that is the same as no answer. */
export class StripeUnreadableResponse extends Error {}

// ---- amounts --------------------------------------------------------------------------------

/**
 * Stripe's "smallest currency unit" is ISO 4217's minor unit, except where Stripe kept an older
 * representation for backwards compatibility (https://docs.stripe.com/currencies#special-cases):
 * - ISK and UGX are zero-decimal in ISO 4217 but Stripe still takes them as two-decimal, with the
 *   decimals always 00 (5 ISK is `500`): Obol's minor units are multiplied by 100.
 * - Three-decimal currencies (BHD, JOD, KWD, OMR, TND) are sent in thousandths, but for card
 *   payments the last digit must be 0; an amount that is not a multiple of 10 cannot be charged
 *   and is declined here, before anything is sent.
 * - HUF and TWD are two-decimal for charges (Stripe only forces whole units on payouts), so they
 *   follow ISO. JPY, KRW, … are zero-decimal in both.
 */
const STRIPE_TWO_DECIMAL_OVERRIDES: ReadonlySet<string> = new Set(['ISK', 'UGX']);

export type StripeAmount = { readonly ok: true; readonly amount: number; readonly currency: string } | { readonly ok: false; readonly decline: Decline };

export function toStripeAmount(value: Money): StripeAmount {
  const exponent = currencyExponent(value.currency);
  const currency = value.currency.toLowerCase();
  if (STRIPE_TWO_DECIMAL_OVERRIDES.has(value.currency)) {
    if (exponent !== 0) throw new Error(`expected ${value.currency} to be zero-decimal in ISO 4217`);
    return { ok: true, amount: value.amount * 100, currency };
  }
  if (exponent === 3 && value.amount % 10 !== 0) {
    return {
      ok: false,
      decline: { code: 'invalid_amount', reason: 'invalid_amount', declineClass: 'hard', message: `Stripe only charges ${value.currency} in multiples of 10 minor units` },
    };
  }
  return { ok: true, amount: value.amount, currency };
}

export function fromStripeAmount(amount: number, stripeCurrency: string): Money {
  const code = parseCurrency(stripeCurrency.toUpperCase());
  if (code === undefined || !Number.isSafeInteger(amount) || amount < 0) throw new StripeUnreadableResponse(`unreadable amount ${amount} ${stripeCurrency}`);
  if (STRIPE_TWO_DECIMAL_OVERRIDES.has(code)) {
    if (amount % 100 !== 0) throw new StripeUnreadableResponse(`${code} amount ${amount} has non-zero decimals`);
    return money(amount / 100, code);
  }
  return money(amount, code);
}

// ---- declines -------------------------------------------------------------------------------

/** The fields of a Stripe error (thrown `StripeError` or a PaymentIntent's `last_payment_error`) that decide a decline. */
export interface StripeErrorFields {
  readonly type?: string | undefined;
  readonly code?: string | undefined;
  readonly decline_code?: string | undefined;
  readonly advice_code?: string | undefined;
  readonly message?: string | undefined;
}

/** Issuer reasons where trying again later (or on another connector) can succeed. */
const SOFT_REASONS: ReadonlySet<string> = new Set(['processing_error', 'issuer_not_available', 'try_again_later', 'reenter_transaction', 'approve_with_id', 'rate_limit']);
/** Reasons only the customer can fix: authenticate, or correct what they typed. */
const CUSTOMER_ACTION_REASONS: ReadonlySet<string> = new Set(['authentication_required', 'incorrect_cvc', 'invalid_cvc', 'incorrect_zip', 'incorrect_number', 'invalid_expiry_month', 'invalid_expiry_year']);

/** Obol's normalized reason: the issuer's decline code when it gave one, else Stripe's error code. */
export function reasonOf(error: StripeErrorFields): string {
  if (error.code === 'payment_intent_authentication_failure') return 'authentication_required';
  if (error.decline_code !== undefined && error.decline_code !== '') return error.decline_code;
  if (error.code !== undefined && error.code !== '') return error.code === 'card_declined' ? 'generic_decline' : error.code;
  return error.type === 'card_error' ? 'generic_decline' : 'invalid_request';
}

/**
 * Stripe's advice_code is the network's own guidance and wins when present
 * (https://docs.stripe.com/declines/codes#advice-codes); otherwise the reason decides. Everything
 * not known to be retryable is hard, so an unfamiliar code never causes a retry storm.
 */
export function declineClassOf(error: StripeErrorFields): DeclineClass {
  switch (error.advice_code) {
    case 'try_again_later':
      return 'soft';
    case 'do_not_try_again':
      return 'hard';
    case 'confirm_card_data':
      return 'customer_action';
    default:
      break;
  }
  const reason = reasonOf(error);
  if (SOFT_REASONS.has(reason)) return 'soft';
  if (CUSTOMER_ACTION_REASONS.has(reason)) return 'customer_action';
  return 'hard';
}

export function toDecline(error: StripeErrorFields): Decline {
  const code = error.code !== undefined && error.code !== '' ? error.code : (error.type ?? 'unknown_error');
  return { code, reason: reasonOf(error), declineClass: declineClassOf(error), message: error.message !== undefined && error.message !== '' ? error.message : code };
}

// ---- PaymentIntents -------------------------------------------------------------------------

/** Obol's identifier for a 3-D Secure challenge on Stripe: the PaymentIntent itself. */
function redirectUrlOf(next: Stripe.PaymentIntent.NextAction | null): string {
  if (next?.type === 'redirect_to_url' && typeof next.redirect_to_url?.url === 'string') return next.redirect_to_url.url;
  // Without a return_url Stripe hands the challenge to Stripe.js; its hosted page is still a URL.
  const sdk: unknown = next?.use_stripe_sdk;
  if (next?.type === 'use_stripe_sdk' && typeof sdk === 'object' && sdk !== null && 'stripe_js' in sdk && typeof sdk.stripe_js === 'string') return sdk.stripe_js;
  throw new StripeUnreadableResponse(`requires_action without a usable next_action (${next?.type ?? 'none'})`);
}

/** Maps a PaymentIntent to an authorization outcome; null when it is waiting for Obol to confirm. */
export function authorizeOutcomeOf(pi: Stripe.PaymentIntent): AuthorizeOutcome | null {
  switch (pi.status) {
    case 'succeeded':
      return { status: 'succeeded', reference: pi.id, captured: fromStripeAmount(pi.amount_received, pi.currency) };
    case 'requires_capture':
      return { status: 'requires_capture', reference: pi.id, authorized: fromStripeAmount(pi.amount_capturable, pi.currency) };
    case 'requires_action':
      return { status: 'requires_action', reference: pi.id, action: { type: 'three_d_secure_challenge', challengeId: pi.id, redirectUrl: redirectUrlOf(pi.next_action) } };
    case 'processing':
      return { status: 'processing', reference: pi.id };
    case 'requires_payment_method': {
      const error = pi.last_payment_error;
      if (error === null) return null;
      return { status: 'declined', reference: pi.id, decline: toDecline({ type: error.type, code: error.code, decline_code: error.decline_code, advice_code: error.advice_code, message: error.message }) };
    }
    // Only reached through retrieve/resume: a PaymentIntent voided since is reported as it is now.
    case 'canceled':
      return { status: 'declined', reference: pi.id, decline: { code: 'payment_intent_canceled', reason: 'canceled', declineClass: 'hard', message: `PaymentIntent ${pi.id} was canceled` } };
    case 'requires_confirmation':
      return null;
    default: {
      const unknown: string = pi.status;
      throw new StripeUnreadableResponse(`unknown PaymentIntent status ${unknown}`);
    }
  }
}

export function captureOutcomeOf(pi: Stripe.PaymentIntent): CaptureOutcome {
  if (pi.status !== 'succeeded') throw new StripeUnreadableResponse(`capture answered with status ${pi.status}`);
  return { status: 'succeeded', captured: fromStripeAmount(pi.amount_received, pi.currency) };
}

export function voidOutcomeOf(pi: Stripe.PaymentIntent): VoidOutcome {
  if (pi.status !== 'canceled') throw new StripeUnreadableResponse(`cancel answered with status ${pi.status}`);
  return { status: 'succeeded' };
}

export function refundOutcomeOf(refund: Stripe.Refund): RefundOutcome {
  switch (refund.status) {
    case 'succeeded':
      return { status: 'succeeded', reference: refund.id };
    case 'pending':
    case 'requires_action':
      return { status: 'processing', reference: refund.id };
    case 'failed':
    // Only reached through retrieve/resume: a PaymentIntent voided since is reported as it is now.
    case 'canceled':
      return { status: 'declined', decline: { code: `refund_${refund.status}`, reason: refund.failure_reason ?? `refund_${refund.status}`, declineClass: 'hard', message: `refund ${refund.id} ${refund.status}` } };
    default:
      throw new StripeUnreadableResponse(`unknown refund status ${String(refund.status)}`);
  }
}

// ---- idempotency-key lookups ----------------------------------------------------------------

/**
 * Stripe cannot be asked "what did key K do?", so each operation also writes Obol's key into
 * metadata, where the Search API (`metadata['name']:'value'`) can find it again. Metadata key
 * names are limited to 40 characters, so per-refund tags use a hash of Obol's key as the name.
 */
export const METADATA = {
  authorize: 'obol_idempotency_key',
  capture: 'obol_capture_idempotency_key',
  void: 'obol_void_idempotency_key',
  refund: 'obol_idempotency_key',
} as const;

export function searchQuery(name: string, value: string): string {
  // Search query strings are single-quoted; a key with a quote or backslash must be escaped.
  return `metadata['${name}']:'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}
