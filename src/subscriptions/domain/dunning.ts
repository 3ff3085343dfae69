/**
 * Dunning: what happens after a renewal charge fails, decided from the policy, the decline and
 * how far dunning has got. Pure: the caller schedules what this decides.
 *
 *   decline           next step
 *   ───────────────   ──────────────────────────────────────────────────────────────────────
 *   retryable         retry on the next retry day (days counted from the first failure), while
 *                     retry days remain; after the last one, wait for a new payment method
 *   final             no retry against this payment method: wait for a new one (updating the
 *                     payment method retries the open invoice at once)
 *   customer_action   the issuer wants the cardholder (3-D Secure on a merchant-initiated
 *                     charge): wait for the customer to come back and pay the invoice present
 *
 * Retryable is the gateway's soft class, and also those issuer reasons a gateway classes hard
 * (the issuer said no to this charge, so failing over to another gateway is pointless) that can
 * turn into a yes on the same card days later: insufficient funds, a generic "do not honor", a
 * velocity limit. The card networks forbid retrying the rest (lost, stolen, expired, closed
 * account…), and a retry could never succeed anyway.
 *
 * Whatever the step, the grace period ends `graceDays` after the first failure: until then the
 * learner keeps access; at that instant dunning is exhausted (the invoice becomes uncollectible
 * and the subscription is canceled or left unpaid, by policy). A failure at or after the
 * deadline exhausts dunning at once. Retry days never lie after the deadline (assertPolicy), so
 * a scheduled retry is always tried before dunning gives up: the deadline does not pre-empt a
 * retry due at the same instant (see the deadline job).
 */
import { addDays } from './period.js';

export const DUNNING_EXHAUSTIONS = ['cancel', 'mark_unpaid'] as const;
export type DunningExhaustion = (typeof DUNNING_EXHAUSTIONS)[number];

export interface DunningPolicy {
  /** Days after the first failure on which a soft decline is retried, strictly increasing, each ≥ 1. */
  readonly retryDays: readonly number[];
  /** Days after the first failure until dunning is exhausted; at least the last retry day. */
  readonly graceDays: number;
  readonly onExhausted: DunningExhaustion;
}

/** Why the policy cannot be followed (a configuration error), or null when it can. */
export function policyProblem(policy: DunningPolicy): { readonly field: 'retryDays' | 'graceDays'; readonly message: string } | null {
  const { retryDays, graceDays } = policy;
  if (!Number.isSafeInteger(graceDays) || graceDays < 0) return { field: 'graceDays', message: `must be a whole number of days ≥ 0, got ${graceDays}` };
  for (const [i, day] of retryDays.entries()) {
    if (!Number.isSafeInteger(day) || day < 1) return { field: 'retryDays', message: `must be whole days ≥ 1, got ${retryDays.join(',')}` };
    if (i > 0 && day <= retryDays[i - 1]!) return { field: 'retryDays', message: `must increase, got ${retryDays.join(',')}` };
  }
  const last = retryDays.at(-1);
  if (last !== undefined && last > graceDays) {
    return { field: 'graceDays', message: `must be at least the last retry day (${last}): a retry after the grace period would never run` };
  }
  return null;
}

/** Throws when the policy cannot be followed (configuration reports the same problem at start-up). */
export function assertPolicy(policy: DunningPolicy): void {
  const problem = policyProblem(policy);
  if (problem !== null) throw new Error(`dunning ${problem.field} ${problem.message}`);
}

export type DunningDeclineClass = 'soft' | 'hard' | 'customer_action';

/** Issuer reasons (normalized) that a later retry of the same card may turn into an approval. */
export const RETRYABLE_DECLINE_REASONS = [
  'insufficient_funds',
  'generic_decline',
  'do_not_honor',
  'try_again_later',
  'card_velocity_exceeded',
  'withdrawal_count_limit_exceeded',
  'issuer_not_available',
  'reenter_transaction',
  'processing_error',
  'gateway_unavailable',
] as const;

/** Whether dunning may retry the same payment method after this decline. */
export function isRetryableDecline(decline: { readonly declineClass: DunningDeclineClass; readonly reason: string }): boolean {
  switch (decline.declineClass) {
    case 'soft':
      return true;
    case 'hard':
      return (RETRYABLE_DECLINE_REASONS as readonly string[]).includes(decline.reason);
    case 'customer_action':
      return false;
    default: {
      const unreachable: never = decline.declineClass;
      throw new Error(`unknown decline class ${String(unreachable)}`);
    }
  }
}

export interface AfterFailureArgs {
  readonly policy: DunningPolicy;
  /** When this invoice first failed (the start of dunning). */
  readonly firstFailedAt: number;
  /** Retries already made before this failure (0 for the renewal's own failure). */
  readonly retriesDone: number;
  readonly decline: { readonly declineClass: DunningDeclineClass; readonly reason: string };
  /** When this failure was recorded. */
  readonly now: number;
}

export type DunningDecision =
  | { readonly kind: 'retry'; readonly at: number; readonly deadline: number }
  | { readonly kind: 'await_payment_method'; readonly deadline: number }
  | { readonly kind: 'await_customer_authentication'; readonly deadline: number }
  | { readonly kind: 'exhausted' };

export function dunningDeadline(policy: DunningPolicy, firstFailedAt: number): number {
  return addDays(firstFailedAt, policy.graceDays);
}

export function decideAfterFailure(args: AfterFailureArgs): DunningDecision {
  const { policy, firstFailedAt, retriesDone, decline, now } = args;
  if (!Number.isSafeInteger(retriesDone) || retriesDone < 0) throw new RangeError(`retriesDone must be a non-negative integer, got ${retriesDone}`);
  const deadline = dunningDeadline(policy, firstFailedAt);
  if (now >= deadline) return { kind: 'exhausted' };
  if (decline.declineClass === 'customer_action') return { kind: 'await_customer_authentication', deadline };
  if (!isRetryableDecline(decline)) return { kind: 'await_payment_method', deadline };
  const day = policy.retryDays[retriesDone];
  if (day === undefined) return { kind: 'await_payment_method', deadline };
  // A retry whose day has already passed (the failure itself came late) runs at once.
  return { kind: 'retry', at: Math.max(now, addDays(firstFailedAt, day)), deadline };
}
