/**
 * The subscription state machine.
 *
 *                      trial_started                     period_paid
 *   incomplete ──────────────────────────▶ trialing ──────────────────────┐
 *     │   │                                   │                           ▼
 *     │   └──── first_payment_succeeded ──────┼──────────────────────▶ active ◀──┐ period_paid
 *     │                                       │ payment_failed          │  │ └───┘
 *     │ incomplete_expired                    ▼                         │  │
 *     ▼                                    past_due ◀── payment_failed ──┘  │
 *   incomplete_expired                     │  │  ▲ └──┐ payment_failed      │
 *   (first payment never completed)        │  │  └────┘ (a retry failed)    │
 *                                          │  └───── payment_recovered ─────┤
 *                                          │ dunning_exhausted              │
 *                                          ▼                                │
 *                                        unpaid ───── payment_recovered ────┘
 *
 *   period_paid: a renewal invoice, or the invoice that ends a trial, was paid.
 *   cancel: incomplete | trialing | active | past_due | unpaid → canceled
 *   terminal: canceled, incomplete_expired (no event moves them)
 *
 * Access (`hasAccess`): trialing and active, and past_due too: that is the dunning grace period,
 * during which the learner keeps access while retries run. unpaid keeps the subscription (and
 * its invoices) for a later recovery but grants nothing; incomplete has not been paid yet.
 */
import { ObolError } from '../../kernel/index.js';

export const SUBSCRIPTION_STATUSES = ['incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'canceled', 'unpaid'] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];

export const SUBSCRIPTION_EVENTS = [
  'trial_started',
  'first_payment_succeeded',
  'incomplete_expired',
  'period_paid',
  'payment_failed',
  'payment_recovered',
  'dunning_exhausted',
  'cancel',
] as const;
export type SubscriptionEvent = (typeof SUBSCRIPTION_EVENTS)[number];

export const TERMINAL_SUBSCRIPTION_STATUSES: readonly SubscriptionStatus[] = ['canceled', 'incomplete_expired'];

export function isSubscriptionStatus(value: unknown): value is SubscriptionStatus {
  return typeof value === 'string' && (SUBSCRIPTION_STATUSES as readonly string[]).includes(value);
}

export function isSubscriptionEvent(value: unknown): value is SubscriptionEvent {
  return typeof value === 'string' && (SUBSCRIPTION_EVENTS as readonly string[]).includes(value);
}

/** The next status, or undefined when `event` is not allowed in `from`. */
export function nextSubscriptionStatus(from: SubscriptionStatus, event: SubscriptionEvent): SubscriptionStatus | undefined {
  switch (from) {
    case 'incomplete':
      switch (event) {
        case 'trial_started':
          return 'trialing';
        case 'first_payment_succeeded':
          return 'active';
        case 'incomplete_expired':
          return 'incomplete_expired';
        case 'cancel':
          return 'canceled';
        default:
          return undefined;
      }
    case 'trialing':
    case 'active':
      switch (event) {
        case 'period_paid':
          return 'active';
        case 'payment_failed':
          return 'past_due';
        case 'cancel':
          return 'canceled';
        default:
          return undefined;
      }
    case 'past_due':
      switch (event) {
        // Every failed retry reports again; the subscription just stays in dunning.
        case 'payment_failed':
          return 'past_due';
        case 'payment_recovered':
          return 'active';
        case 'dunning_exhausted':
          return 'unpaid';
        case 'cancel':
          return 'canceled';
        default:
          return undefined;
      }
    case 'unpaid':
      return event === 'payment_recovered' ? 'active' : event === 'cancel' ? 'canceled' : undefined;
    case 'canceled':
    case 'incomplete_expired':
      return undefined;
    default: {
      const unreachable: never = from;
      throw new Error(`unknown subscription status ${String(unreachable)}`);
    }
  }
}

/** Applies `event`, or throws the typed ILLEGAL_STATE_TRANSITION error a caller can handle. */
export function transitionSubscription(from: SubscriptionStatus, event: SubscriptionEvent): SubscriptionStatus {
  const to = nextSubscriptionStatus(from, event);
  if (to === undefined) {
    throw new ObolError('ILLEGAL_STATE_TRANSITION', `a subscription in status ${from} cannot take ${event.replace(/_/g, ' ')}`, { from, event });
  }
  return to;
}

/** Whether the subscription is over for good: nothing can move it again. */
export function isTerminal(status: SubscriptionStatus): boolean {
  switch (status) {
    case 'canceled':
    case 'incomplete_expired':
      return true;
    case 'incomplete':
    case 'trialing':
    case 'active':
    case 'past_due':
    case 'unpaid':
      return false;
    default: {
      const unreachable: never = status;
      throw new Error(`unknown subscription status ${String(unreachable)}`);
    }
  }
}

/** Whether the status grants the learner access (past_due does: the grace period of dunning). */
export function hasAccess(status: SubscriptionStatus): boolean {
  switch (status) {
    case 'trialing':
    case 'active':
    case 'past_due':
      return true;
    case 'incomplete':
    case 'incomplete_expired':
    case 'canceled':
    case 'unpaid':
      return false;
    default: {
      const unreachable: never = status;
      throw new Error(`unknown subscription status ${String(unreachable)}`);
    }
  }
}
