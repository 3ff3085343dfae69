import { describe, expect, it } from 'vitest';
import { isCurrencyCode } from '../money/index.js';
import { isBillingInterval, isTaxBehavior } from './domain/price.js';
import { couponTerms } from './domain/coupon.js';
import { DEMO_COUPONS, DEMO_PRICES, DEMO_PRODUCTS, DEMO_TAX_RATES } from './demo.js';

const isSafeNonNegative = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

describe('demo catalog (sample data)', () => {
  it('has unique ids and unique coupon codes', () => {
    const ids = [...DEMO_PRODUCTS, ...DEMO_PRICES, ...DEMO_COUPONS].map((x) => x.id);
    expect(new Set(ids).size).toBe(ids.length);
    const codes = DEMO_COUPONS.map((c) => c.code);
    expect(new Set(codes).size).toBe(codes.length);
    const countries = DEMO_TAX_RATES.map((r) => r.country);
    expect(new Set(countries).size).toBe(countries.length);
  });

  it('every price references a product and fits its kind', () => {
    const products = new Map(DEMO_PRODUCTS.map((p) => [p.id, p]));
    for (const price of DEMO_PRICES) {
      const product = products.get(price.productId);
      expect(product, price.id).toBeDefined();
      expect(price.billingInterval === null, price.id).toBe(product?.kind === 'one_time');
      if (price.billingInterval !== null) expect(isBillingInterval(price.billingInterval)).toBe(true);
      expect(isTaxBehavior(price.taxBehavior)).toBe(true);
      expect(isCurrencyCode(price.currency)).toBe(true);
      if (price.country !== null) expect(price.country).toMatch(/^[A-Z]{2}$/);
    }
  });

  it('every amount is a safe non-negative integer', () => {
    for (const price of DEMO_PRICES) expect(isSafeNonNegative(price.unitAmount), price.id).toBe(true);
    for (const c of DEMO_COUPONS) {
      for (const v of [c.percentOffBps, c.amountOff, c.maxRedemptions, c.expiresAt]) {
        if (v !== null) expect(isSafeNonNegative(v), c.id).toBe(true);
      }
    }
    for (const r of DEMO_TAX_RATES) {
      expect(isSafeNonNegative(r.rateBps) && r.rateBps <= 10_000, r.country).toBe(true);
    }
  });

  it('offers every product globally in USD, EUR, INR and JPY', () => {
    for (const product of DEMO_PRODUCTS) {
      const currencies = new Set(DEMO_PRICES.filter((p) => p.productId === product.id && p.country === null).map((p) => p.currency));
      expect([...currencies].sort(), product.id).toEqual(['EUR', 'INR', 'JPY', 'USD']);
    }
  });

  it('every coupon yields valid terms', () => {
    for (const c of DEMO_COUPONS) expect(() => couponTerms({ ...c, timesRedeemed: 0, active: true })).not.toThrow();
  });

  it('is frozen, so no caller can change the shared sample data', () => {
    expect(Object.isFrozen(DEMO_PRICES)).toBe(true);
    expect(Object.isFrozen(DEMO_PRICES[0])).toBe(true);
  });
});
