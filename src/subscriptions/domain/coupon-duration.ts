/**
 * How long a coupon keeps discounting a subscription.
 *
 *   once       the first paid invoice only
 *   repeating  every invoice whose period starts within `durationInMonths` calendar months of
 *              the first paid period's start: 3 months is 3 invoices on a monthly plan, and 1 on
 *              an annual plan (its one period starts inside the window; the discount is not
 *              prorated across the year)
 *   forever    every invoice
 *
 * The window counts from the first *paid* period, not from the subscription's start, so a trial
 * does not use up a repeating coupon's months. It is measured in calendar months (addIntervals),
 * so it survives a plan change that moves the billing anchor: the periods of the new plan get
 * the discount while they start inside the same window.
 *
 * The duration list itself belongs to the catalog's coupon (one source for the type, its guard
 * and the stored column); it is re-exported here for subscription code.
 */
import { ObolError } from '../../kernel/index.js';
import type { CouponDuration } from '../../catalog/domain/coupon.js';
import { addIntervals } from './period.js';

export { COUPON_DURATIONS, isCouponDuration } from '../../catalog/domain/coupon.js';
export type { CouponDuration } from '../../catalog/domain/coupon.js';

export const MAX_REPEATING_MONTHS = 120;

/** Why a duration and its months do not fit together, or null when they do. */
function durationProblem(duration: CouponDuration, durationInMonths: number | null): string | null {
  switch (duration) {
    case 'repeating':
      return durationInMonths !== null && Number.isInteger(durationInMonths) && durationInMonths >= 1 && durationInMonths <= MAX_REPEATING_MONTHS
        ? null
        : `a repeating coupon needs durationInMonths from 1 to ${MAX_REPEATING_MONTHS}`;
    case 'once':
    case 'forever':
      return durationInMonths === null ? null : `a ${duration} coupon takes no durationInMonths`;
    default: {
      const unreachable: never = duration;
      return `unknown coupon duration ${String(unreachable)}`;
    }
  }
}

/** For a coupon being created or edited: throws ObolError VALIDATION_FAILED when they do not fit. */
export function validateCouponDuration(duration: CouponDuration, durationInMonths: number | null): void {
  const problem = durationProblem(duration, durationInMonths);
  if (problem !== null) {
    throw new ObolError('VALIDATION_FAILED', problem, {
      duration: String(duration),
      durationInMonths: durationInMonths === null || Number.isFinite(durationInMonths) ? durationInMonths : String(durationInMonths),
    });
  }
}

export interface CouponPeriodArgs {
  readonly duration: CouponDuration;
  readonly durationInMonths: number | null;
  /** Start of the subscription's first paid period (the period being billed, if none is paid yet). */
  readonly firstPaidPeriodStart: number;
  readonly periodStart: number;
}

/** Whether the coupon discounts the invoice for the period starting at `periodStart`. */
export function couponAppliesToPeriod(args: CouponPeriodArgs): boolean {
  const { duration, durationInMonths, firstPaidPeriodStart, periodStart } = args;
  // A stored coupon was validated when it was created: one that does not fit now is a bug.
  const problem = durationProblem(duration, durationInMonths);
  if (problem !== null) throw new Error(`corrupt coupon duration: ${problem}`);
  switch (duration) {
    case 'once':
      return periodStart <= firstPaidPeriodStart;
    case 'repeating':
      if (durationInMonths === null) throw new Error('unreachable: durationProblem checks the months');
      return periodStart < addIntervals(firstPaidPeriodStart, 'month', durationInMonths);
    case 'forever':
      return true;
    default: {
      const unreachable: never = duration;
      throw new Error(`unknown coupon duration ${String(unreachable)}`);
    }
  }
}
