import { fromBinary } from '@bufbuild/protobuf';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ObolError } from '../../kernel/index.js';
import { ErrorInfoSchema } from '../../gen/google/rpc/error_details_pb.js';
import { StatusSchema } from '../../gen/google/rpc/status_pb.js';
import { grpcStatusFor, obolServiceError, protoFieldName, toServiceError } from './errors.js';

describe('grpcStatusFor', () => {
  it('gives every Obol code a failure status, never OK or UNKNOWN', () => {
    for (const code of ERROR_CODES) expect([status.OK, status.UNKNOWN], code).not.toContain(grpcStatusFor(code));
  });

  it('maps caller mistakes, missing objects, state, identity, limits and outages to their gRPC meaning', () => {
    expect(grpcStatusFor('VALIDATION_FAILED')).toBe(status.INVALID_ARGUMENT);
    expect(grpcStatusFor('INPUT_TOO_LARGE')).toBe(status.INVALID_ARGUMENT);
    expect(grpcStatusFor('CARD_DATA_REFUSED')).toBe(status.INVALID_ARGUMENT);
    expect(grpcStatusFor('NOT_FOUND')).toBe(status.NOT_FOUND);
    expect(grpcStatusFor('PRICE_NOT_FOUND')).toBe(status.NOT_FOUND);
    expect(grpcStatusFor('CHECKOUT_SESSION_NOT_OPEN')).toBe(status.FAILED_PRECONDITION);
    expect(grpcStatusFor('REFUND_EXCEEDS_CAPTURED')).toBe(status.FAILED_PRECONDITION);
    expect(grpcStatusFor('PRICE_NOT_RECURRING')).toBe(status.FAILED_PRECONDITION);
    expect(grpcStatusFor('SUBSCRIPTION_NOT_ACTIVE')).toBe(status.FAILED_PRECONDITION);
    expect(grpcStatusFor('PLAN_CHANGE_NOT_ALLOWED')).toBe(status.FAILED_PRECONDITION);
    expect(grpcStatusFor('SUBSCRIPTION_ALREADY_EXISTS')).toBe(status.ALREADY_EXISTS);
    expect(grpcStatusFor('IDEMPOTENCY_KEY_REUSED')).toBe(status.ALREADY_EXISTS);
    expect(grpcStatusFor('IDEMPOTENCY_REQUEST_IN_PROGRESS')).toBe(status.ABORTED);
    expect(grpcStatusFor('UNAUTHENTICATED')).toBe(status.UNAUTHENTICATED);
    expect(grpcStatusFor('FORBIDDEN')).toBe(status.PERMISSION_DENIED);
    expect(grpcStatusFor('REFUND_LIMIT_EXCEEDED')).toBe(status.PERMISSION_DENIED);
    expect(grpcStatusFor('RATE_LIMITED')).toBe(status.RESOURCE_EXHAUSTED);
    expect(grpcStatusFor('GATEWAY_UNAVAILABLE')).toBe(status.UNAVAILABLE);
    expect(grpcStatusFor('INTERNAL')).toBe(status.INTERNAL);
  });
});

describe('obolServiceError', () => {
  it('carries the Obol code in a trailer and as google.rpc.ErrorInfo in grpc-status-details-bin', () => {
    const error = obolServiceError('REFUND_EXCEEDS_CAPTURED', 'Cannot refund 500.', { refundable: 100, captured: 100, field: 'amountMinor' });
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toBe('Cannot refund 500.');
    expect(error.metadata.get('obol-error-code')).toEqual(['REFUND_EXCEEDS_CAPTURED']);
    const rich = fromBinary(StatusSchema, error.metadata.get('grpc-status-details-bin')[0] as Buffer);
    expect(rich.code).toBe(status.FAILED_PRECONDITION);
    expect(rich.message).toBe('Cannot refund 500.');
    const info = anyUnpack(rich.details[0]!, ErrorInfoSchema);
    expect(info).toMatchObject({ reason: 'REFUND_EXCEEDS_CAPTURED', domain: 'obol', metadata: { refundable: '100', captured: '100', field: 'amount_minor' } });
  });

  it('answers anything but an ObolError with a generic INTERNAL that leaks nothing', () => {
    const { error, unexpected } = toServiceError(new Error('connect ECONNREFUSED db.internal:3306 (password=hunter2)'));
    expect(unexpected).toBe(true);
    expect(error.code).toBe(status.INTERNAL);
    expect(error.details).toBe('Internal error');
    expect(JSON.stringify(error.metadata.toJSON())).not.toContain('hunter2');
    expect(toServiceError(new ObolError('NOT_FOUND', 'No payment with this id.')).unexpected).toBe(false);
  });

  it('answers a database that cannot be reached with UNAVAILABLE (SERVICE_UNAVAILABLE), leaking nothing of the connection', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED db.internal:3306 (password=hunter2)'), { code: 'ECONNREFUSED', errno: -111 });
    const { error, unexpected } = toServiceError(refused);
    expect(unexpected).toBe(false);
    expect(error.code).toBe(status.UNAVAILABLE);
    expect(error.metadata.get('obol-error-code')).toEqual(['SERVICE_UNAVAILABLE']);
    expect(JSON.stringify(error.metadata.toJSON())).not.toContain('db.internal');
    expect(error.details).not.toContain('db.internal');
  });
});

describe('protoFieldName', () => {
  it('spells use-case field paths as the proto fields are spelled', () => {
    expect(protoFieldName('items[2].priceId')).toBe('items[2].price_id');
    expect(protoFieldName('billingDetails.address.postalCode')).toBe('billing_details.address.postal_code');
    expect(protoFieldName('country')).toBe('country');
  });
});
