import { GraphQLError } from 'graphql';
import { isObolError, type ErrorCode, type ObolError } from '../../kernel/index.js';
import { databaseUnavailableError, isDatabaseUnavailable } from '../db/unavailable.js';

/**
 * Where a code lands when it must be expressed over HTTP (GraphQL itself answers 200 with errors;
 * the HTTP server and webhook routes use this). The switch is exhaustive: a new code does not
 * compile until it is placed here.
 */
export function httpStatusFor(code: ErrorCode): number {
  switch (code) {
    // The request itself is wrong, or asks for what the catalog or a coupon does not allow.
    case 'VALIDATION_FAILED':
    case 'INVALID_ID':
    case 'CARD_DATA_REFUSED':
    case 'PRICE_INACTIVE':
    case 'PRICE_NOT_AVAILABLE_IN_COUNTRY':
    case 'PRICE_NOT_RECURRING':
    case 'CURRENCY_MISMATCH':
    case 'INVALID_QUANTITY':
    case 'UNSUPPORTED_COUNTRY':
    case 'COUPON_EXPIRED':
    case 'COUPON_EXHAUSTED':
    case 'COUPON_ALREADY_REDEEMED':
    case 'COUPON_CURRENCY_MISMATCH':
    case 'CHECKOUT_SESSION_EXPIRED':
    case 'PAYMENT_METHOD_REQUIRED':
    case 'PAYMENT_ATTEMPTS_EXHAUSTED':
    case 'AMOUNT_INVALID':
    case 'AMOUNT_TOO_LARGE':
    case 'CAPTURE_EXCEEDS_AUTHORIZED':
    case 'REFUND_EXCEEDS_CAPTURED':
    case 'NO_ACTION_REQUIRED':
    case 'IDEMPOTENCY_KEY_REQUIRED':
    case 'TEST_CLOCK_ADVANCE_INVALID':
      return 400;
    case 'NOT_FOUND':
    case 'PRICE_NOT_FOUND':
    case 'COUPON_NOT_FOUND':
    case 'PAYMENT_METHOD_NOT_FOUND':
    case 'TEST_CLOCK_NOT_FOUND':
      return 404;
    case 'INPUT_TOO_LARGE':
      return 413;
    case 'UNAUTHENTICATED':
      return 401;
    case 'FORBIDDEN':
    case 'REFUND_LIMIT_EXCEEDED':
      return 403;
    case 'RATE_LIMITED':
    case 'CARD_TESTING_BLOCKED':
      return 429;
    // The state of the object (or of the key) conflicts with the request.
    case 'IDEMPOTENCY_KEY_REUSED':
    case 'IDEMPOTENCY_REQUEST_IN_PROGRESS':
    case 'CONCURRENT_MODIFICATION':
    case 'CHECKOUT_SESSION_NOT_OPEN':
    case 'ILLEGAL_STATE_TRANSITION':
    case 'SUBSCRIPTION_ALREADY_EXISTS':
    case 'SUBSCRIPTION_NOT_ACTIVE':
    case 'PLAN_CHANGE_NOT_ALLOWED':
    case 'INVOICE_NOT_PAYABLE':
    case 'INVOICE_PAYMENT_IN_PROGRESS':
    case 'TEST_CLOCK_IN_USE':
      return 409;
    case 'GATEWAY_UNAVAILABLE':
    case 'SERVICE_UNAVAILABLE':
      return 503;
    case 'INTERNAL':
      return 500;
    default: {
      // Unreachable for a typed code; an error path must not throw, so anything else is ours.
      const unhandled: never = code;
      void unhandled;
      return 500;
    }
  }
}

/**
 * The typed error behind `err`, looking through the wrappers GraphQL execution adds. A database
 * that cannot be reached is SERVICE_UNAVAILABLE: an outage, not a bug and not the caller's fault.
 */
export function findObolError(err: unknown): ObolError | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    if (isObolError(current)) return current;
    current = (current as { originalError?: unknown }).originalError;
  }
  return isDatabaseUnavailable(err) ? databaseUnavailableError() : undefined;
}

/** Turns a typed Obol error into a GraphQL error with a stable `extensions.code`. */
export function toGraphQLError(err: unknown): GraphQLError | undefined {
  const typed = findObolError(err);
  if (!typed) return undefined;
  return new GraphQLError(typed.message, { extensions: { code: typed.code, ...(typed.details ? { details: typed.details } : {}) } });
}
