/**
 * The payment attempt state machine: one attempt is one authorization at one connector. The row
 * is committed as `pending` before the gateway is called (invariant 4), and the answer moves it.
 *
 *               ┌──────────────────── resume ──────────────────┐
 *               ▼                                              │
 *            pending ─── requires_action ─────────────▶ requires_action ─── declined ──▶ failed
 *             │   │
 *             │   ├───── authorized ──▶ authorized ─── capture ──▶ captured
 *             │   │                         └───────── void ─────▶ voided
 *             │   ├───── captured ───────────────────────────────▶ captured   (automatic capture)
 *             │   └───── declined ───────────────────────────────▶ failed
 *             │ outcome_unknown
 *             ▼
 *          unknown ───── requires_action | authorized | captured | declined
 *                        (resolved by asking the gateway; same targets as from pending)
 *
 *   Terminal: captured, failed, voided (refunds are their own records and never move an attempt).
 *
 * `declined` means "certainly not charged": an issuer decline, a connector that could not be
 * reached (nothing was sent), or a challenge abandoned when the payment is canceled.
 * An unknown outcome that stays unknown is no transition: the attempt simply stays `unknown`.
 */
import { ObolError } from '../../kernel/index.js';

export const ATTEMPT_STATUSES = ['pending', 'unknown', 'requires_action', 'authorized', 'captured', 'failed', 'voided'] as const;
export type AttemptStatus = (typeof ATTEMPT_STATUSES)[number];

export const ATTEMPT_EVENTS = ['requires_action', 'authorized', 'captured', 'declined', 'outcome_unknown', 'resume', 'void', 'capture'] as const;
export type AttemptEvent = (typeof ATTEMPT_EVENTS)[number];

export const INITIAL_ATTEMPT_STATUS: AttemptStatus = 'pending';

export const TERMINAL_ATTEMPT_STATUSES: readonly AttemptStatus[] = ['captured', 'failed', 'voided'];

export function isAttemptStatus(value: unknown): value is AttemptStatus {
  return typeof value === 'string' && (ATTEMPT_STATUSES as readonly string[]).includes(value);
}

/** Where a gateway's answer leads, from a call in flight or an unknown outcome being resolved. */
function afterGatewayAnswer(event: AttemptEvent): AttemptStatus | undefined {
  switch (event) {
    case 'requires_action':
      return 'requires_action';
    case 'authorized':
      return 'authorized';
    case 'captured':
      return 'captured';
    case 'declined':
      return 'failed';
    default:
      return undefined;
  }
}

/** The next status, or undefined when `event` is not allowed in `from`. */
export function nextAttemptStatus(from: AttemptStatus, event: AttemptEvent): AttemptStatus | undefined {
  switch (from) {
    case 'pending':
      return event === 'outcome_unknown' ? 'unknown' : afterGatewayAnswer(event);
    case 'unknown':
      return afterGatewayAnswer(event);
    case 'requires_action':
      return event === 'resume' ? 'pending' : event === 'declined' ? 'failed' : undefined;
    case 'authorized':
      return event === 'capture' ? 'captured' : event === 'void' ? 'voided' : undefined;
    case 'captured':
    case 'failed':
    case 'voided':
      return undefined;
    default: {
      const unreachable: never = from;
      throw new Error(`unknown attempt status ${String(unreachable)}`);
    }
  }
}

/** Applies `event`, or throws the typed ILLEGAL_STATE_TRANSITION error a caller can handle. */
export function transitionAttempt(from: AttemptStatus, event: AttemptEvent): AttemptStatus {
  const to = nextAttemptStatus(from, event);
  if (to === undefined) {
    throw new ObolError('ILLEGAL_STATE_TRANSITION', `a payment attempt in status ${from} cannot take event ${event}`, { from, event });
  }
  return to;
}
