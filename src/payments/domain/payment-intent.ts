/**
 * The payment intent state machine. One intent per checkout, many attempts per intent.
 *
 *   requires_payment_method ──attach_payment_method──▶ requires_confirmation
 *            ▲                                                │ confirm
 *            │ declined (retry with another method)           ▼
 *            ├──────────────────────────────────────────── processing ◀─────────────┐
 *            │                                    │    │     │  (outcome unknown:   │
 *            │                         authorized │    │     │   stays processing)  │
 *            │                                    ▼    │     ▼                      │ action_completed
 *            │                         requires_capture │  requires_action ─────────┘
 *            │                          │        │      │     │
 *            │                  captured│   void │      │     │ declined ──▶ requires_payment_method
 *            │                          ▼        ▼      │     │
 *            │                      succeeded  canceled │     │ attempts_exhausted ──▶ failed
 *            │                          ▲               │
 *            │                          └───captured────┘ (automatic capture)
 *            │
 *   cancel: requires_payment_method | requires_confirmation | requires_action → canceled
 *   attempts_exhausted: processing | requires_action → failed
 *
 * Refunds do not change the intent's status: a succeeded payment stays succeeded and carries
 * `amountRefunded` (partial or full).
 */
import { ObolError } from '../../kernel/index.js';

export const PAYMENT_STATUSES = [
  'requires_payment_method',
  'requires_confirmation',
  'processing',
  'requires_action',
  'requires_capture',
  'succeeded',
  'canceled',
  'failed',
] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

export const PAYMENT_EVENTS = [
  'attach_payment_method',
  'confirm',
  'requires_action',
  'action_completed',
  'authorized',
  'captured',
  'declined',
  'attempts_exhausted',
  'void',
  'cancel',
] as const;
export type PaymentEvent = (typeof PAYMENT_EVENTS)[number];

export const TERMINAL_PAYMENT_STATUSES: readonly PaymentStatus[] = ['succeeded', 'canceled', 'failed'];

export function isPaymentStatus(value: unknown): value is PaymentStatus {
  return typeof value === 'string' && (PAYMENT_STATUSES as readonly string[]).includes(value);
}

/** The next status, or undefined when `event` is not allowed in `from`. */
export function nextPaymentStatus(from: PaymentStatus, event: PaymentEvent): PaymentStatus | undefined {
  switch (from) {
    case 'requires_payment_method':
      return event === 'attach_payment_method' ? 'requires_confirmation' : event === 'cancel' ? 'canceled' : undefined;
    case 'requires_confirmation':
      return event === 'confirm' ? 'processing' : event === 'cancel' ? 'canceled' : undefined;
    case 'processing':
      switch (event) {
        case 'requires_action':
          return 'requires_action';
        case 'authorized':
          return 'requires_capture';
        case 'captured':
          return 'succeeded';
        case 'declined':
          return 'requires_payment_method';
        case 'attempts_exhausted':
          return 'failed';
        default:
          return undefined;
      }
    case 'requires_action':
      switch (event) {
        case 'action_completed':
          return 'processing';
        case 'declined':
          return 'requires_payment_method';
        case 'attempts_exhausted':
          return 'failed';
        case 'cancel':
          return 'canceled';
        default:
          return undefined;
      }
    case 'requires_capture':
      return event === 'captured' ? 'succeeded' : event === 'void' ? 'canceled' : undefined;
    case 'succeeded':
    case 'canceled':
    case 'failed':
      return undefined;
    default: {
      const unreachable: never = from;
      throw new Error(`unknown payment status ${String(unreachable)}`);
    }
  }
}

/** Applies `event`, or throws the typed ILLEGAL_STATE_TRANSITION error a caller can handle. */
export function transitionPayment(from: PaymentStatus, event: PaymentEvent): PaymentStatus {
  const to = nextPaymentStatus(from, event);
  if (to === undefined) {
    throw new ObolError('ILLEGAL_STATE_TRANSITION', `a payment in status ${from} cannot ${event.replace(/_/g, ' ')}`, { from, event });
  }
  return to;
}
