/**
 * Pure request/response mapping for the Razorpay connector (no I/O): Money to paise and back,
 * Obol's idempotency keys to Razorpay's receipt and refund-idempotency formats, payment-method
 * tokens, Razorpay's entities (parsed from untrusted JSON) to the port's outcomes, and Razorpay's
 * error reasons to Obol's normalized decline reasons and classes.
 */
import { createHash } from 'node:crypto';
import { money, parseCurrency, type Money } from '../../../money/index.js';
import type { AuthorizeOutcome, CaptureOutcome, Decline, DeclineClass, RefundOutcome, SavePaymentMethodOutcome } from '../port.js';

/** The gateway's answer could not be understood: for Obol that is the same as no answer. */
export class UnreadableResponse extends Error {}

// ---- amounts --------------------------------------------------------------------------------

/**
 * Razorpay accounts settle in INR and Obol's Razorpay integration is INR-only (international
 * currencies need a separately enabled account and different settlement rules). Any other
 * currency is a hard decline `currency_not_supported` rather than an exception: it is a fact about
 * the request, so routing can pick another connector, and nothing is sent to Razorpay.
 */
export const RAZORPAY_CURRENCY = 'INR';

export const currencyNotSupported = (currency: string): Decline => ({
  code: 'currency_not_supported',
  reason: 'currency_not_supported',
  declineClass: 'hard',
  message: `Razorpay connector only supports ${RAZORPAY_CURRENCY}, not ${currency}`,
});

/** Obol's INR minor unit is the paisa, which is what Razorpay's `amount` fields carry. */
export function toPaise(amount: Money): number | Decline {
  if (amount.currency !== RAZORPAY_CURRENCY) return currencyNotSupported(amount.currency);
  return amount.amount;
}

export function fromPaise(amount: unknown, currency: unknown): Money {
  const code = typeof currency === 'string' ? parseCurrency(currency) : undefined;
  if (code === undefined || typeof amount !== 'number' || !Number.isSafeInteger(amount)) throw new UnreadableResponse(`unreadable amount ${String(amount)} ${String(currency)}`);
  return money(amount, code);
}

// ---- idempotency keys -----------------------------------------------------------------------

const digest = (key: string): string => createHash('sha256').update(key).digest('hex');

/**
 * The order's `receipt` names the Obol authorization, so `retrieve` can find it with
 * GET /v1/orders?receipt=…. Razorpay caps receipts at 40 characters, so longer keys are replaced
 * by a deterministic digest (the full key is also kept in the order's notes for humans).
 */
export function receiptFor(idempotencyKey: string): string {
  return idempotencyKey.length <= 40 ? idempotencyKey : `obol_${digest(idempotencyKey).slice(0, 35)}`;
}

/** `X-Refund-Idempotency` accepts ≥10 characters of [A-Za-z0-9_-]; other keys are digested deterministically. */
export function refundIdempotencyKeyFor(idempotencyKey: string): string {
  return /^[A-Za-z0-9_-]{10,200}$/.test(idempotencyKey) ? idempotencyKey : `obol_${digest(idempotencyKey)}`;
}

// ---- payment-method tokens ------------------------------------------------------------------

/**
 * Two payment-method token formats (never card data):
 * - `rzp:<payment_id>:<order_id>:<signature>`: the customer completed Razorpay Checkout for an
 *   order Obol created under this authorization's idempotency key (see `createCheckoutOrder`);
 *   the three parts are Checkout's `razorpay_payment_id`, `razorpay_order_id`, `razorpay_signature`.
 * - `rzp_sim:<scenario>`: test mode only. The order is created with `notes.obol_sim_scenario`
 *   and the local simulator plays Checkout at once; real Razorpay ignores the note and the
 *   authorization stays `processing` until the customer pays.
 */
export type RazorpayPaymentMethod =
  | { readonly kind: 'checkout'; readonly paymentId: string; readonly orderId: string; readonly signature: string }
  | { readonly kind: 'simulated'; readonly scenario: string };

export function parsePaymentMethod(token: string): RazorpayPaymentMethod | undefined {
  const checkout = /^rzp:(pay_[A-Za-z0-9]+):(order_[A-Za-z0-9]+):([0-9a-f]{64})$/.exec(token);
  if (checkout) return { kind: 'checkout', paymentId: checkout[1]!, orderId: checkout[2]!, signature: checkout[3]! };
  const simulated = /^rzp_sim:([a-z_]{1,40})$/.exec(token);
  if (simulated) return { kind: 'simulated', scenario: simulated[1]! };
  return undefined;
}

export const checkoutToken = (args: { readonly paymentId: string; readonly orderId: string; readonly signature: string }): string => `rzp:${args.paymentId}:${args.orderId}:${args.signature}`;

// ---- saved payment methods (Razorpay Customers + recurring Tokens) ----------------------------

/**
 * A saved payment method is a recurring token of a Razorpay customer, `<customer_id>:<token_id>`:
 * Razorpay's recurring-payment API needs both (and the customer's email and contact, read from the
 * customer when charging), and a token is only meaningful under the customer it was issued to.
 */
export interface RazorpaySavedMethod {
  readonly customerId: string;
  readonly tokenId: string;
}

export function parseSavedPaymentMethod(saved: string): RazorpaySavedMethod | undefined {
  const m = /^(cust_[A-Za-z0-9]{1,40}):(token_[A-Za-z0-9]{1,40})$/.exec(saved);
  return m ? { customerId: m[1]!, tokenId: m[2]! } : undefined;
}

export const savedPaymentMethodString = (saved: RazorpaySavedMethod): string => `${saved.customerId}:${saved.tokenId}`;

/** The recurring token a paid authorization transaction left, if it left one. */
export function savedMethodOf(payment: RazorpayPayment): RazorpaySavedMethod | undefined {
  if (payment.customerId === null || payment.tokenId === null) return undefined;
  if (payment.status !== 'authorized' && payment.status !== 'captured' && payment.status !== 'refunded') return undefined;
  return { customerId: payment.customerId, tokenId: payment.tokenId };
}

/**
 * What a save stands for, given the authorization transaction's payment: the token when Razorpay
 * issued one; the payment's own decline when it failed; otherwise a hard decline, because a
 * payment without a token was not made as a recurring authorization and retrying it cannot
 * create one.
 */
export function saveOutcome(payment: RazorpayPayment | undefined): SavePaymentMethodOutcome {
  if (payment === undefined || payment.status === 'created') {
    return { status: 'declined', decline: localDecline('checkout_incomplete', 'The customer has not completed the authorization transaction in Razorpay Checkout', 'customer_action') };
  }
  if (payment.status === 'failed') return { status: 'declined', decline: paymentDecline(payment) };
  const saved = savedMethodOf(payment);
  if (!saved) return { status: 'declined', decline: localDecline('payment_method_not_saved', 'The payment was not a recurring authorization, so Razorpay issued no token for it') };
  return { status: 'saved', savedPaymentMethod: savedPaymentMethodString(saved) };
}

/** Adds `savedPaymentMethod` to an authorization outcome when saving was asked for and the payment carries a token. */
export function withSavedMethod(outcome: AuthorizeOutcome, payment: RazorpayPayment | undefined, asked: boolean): AuthorizeOutcome {
  if (!asked || payment === undefined || (outcome.status !== 'succeeded' && outcome.status !== 'requires_capture')) return outcome;
  const saved = savedMethodOf(payment);
  return saved ? { ...outcome, savedPaymentMethod: savedPaymentMethodString(saved) } : outcome;
}

/** Who the customer is, as Razorpay's Customers API needs it (Obol's port carries only its own customer id). */
export interface RazorpayCustomerDetails {
  readonly name: string;
  readonly email: string;
  readonly contact: string;
}

/**
 * POST /v1/customers. `fail_existing: 0` makes it find-or-create: Razorpay answers with the
 * existing customer of the same details instead of an error, so a retried save cannot create a
 * second customer.
 */
export function customerCreateRequest(obolCustomerId: string, details: RazorpayCustomerDetails): { name: string; email: string; contact: string; fail_existing: 0; notes: Record<string, string> } {
  return { name: details.name, email: details.email, contact: details.contact, fail_existing: 0, notes: { obol_customer_id: obolCustomerId } };
}

/** Seconds in ten years, Razorpay's default (and our) validity of a card mandate. */
const TEN_YEARS_SECONDS = 10 * 365 * 24 * 60 * 60;

/**
 * The `token` settings of an authorization transaction on cards ("card recurring"): the mandate's
 * per-debit ceiling, its expiry, and `as_presented` so renewals of any interval can use it.
 */
export function cardMandate(maxAmountPaise: number, nowSeconds: number): { max_amount: number; expire_at: number; frequency: 'as_presented' } {
  return { max_amount: maxAmountPaise, expire_at: nowSeconds + TEN_YEARS_SECONDS, frequency: 'as_presented' };
}

/**
 * POST /v1/payments/create/recurring: a merchant-initiated debit of a confirmed token, against an
 * order created for this debit alone (so the order, found by receipt, is what makes it idempotent).
 */
export function recurringPaymentRequest(args: {
  readonly saved: RazorpaySavedMethod;
  /** The customer's email and contact as Razorpay holds them (both mandatory for a recurring payment). */
  readonly contactDetails: { readonly email: string; readonly contact: string };
  readonly orderId: string;
  readonly paise: number;
  readonly idempotencyKey: string;
  readonly description: string;
}): { email: string; contact: string; amount: number; currency: string; order_id: string; customer_id: string; token: string; recurring: '1'; description: string; notes: Record<string, string> } {
  return {
    email: args.contactDetails.email,
    contact: args.contactDetails.contact,
    amount: args.paise,
    currency: RAZORPAY_CURRENCY,
    order_id: args.orderId,
    customer_id: args.saved.customerId,
    token: args.saved.tokenId,
    recurring: '1',
    // Razorpay caps descriptions at 255 characters.
    description: args.description.slice(0, 255),
    notes: { obol_idempotency_key: args.idempotencyKey },
  };
}

/** The answer to POST /v1/payments/create/recurring: the ids Checkout would have returned. */
export function parseRecurringPaymentResponse(body: unknown): { readonly paymentId: string } {
  if (!isRecord(body) || typeof body['razorpay_payment_id'] !== 'string') throw new UnreadableResponse('expected razorpay_payment_id');
  return { paymentId: body['razorpay_payment_id'] };
}

/** Which Obol operation an order was created for (orders from before saved methods are authorizations). */
export type RazorpayOrderPurpose = 'authorize' | 'save_payment_method' | 'charge_off_session';
export const orderPurpose = (order: RazorpayOrder): RazorpayOrderPurpose => {
  const purpose = order.notes['obol_operation'];
  return purpose === 'save_payment_method' || purpose === 'charge_off_session' ? purpose : 'authorize';
};

// ---- entities (parsed, never trusted) -------------------------------------------------------

export interface RazorpayOrder {
  readonly id: string;
  readonly amount: number;
  readonly currency: string;
  readonly receipt: string | null;
  readonly status: string;
  readonly notes: Readonly<Record<string, string>>;
}

export interface RazorpayPayment {
  readonly id: string;
  readonly amount: number;
  readonly currency: string;
  readonly status: 'created' | 'authorized' | 'captured' | 'refunded' | 'failed';
  readonly orderId: string | null;
  readonly amountRefunded: number;
  readonly errorCode: string | null;
  readonly errorDescription: string | null;
  readonly errorReason: string | null;
  /** Set on payments made for a Razorpay customer (authorization transactions, recurring debits). */
  readonly customerId: string | null;
  /** The recurring token an authorization transaction created, or the one a recurring debit used. */
  readonly tokenId: string | null;
}

export interface RazorpayCustomer {
  readonly id: string;
  readonly email: string | null;
  readonly contact: string | null;
  readonly notes: Readonly<Record<string, string>>;
}

export interface RazorpayRefund {
  readonly id: string;
  readonly amount: number;
  readonly currency: string;
  readonly paymentId: string;
  readonly status: 'pending' | 'processed' | 'failed';
  readonly notes: Readonly<Record<string, string>>;
}

export interface RazorpayApiError {
  readonly code: string;
  readonly description: string;
  readonly reason: string;
  readonly source: string;
  readonly step: string;
  /** Razorpay names the payment (and order) a failed payment request created in `metadata`. */
  readonly paymentId: string | null;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function str(o: Record<string, unknown>, field: string): string {
  const v = o[field];
  if (typeof v !== 'string') throw new UnreadableResponse(`expected string ${field}`);
  return v;
}
function strOrNull(o: Record<string, unknown>, field: string): string | null {
  const v = o[field];
  if (v === null || v === undefined) return null;
  if (typeof v !== 'string') throw new UnreadableResponse(`expected string ${field}`);
  return v;
}
function int(o: Record<string, unknown>, field: string): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new UnreadableResponse(`expected integer ${field}`);
  return v;
}
function notes(v: unknown): Record<string, string> {
  // Razorpay sends empty notes as [] rather than {}.
  if (!isRecord(v)) return {};
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

export function parseOrder(body: unknown): RazorpayOrder {
  if (!isRecord(body) || body['entity'] !== 'order') throw new UnreadableResponse('expected an order');
  return { id: str(body, 'id'), amount: int(body, 'amount'), currency: str(body, 'currency'), receipt: strOrNull(body, 'receipt'), status: str(body, 'status'), notes: notes(body['notes']) };
}

const PAYMENT_STATUSES = ['created', 'authorized', 'captured', 'refunded', 'failed'] as const;

export function parsePayment(body: unknown): RazorpayPayment {
  if (!isRecord(body) || body['entity'] !== 'payment') throw new UnreadableResponse('expected a payment');
  const status = str(body, 'status');
  if (!(PAYMENT_STATUSES as readonly string[]).includes(status)) throw new UnreadableResponse(`unknown payment status ${status}`);
  return {
    id: str(body, 'id'),
    amount: int(body, 'amount'),
    currency: str(body, 'currency'),
    status: status as RazorpayPayment['status'],
    orderId: strOrNull(body, 'order_id'),
    amountRefunded: int(body, 'amount_refunded'),
    errorCode: strOrNull(body, 'error_code'),
    errorDescription: strOrNull(body, 'error_description'),
    errorReason: strOrNull(body, 'error_reason'),
    customerId: strOrNull(body, 'customer_id'),
    tokenId: strOrNull(body, 'token_id'),
  };
}

export function parseCustomer(body: unknown): RazorpayCustomer {
  if (!isRecord(body) || body['entity'] !== 'customer') throw new UnreadableResponse('expected a customer');
  return { id: str(body, 'id'), email: strOrNull(body, 'email'), contact: strOrNull(body, 'contact'), notes: notes(body['notes']) };
}

const REFUND_STATUSES = ['pending', 'processed', 'failed'] as const;

export function parseRefund(body: unknown): RazorpayRefund {
  if (!isRecord(body) || body['entity'] !== 'refund') throw new UnreadableResponse('expected a refund');
  const status = str(body, 'status');
  if (!(REFUND_STATUSES as readonly string[]).includes(status)) throw new UnreadableResponse(`unknown refund status ${status}`);
  return { id: str(body, 'id'), amount: int(body, 'amount'), currency: str(body, 'currency'), paymentId: str(body, 'payment_id'), status: status as RazorpayRefund['status'], notes: notes(body['notes']) };
}

export function parseCollection<T>(body: unknown, item: (x: unknown) => T): readonly T[] {
  if (!isRecord(body) || body['entity'] !== 'collection' || !Array.isArray(body['items'])) throw new UnreadableResponse('expected a collection');
  return body['items'].map(item);
}

/** Razorpay's `{ error: { code, description, source, step, reason, metadata } }`, or undefined if the body is something else. */
export function parseApiError(error: unknown): RazorpayApiError | undefined {
  if (!isRecord(error) || typeof error['code'] !== 'string') return undefined;
  const text = (f: string): string => (typeof error[f] === 'string' ? (error[f] as string) : 'NA');
  const metadata = error['metadata'];
  const paymentId = isRecord(metadata) && typeof metadata['payment_id'] === 'string' ? metadata['payment_id'] : null;
  return { code: error['code'], description: text('description'), reason: text('reason'), source: text('source'), step: text('step'), paymentId };
}

// ---- declines -------------------------------------------------------------------------------

/**
 * Razorpay's `error_reason` values and what they mean for Obol. Soft (retryable) only where the
 * same payment method can succeed later: a bank, gateway or Razorpay failure. Everything the
 * customer or the issuer decided is hard; authentication is for the customer to redo. A reason
 * missing from this table is treated as hard: an unknown reason must never cause blind retries.
 */
export const RAZORPAY_REASONS: Readonly<Record<string, { readonly reason: string; readonly declineClass: DeclineClass }>> = {
  // retryable
  gateway_technical_error: { reason: 'processing_error', declineClass: 'soft' },
  bank_technical_error: { reason: 'processing_error', declineClass: 'soft' },
  server_error: { reason: 'processing_error', declineClass: 'soft' },
  payment_timed_out: { reason: 'processing_error', declineClass: 'soft' },
  // non-retryable
  card_declined: { reason: 'generic_decline', declineClass: 'hard' },
  payment_failed: { reason: 'generic_decline', declineClass: 'hard' },
  insufficient_funds: { reason: 'insufficient_funds', declineClass: 'hard' },
  incorrect_card_details: { reason: 'invalid_payment_method', declineClass: 'hard' },
  card_expired: { reason: 'expired_card', declineClass: 'hard' },
  // the customer must act
  authentication_failed: { reason: 'authentication_required', declineClass: 'customer_action' },
  payment_cancelled: { reason: 'payment_cancelled', declineClass: 'customer_action' },
};

export function classifyReason(razorpayReason: string): { readonly reason: string; readonly declineClass: DeclineClass } {
  return RAZORPAY_REASONS[razorpayReason] ?? { reason: razorpayReason === 'NA' || razorpayReason.length === 0 ? 'generic_decline' : razorpayReason, declineClass: 'hard' };
}

export function paymentDecline(payment: RazorpayPayment): Decline {
  const { reason, declineClass } = classifyReason(payment.errorReason ?? 'NA');
  return { code: payment.errorReason ?? payment.errorCode ?? 'payment_failed', reason, declineClass, message: payment.errorDescription ?? 'Razorpay reported the payment as failed' };
}

/**
 * A 4xx answer from Razorpay's API (capture, refund, order) is a refusal of the request, so it is
 * a hard decline: Razorpay mostly reports these with reason `NA` or `input_validation_failed`,
 * and retrying the same request cannot change the answer.
 */
export function apiDecline(error: RazorpayApiError): Decline {
  const known = RAZORPAY_REASONS[error.reason];
  if (known) return { code: error.reason, ...known, message: error.description };
  return { code: error.code, reason: 'invalid_request', declineClass: 'hard', message: error.description };
}

export const localDecline = (code: string, message: string, declineClass: DeclineClass = 'hard'): Decline => ({ code, reason: code, declineClass, message });

// ---- outcomes -------------------------------------------------------------------------------

/**
 * A payment's state as an authorization outcome. `authorized` is `requires_capture` (the caller
 * captures when automatic capture was asked for); `created` means Checkout has not finished.
 */
export function paymentToAuthorizeOutcome(payment: RazorpayPayment): AuthorizeOutcome {
  switch (payment.status) {
    case 'captured':
    case 'refunded':
      return { status: 'succeeded', reference: payment.id, captured: fromPaise(payment.amount, payment.currency) };
    case 'authorized':
      return { status: 'requires_capture', reference: payment.id, authorized: fromPaise(payment.amount, payment.currency) };
    case 'created':
      return { status: 'processing', reference: payment.id };
    case 'failed':
      return { status: 'declined', reference: payment.id, decline: paymentDecline(payment) };
    default: {
      const unreachable: never = payment.status;
      throw new UnreadableResponse(`unknown payment status ${String(unreachable)}`);
    }
  }
}

/** Of an order's payments, the one that decides the authorization: a successful one if any, else the latest. */
export function decisivePayment(payments: readonly RazorpayPayment[]): RazorpayPayment | undefined {
  return payments.find((p) => p.status === 'captured' || p.status === 'refunded' || p.status === 'authorized') ?? payments[0];
}

export function captureOutcome(payment: RazorpayPayment): CaptureOutcome {
  if (payment.status !== 'captured' && payment.status !== 'refunded') throw new UnreadableResponse(`capture answered with payment status ${payment.status}`);
  return { status: 'succeeded', captured: fromPaise(payment.amount, payment.currency) };
}

export function refundOutcome(refund: RazorpayRefund): RefundOutcome {
  switch (refund.status) {
    case 'processed':
      return { status: 'succeeded', reference: refund.id };
    case 'pending':
      return { status: 'processing', reference: refund.id };
    case 'failed':
      return { status: 'declined', decline: localDecline('refund_failed', 'Razorpay could not process the refund', 'soft') };
    default: {
      const unreachable: never = refund.status;
      throw new UnreadableResponse(`unknown refund status ${String(unreachable)}`);
    }
  }
}
