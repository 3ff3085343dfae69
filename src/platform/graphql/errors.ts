import { GraphQLError } from 'graphql';
import { isObolError, type ErrorCode, type ObolError } from '../../kernel/index.js';

/** Where a code lands when it must be expressed over HTTP (GraphQL itself answers 200 with errors). */
export function httpStatusFor(code: ErrorCode): number {
  switch (code) {
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
    case 'IDEMPOTENCY_KEY_REUSED':
    case 'IDEMPOTENCY_REQUEST_IN_PROGRESS':
    case 'CONCURRENT_MODIFICATION':
    case 'CHECKOUT_SESSION_NOT_OPEN':
    case 'ILLEGAL_STATE_TRANSITION':
    case 'SUBSCRIPTION_ALREADY_EXISTS':
    case 'TEST_CLOCK_IN_USE':
      return 409;
    case 'GATEWAY_UNAVAILABLE':
    case 'SERVICE_UNAVAILABLE':
      return 503;
    case 'INTERNAL':
      return 500;
    default:
      return 400;
  }
}

/** The typed error behind `err`, looking through the wrappers GraphQL execution adds. */
export function findObolError(err: unknown): ObolError | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    if (isObolError(current)) return current;
    current = (current as { originalError?: unknown }).originalError;
  }
  return undefined;
}

/** Turns a typed Obol error into a GraphQL error with a stable `extensions.code`. */
export function toGraphQLError(err: unknown): GraphQLError | undefined {
  const typed = findObolError(err);
  if (!typed) return undefined;
  return new GraphQLError(typed.message, { extensions: { code: typed.code, ...(typed.details ? { details: typed.details } : {}) } });
}
