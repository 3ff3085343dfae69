/**
 * Strong Customer Authentication (PSD2): does this payment need 3-D Secure, or does an exemption
 * apply? Pure: the caller supplies the issuer's country (from the card's BIN), the acquirer's
 * (the connector's), the amount already converted to EUR, and the low-value counters it keeps
 * per card.
 *
 * Order of the checks (the first that answers wins):
 *
 *   acquirer outside any SCA regime ────────────────────────────▶ not_in_scope
 *   issuer known, in another regime (one leg out) ──────────────▶ not_in_scope (best effort)
 *   merchant-initiated (renewal off-session) ───────────────────▶ exempt: merchant_initiated
 *   fixed-amount recurring, after the first ────────────────────▶ exempt: fixed_amount_recurring
 *   low value (≤ EUR 30, ≤ 5 in a row, ≤ EUR 100 cumulative) ───▶ exempt: low_value
 *   otherwise (including an unknown issuer country) ────────────▶ required
 *
 * Regimes. SCA is PSD2's (EEA = EU 27 + Iceland, Liechtenstein, Norway). The United Kingdom kept
 * the same rules after Brexit in its own regime (the FCA's UK-RTS, enforced since March 2022),
 * so GB is in scope here, but as its own regime: a UK card at an EEA acquirer (or the reverse) is
 * one-leg-out under both, and the issuer decides. Applying the EUR thresholds to GB payments
 * (via the caller's EUR conversion) is an approximation of UK-RTS's own limits; revisit when a UK
 * acquirer is configured.
 *
 * Exemptions are requests, not guarantees: the issuer may still demand authentication, which
 * comes back as a soft decline for missing authentication (see `declineNeedsAuthentication`) and
 * is handled as customer action, never as failover.
 */
import { ObolError } from '../../kernel/index.js';
import type { Money } from '../../money/index.js';

/** EU 27 + IS, LI, NO (ISO 3166-1 alpha-2; Greece is GR here, not the EU's "EL"). */
export const EEA_COUNTRIES = [
  'AT', 'BE', 'BG', 'HR', 'CY', 'CZ', 'DK', 'EE', 'FI', 'FR', 'DE', 'GR', 'HU', 'IE', 'IT', 'LV', 'LT', 'LU', 'MT', 'NL', 'PL', 'PT', 'RO', 'SK', 'SI', 'ES', 'SE',
  'IS', 'LI', 'NO',
] as const;
export type EeaCountry = (typeof EEA_COUNTRIES)[number];

/** Countries with their own SCA regime mirroring PSD2. */
export const UK_SCA_COUNTRIES = ['GB'] as const;

export const SCA_REGIMES = ['eea', 'uk'] as const;
export type ScaRegime = (typeof SCA_REGIMES)[number];

export function isEeaCountry(value: unknown): value is EeaCountry {
  return typeof value === 'string' && (EEA_COUNTRIES as readonly string[]).includes(value);
}

export function scaRegimeOf(country: string): ScaRegime | null {
  if (isEeaCountry(country)) return 'eea';
  if ((UK_SCA_COUNTRIES as readonly string[]).includes(country)) return 'uk';
  return null;
}

export const SCA_OUTCOMES = ['not_in_scope', 'required', 'exempt'] as const;
export type ScaOutcome = (typeof SCA_OUTCOMES)[number];

export const SCA_EXEMPTIONS = ['low_value', 'merchant_initiated', 'fixed_amount_recurring'] as const;
export type ScaExemption = (typeof SCA_EXEMPTIONS)[number];

export const RECURRING_KINDS = ['none', 'fixed_amount_subsequent', 'variable'] as const;
export type RecurringKind = (typeof RECURRING_KINDS)[number];

/** What happened with 3-D Secure on an attempt, for the attempt record. */
export const THREE_DS_OUTCOMES = ['frictionless', 'challenge', 'exempted', 'failed', 'not_attempted'] as const;
export type ThreeDsOutcome = (typeof THREE_DS_OUTCOMES)[number];

export function isThreeDsOutcome(value: unknown): value is ThreeDsOutcome {
  return typeof value === 'string' && (THREE_DS_OUTCOMES as readonly string[]).includes(value);
}

export type ScaDecision =
  | { readonly outcome: 'not_in_scope' | 'required'; readonly exemption?: undefined; readonly reasons: readonly string[] }
  | { readonly outcome: 'exempt'; readonly exemption: ScaExemption; readonly reasons: readonly string[] };

/** PSD2 RTS art. 16 limits, in EUR cents. */
export const LOW_VALUE_MAX_EUR_MINOR = 3_000;
export const LOW_VALUE_CUMULATIVE_MAX_EUR_MINOR = 10_000;
/** At most this many consecutive low-value exemptions since the last authentication. */
export const LOW_VALUE_MAX_CONSECUTIVE = 5;

export interface LowValueCounters {
  /** Low-value exempted payments on this card since its last strong authentication (before this one). */
  readonly consecutiveExempted: number;
  /** Their total, in EUR minor units (before this one). */
  readonly cumulativeEurMinor: number;
}

export interface DecideScaArgs {
  /** From the card's BIN; null when unknown. */
  readonly issuerCountry: string | null;
  readonly acquirerCountry: string;
  readonly initiator: 'customer' | 'merchant';
  readonly amount: Money;
  /** `amount` converted to EUR by the caller; null when no rate is available (then no low-value exemption). */
  readonly amountInEur: Money | null;
  readonly lowValueCounters: LowValueCounters;
  readonly recurring: { readonly kind: RecurringKind };
}

export function decideSca(args: DecideScaArgs): ScaDecision {
  const { issuerCountry, acquirerCountry, initiator, amount, amountInEur, lowValueCounters, recurring } = args;
  if (amountInEur !== null && amountInEur.currency !== 'EUR') {
    throw new ObolError('VALIDATION_FAILED', 'amountInEur must be in EUR', { field: 'amountInEur', currency: amountInEur.currency });
  }
  const { consecutiveExempted, cumulativeEurMinor } = lowValueCounters;
  if (!Number.isSafeInteger(consecutiveExempted) || consecutiveExempted < 0) {
    throw new ObolError('VALIDATION_FAILED', 'consecutiveExempted must be a non-negative integer', { field: 'lowValueCounters.consecutiveExempted' });
  }
  if (!Number.isSafeInteger(cumulativeEurMinor) || cumulativeEurMinor < 0) {
    throw new ObolError('VALIDATION_FAILED', 'cumulativeEurMinor must be a non-negative integer', { field: 'lowValueCounters.cumulativeEurMinor' });
  }

  const reasons: string[] = [];
  const acquirerRegime = scaRegimeOf(acquirerCountry);
  if (acquirerRegime === null) {
    reasons.push(`acquirer country ${acquirerCountry} is outside the EEA and the UK: SCA does not apply`);
    return { outcome: 'not_in_scope', reasons };
  }
  reasons.push(`acquirer country ${acquirerCountry} is in the ${acquirerRegime.toUpperCase()} SCA regime`);

  if (issuerCountry === null) {
    // Unknown is treated as in scope: a missed authentication costs a soft decline and a second
    // round-trip; an unnecessary one costs some conversion. The safer error is to ask.
    reasons.push('issuer country unknown: treated as in scope');
  } else {
    const issuerRegime = scaRegimeOf(issuerCountry);
    if (issuerRegime !== acquirerRegime) {
      reasons.push(`issuer country ${issuerCountry} is outside the acquirer's regime: one leg out, authentication is best effort`);
      return { outcome: 'not_in_scope', reasons };
    }
    reasons.push(`issuer country ${issuerCountry} is in the same regime`);
  }

  if (initiator === 'merchant') {
    reasons.push('merchant-initiated (off-session, under a mandate the customer authenticated): exempt');
    return { outcome: 'exempt', exemption: 'merchant_initiated', reasons };
  }
  reasons.push('customer-initiated');

  switch (recurring.kind) {
    case 'fixed_amount_subsequent':
      reasons.push('a later payment of a fixed-amount recurring series (RTS art. 14): exempt');
      return { outcome: 'exempt', exemption: 'fixed_amount_recurring', reasons };
    case 'variable':
      reasons.push('variable-amount recurring: no recurring exemption');
      break;
    case 'none':
      break;
    default: {
      const unreachable: never = recurring.kind;
      throw new Error(`unknown recurring kind ${String(unreachable)}`);
    }
  }

  const lowValue = lowValueCheck(amount, amountInEur, lowValueCounters);
  reasons.push(lowValue.reason);
  if (lowValue.exempt) return { outcome: 'exempt', exemption: 'low_value', reasons };

  reasons.push('no exemption applies: authentication required');
  return { outcome: 'required', reasons };
}

/**
 * RTS art. 16 lets the issuer track either "at most 5 in a row" or "at most EUR 100 in total"
 * since the last authentication; a merchant cannot know which, so both must hold. The counters
 * count payments before this one, so this payment may be the 5th but not the 6th, and the
 * total including this payment may reach EUR 100.00 but not exceed it.
 */
function lowValueCheck(amount: Money, amountInEur: Money | null, counters: LowValueCounters): { readonly exempt: boolean; readonly reason: string } {
  if (amountInEur === null) return { exempt: false, reason: `no EUR conversion for ${amount.currency}: low-value exemption not applicable` };
  const eur = amountInEur.amount;
  if (eur > LOW_VALUE_MAX_EUR_MINOR) return { exempt: false, reason: `EUR ${eur} cents exceeds the low-value limit of ${LOW_VALUE_MAX_EUR_MINOR}` };
  const nth = counters.consecutiveExempted + 1;
  if (nth > LOW_VALUE_MAX_CONSECUTIVE) {
    return { exempt: false, reason: `would be low-value exemption number ${nth} in a row (limit ${LOW_VALUE_MAX_CONSECUTIVE})` };
  }
  const cumulative = counters.cumulativeEurMinor + eur;
  if (cumulative > LOW_VALUE_CUMULATIVE_MAX_EUR_MINOR) {
    return { exempt: false, reason: `cumulative low-value total would be EUR ${cumulative} cents (limit ${LOW_VALUE_CUMULATIVE_MAX_EUR_MINOR})` };
  }
  return { exempt: true, reason: `low value: EUR ${eur} cents, exemption ${nth} of ${LOW_VALUE_MAX_CONSECUTIVE}, cumulative EUR ${cumulative} cents: exempt` };
}

/**
 * Issuer response codes meaning "authenticate the customer and try again" (the SCA soft
 * decline): Visa and Mastercard `1A`, Mastercard's `65` when used for SCA, and gateways' own
 * names. The connector should classify such a decline as `customer_action` (start a challenge),
 * which also stops failover: another acquirer would get the same answer.
 */
export const AUTHENTICATION_REQUIRED_DECLINE_CODES = ['authentication_required', 'authentication_failed', '1A', '65', 'sca_required'] as const;

export function declineNeedsAuthentication(code: string): boolean {
  return (AUTHENTICATION_REQUIRED_DECLINE_CODES as readonly string[]).includes(code);
}
