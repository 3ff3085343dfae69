/**
 * Obol's typed errors at the gRPC edge. Every stable code maps to one gRPC status code (the
 * exhaustive switch below is the only table), and the Obol code travels with it twice:
 *
 *   - `grpc-status-details-bin`: a google.rpc.Status whose details hold one google.rpc.ErrorInfo
 *     { reason: <Obol code>, domain: "obol", metadata: <the error's details as strings> }, the
 *     richer-error-model convention that grpc-go, grpc-java and Envoy understand;
 *   - `obol-error-code`: the same code as plain trailing metadata, for clients without a
 *     google.rpc decoder.
 *
 * Anything that is not an ObolError is INTERNAL with a generic message: its text may hold
 * internals (SQL, hosts, stack traces), so it is logged and never sent.
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { create, toBinary } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { isObolError, type ErrorCode, type ErrorDetails } from '../../kernel/index.js';
import { databaseUnavailableError, isDatabaseUnavailable } from '../db/unavailable.js';
import { ErrorInfoSchema } from '../../gen/google/rpc/error_details_pb.js';
import { StatusSchema } from '../../gen/google/rpc/status_pb.js';

export const ERROR_DOMAIN = 'obol';
export const ERROR_CODE_TRAILER = 'obol-error-code';
export const STATUS_DETAILS_TRAILER = 'grpc-status-details-bin';

export function grpcStatusFor(code: ErrorCode): status {
  switch (code) {
    // The request itself is wrong, whatever the state of the system.
    case 'VALIDATION_FAILED':
    case 'INVALID_ID':
    case 'INPUT_TOO_LARGE':
    case 'CARD_DATA_REFUSED':
    case 'INVALID_QUANTITY':
    case 'CURRENCY_MISMATCH':
    case 'AMOUNT_INVALID':
    case 'AMOUNT_TOO_LARGE':
    case 'IDEMPOTENCY_KEY_REQUIRED':
      return status.INVALID_ARGUMENT;
    case 'NOT_FOUND':
    case 'PRICE_NOT_FOUND':
    case 'COUPON_NOT_FOUND':
    case 'PAYMENT_METHOD_NOT_FOUND':
    case 'TEST_CLOCK_NOT_FOUND':
      return status.NOT_FOUND;
    // Well-formed, but the state of a price, coupon, session or payment does not allow it now:
    // retrying the same request will not help until that state changes.
    case 'PRICE_INACTIVE':
    case 'PRICE_NOT_AVAILABLE_IN_COUNTRY':
    case 'UNSUPPORTED_COUNTRY':
    case 'COUPON_EXPIRED':
    case 'COUPON_EXHAUSTED':
    case 'COUPON_ALREADY_REDEEMED':
    case 'COUPON_CURRENCY_MISMATCH':
    case 'CHECKOUT_SESSION_EXPIRED':
    case 'CHECKOUT_SESSION_NOT_OPEN':
    case 'PAYMENT_METHOD_REQUIRED':
    case 'PAYMENT_ATTEMPTS_EXHAUSTED':
    case 'ILLEGAL_STATE_TRANSITION':
    case 'CAPTURE_EXCEEDS_AUTHORIZED':
    case 'REFUND_EXCEEDS_CAPTURED':
    case 'NO_ACTION_REQUIRED':
    case 'PRICE_NOT_RECURRING':
    case 'SUBSCRIPTION_NOT_ACTIVE':
    case 'PLAN_CHANGE_NOT_ALLOWED':
    case 'INVOICE_NOT_PAYABLE':
    case 'INVOICE_PAYMENT_IN_PROGRESS':
    case 'TEST_CLOCK_ADVANCE_INVALID':
    case 'TEST_CLOCK_IN_USE':
      return status.FAILED_PRECONDITION;
    case 'SUBSCRIPTION_ALREADY_EXISTS':
      return status.ALREADY_EXISTS;
    // The key names a different, earlier request: that request exists; this one is refused.
    case 'IDEMPOTENCY_KEY_REUSED':
      return status.ALREADY_EXISTS;
    // Lost a race with a concurrent request: retrying the whole call (same key) is right.
    case 'IDEMPOTENCY_REQUEST_IN_PROGRESS':
    case 'CONCURRENT_MODIFICATION':
      return status.ABORTED;
    case 'UNAUTHENTICATED':
      return status.UNAUTHENTICATED;
    case 'FORBIDDEN':
    case 'REFUND_LIMIT_EXCEEDED':
      return status.PERMISSION_DENIED;
    case 'RATE_LIMITED':
    case 'CARD_TESTING_BLOCKED':
      return status.RESOURCE_EXHAUSTED;
    case 'GATEWAY_UNAVAILABLE':
    case 'SERVICE_UNAVAILABLE':
      return status.UNAVAILABLE;
    case 'INTERNAL':
      return status.INTERNAL;
    default: {
      const unhandled: never = code;
      throw new Error(`no gRPC status for error code ${String(unhandled)}`);
    }
  }
}

/**
 * The use cases name fields as the TypeScript and GraphQL APIs spell them (`items[0].priceId`);
 * gRPC callers know the proto names (`items[0].price_id`).
 */
export function protoFieldName(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** ErrorInfo metadata is string to string; numbers, booleans and null are written as JSON. */
function metadataOf(details: ErrorDetails | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(details ?? {})) {
    const text = typeof v === 'string' ? v : JSON.stringify(v);
    out[k] = k === 'field' ? protoFieldName(text) : text;
  }
  return out;
}

/** The error a handler returns for an Obol code: status, message and both trailers. */
export function obolServiceError(code: ErrorCode, message: string, details?: ErrorDetails): ServiceError {
  const grpcCode = grpcStatusFor(code);
  const info = create(ErrorInfoSchema, { reason: code, domain: ERROR_DOMAIN, metadata: metadataOf(details) });
  const rich = create(StatusSchema, { code: grpcCode, message, details: [anyPack(ErrorInfoSchema, info)] });
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_TRAILER, code);
  metadata.set(STATUS_DETAILS_TRAILER, Buffer.from(toBinary(StatusSchema, rich)));
  return Object.assign(new Error(message), { code: grpcCode, details: message, metadata });
}

/**
 * Any thrown value as the error to send. Returns whether it was unexpected, so the caller logs
 * it (an ObolError is an answer, not an incident).
 */
export function toServiceError(err: unknown): { readonly error: ServiceError; readonly unexpected: boolean } {
  if (isObolError(err)) return { error: obolServiceError(err.code, err.message, err.details), unexpected: false };
  // An unreachable database is an outage to retry through (UNAVAILABLE), not an internal error.
  if (isDatabaseUnavailable(err)) {
    const unavailable = databaseUnavailableError();
    return { error: obolServiceError(unavailable.code, unavailable.message), unexpected: false };
  }
  return { error: obolServiceError('INTERNAL', 'Internal error'), unexpected: true };
}
