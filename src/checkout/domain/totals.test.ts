import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ObolError } from '../../kernel/index.js';
import { money, parseCurrency } from '../../money/index.js';
import type { CurrencyCode } from '../../money/index.js';
import {
  BILLING_INTERVALS,
  computeTotals,
  isBillingInterval,
  isTaxBehavior,
  saleBreakdown,
  TAX_BEHAVIORS,
} from './totals.js';
import type { BillingInterval, CouponTerms, PricedItem, TaxBehavior, Totals, TotalsInput } from './totals.js';

function cur(code: string): CurrencyCode {
  const c = parseCurrency(code);
  if (c === undefined) throw new Error(`test uses unknown currency ${code}`);
  return c;
}
const USD = cur('USD');
const EUR = cur('EUR');
const INR = cur('INR');
const JPY = cur('JPY');
const KWD = cur('KWD');

function item(overrides: Partial<PricedItem> & Pick<PricedItem, 'unitAmount' | 'taxBehavior'>): PricedItem {
  return {
    priceId: 'price_test',
    productId: 'prod_test',
    productName: 'Test product',
    billingInterval: null,
    quantity: 1,
    ...overrides,
  };
}

function expectObolError(fn: () => unknown, code: ObolError['code']): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ObolError);
  expect((caught as ObolError).code).toBe(code);
}

function exclusiveTaxOf(t: Totals): number {
  return t.lines.filter((l) => l.taxBehavior === 'exclusive').reduce((acc, l) => acc + l.tax, 0);
}

describe('worked examples', () => {
  it('EU VAT 20 % inclusive: 19.99 EUR contains 3.33 EUR of tax and costs 19.99', () => {
    // 1999 × 2000 / 12000 = 333.1666… → 333
    const t = computeTotals({ currency: EUR, items: [item({ unitAmount: 1999, taxBehavior: 'inclusive' })], taxRateBps: 2000, coupon: null });
    expect(t).toMatchObject({ subtotal: 1999, discountTotal: 0, taxTotal: 333, total: 1999 });
    expect(saleBreakdown(t)).toEqual({ currency: EUR, revenue: 1666, deferredRevenue: 0, discount: 0, tax: 333 });
  });

  it('US 0 % exclusive: no tax, total equals the price', () => {
    const t = computeTotals({ currency: USD, items: [item({ unitAmount: 4900, taxBehavior: 'exclusive' })], taxRateBps: 0, coupon: null });
    expect(t).toMatchObject({ subtotal: 4900, discountTotal: 0, taxTotal: 0, total: 4900 });
  });

  it('India GST 18 % inclusive: ₹999.00 contains ₹152.39 of GST', () => {
    // By hand: 99900 × 1800 / 11800 = 179 820 000 / 11 800 = 15 238.98… → 15 239.
    // Check: 99900 − 15239 = 84661 net, and 84661 × 18 % = 15 238.98, consistent.
    const t = computeTotals({ currency: INR, items: [item({ unitAmount: 99900, taxBehavior: 'inclusive' })], taxRateBps: 1800, coupon: null });
    expect(t).toMatchObject({ subtotal: 99900, taxTotal: 15239, total: 99900 });
  });

  it('JPY has no minor unit: ¥6,800 at 10 % inclusive and exclusive, with 10 % off', () => {
    const inclusive = computeTotals({
      currency: JPY,
      items: [item({ unitAmount: 6800, taxBehavior: 'inclusive' })],
      taxRateBps: 1000,
      coupon: { kind: 'percent', percentOffBps: 1000 },
    });
    // discount 680; net 6120; 6120 × 1000 / 11000 = 556.36… → 556
    expect(inclusive).toMatchObject({ subtotal: 6800, discountTotal: 680, taxTotal: 556, total: 6120 });

    const exclusive = computeTotals({ currency: JPY, items: [item({ unitAmount: 6800, taxBehavior: 'exclusive' })], taxRateBps: 1000, coupon: null });
    expect(exclusive).toMatchObject({ subtotal: 6800, taxTotal: 680, total: 7480 });
  });

  it('a 100 % coupon makes the order free, tax included', () => {
    for (const taxBehavior of TAX_BEHAVIORS) {
      const t = computeTotals({
        currency: EUR,
        items: [item({ unitAmount: 4900, taxBehavior }), item({ unitAmount: 5900, taxBehavior, billingInterval: 'month', quantity: 2 })],
        taxRateBps: 2100,
        coupon: { kind: 'percent', percentOffBps: 10_000 },
      });
      expect(t).toMatchObject({ subtotal: 16700, discountTotal: 16700, taxTotal: 0, total: 0 });
      expect(t.lines.map((l) => l.total)).toEqual([0, 0]);
    }
  });

  it('an amount-off coupon larger than the subtotal is capped at the subtotal', () => {
    const t = computeTotals({
      currency: USD,
      items: [item({ unitAmount: 300, taxBehavior: 'exclusive' })],
      taxRateBps: 800,
      coupon: { kind: 'amount', amountOff: money(500, USD) },
    });
    expect(t).toMatchObject({ subtotal: 300, discountTotal: 300, taxTotal: 0, total: 0 });
  });

  it('an amount-off coupon is spread over lines by gross, largest remainder first', () => {
    // 100 off over grosses 4900 and 3900 (sum 8800): exact shares 55.68 and 44.32 → 56 and 44.
    const t = computeTotals({
      currency: USD,
      items: [item({ unitAmount: 4900, taxBehavior: 'exclusive' }), item({ unitAmount: 3900, taxBehavior: 'exclusive' })],
      taxRateBps: 0,
      coupon: { kind: 'amount', amountOff: money(100, USD) },
    });
    expect(t.lines.map((l) => l.discount)).toEqual([56, 44]);
    expect(t).toMatchObject({ subtotal: 8800, discountTotal: 100, total: 8700 });
  });

  it('rounds an exact half of a minor unit up, once per line (not half-even, not per order)', () => {
    // 25 × 10 % = 2.5 → 3 per line (half-even would give 2); two lines → 6, not round(5.0) = 5.
    const line = item({ unitAmount: 25, taxBehavior: 'exclusive' });
    const t = computeTotals({ currency: USD, items: [line, line], taxRateBps: 1000, coupon: null });
    expect(t.lines.map((l) => l.tax)).toEqual([3, 3]);
    expect(t).toMatchObject({ subtotal: 50, taxTotal: 6, total: 56 });
  });

  it('splits revenue into recognised now (one-time) and deferred (recurring), net of contained tax', () => {
    // EUR 20 % inclusive, 10 % off: certificate 4900 (one-time) and Plus 5900/month.
    const t = computeTotals({
      currency: EUR,
      items: [
        item({ unitAmount: 4900, taxBehavior: 'inclusive' }),
        item({ unitAmount: 5900, taxBehavior: 'inclusive', billingInterval: 'month' }),
      ],
      taxRateBps: 2000,
      coupon: { kind: 'percent', percentOffBps: 1000 },
    });
    // discount 1080 → 490 / 590; nets 4410 / 5310; taxes 735 / 885.
    expect(t.lines.map((l) => [l.discount, l.tax, l.total])).toEqual([
      [490, 735, 4410],
      [590, 885, 5310],
    ]);
    expect(t).toMatchObject({ subtotal: 10800, discountTotal: 1080, taxTotal: 1620, total: 9720 });
    expect(saleBreakdown(t)).toEqual({ currency: EUR, revenue: 4165, deferredRevenue: 5015, discount: 1080, tax: 1620 });
  });

  it('a three-decimal currency (KWD) works in fils', () => {
    const t = computeTotals({ currency: KWD, items: [item({ unitAmount: 12_345, taxBehavior: 'exclusive' })], taxRateBps: 500, coupon: null });
    // 12345 × 5 % = 617.25 → 617
    expect(t).toMatchObject({ subtotal: 12345, taxTotal: 617, total: 12962 });
  });

  it('an empty cart totals zero even with a coupon', () => {
    const t = computeTotals({ currency: USD, items: [], taxRateBps: 2000, coupon: { kind: 'amount', amountOff: money(500, USD) } });
    expect(t).toMatchObject({ subtotal: 0, discountTotal: 0, taxTotal: 0, total: 0, lines: [] });
  });

  it('a zero-priced cart takes no discount', () => {
    const t = computeTotals({ currency: USD, items: [item({ unitAmount: 0, taxBehavior: 'exclusive' })], taxRateBps: 2000, coupon: { kind: 'percent', percentOffBps: 5000 } });
    expect(t).toMatchObject({ subtotal: 0, discountTotal: 0, taxTotal: 0, total: 0 });
  });
});

describe('refusals', () => {
  it('an amount coupon in another currency is COUPON_CURRENCY_MISMATCH', () => {
    const currencies = [USD, EUR, INR, JPY, KWD];
    fc.assert(
      fc.property(
        fc.constantFrom(...currencies),
        fc.constantFrom(...currencies),
        fc.integer({ min: 0, max: 1_000_000 }),
        (session, couponCurrency, off) => {
          fc.pre(session !== couponCurrency);
          expectObolError(
            () =>
              computeTotals({
                currency: session,
                items: [item({ unitAmount: 1000, taxBehavior: 'exclusive' })],
                taxRateBps: 0,
                coupon: { kind: 'amount', amountOff: money(off, couponCurrency) },
              }),
            'COUPON_CURRENCY_MISMATCH',
          );
        },
      ),
    );
  });

  it.each([0, -1, 1.5, 1001, Number.NaN])('quantity %s is INVALID_QUANTITY', (quantity) => {
    expectObolError(
      () => computeTotals({ currency: USD, items: [item({ unitAmount: 100, taxBehavior: 'exclusive', quantity })], taxRateBps: 0, coupon: null }),
      'INVALID_QUANTITY',
    );
  });

  it.each([-1, 19.99, Number.MAX_SAFE_INTEGER + 1])('unitAmount %s is VALIDATION_FAILED', (unitAmount) => {
    expectObolError(
      () => computeTotals({ currency: USD, items: [item({ unitAmount, taxBehavior: 'exclusive' })], taxRateBps: 0, coupon: null }),
      'VALIDATION_FAILED',
    );
  });

  it.each([-1, 10_001, 19.5])('taxRateBps %s is VALIDATION_FAILED', (taxRateBps) => {
    expectObolError(
      () => computeTotals({ currency: USD, items: [item({ unitAmount: 100, taxBehavior: 'exclusive' })], taxRateBps, coupon: null }),
      'VALIDATION_FAILED',
    );
  });

  it.each([0, -5, 10_001, 12.5])('percentOffBps %s is VALIDATION_FAILED', (percentOffBps) => {
    expectObolError(
      () =>
        computeTotals({
          currency: USD,
          items: [item({ unitAmount: 100, taxBehavior: 'exclusive' })],
          taxRateBps: 0,
          coupon: { kind: 'percent', percentOffBps },
        }),
      'VALIDATION_FAILED',
    );
  });

  it('a negative amount off is VALIDATION_FAILED', () => {
    expectObolError(
      () =>
        computeTotals({
          currency: USD,
          items: [item({ unitAmount: 100, taxBehavior: 'exclusive' })],
          taxRateBps: 0,
          coupon: { kind: 'amount', amountOff: money(-100, USD) },
        }),
      'VALIDATION_FAILED',
    );
  });

  it('a gross beyond the safe-integer range throws RangeError rather than losing cents', () => {
    expect(() =>
      computeTotals({
        currency: USD,
        items: [item({ unitAmount: Number.MAX_SAFE_INTEGER, taxBehavior: 'exclusive', quantity: 2 })],
        taxRateBps: 0,
        coupon: null,
      }),
    ).toThrow(RangeError);
    const big = item({ unitAmount: 2 ** 52, taxBehavior: 'exclusive' });
    expect(() => computeTotals({ currency: USD, items: [big, big], taxRateBps: 0, coupon: null })).toThrow(RangeError);
  });
});

describe('guards', () => {
  it('accept exactly the listed values', () => {
    for (const v of TAX_BEHAVIORS) expect(isTaxBehavior(v)).toBe(true);
    for (const v of BILLING_INTERVALS) expect(isBillingInterval(v)).toBe(true);
    for (const v of ['Inclusive', '', null, undefined, 1, 'week', 'toString']) {
      expect(isTaxBehavior(v)).toBe(false);
      expect(isBillingInterval(v)).toBe(false);
    }
  });
});

describe('properties of random carts', () => {
  const currencyArb = fc.constantFrom(USD, EUR, INR, JPY, KWD);
  const itemArb: fc.Arbitrary<PricedItem> = fc.record({
    priceId: fc.constantFrom('price_a', 'price_b', 'price_c'),
    productId: fc.constantFrom('prod_a', 'prod_b'),
    productName: fc.constant('Product'),
    billingInterval: fc.constantFrom<BillingInterval | null>(null, ...BILLING_INTERVALS),
    quantity: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 1000 })),
    // Mostly realistic prices, sometimes free, sometimes huge: 5e11 × 1000 × 8 lines × 2 (100 % exclusive tax) stays safe.
    unitAmount: fc.oneof(fc.integer({ min: 0, max: 100_000 }), fc.constant(0), fc.integer({ min: 0, max: 500_000_000_000 })),
    taxBehavior: fc.constantFrom<TaxBehavior>(...TAX_BEHAVIORS),
  });
  const inputArb: fc.Arbitrary<TotalsInput> = currencyArb.chain((currency) =>
    fc.record({
      currency: fc.constant(currency),
      items: fc.array(itemArb, { minLength: 0, maxLength: 8 }),
      taxRateBps: fc.oneof(fc.constantFrom(0, 1000, 1800, 1900, 2000, 2100, 2300, 10_000), fc.integer({ min: 0, max: 10_000 })),
      coupon: fc.oneof(
        fc.constant(null),
        fc.integer({ min: 1, max: 10_000 }).map((percentOffBps): CouponTerms => ({ kind: 'percent', percentOffBps })),
        fc.integer({ min: 0, max: 2_000_000_000_000 }).map((off): CouponTerms => ({ kind: 'amount', amountOff: money(off, currency) })),
      ),
    }),
  );

  /** The order discount computed independently of the implementation, in BigInt. */
  function expectedOrderDiscount(subtotal: number, coupon: CouponTerms | null): number {
    if (coupon === null || subtotal === 0) return 0;
    if (coupon.kind === 'amount') return Math.min(coupon.amountOff.amount, subtotal);
    const scaled = BigInt(subtotal) * BigInt(coupon.percentOffBps);
    // half-up for non-negative values: floor((2x + d) / 2d)
    return Number((2n * scaled + 10_000n) / 20_000n);
  }

  it('total = subtotal − discountTotal + Σ exclusive tax, and every total is the sum of its lines', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const t = computeTotals(input);
        expect(t.total).toBe(t.subtotal - t.discountTotal + exclusiveTaxOf(t));
        expect(t.subtotal).toBe(t.lines.reduce((a, l) => a + l.amountGross, 0));
        expect(t.discountTotal).toBe(t.lines.reduce((a, l) => a + l.discount, 0));
        expect(t.taxTotal).toBe(t.lines.reduce((a, l) => a + l.tax, 0));
        expect(t.total).toBe(t.lines.reduce((a, l) => a + l.total, 0));
        for (const l of t.lines) {
          expect(l.amountGross).toBe(l.unitAmount * l.quantity);
          const net = l.amountGross - l.discount;
          expect(l.total).toBe(l.taxBehavior === 'exclusive' ? net + l.tax : net);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('sale breakdown: revenue + deferredRevenue + tax − discount = total', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const t = computeTotals(input);
        const b = saleBreakdown(t);
        expect(b.revenue + b.deferredRevenue + b.tax - b.discount).toBe(t.total);
        expect(b.discount).toBe(t.discountTotal);
        expect(b.tax).toBe(t.taxTotal);
        if (t.lines.every((l) => l.billingInterval === null)) expect(b.deferredRevenue).toBe(0);
        if (t.lines.every((l) => l.billingInterval !== null)) expect(b.revenue).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('line discounts sum exactly to the order discount, each within 1 of its proportional share', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const t = computeTotals(input);
        expect(t.discountTotal).toBe(expectedOrderDiscount(t.subtotal, input.coupon));
        if (t.subtotal === 0) return;
        const total = BigInt(t.discountTotal);
        const weightSum = BigInt(t.subtotal);
        for (const l of t.lines) {
          const diff = BigInt(l.discount) * weightSum - total * BigInt(l.amountGross);
          expect(diff < 0n ? -diff : diff).toBeLessThan(weightSum);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('nothing is ever negative, no line is discounted below zero, and every amount is a safe integer', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const t = computeTotals(input);
        for (const v of [t.subtotal, t.discountTotal, t.taxTotal, t.total]) {
          expect(Number.isSafeInteger(v)).toBe(true);
          expect(v).toBeGreaterThanOrEqual(0);
        }
        for (const l of t.lines) {
          for (const v of [l.amountGross, l.discount, l.tax, l.total]) {
            expect(Number.isSafeInteger(v)).toBe(true);
            expect(v).toBeGreaterThanOrEqual(0);
          }
          expect(l.discount).toBeLessThanOrEqual(l.amountGross);
        }
        const b = saleBreakdown(t);
        expect(b.revenue).toBeGreaterThanOrEqual(0);
        expect(b.deferredRevenue).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 500 },
    );
  });

  it('each line tax is within half a minor unit of the exact rational tax, halves rounding up', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const t = computeTotals(input);
        const rate = BigInt(input.taxRateBps);
        for (const l of t.lines) {
          const net = BigInt(l.amountGross - l.discount);
          const den = l.taxBehavior === 'exclusive' ? 10_000n : 10_000n + rate;
          // exact tax = net·rate/den; error e = tax − exact must satisfy −½ < e ≤ ½.
          const twiceErrorScaled = 2n * (BigInt(l.tax) * den - net * rate);
          expect(twiceErrorScaled > -den).toBe(true);
          expect(twiceErrorScaled <= den).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('a line keeps its priced fields unchanged', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const t = computeTotals(input);
        expect(t.currency).toBe(input.currency);
        t.lines.forEach((l, i) => {
          const { amountGross: _g, discount: _d, tax: _t, total: _total, ...priced } = l;
          expect(priced).toEqual(input.items[i]);
        });
      }),
    );
  });
});
