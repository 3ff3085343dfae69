/** obol.v1.PaymentService: shape checks, then the payments use cases. */
import { isId, notFound, ObolError, type IdKind } from '../../kernel/index.js';
import { capturePayment, getPayment, listPayments, refundPayment } from '../../payments/index.js';
import type { PaymentService } from '../../gen/obol/v1/payments_pb.js';
import type { App } from '../app.js';
import { minorUnitsFrom, operationResultOf, paymentMessage, refundOf } from './convert.js';
import type { UnaryHandlers } from './service.js';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;
const MAX_REASON_LENGTH = 500;

export function requireId(kind: IdKind, value: string, field: string): string {
  if (value === '') throw new ObolError('VALIDATION_FAILED', `${field} is required.`, { field });
  if (!isId(kind, value)) throw new ObolError('INVALID_ID', `${field} is not a valid ${kind} id.`, { field });
  return value;
}

export function requireText(value: string, field: string, max: number): string {
  if (value === '') throw new ObolError('VALIDATION_FAILED', `${field} is required.`, { field });
  if (value.length > max) throw new ObolError('INPUT_TOO_LARGE', `${field} is longer than ${max} characters.`, { field });
  return value;
}

export function optionalText(value: string, field: string, max: number): string | null {
  return value === '' ? null : requireText(value, field, max);
}

export function paymentHandlers(app: App): UnaryHandlers<(typeof PaymentService)['method']> {
  return {
    async getPayment(req, { caller }) {
      const paymentId = requireId('payment', req.paymentId, 'payment_id');
      const view = await getPayment(app.db.kysely, { caller, paymentId });
      if (!view) throw notFound('payment', 'payment_id');
      return { payment: paymentMessage(view) };
    },
    async listPayments(req, { caller }) {
      const customerId = requireText(req.customerId, 'customer_id', 64);
      const first = req.pageSize === 0 ? DEFAULT_PAGE_SIZE : req.pageSize;
      if (first < 1 || first > MAX_PAGE_SIZE) throw new ObolError('VALIDATION_FAILED', `page_size must be between 1 and ${MAX_PAGE_SIZE} (0 means ${DEFAULT_PAGE_SIZE}).`, { field: 'page_size' });
      const after = req.pageToken === '' ? null : requireId('payment', req.pageToken, 'page_token');
      const page = await listPayments(app.db.kysely, { caller, customerId, first, after });
      return { payments: page.nodes.map(paymentMessage), nextPageToken: page.hasNextPage && page.endCursor !== null ? page.endCursor : '' };
    },
    async capturePayment(req, { caller, idempotent }) {
      const paymentId = requireId('payment', req.paymentId, 'payment_id');
      const amount = req.amountMinor === undefined ? null : minorUnitsFrom(req.amountMinor, 'amount_minor');
      const outcome = await idempotent(req.idempotencyKey, () => capturePayment(app.payments, { caller, paymentId, amount, requestKey: req.idempotencyKey }));
      return { result: operationResultOf(outcome.result), failureCode: outcome.failureCode ?? '', payment: paymentMessage(outcome.payment) };
    },
    async refundPayment(req, { caller, idempotent }) {
      const paymentId = requireId('payment', req.paymentId, 'payment_id');
      const amount = req.amountMinor === undefined ? null : minorUnitsFrom(req.amountMinor, 'amount_minor');
      const reason = optionalText(req.reason, 'reason', MAX_REASON_LENGTH);
      const outcome = await idempotent(req.idempotencyKey, () => refundPayment(app.payments, { caller, paymentId, amount, reason, requestKey: req.idempotencyKey }));
      return { result: operationResultOf(outcome.result), failureCode: outcome.failureCode ?? '', refund: refundOf(outcome.refund), payment: paymentMessage(outcome.payment) };
    },
  };
}
