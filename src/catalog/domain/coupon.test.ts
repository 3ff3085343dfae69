import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ObolError } from '../../kernel/index.js';
import { money, parseCurrency } from '../../money/index.js';
import type { CurrencyCode } from '../../money/index.js';
import { assertCouponUsable, COUPON_KINDS, couponTerms, isCouponKind } from './coupon.js';
import type { Coupon } from './coupon.js';

function cur(code: string): CurrencyCode {
  const c = parseCurrency(code);
  if (c === undefined) throw new Error(`test uses unknown currency ${code}`);
  return c;
}
const USD = cur('USD');
const EUR = cur('EUR');
const NOW = Date.UTC(2025, 5, 1);

const percent: Coupon = {
  id: 'coupon_welcome10',
  code: 'WELCOME10',
  kind: 'percent',
  percentOffBps: 1000,
  amountOff: null,
  currency: null,
  expiresAt: null,
  maxRedemptions: null,
  timesRedeemed: 0,
  active: true,
  duration: 'once',
  durationInMonths: null,
};
const amount: Coupon = {
  ...percent,
  id: 'coupon_save5usd',
  code: 'SAVE5USD',
  kind: 'amount',
  percentOffBps: null,
  amountOff: 500,
  currency: USD,
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ObolError);
    return (err as ObolError).code;
  }
  return undefined;
}

const usable = (coupon: Coupon, over: Partial<{ now: number; currency: CurrencyCode; alreadyRedeemedByCustomer: boolean }> = {}) =>
  codeOf(() => assertCouponUsable({ coupon, now: NOW, currency: USD, alreadyRedeemedByCustomer: false, ...over }));

describe('couponTerms', () => {
  it('turns a percent coupon into percent terms', () => {
    expect(couponTerms(percent)).toEqual({ kind: 'percent', percentOffBps: 1000 });
  });

  it('turns an amount coupon into money in its own currency', () => {
    expect(couponTerms(amount)).toEqual({ kind: 'amount', amountOff: money(500, USD) });
  });

  it.each<[string, Partial<Coupon>]>([
    ['percent without a rate', { percentOffBps: null }],
    ['percent of 0', { percentOffBps: 0 }],
    ['percent above 100 %', { percentOffBps: 10_001 }],
    ['fractional basis points', { percentOffBps: 12.5 }],
  ])('refuses a malformed percent coupon: %s', (_name, over) => {
    expect(codeOf(() => couponTerms({ ...percent, ...over }))).toBe('VALIDATION_FAILED');
  });

  it.each<[string, Partial<Coupon>]>([
    ['no amount', { amountOff: null }],
    ['no currency', { currency: null }],
    ['zero amount', { amountOff: 0 }],
    ['negative amount', { amountOff: -500 }],
    ['fractional amount', { amountOff: 4.99 }],
  ])('refuses a malformed amount coupon: %s', (_name, over) => {
    expect(codeOf(() => couponTerms({ ...amount, ...over }))).toBe('VALIDATION_FAILED');
  });

  it('kind guard accepts exactly the listed kinds', () => {
    for (const k of COUPON_KINDS) expect(isCouponKind(k)).toBe(true);
    for (const k of ['Percent', 'fixed', '', null, 0]) expect(isCouponKind(k)).toBe(false);
  });
});

describe('assertCouponUsable', () => {
  it('accepts an active, unexpired, unexhausted coupon the customer has not used', () => {
    expect(usable(percent)).toBeUndefined();
    expect(usable(amount)).toBeUndefined();
    // A percent coupon works in any currency.
    expect(usable(percent, { currency: EUR })).toBeUndefined();
  });

  it('reports an inactive coupon as not found', () => {
    expect(usable({ ...percent, active: false })).toBe('COUPON_NOT_FOUND');
  });

  it('expires at the instant expiresAt, not a millisecond later', () => {
    const coupon = { ...percent, expiresAt: NOW };
    expect(usable(coupon, { now: NOW - 1 })).toBeUndefined();
    expect(usable(coupon, { now: NOW })).toBe('COUPON_EXPIRED');
    expect(usable(coupon, { now: NOW + 1 })).toBe('COUPON_EXPIRED');
  });

  it('is exhausted once timesRedeemed reaches maxRedemptions', () => {
    expect(usable({ ...percent, maxRedemptions: 1000, timesRedeemed: 999 })).toBeUndefined();
    expect(usable({ ...percent, maxRedemptions: 1000, timesRedeemed: 1000 })).toBe('COUPON_EXHAUSTED');
    expect(usable({ ...percent, maxRedemptions: 0, timesRedeemed: 0 })).toBe('COUPON_EXHAUSTED');
  });

  it('refuses a second redemption by the same customer', () => {
    expect(usable(percent, { alreadyRedeemedByCustomer: true })).toBe('COUPON_ALREADY_REDEEMED');
  });

  it('refuses an amount coupon in another currency', () => {
    expect(usable(amount, { currency: EUR })).toBe('COUPON_CURRENCY_MISMATCH');
  });

  it('reports the first failing rule in the documented order', () => {
    const order = ['COUPON_NOT_FOUND', 'COUPON_EXPIRED', 'COUPON_EXHAUSTED', 'COUPON_ALREADY_REDEEMED', 'COUPON_CURRENCY_MISMATCH'];
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(), (inactive, expired, exhausted, redeemed, mismatch) => {
        const coupon: Coupon = {
          ...amount,
          active: !inactive,
          expiresAt: expired ? NOW - 1 : NOW + 1,
          maxRedemptions: 10,
          timesRedeemed: exhausted ? 10 : 9,
        };
        const failing = [inactive, expired, exhausted, redeemed, mismatch];
        const expected = order[failing.indexOf(true)];
        expect(usable(coupon, { alreadyRedeemedByCustomer: redeemed, currency: mismatch ? EUR : USD })).toBe(expected);
      }),
    );
  });
});
