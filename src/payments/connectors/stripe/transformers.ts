/**
 * Pure mapping between Obol's port and Stripe's API objects: amounts, PaymentIntent statuses,
 * and Stripe's error codes / decline codes / advice codes to Obol's normalized declines. No I/O
 * here, so every rule can be unit-tested without the SDK or the simulator.
 */
import type Stripe from 'stripe';
import { currencyExponent, money, parseCurrency, type Money } from '../../../money/index.js';
import type { AuthenticationRequest, AuthorizeOutcome, AuthorizedDetails, CaptureOutcome, Decline, DeclineClass, RefundOutcome, RequestedExemption, SavePaymentMethodOutcome, VoidOutcome } from '../port.js';
import type { ThreeDsOutcome } from '../../sca/decide.js';

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

// ---- 3-D Secure ------------------------------------------------------------------------------

/**
 * What Obol asks of Stripe about 3-D Secure (`payment_method_options.card.request_three_d_secure`):
 * - `required` → `any`: Stripe attempts authentication whenever the card supports it (frictionless
 *   or challenge, as the issuer decides), rather than only when Stripe thinks it is needed.
 * - `gateway_default` and `exemption` → `automatic`. Stripe's API has no parameter to request a
 *   particular PSD2 exemption (low value, fixed-amount recurring) for a customer-present payment:
 *   Stripe requests exemptions itself, from its own risk assessment, when it leaves 3DS out. So
 *   an exemption is only recorded (metadata, for support and reconciliation) and Stripe decides;
 *   an issuer that still wants authentication answers with a challenge (requires_action).
 */
export interface StripeAuthentication {
  readonly requestThreeDSecure: 'any' | 'automatic';
  readonly exemption: RequestedExemption | null;
}

export function stripeAuthenticationOf(request: AuthenticationRequest | undefined): StripeAuthentication {
  switch (request?.kind) {
    case undefined:
    case 'gateway_default':
      return { requestThreeDSecure: 'automatic', exemption: null };
    case 'required':
      return { requestThreeDSecure: 'any', exemption: null };
    case 'exemption':
      return { requestThreeDSecure: 'automatic', exemption: request.exemption };
    default: {
      const unreachable: never = request;
      throw new Error(`unknown authentication request ${JSON.stringify(unreachable)}`);
    }
  }
}

/** The fields of a Charge's `payment_method_details.card.three_d_secure` that say what happened. */
export interface StripeThreeDSecureFields {
  readonly result: string | null;
  readonly authentication_flow: string | null;
}

/**
 * Stripe's 3DS result on the charge, in Obol's terms; undefined when Stripe does not say enough
 * (Obol then records what it asked for rather than a guess):
 * - `authenticated`: `challenge` or `frictionless` per `authentication_flow`; an authenticated
 *   result without a flow says nothing about the flow, so it is left out.
 * - `exempted`: the issuer accepted an exemption inside the 3DS exchange.
 * - `failed`, `processing_error`: authentication was attempted and did not succeed (a payment that
 *   still went through did so without it).
 * - `attempt_acknowledged` (only the directory server answered), `not_supported` (card not
 *   enrolled), `data_share_only` (data sent to the issuer, no authentication asked): the cardholder
 *   was not authenticated, which is what counts for SCA: `not_attempted`.
 */
export function threeDsOutcomeOf(tds: StripeThreeDSecureFields | null | undefined): ThreeDsOutcome | undefined {
  if (tds === null || tds === undefined) return undefined;
  switch (tds.result) {
    case 'authenticated':
      if (tds.authentication_flow === 'challenge') return 'challenge';
      if (tds.authentication_flow === 'frictionless') return 'frictionless';
      return undefined;
    case 'exempted':
      return 'exempted';
    case 'failed':
    case 'processing_error':
      return 'failed';
    case 'attempt_acknowledged':
    case 'not_supported':
    case 'data_share_only':
      return 'not_attempted';
    default:
      return undefined;
  }
}

/** The 3DS outcome from the PaymentIntent's charge, when the connector asked for `latest_charge` to be expanded. */
function threeDSecureOfIntent(pi: Stripe.PaymentIntent): ThreeDsOutcome | undefined {
  const charge = pi.latest_charge;
  if (charge === null || typeof charge === 'string') return undefined;
  return threeDsOutcomeOf(charge.payment_method_details?.card?.three_d_secure);
}

// ---- saved payment methods ------------------------------------------------------------------

/**
 * Obol's `savedPaymentMethod` for Stripe: `cus_…/pm_…`. An off-session PaymentIntent needs both the
 * Customer and the PaymentMethod attached to it, and Obol's customer id is not a Stripe Customer,
 * so the reference carries both.
 */
export function savedPaymentMethodRef(customer: string, paymentMethod: string): string {
  return `${customer}/${paymentMethod}`;
}

/** Splits a saved reference; anything not of the form `cus_…/pm_…` is passed to Stripe as a bare PaymentMethod id, for Stripe to judge. */
export function parseSavedPaymentMethod(saved: string): { readonly customer: string | null; readonly paymentMethod: string } {
  const parts = saved.split('/');
  if (parts.length === 2 && parts[0] !== undefined && parts[0] !== '' && parts[1] !== undefined && parts[1] !== '') return { customer: parts[0], paymentMethod: parts[1] };
  return { customer: null, paymentMethod: saved };
}

function idOf(value: string | { readonly id: string } | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'string' ? value : value.id;
}

/** Stripe attaches the PaymentMethod to the Customer once a payment with `setup_future_usage` went through. */
function savedPaymentMethodOfIntent(pi: Stripe.PaymentIntent): string | undefined {
  if (pi.setup_future_usage !== 'off_session') return undefined;
  const customer = idOf(pi.customer);
  const paymentMethod = idOf(pi.payment_method);
  return customer !== null && paymentMethod !== null ? savedPaymentMethodRef(customer, paymentMethod) : undefined;
}

function detailsOf(pi: Stripe.PaymentIntent): AuthorizedDetails {
  const threeDSecure = threeDSecureOfIntent(pi);
  const savedPaymentMethod = savedPaymentMethodOfIntent(pi);
  return { ...(threeDSecure !== undefined ? { threeDSecure } : {}), ...(savedPaymentMethod !== undefined ? { savedPaymentMethod } : {}) };
}

/** The decline for a customer who must come back and authenticate with their bank. */
function authenticationRequired(code: string, message: string): Decline {
  return { code, reason: 'authentication_required', declineClass: 'customer_action', message };
}

/**
 * A SetupIntent's answer to `savePaymentMethod` (confirmed server-side, customer absent).
 * `requires_action` means the issuer wants the cardholder to authenticate before the card can be
 * saved: nobody can do that in this call, so it is a decline for the customer to act on.
 */
export function saveOutcomeOf(si: Stripe.SetupIntent): SavePaymentMethodOutcome {
  switch (si.status) {
    case 'succeeded': {
      const customer = idOf(si.customer);
      const paymentMethod = idOf(si.payment_method);
      if (customer === null || paymentMethod === null) throw new StripeUnreadableResponse(`SetupIntent ${si.id} succeeded without a customer and payment method`);
      return { status: 'saved', savedPaymentMethod: savedPaymentMethodRef(customer, paymentMethod) };
    }
    case 'requires_action':
      return {
        status: 'declined',
        decline: authenticationRequired(
          'authentication_required',
          'The card issuer requires the cardholder to authenticate before this card can be saved: save it through a customer-present checkout (Stripe.js confirmCardSetup) instead.',
        ),
      };
    case 'requires_payment_method': {
      const error = si.last_setup_error;
      if (error === null) throw new StripeUnreadableResponse(`SetupIntent ${si.id} in requires_payment_method without an error`);
      return { status: 'declined', decline: toDecline({ type: error.type, code: error.code, decline_code: error.decline_code, advice_code: error.advice_code, message: error.message }) };
    }
    case 'canceled':
      return { status: 'declined', decline: { code: 'setup_intent_canceled', reason: 'canceled', declineClass: 'hard', message: `SetupIntent ${si.id} was canceled` } };
    // Cards never stop in these after a confirmation: an answer Obol cannot act on.
    case 'processing':
    case 'requires_confirmation':
    default:
      throw new StripeUnreadableResponse(`SetupIntent ${si.id} left in ${String(si.status)}`);
  }
}

/** Maps a PaymentIntent to an authorization outcome; null when it is waiting for Obol to confirm. */
export function authorizeOutcomeOf(pi: Stripe.PaymentIntent): AuthorizeOutcome | null {
  switch (pi.status) {
    case 'succeeded':
      return { status: 'succeeded', reference: pi.id, captured: fromStripeAmount(pi.amount_received, pi.currency), ...detailsOf(pi) };
    case 'requires_capture':
      return { status: 'requires_capture', reference: pi.id, authorized: fromStripeAmount(pi.amount_capturable, pi.currency), ...detailsOf(pi) };
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

/**
 * An off-session PaymentIntent's outcome. Stripe answers an issuer's demand for authentication on
 * an `off_session` confirmation with a 402 `authentication_required`, never `requires_action`; should
 * one come back anyway, nobody is there to act on it, so it is the same customer-action decline.
 */
export function offSessionOutcomeOf(pi: Stripe.PaymentIntent): AuthorizeOutcome | null {
  const outcome = authorizeOutcomeOf(pi);
  if (outcome?.status !== 'requires_action') return outcome;
  return {
    status: 'declined',
    reference: pi.id,
    decline: authenticationRequired('authentication_required', 'The card issuer requires authentication for this off-session payment: the customer must pay on-session.'),
  };
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
  /** Authorizations and off-session charges alike; `operation` tells them apart. */
  authorize: 'obol_idempotency_key',
  capture: 'obol_capture_idempotency_key',
  void: 'obol_void_idempotency_key',
  refund: 'obol_idempotency_key',
  /** Which Obol operation created a PaymentIntent (absent on ones created before it existed: `authorize`). */
  operation: 'obol_operation',
  save: 'obol_save_idempotency_key',
  customer: 'obol_customer_id',
  exemption: 'obol_sca_exemption_requested',
} as const;

/** The values of `METADATA.operation`. */
export const INTENT_OPERATIONS = { authorize: 'authorize', chargeOffSession: 'charge_off_session' } as const;

/** Which Obol operation a PaymentIntent found by key belongs to. */
export function intentOperationOf(pi: Stripe.PaymentIntent): 'authorize' | 'charge_off_session' {
  return pi.metadata?.[METADATA.operation] === INTENT_OPERATIONS.chargeOffSession ? 'charge_off_session' : 'authorize';
}

export function searchQuery(name: string, value: string): string {
  // Search query strings are single-quoted; a key with a quote or backslash must be escaped.
  return `metadata['${name}']:'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}
