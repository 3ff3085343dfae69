import cc from 'currency-codes';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allCurrencies, currencyExponent, ISO_4217_PUBLISHED, parseCurrency } from './currency.js';
import type { CurrencyCode } from './currency.js';
import { add, allocate, CurrencyMismatchError, fromDecimalString, money, subtract, toDecimalString } from './money.js';

function cur(code: string): CurrencyCode {
  const c = parseCurrency(code);
  if (c === undefined) throw new Error(`test uses unknown currency ${code}`);
  return c;
}

const USD = cur('USD');
const currencyArb = fc.constantFrom(...allCurrencies());
const safeAmount = fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER });

describe('allocate', () => {
  const weightsArb = fc
    .array(fc.integer({ min: 0, max: 1_000_000_000 }), { minLength: 1, maxLength: 30 })
    .filter((ws) => ws.some((w) => w > 0));

  it('parts always sum exactly to the total, negative totals included', () => {
    fc.assert(
      fc.property(safeAmount, weightsArb, (total, weights) => {
        const parts = allocate(money(total, USD), weights);
        expect(parts).toHaveLength(weights.length);
        expect(parts.reduce((acc, p) => acc + BigInt(p.amount), 0n)).toBe(BigInt(total));
        for (const p of parts) expect(p.currency).toBe(USD);
      }),
    );
  });

  it('each part is strictly within 1 minor unit of its exact proportional share', () => {
    fc.assert(
      fc.property(safeAmount, weightsArb, (total, weights) => {
        const parts = allocate(money(total, USD), weights);
        const weightSum = weights.reduce((acc, w) => acc + BigInt(w), 0n);
        parts.forEach((p, i) => {
          // |part − total·w/W| < 1  ⇔  |part·W − total·w| < W, exact in BigInt.
          const diff = BigInt(p.amount) * weightSum - BigInt(total) * BigInt(weights[i]!);
          expect(diff < 0n ? -diff : diff).toBeLessThan(weightSum);
        });
      }),
    );
  });

  it('gives a zero weight nothing and never changes the sign of the total', () => {
    fc.assert(
      fc.property(safeAmount, weightsArb, (total, weights) => {
        const parts = allocate(money(total, USD), weights);
        parts.forEach((p, i) => {
          if (weights[i] === 0) expect(p.amount).toBe(0);
          if (total >= 0) expect(p.amount).toBeGreaterThanOrEqual(0);
          else expect(p.amount).toBeLessThanOrEqual(0);
        });
      }),
    );
  });

  it('splits 100 cents three ways as 34/33/33, the remainder going to the earliest tie', () => {
    expect(allocate(money(100, USD), [1, 1, 1]).map((m) => m.amount)).toEqual([34, 33, 33]);
    expect(allocate(money(-100, USD), [1, 1, 1]).map((m) => m.amount)).toEqual([-34, -33, -33]);
  });

  it('refuses no weights, negative or fractional weights, and all-zero weights', () => {
    expect(() => allocate(money(100, USD), [])).toThrow(RangeError);
    expect(() => allocate(money(100, USD), [1, -1])).toThrow(RangeError);
    expect(() => allocate(money(100, USD), [0.5, 1])).toThrow(RangeError);
    expect(() => allocate(money(100, USD), [0, 0])).toThrow(RangeError);
  });
});

describe('toDecimalString / fromDecimalString', () => {
  it('round-trips every safe amount in every currency', () => {
    fc.assert(
      fc.property(currencyArb, safeAmount, (currency, amount) => {
        const text = toDecimalString(money(amount, currency));
        const back = fromDecimalString(text, currency);
        expect(back).toEqual(money(amount, currency));
      }),
    );
  });

  it('writes exactly the currency exponent of fraction digits', () => {
    fc.assert(
      fc.property(currencyArb, safeAmount, (currency, amount) => {
        const text = toDecimalString(money(amount, currency));
        const exp = currencyExponent(currency);
        const fraction = text.split('.')[1];
        if (exp === 0) expect(fraction).toBeUndefined();
        else expect(fraction).toHaveLength(exp);
      }),
    );
  });

  it('formats the reference examples', () => {
    expect(toDecimalString(money(1999, USD))).toBe('19.99');
    expect(toDecimalString(money(5, USD))).toBe('0.05');
    expect(toDecimalString(money(-5, USD))).toBe('-0.05');
    expect(toDecimalString(money(500, cur('JPY')))).toBe('500');
    expect(toDecimalString(money(1250, cur('KWD')))).toBe('1.250');
  });

  it('refuses more fraction digits than the currency has, malformed text, and unsafe amounts', () => {
    expect(fromDecimalString('19.999', USD)).toBeUndefined();
    expect(fromDecimalString('1.5', cur('JPY'))).toBeUndefined();
    expect(fromDecimalString('19,99', USD)).toBeUndefined();
    expect(fromDecimalString('1e3', USD)).toBeUndefined();
    expect(fromDecimalString('', USD)).toBeUndefined();
    expect(fromDecimalString('.5', USD)).toBeUndefined();
    expect(fromDecimalString('90071992547409.92', USD)).toBeUndefined();
    expect(fromDecimalString('1.5', USD)).toEqual(money(150, USD));
  });
});

describe('ISO 4217 exponents', () => {
  it.each([
    ['JPY', 0],
    ['USD', 2],
    ['EUR', 2],
    ['INR', 2],
    ['KWD', 3],
    ['BHD', 3],
  ] as const)('%s has %i minor-unit digits, as the currency-codes data says', (code, digits) => {
    expect(currencyExponent(cur(code))).toBe(digits);
    expect(cc.code(code)?.digits).toBe(digits);
  });

  it('takes every exponent from the data source and records its publish date', () => {
    for (const c of allCurrencies()) expect(currencyExponent(c)).toBe(cc.code(c)?.digits);
    expect(ISO_4217_PUBLISHED).toBe(cc.publishDate);
    expect(ISO_4217_PUBLISHED).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it('refuses non-tender codes and lowercase spellings', () => {
    expect(parseCurrency('XAU')).toBeUndefined();
    expect(parseCurrency('XXX')).toBeUndefined();
    expect(parseCurrency('usd')).toBeUndefined();
    expect(() => currencyExponent('ZZZ' as CurrencyCode)).toThrow();
  });
});

describe('add / subtract', () => {
  const twoCurrencies = fc
    .tuple(currencyArb, currencyArb)
    .filter(([a, b]) => a !== b);

  it('refuse mixed currencies', () => {
    fc.assert(
      fc.property(twoCurrencies, fc.integer(), fc.integer(), ([a, b], x, y) => {
        expect(() => add(money(x, a), money(y, b))).toThrow(CurrencyMismatchError);
        expect(() => subtract(money(x, a), money(y, b))).toThrow(CurrencyMismatchError);
      }),
    );
  });

  it('are exact inverses within one currency', () => {
    const half = Math.floor(Number.MAX_SAFE_INTEGER / 2);
    const halfAmount = fc.integer({ min: -half, max: half });
    fc.assert(
      fc.property(currencyArb, halfAmount, halfAmount, (c, x, y) => {
        expect(subtract(add(money(x, c), money(y, c)), money(y, c))).toEqual(money(x, c));
      }),
    );
  });

  it('throw instead of leaving the safe-integer range', () => {
    expect(() => add(money(Number.MAX_SAFE_INTEGER, USD), money(1, USD))).toThrow(RangeError);
    expect(() => subtract(money(Number.MIN_SAFE_INTEGER, USD), money(1, USD))).toThrow(RangeError);
  });

  it('money() refuses floats and unknown currencies', () => {
    expect(() => money(19.99, USD)).toThrow(RangeError);
    expect(() => money(1, 'ZZZ' as CurrencyCode)).toThrow(RangeError);
  });
});
