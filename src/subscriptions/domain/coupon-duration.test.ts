import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BillingInterval } from '../../catalog/domain/price.js';
import { ObolError } from '../../kernel/index.js';
import { COUPON_DURATIONS, couponAppliesToPeriod, isCouponDuration, MAX_REPEATING_MONTHS, validateCouponDuration, type CouponDuration } from './coupon-duration.js';
import { addDays, periodOf } from './period.js';

/** Which of the first `n` periods (anchored at the first paid period's start) the coupon discounts. */
function discounted(args: { duration: CouponDuration; months: number | null; anchor: number; interval: BillingInterval; n: number }): boolean[] {
  return Array.from({ length: args.n }, (_, k) =>
    couponAppliesToPeriod({ duration: args.duration, durationInMonths: args.months, firstPaidPeriodStart: args.anchor, periodStart: periodOf(args.anchor, args.interval, k).start }),
  );
}

const count = (xs: readonly boolean[]): number => xs.filter(Boolean).length;

function validationDetails(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ObolError);
    expect((err as ObolError).code).toBe('VALIDATION_FAILED');
    return (err as ObolError).details;
  }
  throw new Error('expected VALIDATION_FAILED');
}

describe('couponAppliesToPeriod', () => {
  const anchor = Date.UTC(2024, 0, 31, 12);

  it('once: the first paid invoice only', () => {
    expect(discounted({ duration: 'once', months: null, anchor, interval: 'month', n: 6 })).toEqual([true, false, false, false, false, false]);
    expect(discounted({ duration: 'once', months: null, anchor, interval: 'year', n: 3 })).toEqual([true, false, false]);
  });

  it('forever: every invoice', () => {
    expect(discounted({ duration: 'forever', months: null, anchor, interval: 'month', n: 30 })).toEqual(Array(30).fill(true));
    expect(discounted({ duration: 'forever', months: null, anchor, interval: 'year', n: 5 })).toEqual(Array(5).fill(true));
  });

  it('repeating: N invoices on a monthly plan, even anchored on the 31st through February', () => {
    // Periods start Jan 31, Feb 29, Mar 31, Apr 30 …; a 3-month window ends Apr 30.
    expect(discounted({ duration: 'repeating', months: 3, anchor, interval: 'month', n: 6 })).toEqual([true, true, true, false, false, false]);
    expect(discounted({ duration: 'repeating', months: 1, anchor, interval: 'month', n: 3 })).toEqual([true, false, false]);
    expect(count(discounted({ duration: 'repeating', months: 12, anchor, interval: 'month', n: 24 }))).toBe(12);
  });

  it('repeating on an annual plan: the periods that start inside the window, not prorated', () => {
    expect(discounted({ duration: 'repeating', months: 3, anchor, interval: 'year', n: 3 })).toEqual([true, false, false]);
    expect(discounted({ duration: 'repeating', months: 12, anchor, interval: 'year', n: 3 })).toEqual([true, false, false]);
    expect(discounted({ duration: 'repeating', months: 13, anchor, interval: 'year', n: 3 })).toEqual([true, true, false]);
    expect(discounted({ duration: 'repeating', months: 24, anchor: Date.UTC(2024, 1, 29), interval: 'year', n: 4 })).toEqual([true, true, false, false]);
  });

  it('counts from the first paid period, so a trial does not use up the months', () => {
    const subscribed = Date.UTC(2024, 0, 10);
    const trialEnd = addDays(subscribed, 45); // Feb 24
    // Billing anchors at the trial's end; the window runs three months from there.
    expect(discounted({ duration: 'repeating', months: 3, anchor: trialEnd, interval: 'month', n: 5 })).toEqual([true, true, true, false, false]);
    // Counted from the subscription's start instead (window ending Apr 10), the third invoice (Apr 24) would fall outside.
    expect(couponAppliesToPeriod({ duration: 'repeating', durationInMonths: 3, firstPaidPeriodStart: trialEnd, periodStart: periodOf(trialEnd, 'month', 2).start })).toBe(true);
    expect(periodOf(trialEnd, 'month', 2).start).toBeGreaterThanOrEqual(Date.UTC(2024, 3, 10));
  });

  it('keeps the window in calendar months across a plan change that moves the anchor', () => {
    const firstPaid = Date.UTC(2024, 0, 15);
    // Switched mid-way to a plan anchored on Feb 20: its periods start Feb 20, Mar 20, Apr 20 …; the 3-month window ends Apr 15.
    const newAnchor = Date.UTC(2024, 1, 20);
    const applies = [0, 1, 2, 3].map((k) => couponAppliesToPeriod({ duration: 'repeating', durationInMonths: 3, firstPaidPeriodStart: firstPaid, periodStart: periodOf(newAnchor, 'month', k).start }));
    expect(applies).toEqual([true, true, false, false]);
  });

  it('throws a plain error for a stored coupon whose duration does not fit (a bug)', () => {
    const args = { firstPaidPeriodStart: anchor, periodStart: anchor };
    expect(() => couponAppliesToPeriod({ ...args, duration: 'repeating', durationInMonths: null })).toThrow(/corrupt coupon duration/);
    expect(() => couponAppliesToPeriod({ ...args, duration: 'once', durationInMonths: 3 })).toThrow(/corrupt coupon duration/);
    let caught: unknown;
    try {
      couponAppliesToPeriod({ ...args, duration: 'forever', durationInMonths: 1 });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(Error);
    expect(caught).not.toBeInstanceOf(ObolError);
  });

  it('repeating N months discounts exactly N monthly invoices and ⌈N/12⌉ annual ones, for any anchor (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2200, 0, 1) }),
        fc.integer({ min: 1, max: MAX_REPEATING_MONTHS }),
        (anchorMs, months) => {
          const monthly = discounted({ duration: 'repeating', months, anchor: anchorMs, interval: 'month', n: months + 3 });
          expect(count(monthly)).toBe(months);
          expect(monthly.slice(0, months).every(Boolean)).toBe(true);
          const annual = discounted({ duration: 'repeating', months, anchor: anchorMs, interval: 'year', n: Math.ceil(months / 12) + 2 });
          expect(count(annual)).toBe(Math.ceil(months / 12));
          expect(annual.slice(0, Math.ceil(months / 12)).every(Boolean)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('validateCouponDuration', () => {
  it('accepts durations that fit their months', () => {
    expect(COUPON_DURATIONS).toEqual(['once', 'repeating', 'forever']);
    expect(() => validateCouponDuration('once', null)).not.toThrow();
    expect(() => validateCouponDuration('forever', null)).not.toThrow();
    for (const m of [1, 2, 12, MAX_REPEATING_MONTHS]) expect(() => validateCouponDuration('repeating', m)).not.toThrow();
    for (const d of COUPON_DURATIONS) expect(isCouponDuration(d)).toBe(true);
    for (const bad of ['Once', 'monthly', '', null, 3]) expect(isCouponDuration(bad)).toBe(false);
  });

  it('refuses a repeating coupon without 1..120 whole months, typed', () => {
    expect(validationDetails(() => validateCouponDuration('repeating', null))).toEqual({ duration: 'repeating', durationInMonths: null });
    for (const m of [0, -1, 1.5, MAX_REPEATING_MONTHS + 1]) expect(validationDetails(() => validateCouponDuration('repeating', m))).toEqual({ duration: 'repeating', durationInMonths: m });
    // Non-finite numbers are reported as text (JSON has no NaN or Infinity).
    expect(validationDetails(() => validateCouponDuration('repeating', Number.NaN))).toEqual({ duration: 'repeating', durationInMonths: 'NaN' });
    expect(validationDetails(() => validateCouponDuration('repeating', Number.POSITIVE_INFINITY))).toEqual({ duration: 'repeating', durationInMonths: 'Infinity' });
  });

  it('refuses months on a once or forever coupon', () => {
    expect(validationDetails(() => validateCouponDuration('once', 3))).toEqual({ duration: 'once', durationInMonths: 3 });
    expect(validationDetails(() => validateCouponDuration('forever', 1))).toEqual({ duration: 'forever', durationInMonths: 1 });
    expect(() => validateCouponDuration('once', 3)).toThrow('a once coupon takes no durationInMonths');
  });

  it('refuses an unknown duration', () => {
    expect(validationDetails(() => validateCouponDuration('weekly' as CouponDuration, null))).toEqual({ duration: 'weekly', durationInMonths: null });
  });
});
