/**
 * The refund state machine. Like an attempt, the refund row is committed as `pending` before the
 * gateway is called, and only the gateway's answer (or, after a lost answer, asking the gateway
 * by the refund's idempotency key) moves it.
 *
 *              ┌── succeeded ──▶ succeeded
 *   pending ───┼── failed ─────▶ failed
 *              └── outcome_unknown ──▶ unknown ──┬── succeeded ──▶ succeeded
 *                                                └── failed ─────▶ failed
 *
 *   Terminal: succeeded, failed. A gateway answering "processing" is no event: the refund stays
 *   pending until the gateway settles it.
 */
import { ObolError } from '../../kernel/index.js';

export const REFUND_STATUSES = ['pending', 'unknown', 'succeeded', 'failed'] as const;
export type RefundStatus = (typeof REFUND_STATUSES)[number];

export const REFUND_EVENTS = ['succeeded', 'failed', 'outcome_unknown'] as const;
export type RefundEvent = (typeof REFUND_EVENTS)[number];

export const INITIAL_REFUND_STATUS: RefundStatus = 'pending';

export const TERMINAL_REFUND_STATUSES: readonly RefundStatus[] = ['succeeded', 'failed'];

export function isRefundStatus(value: unknown): value is RefundStatus {
  return typeof value === 'string' && (REFUND_STATUSES as readonly string[]).includes(value);
}

/** The next status, or undefined when `event` is not allowed in `from`. */
export function nextRefundStatus(from: RefundStatus, event: RefundEvent): RefundStatus | undefined {
  switch (from) {
    case 'pending':
      switch (event) {
        case 'succeeded':
          return 'succeeded';
        case 'failed':
          return 'failed';
        case 'outcome_unknown':
          return 'unknown';
        default: {
          const unreachable: never = event;
          throw new Error(`unknown refund event ${String(unreachable)}`);
        }
      }
    case 'unknown':
      return event === 'succeeded' ? 'succeeded' : event === 'failed' ? 'failed' : undefined;
    case 'succeeded':
    case 'failed':
      return undefined;
    default: {
      const unreachable: never = from;
      throw new Error(`unknown refund status ${String(unreachable)}`);
    }
  }
}

/** Applies `event`, or throws the typed ILLEGAL_STATE_TRANSITION error a caller can handle. */
export function transitionRefund(from: RefundStatus, event: RefundEvent): RefundStatus {
  const to = nextRefundStatus(from, event);
  if (to === undefined) {
    throw new ObolError('ILLEGAL_STATE_TRANSITION', `a refund in status ${from} cannot take event ${event}`, { from, event });
  }
  return to;
}
