/**
 * Label values are bounded: every label of every Obol metric takes its value from a fixed list
 * (or a list bounded by configuration or the schema), never from ids, emails, amounts or free
 * text. Anything outside its list is reported as `other` (or `unknown`), so a new gateway code or
 * a hostile input can never create a new time series.
 */

/**
 * Obol's normalized decline reasons that are reported by name; any other reason is `other`.
 * These are the reasons the connectors' transformers produce (payments/connectors/*), plus
 * Obol's own `gateway_unavailable`.
 */
export const DECLINE_REASON_LABELS = [
  'generic_decline',
  'insufficient_funds',
  'authentication_required',
  'processing_error',
  'gateway_unavailable',
  'invalid_request',
  'invalid_payment_method',
  'currency_not_supported',
  'incorrect_cvc',
  'incorrect_number',
  'incorrect_address',
  'invalid_expiry_date',
  'expired_card',
  'fraudulent',
  'lost_card',
  'stolen_card',
  'pickup_card',
  'restricted_card',
  'call_issuer',
  'do_not_honor',
  'limit_exceeded',
  'card_velocity_exceeded',
  'withdrawal_count_limit_exceeded',
  'transaction_not_allowed',
  'invalid_account',
  'invalid_amount',
  'amount_too_large',
  'duplicate_transaction',
  'stop_payment_order',
  'try_again_later',
  'issuer_not_available',
  'reenter_transaction',
] as const;

const KNOWN_REASONS: ReadonlySet<string> = new Set(DECLINE_REASON_LABELS);

/** A decline reason as a label: a known reason, `other`, or `none` when nothing was declined. */
export function declineReasonLabel(reason: string | null | undefined): string {
  if (reason === null || reason === undefined || reason === '') return 'none';
  return KNOWN_REASONS.has(reason) ? reason : 'other';
}

/** `value` when it is one of `allowed`, else `fallback`. */
export function oneOfLabel(value: string | null | undefined, allowed: readonly string[], fallback = 'other'): string {
  return value !== null && value !== undefined && allowed.includes(value) ? value : fallback;
}

const CURRENCY = /^[A-Z]{3}$/;

/** An ISO 4217 code as a label (a bounded set); anything else is `other`. */
export function currencyLabel(currency: string | null | undefined): string {
  return typeof currency === 'string' && CURRENCY.test(currency) ? currency : 'other';
}

/** Connector names are bounded by configuration; only well-formed names pass. */
const NAME = /^[a-z][a-z0-9_]{0,39}$/;

export function nameLabel(name: string | null | undefined, fallback = 'unknown'): string {
  return typeof name === 'string' && NAME.test(name) ? name : fallback;
}
