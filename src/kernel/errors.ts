/**
 * Stable error codes. The array is the single source of the `ErrorCode` union and of its runtime
 * guard; clients match on these strings, so a code is never renamed, only added.
 * Mapping to HTTP/GraphQL/gRPC happens at the edge (platform/http), never here.
 */
export const ERROR_CODES = [
  // caller mistakes
  'VALIDATION_FAILED',
  'INVALID_ID',
  'INPUT_TOO_LARGE',
  'CARD_DATA_REFUSED',
  'NOT_FOUND',
  'PRICE_NOT_FOUND',
  'PRICE_INACTIVE',
  'PRICE_NOT_AVAILABLE_IN_COUNTRY',
  'CURRENCY_MISMATCH',
  'INVALID_QUANTITY',
  'UNSUPPORTED_COUNTRY',
  'COUPON_NOT_FOUND',
  'COUPON_EXPIRED',
  'COUPON_EXHAUSTED',
  'COUPON_ALREADY_REDEEMED',
  'COUPON_CURRENCY_MISMATCH',
  'CHECKOUT_SESSION_EXPIRED',
  'CHECKOUT_SESSION_NOT_OPEN',
  'PAYMENT_METHOD_REQUIRED',
  'PAYMENT_ATTEMPTS_EXHAUSTED',
  'ILLEGAL_STATE_TRANSITION',
  'AMOUNT_INVALID',
  'AMOUNT_TOO_LARGE',
  'CAPTURE_EXCEEDS_AUTHORIZED',
  'REFUND_EXCEEDS_CAPTURED',
  'NO_ACTION_REQUIRED',
  'IDEMPOTENCY_KEY_REQUIRED',
  'IDEMPOTENCY_KEY_REUSED',
  'IDEMPOTENCY_REQUEST_IN_PROGRESS',
  'PRICE_NOT_RECURRING',
  'SUBSCRIPTION_NOT_ACTIVE',
  'SUBSCRIPTION_ALREADY_EXISTS',
  'PLAN_CHANGE_NOT_ALLOWED',
  'INVOICE_NOT_PAYABLE',
  'INVOICE_PAYMENT_IN_PROGRESS',
  'PAYMENT_METHOD_NOT_FOUND',
  'TEST_CLOCK_NOT_FOUND',
  'TEST_CLOCK_ADVANCE_INVALID',
  'TEST_CLOCK_IN_USE',
  // who is calling and what they may do
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'REFUND_LIMIT_EXCEEDED',
  'RATE_LIMITED',
  'CARD_TESTING_BLOCKED',
  // not the caller's fault
  'GATEWAY_UNAVAILABLE',
  'CONCURRENT_MODIFICATION',
  'SERVICE_UNAVAILABLE',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

export type ErrorDetails = Readonly<Record<string, string | number | boolean | null>>;

/** An error whose code a caller can rely on. Thrown by use cases; mapped at the edge. */
export class ObolError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails | undefined;

  constructor(code: ErrorCode, message: string, details?: ErrorDetails) {
    super(message);
    this.name = 'ObolError';
    this.code = code;
    this.details = details;
  }
}

export function isObolError(err: unknown): err is ObolError {
  return err instanceof ObolError;
}
