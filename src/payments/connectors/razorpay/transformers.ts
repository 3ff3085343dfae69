/**
 * Pure request/response mapping for the Razorpay connector (no I/O): Money to paise and back,
 * Obol's idempotency keys to Razorpay's receipt and refund-idempotency formats, payment-method
 * tokens, Razorpay's entities (parsed from untrusted JSON) to the port's outcomes, and Razorpay's
 * error reasons to Obol's normalized decline reasons and classes.
 */
import { createHash } from 'node:crypto';
import { money, parseCurrency, type Money } from '../../../money/index.js';
import type { AuthorizeOutcome, CaptureOutcome, Decline, DeclineClass, RefundOutcome } from '../port.js';

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
  };
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
  return { code: error['code'], description: text('description'), reason: text('reason'), source: text('source'), step: text('step') };
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
