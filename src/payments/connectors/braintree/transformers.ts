/**
 * Pure request/response mapping for Braintree: Money to Braintree's decimal strings and back,
 * the SDK's loosely typed results to narrow types, and Braintree's processor responses, gateway
 * rejections and validation errors to Obol's outcomes, normalized decline reasons and classes.
 * No I/O here, so every mapping is testable as a table.
 */
import { createHash } from 'node:crypto';
import { currencyExponent, fromDecimalString, parseCurrency, toDecimalString, type Money } from '../../../money/index.js';
import type { ThreeDsOutcome } from '../../sca/decide.js';
import type { AuthenticationRequest, AuthorizeOutcome, AuthorizedDetails, CaptureOutcome, Decline, DeclineClass, RefundOutcome, VoidOutcome } from '../port.js';

/** The SDK answered with something we cannot read: for Obol that is the same as no answer. */
export class UnreadableBraintreeResponse extends Error {
  override readonly name = 'UnreadableBraintreeResponse';
}

// ---- narrow views of the SDK's results -------------------------------------------------------

export interface BtTransaction {
  readonly id: string;
  readonly type: string;
  readonly status: string;
  readonly amount: string;
  readonly currencyIsoCode: string;
  readonly orderId: string | null;
  readonly processorResponseCode: string | null;
  readonly processorResponseText: string | null;
  readonly processorResponseType: string | null;
  readonly gatewayRejectionReason: string | null;
  /** `threeDSecureInfo.status`, e.g. `challenge_required`, `authenticate_failed`. */
  readonly threeDSecureStatus: string | null;
  /** `threeDSecureInfo.lookup.transStatus`: the issuer's EMV 3DS answer to the lookup (`Y` there means no challenge was needed). */
  readonly threeDSecureLookupTransStatus: string | null;
  /** `creditCard.token`: the vaulted payment method the sale used or stored. */
  readonly creditCardToken: string | null;
  readonly refundedTransactionId: string | null;
}

export interface BtValidationError {
  readonly code: string;
  readonly attribute: string;
  readonly message: string;
}

/** What one write call answered: a transaction (success) or an error response, which may still carry a transaction (declines). */
export type BtResult =
  | { readonly kind: 'transaction'; readonly transaction: BtTransaction }
  | { readonly kind: 'error'; readonly message: string; readonly transaction: BtTransaction | null; readonly errors: readonly BtValidationError[] };

type Loose = Readonly<Record<string, unknown>>;
const isRecord = (v: unknown): v is Loose => typeof v === 'object' && v !== null;
const optString = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : typeof v === 'number' ? String(v) : null);
function reqString(record: Loose, key: string): string {
  const value = optString(record[key]);
  if (value === null) throw new UnreadableBraintreeResponse(`transaction without ${key}`);
  return value;
}

export function readTransaction(raw: unknown): BtTransaction {
  if (!isRecord(raw)) throw new UnreadableBraintreeResponse('transaction is not an object');
  const tds = raw.threeDSecureInfo;
  const lookup = isRecord(tds) ? tds.lookup : undefined;
  const card = raw.creditCard;
  return {
    id: reqString(raw, 'id'),
    type: reqString(raw, 'type'),
    status: reqString(raw, 'status'),
    amount: reqString(raw, 'amount'),
    currencyIsoCode: reqString(raw, 'currencyIsoCode'),
    orderId: optString(raw.orderId),
    processorResponseCode: optString(raw.processorResponseCode),
    processorResponseText: optString(raw.processorResponseText),
    processorResponseType: optString(raw.processorResponseType),
    gatewayRejectionReason: optString(raw.gatewayRejectionReason),
    threeDSecureStatus: isRecord(tds) ? optString(tds.status) : null,
    threeDSecureLookupTransStatus: isRecord(lookup) ? optString(lookup.transStatus) : null,
    creditCardToken: isRecord(card) ? optString(card.token) : null,
    refundedTransactionId: optString(raw.refundedTransactionId),
  };
}

/** ValidationErrorsCollection exposes every nested error through deepErrors(). */
function readValidationErrors(collection: unknown): BtValidationError[] {
  const errors: BtValidationError[] = [];
  const deep = isRecord(collection) && typeof collection.deepErrors === 'function' ? (collection.deepErrors as () => unknown)() : [];
  if (Array.isArray(deep)) {
    for (const e of deep) if (isRecord(e)) errors.push({ code: optString(e.code) ?? 'unknown', attribute: optString(e.attribute) ?? 'base', message: optString(e.message) ?? '' });
  }
  return errors;
}

/** Reads a `ValidatedResponse<Transaction>` (success) or `ErrorResponse` (failure) from the SDK. */
export function readResult(raw: unknown): BtResult {
  if (!isRecord(raw)) throw new UnreadableBraintreeResponse('response is not an object');
  if (raw.success === true) return { kind: 'transaction', transaction: readTransaction(raw.transaction) };
  if (raw.success !== false) throw new UnreadableBraintreeResponse('response without success flag');
  return {
    kind: 'error',
    message: optString(raw.message) ?? 'Braintree error',
    transaction: raw.transaction === undefined || raw.transaction === null ? null : readTransaction(raw.transaction),
    errors: readValidationErrors(raw.errors),
  };
}

/** A vaulted payment method as `paymentMethod.find` or `paymentMethod.create` answers it (a CreditCard, PayPalAccount, ...). */
export interface BtVaultedMethod {
  readonly token: string;
  readonly customerId: string | null;
}

export function readVaultedMethod(raw: unknown): BtVaultedMethod {
  if (!isRecord(raw)) throw new UnreadableBraintreeResponse('payment method is not an object');
  return { token: reqString(raw, 'token'), customerId: optString(raw.customerId) };
}

/** The card verification Braintree ran while vaulting (`options.verifyCard`). */
export interface BtVerification {
  readonly status: string;
  readonly processorResponseCode: string | null;
  readonly processorResponseText: string | null;
  readonly processorResponseType: string | null;
  readonly gatewayRejectionReason: string | null;
}

export type BtPaymentMethodResult =
  | { readonly kind: 'saved'; readonly method: BtVaultedMethod }
  /** Vaulting refused because the card failed verification; nothing was stored. */
  | { readonly kind: 'verification_failed'; readonly message: string; readonly verification: BtVerification }
  | { readonly kind: 'error'; readonly message: string; readonly errors: readonly BtValidationError[] };

export function readPaymentMethodResult(raw: unknown): BtPaymentMethodResult {
  if (!isRecord(raw)) throw new UnreadableBraintreeResponse('response is not an object');
  if (raw.success === true) return { kind: 'saved', method: readVaultedMethod(raw.paymentMethod) };
  if (raw.success !== false) throw new UnreadableBraintreeResponse('response without success flag');
  const message = optString(raw.message) ?? 'Braintree error';
  const v = raw.verification;
  if (isRecord(v) && optString(v.status) !== null) {
    return {
      kind: 'verification_failed',
      message,
      verification: {
        status: reqString(v, 'status'),
        processorResponseCode: optString(v.processorResponseCode),
        processorResponseText: optString(v.processorResponseText),
        processorResponseType: optString(v.processorResponseType),
        gatewayRejectionReason: optString(v.gatewayRejectionReason),
      },
    };
  }
  return { kind: 'error', message, errors: readValidationErrors(raw.errors) };
}

/** `customer.create`'s answer: only whether it worked, and why not. */
export type BtCustomerResult = { readonly kind: 'created' } | { readonly kind: 'error'; readonly message: string; readonly errors: readonly BtValidationError[] };

export function readCustomerResult(raw: unknown): BtCustomerResult {
  if (!isRecord(raw)) throw new UnreadableBraintreeResponse('response is not an object');
  if (raw.success === true) return { kind: 'created' };
  if (raw.success !== false) throw new UnreadableBraintreeResponse('response without success flag');
  return { kind: 'error', message: optString(raw.message) ?? 'Braintree error', errors: readValidationErrors(raw.errors) };
}

// ---- amounts --------------------------------------------------------------------------------

/** "19.99" for 1999 USD, "500" for 500 JPY, "1.250" for 1250 KWD: exact, from minor units, no floats. */
export function toBraintreeAmount(amount: Money): string {
  return toDecimalString(amount);
}

/** Braintree may pad amounts with zeros past the currency's exponent ("500.00" JPY); anything else non-zero there is unreadable. */
export function fromBraintreeAmount(value: string, currencyIsoCode: string): Money {
  const currency = parseCurrency(currencyIsoCode);
  if (currency === undefined) throw new UnreadableBraintreeResponse(`unknown currency ${currencyIsoCode}`);
  const exp = currencyExponent(currency);
  const m = /^(\d+)(?:\.(\d+))?$/.exec(value);
  if (!m) throw new UnreadableBraintreeResponse(`unreadable amount ${value}`);
  const fraction = m[2] ?? '';
  if (/[^0]/.test(fraction.slice(exp))) throw new UnreadableBraintreeResponse(`amount ${value} has more precision than ${currencyIsoCode}`);
  const trimmed = fraction.slice(0, exp);
  const parsed = fromDecimalString(trimmed.length > 0 ? `${m[1]}.${trimmed}` : (m[1] ?? ''), currency);
  if (parsed === undefined) throw new UnreadableBraintreeResponse(`unreadable amount ${value}`);
  return parsed;
}

const amountOf = (t: BtTransaction): Money => fromBraintreeAmount(t.amount, t.currencyIsoCode);

// ---- processor responses ----------------------------------------------------------------------

interface ProcessorEntry {
  readonly reason: string;
  readonly declineClass: DeclineClass;
}

/**
 * Braintree's documented processor-response codes (2000–3000) with their soft/hard labels. Soft
 * means Braintree says a later attempt may succeed; hard means do not retry this card. Codes
 * that ask the cardholder to authenticate are customer_action. Codes not listed fall back to the
 * `processorResponseType` Braintree sends with the transaction, then to hard.
 */
export const PROCESSOR_RESPONSES: Readonly<Record<string, ProcessorEntry>> = {
  '2000': { reason: 'do_not_honor', declineClass: 'soft' },
  '2001': { reason: 'insufficient_funds', declineClass: 'soft' },
  '2002': { reason: 'limit_exceeded', declineClass: 'soft' },
  '2003': { reason: 'limit_exceeded', declineClass: 'soft' },
  '2004': { reason: 'expired_card', declineClass: 'hard' },
  '2005': { reason: 'incorrect_number', declineClass: 'hard' },
  '2006': { reason: 'invalid_expiry_date', declineClass: 'hard' },
  '2007': { reason: 'invalid_account', declineClass: 'hard' },
  '2008': { reason: 'incorrect_number', declineClass: 'hard' },
  '2009': { reason: 'invalid_account', declineClass: 'hard' },
  '2010': { reason: 'incorrect_cvc', declineClass: 'hard' },
  '2011': { reason: 'call_issuer', declineClass: 'hard' },
  '2012': { reason: 'lost_card', declineClass: 'hard' },
  '2013': { reason: 'stolen_card', declineClass: 'hard' },
  '2014': { reason: 'fraudulent', declineClass: 'hard' },
  '2015': { reason: 'transaction_not_allowed', declineClass: 'hard' },
  '2016': { reason: 'duplicate_transaction', declineClass: 'soft' },
  '2017': { reason: 'stop_payment_order', declineClass: 'hard' },
  '2018': { reason: 'stop_payment_order', declineClass: 'hard' },
  '2019': { reason: 'invalid_transaction', declineClass: 'hard' },
  '2038': { reason: 'generic_decline', declineClass: 'soft' },
  '2041': { reason: 'call_issuer', declineClass: 'hard' },
  '2043': { reason: 'call_issuer', declineClass: 'hard' },
  // "Declined – Call Issuer": the issuer gives no reason, so Obol treats it as a generic, final decline.
  '2044': { reason: 'generic_decline', declineClass: 'hard' },
  '2046': { reason: 'generic_decline', declineClass: 'soft' },
  '2047': { reason: 'pickup_card', declineClass: 'hard' },
  '2053': { reason: 'lost_card', declineClass: 'hard' },
  '2057': { reason: 'restricted_card', declineClass: 'soft' },
  '2099': { reason: 'authentication_required', declineClass: 'customer_action' },
  '3000': { reason: 'processing_error', declineClass: 'soft' },
};

export function classifyProcessorResponse(code: string, processorResponseType: string | null): ProcessorEntry {
  const known = PROCESSOR_RESPONSES[code];
  if (known) return known;
  if (processorResponseType === 'soft_declined') return { reason: 'generic_decline', declineClass: 'soft' };
  return { reason: code.startsWith('3') ? 'processing_error' : 'generic_decline', declineClass: code.startsWith('3') ? 'soft' : 'hard' };
}

/** Braintree's own (pre-processor) rejections. */
export const GATEWAY_REJECTIONS: Readonly<Record<string, ProcessorEntry>> = {
  // Braintree refused because an identical sale just went through: retrying would be refused again, and must not charge twice.
  duplicate: { reason: 'duplicate_transaction', declineClass: 'hard' },
  fraud: { reason: 'fraudulent', declineClass: 'hard' },
  risk_threshold: { reason: 'fraudulent', declineClass: 'hard' },
  cvv: { reason: 'incorrect_cvc', declineClass: 'customer_action' },
  avs: { reason: 'incorrect_address', declineClass: 'customer_action' },
  avs_and_cvv: { reason: 'incorrect_address', declineClass: 'customer_action' },
  three_d_secure: { reason: 'authentication_required', declineClass: 'customer_action' },
  token_issuance: { reason: 'processing_error', declineClass: 'soft' },
  excessive_retry: { reason: 'excessive_retry', declineClass: 'hard' },
  application_incomplete: { reason: 'invalid_request', declineClass: 'hard' },
};

/** What a refused transaction or card verification says about why. */
export type BtRefusal = Pick<BtTransaction, 'status' | 'processorResponseCode' | 'processorResponseText' | 'processorResponseType' | 'gatewayRejectionReason'>;

/** The decline a non-approved transaction (or a failed card verification, which has the same fields and statuses) stands for. */
export function transactionDecline(t: BtRefusal, message: string | null): Decline {
  if (t.status === 'gateway_rejected') {
    const reason = t.gatewayRejectionReason ?? 'unknown';
    const entry = GATEWAY_REJECTIONS[reason] ?? { reason: 'generic_decline', declineClass: 'hard' };
    return { code: `gateway_rejected:${reason}`, ...entry, message: message ?? `Gateway Rejected: ${reason}` };
  }
  const code = t.processorResponseCode ?? (t.status === 'failed' ? '3000' : '2000');
  // A `failed` transaction never got an answer from the processor: Braintree's own advice is to try again.
  const entry = t.status === 'failed' ? { reason: 'processing_error', declineClass: 'soft' as const } : classifyProcessorResponse(code, t.processorResponseType);
  return { code, ...entry, message: t.processorResponseText ?? message ?? t.status };
}

/** Validation error codes (Braintree 8xxxx/9xxxx) to Obol reasons; all are hard: resending the same request cannot succeed. */
const VALIDATION_REASONS: Readonly<Record<string, string>> = {
  '81503': 'invalid_amount',
  '81531': 'invalid_amount',
  '91504': 'invalid_state',
  '91505': 'invalid_state',
  '91506': 'charge_not_captured',
  '91507': 'invalid_state',
  '91508': 'invalid_payment_method',
  '91513': 'currency_not_supported',
  '91518': 'invalid_payment_method',
  '91521': 'amount_too_large',
  '91522': 'amount_too_large',
  '91565': 'invalid_payment_method',
  '91564': 'invalid_payment_method',
  '91510': 'invalid_customer',
  '93105': 'invalid_customer',
  '93107': 'invalid_payment_method',
  '93108': 'invalid_payment_method',
  '93102': 'invalid_payment_method',
};

export function validationDecline(errors: readonly BtValidationError[], message: string): Decline {
  const first = errors[0];
  if (!first) return { code: 'validation_error', reason: 'invalid_request', declineClass: 'hard', message };
  return { code: first.code, reason: VALIDATION_REASONS[first.code] ?? 'invalid_request', declineClass: 'hard', message: first.message || message };
}

export const resourceMissing = (reference: string): Decline => ({ code: 'not_found', reason: 'resource_missing', declineClass: 'hard', message: `Braintree has no transaction ${reference}` });

// ---- outcomes -------------------------------------------------------------------------------

export interface ThreeDSecureOptions {
  /** Obol's page that runs Braintree's client-side 3-D Secure (verifyCard) and authorizes the new nonce; absent: a 3DS rejection is a customer_action decline. */
  readonly threeDSecureUrl?: string;
}

/**
 * Braintree's `threeDSecureInfo.status` values, by what they mean for the cardholder. A success
 * status alone does not say whether the issuer challenged (Braintree reports a frictionless 3DS2
 * authentication as `authenticate_successful` too), so `lookup.transStatus` decides: `Y` at
 * lookup is the EMV 3DS frictionless answer. Statuses not listed (new ones, or `challenge_required`
 * on a sale that went through anyway) are left out rather than guessed.
 */
const THREE_DS_SUCCESS = new Set(['authenticate_successful', 'authenticate_frictionless']);
const THREE_DS_STATUSES: Readonly<Record<string, ThreeDsOutcome>> = {
  // An attempts server stood in for an issuer without an ACS: no cardholder interaction, liability shifted.
  authenticate_attempt_successful: 'frictionless',
  authenticate_failed: 'failed',
  authenticate_frictionless_failed: 'failed',
  authenticate_rejected: 'failed',
  authenticate_signature_verification_failed: 'failed',
  authenticate_failed_acs_error: 'failed',
  authenticate_unable_to_authenticate: 'not_attempted',
  authenticate_error: 'not_attempted',
  authenticate_unavailable: 'not_attempted',
  authentication_unavailable: 'not_attempted',
  authentication_bypassed: 'not_attempted',
  lookup_not_enrolled: 'not_attempted',
  lookup_bypassed: 'not_attempted',
  lookup_error: 'not_attempted',
  lookup_card_error: 'not_attempted',
  lookup_failed_acs_error: 'not_attempted',
  skipped_due_to_rule: 'not_attempted',
  unsupported_card: 'not_attempted',
  unsupported_account_type: 'not_attempted',
  unsupported_three_d_secure_version: 'not_attempted',
};

export function threeDsOutcomeOf(t: Pick<BtTransaction, 'threeDSecureStatus' | 'threeDSecureLookupTransStatus'>): ThreeDsOutcome | undefined {
  const status = t.threeDSecureStatus;
  if (status === null) return undefined;
  if (THREE_DS_SUCCESS.has(status)) return status === 'authenticate_frictionless' || t.threeDSecureLookupTransStatus === 'Y' ? 'frictionless' : 'challenge';
  return THREE_DS_STATUSES[status];
}

/** What an approved sale tells beyond its amount: 3-D Secure as reported, and the vaulted token when the sale was asked to store it. */
function authorizedDetails(t: BtTransaction): AuthorizedDetails {
  const threeDSecure = threeDsOutcomeOf(t);
  const saved = isVaultingSale(t) ? t.creditCardToken : null;
  return { ...(threeDSecure === undefined ? {} : { threeDSecure }), ...(saved === null ? {} : { savedPaymentMethod: saved }) };
}

/**
 * An authorization's outcome read from its sale transaction. Braintree's 3-D Secure runs in the
 * client SDK before the sale, so the server can only learn that it was needed: a
 * `three_d_secure` rejection whose 3DS status asks for a challenge becomes `requires_action`
 * (when Obol has a page to run it), one whose authentication failed is a customer_action decline.
 * Off-session charges pass no page, so a 3DS rejection there is always that decline.
 */
export function authorizeOutcomeOf(t: BtTransaction, message: string | null, options: ThreeDSecureOptions): AuthorizeOutcome {
  switch (t.status) {
    case 'submitted_for_settlement':
    case 'settling':
    case 'settlement_pending':
    case 'settled':
      return { status: 'succeeded', reference: t.id, captured: amountOf(t), ...authorizedDetails(t) };
    case 'authorized':
    case 'authorizing':
    // A voided sale was an authorization when the authorize call answered; its void is another operation's outcome.
    case 'voided':
      return { status: 'requires_capture', reference: t.id, authorized: amountOf(t), ...authorizedDetails(t) };
    case 'gateway_rejected':
      if (t.gatewayRejectionReason === 'three_d_secure' && options.threeDSecureUrl !== undefined && t.threeDSecureStatus !== 'authenticate_failed') {
        const url = new URL(options.threeDSecureUrl);
        url.searchParams.set('transaction', t.id);
        return { status: 'requires_action', reference: t.id, action: { type: 'three_d_secure_challenge', challengeId: t.id, redirectUrl: url.toString() } };
      }
      return { status: 'declined', reference: t.id, decline: transactionDecline(t, message) };
    case 'processor_declined':
    case 'failed':
    case 'settlement_declined':
      return { status: 'declined', reference: t.id, decline: transactionDecline(t, message) };
    default:
      throw new UnreadableBraintreeResponse(`unknown transaction status ${t.status}`);
  }
}

export function authorizeOutcomeOfResult(result: BtResult, options: ThreeDSecureOptions): AuthorizeOutcome {
  if (result.kind === 'transaction') return authorizeOutcomeOf(result.transaction, null, options);
  if (result.transaction) return authorizeOutcomeOf(result.transaction, result.message, options);
  return { status: 'declined', reference: null, decline: validationDecline(result.errors, result.message) };
}

export function captureOutcomeOfResult(result: BtResult): CaptureOutcome {
  if (result.kind === 'error') return { status: 'declined', decline: result.transaction && result.errors.length === 0 ? transactionDecline(result.transaction, result.message) : validationDecline(result.errors, result.message) };
  return { status: 'succeeded', captured: amountOf(result.transaction) };
}

export function captureOutcomeOf(t: BtTransaction): CaptureOutcome {
  return { status: 'succeeded', captured: amountOf(t) };
}

export function voidOutcomeOfResult(result: BtResult): VoidOutcome {
  return result.kind === 'error' ? { status: 'declined', decline: validationDecline(result.errors, result.message) } : { status: 'succeeded' };
}

export function refundOutcomeOf(credit: BtTransaction, message: string | null): RefundOutcome {
  switch (credit.status) {
    case 'submitted_for_settlement':
    case 'settling':
    case 'settlement_pending':
    case 'settled':
    case 'authorized':
      return { status: 'succeeded', reference: credit.id };
    case 'authorizing':
      return { status: 'processing', reference: credit.id };
    default:
      return { status: 'declined', decline: transactionDecline(credit, message) };
  }
}

export function refundOutcomeOfResult(result: BtResult): RefundOutcome {
  if (result.kind === 'transaction') return refundOutcomeOf(result.transaction, null);
  if (result.transaction && result.errors.length === 0) return refundOutcomeOf(result.transaction, result.message);
  return { status: 'declined', decline: validationDecline(result.errors, result.message) };
}

// ---- idempotency keys in orderId ------------------------------------------------------------

/**
 * Braintree's Node SDK has no idempotency header, so Obol's key travels in `orderId` (searchable,
 * up to 255 characters). A sale's orderId is its authorize key, followed by `|vault` when the
 * sale was asked to store the payment method (so a replay or `retrieve` knows whether to report
 * the vaulted token: a sale on an already vaulted token carries a token too). A capture appends
 * `|cap:<digest of the capture key>` (submitForSettlement may update orderId), so the sale stays
 * findable by its authorize key (prefix search) and the capture by its own (suffix search). The
 * digest keeps the suffix at a fixed 45 characters whatever the key's length, so an authorize key
 * of up to 204 characters always fits. An off-session charge's orderId is its key followed by
 * `|mit` (never captured later: it settles at once), so `retrieve` tells it apart from an
 * authorization. A refund is a credit transaction of its own, whose orderId is the refund key.
 */
export const CAPTURE_MARK = '|cap:';
export const VAULT_MARK = '|vault';
export const OFF_SESSION_MARK = '|mit';

export const captureSuffix = (captureKey: string): string => `${CAPTURE_MARK}${createHash('sha256').update(captureKey).digest('hex').slice(0, 40)}`;

export const saleOrderId = (key: string, storeInVault: boolean): string => (storeInVault ? `${key}${VAULT_MARK}` : key);
export const offSessionOrderId = (key: string): string => `${key}${OFF_SESSION_MARK}`;

const hasBase = (orderId: string, base: string): boolean => orderId === base || orderId.startsWith(`${base}${CAPTURE_MARK}`);

export const isSaleForKey = (t: BtTransaction, key: string): boolean =>
  t.type === 'sale' && t.orderId !== null && (hasBase(t.orderId, key) || hasBase(t.orderId, `${key}${VAULT_MARK}`));

export const isOffSessionChargeForKey = (t: BtTransaction, key: string): boolean => t.type === 'sale' && t.orderId === offSessionOrderId(key);

function isVaultingSale(t: BtTransaction): boolean {
  if (t.orderId === null) return false;
  const cap = t.orderId.lastIndexOf(CAPTURE_MARK);
  const base = cap === -1 ? t.orderId : t.orderId.slice(0, cap);
  return base.endsWith(VAULT_MARK);
}

export const isCaptureForKey = (t: BtTransaction, key: string): boolean => t.type === 'sale' && t.orderId !== null && t.orderId.endsWith(captureSuffix(key));

export const isRefundForKey = (t: BtTransaction, key: string): boolean => t.type === 'credit' && t.orderId === key;

export const orderIdWithCapture = (t: BtTransaction, captureKey: string): string => `${t.orderId ?? ''}${captureSuffix(captureKey)}`;

// ---- requests -------------------------------------------------------------------------------

/**
 * Obol's authentication request as `transaction.sale` fields:
 * - `required` → `options.threeDSecure.required: true`: Braintree refuses the sale
 *   (gateway_rejected `three_d_secure`) unless the nonce carries a 3-D Secure authentication.
 * - `low_value` → `scaExemption: 'low_value'`, Braintree's own name for the PSD2 art. 16 exemption.
 * - `fixed_amount_recurring` → nothing. Braintree's `scaExemption` has no recurring value (its
 *   values are the acquirer-requested exemptions: low value, transaction risk analysis, ...), and
 *   the recurring flags of `transactionSource` describe who initiated the payment, not an
 *   exemption: `recurring` declares a merchant-initiated charge, which a customer-present
 *   authorization is not, and `recurring_first` the cardholder-initiated start of a series, which
 *   "after the first" is not. Sending either would misstate the transaction to the network, so the
 *   issuer decides as it would (the same as `gateway_default`).
 */
export function authenticationFields(authentication: AuthenticationRequest | undefined): { readonly fields: Readonly<Record<string, unknown>>; readonly options: Readonly<Record<string, unknown>> } {
  switch (authentication?.kind) {
    case 'required':
      return { fields: {}, options: { threeDSecure: { required: true } } };
    case 'exemption':
      return authentication.exemption === 'low_value' ? { fields: { scaExemption: 'low_value' }, options: {} } : { fields: {}, options: {} };
    case 'gateway_default':
    case undefined:
      return { fields: {}, options: {} };
    default: {
      const unreachable: never = authentication;
      throw new Error(`unknown authentication ${JSON.stringify(unreachable)}`);
    }
  }
}

/**
 * Braintree fields (customer ids, payment method tokens) take at most 36 letters, digits, `-` and
 * `_`. A digest keeps whatever Obol uses for the key or customer inside that, deterministically.
 */
const braintreeId = (kind: string, value: string): string => `obol_${createHash('sha256').update(`${kind}:${value}`).digest('hex').slice(0, 31)}`;

/** The Braintree customer that holds an Obol customer's vaulted payment methods. */
export const braintreeCustomerId = (customerId: string): string => braintreeId('customer', customerId);

/**
 * The token a save under this idempotency key vaults its payment method as. Braintree has no
 * idempotency key on `paymentMethod.create`, but it lets the merchant choose the token and refuses a
 * taken one, so a repeat of the same key finds (or collides with) the method the first call stored.
 */
export const savedMethodToken = (idempotencyKey: string): string => braintreeId('save', idempotencyKey);

export const TOKEN_IN_USE_CODES: ReadonlySet<string> = new Set([
  '91719', // CreditCard.TokenIsInUse
  '93503', // ApplePayCard.TokenIsInUse
  '92906', // PayPalAccount.TokenIsInUse
]);
export const CUSTOMER_ID_IN_USE = '91609';
/** Transaction.CustomerIdIsInvalid: the sale names a customer Braintree does not have. */
export const SALE_CUSTOMER_UNKNOWN = '91510';
/** PaymentMethod.CustomerIdIsInvalid. */
export const PAYMENT_METHOD_CUSTOMER_UNKNOWN = '93105';
