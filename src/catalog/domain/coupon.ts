/**
 * Coupons as the catalog stores them, and the rules for whether one may be applied to a checkout.
 * The discount arithmetic itself lives in checkout/domain/totals.ts; this file only turns a
 * stored coupon into the terms totals understand.
 */
import { ObolError } from '../../kernel/index.js';
import { money } from '../../money/index.js';
import type { CurrencyCode } from '../../money/index.js';
import type { Money } from '../../money/index.js';

/** What a usable coupon takes off an order (the arithmetic lives in checkout's totals). */
export type CouponTerms =
  | { readonly kind: 'percent'; readonly percentOffBps: number }
  | { readonly kind: 'amount'; readonly amountOff: Money };

export const COUPON_KINDS = ['percent', 'amount'] as const;
export type CouponKind = (typeof COUPON_KINDS)[number];
export function isCouponKind(v: unknown): v is CouponKind {
  return typeof v === 'string' && (COUPON_KINDS as readonly string[]).includes(v);
}

/**
 * How long a coupon keeps discounting a subscription: `once` (its first paid invoice),
 * `repeating` (`durationInMonths` months of billing), `forever`. A checkout is one invoice, so
 * there every coupon is simply applied once.
 */
export const COUPON_DURATIONS = ['once', 'repeating', 'forever'] as const;
export type CouponDuration = (typeof COUPON_DURATIONS)[number];
export function isCouponDuration(v: unknown): v is CouponDuration {
  return typeof v === 'string' && (COUPON_DURATIONS as readonly string[]).includes(v);
}

export interface Coupon {
  readonly id: string;
  readonly code: string;
  readonly kind: CouponKind;
  /** Set for `percent` coupons only: 1..10000 (10000 = 100 % off). */
  readonly percentOffBps: number | null;
  /** Set for `amount` coupons only, in minor units of `currency`. */
  readonly amountOff: number | null;
  /** Set for `amount` coupons only: a fixed amount off means nothing without its currency. */
  readonly currency: CurrencyCode | null;
  /** Milliseconds since the Unix epoch; the coupon is unusable from this instant on. */
  readonly expiresAt: number | null;
  readonly maxRedemptions: number | null;
  readonly timesRedeemed: number;
  readonly active: boolean;
  readonly duration: CouponDuration;
  /** Set for `repeating` coupons only: 1..120. */
  readonly durationInMonths: number | null;
}

/**
 * The terms totals apply. A coupon whose fields do not fit its kind is refused rather than
 * guessed at (VALIDATION_FAILED), so the same function can validate a coupon being created.
 */
export function couponTerms(coupon: Coupon): CouponTerms {
  switch (coupon.kind) {
    case 'percent': {
      const bps = coupon.percentOffBps;
      if (bps === null || !Number.isInteger(bps) || bps < 1 || bps > 10_000) {
        throw new ObolError('VALIDATION_FAILED', 'a percent coupon needs percentOffBps from 1 to 10000', {
          couponId: coupon.id,
        });
      }
      return { kind: 'percent', percentOffBps: bps };
    }
    case 'amount': {
      const { amountOff, currency } = coupon;
      if (amountOff === null || currency === null || !Number.isSafeInteger(amountOff) || amountOff <= 0) {
        throw new ObolError('VALIDATION_FAILED', 'an amount coupon needs a positive amountOff and its currency', {
          couponId: coupon.id,
        });
      }
      return { kind: 'amount', amountOff: money(amountOff, currency) };
    }
    default: {
      const unreachable: never = coupon.kind;
      throw new ObolError('VALIDATION_FAILED', `unknown coupon kind ${String(unreachable)}`, { couponId: coupon.id });
    }
  }
}

/**
 * Throws ObolError COUPON_NOT_FOUND (inactive), COUPON_EXPIRED (now >= expiresAt),
 * COUPON_EXHAUSTED (timesRedeemed >= maxRedemptions), COUPON_ALREADY_REDEEMED
 * (alreadyRedeemedByCustomer), COUPON_CURRENCY_MISMATCH (amount coupon in another currency).
 * Checked in that order, so the learner hears the most fundamental reason first.
 */
export function assertCouponUsable(args: {
  readonly coupon: Coupon;
  readonly now: number;
  readonly currency: CurrencyCode;
  readonly alreadyRedeemedByCustomer: boolean;
}): void {
  const { coupon, now, currency, alreadyRedeemedByCustomer } = args;
  // An inactive coupon is reported as unknown so that retired codes cannot be probed for.
  if (!coupon.active) {
    throw new ObolError('COUPON_NOT_FOUND', 'no such coupon', { code: coupon.code });
  }
  if (coupon.expiresAt !== null && now >= coupon.expiresAt) {
    throw new ObolError('COUPON_EXPIRED', 'this coupon has expired', { code: coupon.code, expiresAt: coupon.expiresAt });
  }
  if (coupon.maxRedemptions !== null && coupon.timesRedeemed >= coupon.maxRedemptions) {
    throw new ObolError('COUPON_EXHAUSTED', 'this coupon has been fully redeemed', { code: coupon.code });
  }
  if (alreadyRedeemedByCustomer) {
    throw new ObolError('COUPON_ALREADY_REDEEMED', 'you have already used this coupon', { code: coupon.code });
  }
  if (coupon.kind === 'amount' && coupon.currency !== currency) {
    throw new ObolError('COUPON_CURRENCY_MISMATCH', `this coupon is in ${String(coupon.currency)}, not ${currency}`, {
      code: coupon.code,
      couponCurrency: coupon.currency,
      currency,
    });
  }
}
