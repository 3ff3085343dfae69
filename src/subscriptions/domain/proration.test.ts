import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { money, parseCurrency, type CurrencyCode } from '../../money/index.js';
import { DAY_MS, periodOf } from './period.js';
import { unusedShare, unusedTimeCredit } from './proration.js';

const EUR = parseCurrency('EUR') as CurrencyCode;
const JPY = parseCurrency('JPY') as CurrencyCode;

const credit = (paid: number, periodStart: number, periodEnd: number, at: number): number =>
  unusedTimeCredit({ paid: money(paid, EUR), periodStart, periodEnd, at }).amount;

/** round_half_up(paid × (end − at) / (end − start)), written out independently in BigInt. */
function expectedCredit(paid: number, start: number, end: number, at: number): number {
  const num = BigInt(paid) * BigInt(end - at);
  const den = BigInt(end - start);
  return Number((2n * num + den) / (2n * den));
}

/** A paid period (up to a year, any instants) and an instant within it. */
const caseArb = fc
  .record({
    paid: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 10_000_000_000 })),
    start: fc.integer({ min: 0, max: 4_102_444_800_000 }),
    length: fc.oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 366 * DAY_MS })),
  })
  .chain(({ paid, start, length }) =>
    fc.record({ paid: fc.constant(paid), start: fc.constant(start), end: fc.constant(start + length), at: fc.integer({ min: start, max: start + length }), at2: fc.integer({ min: start, max: start + length }) }),
  );

describe('unusedTimeCredit', () => {
  const start = Date.UTC(2024, 0, 1);
  const end = Date.UTC(2024, 0, 31); // 30 days

  it('credits the unused share by time, to the millisecond', () => {
    expect(credit(3000, start, end, start)).toBe(3000);
    expect(credit(3000, start, end, end)).toBe(0);
    expect(credit(3000, start, end, start + 10 * DAY_MS)).toBe(2000);
    // 1000 × 20/30 = 666.67 → 667
    expect(credit(1000, start, end, start + 10 * DAY_MS)).toBe(667);
    // one millisecond of use already costs something on a large amount
    expect(credit(2_592_000_000, start, end, start + 1)).toBe(2_591_999_999);
  });

  it('rounds half up', () => {
    // 1 × 1/2 = 0.5 → 1; 3 × 1/2 = 1.5 → 2; 5 × k/4 = 1.25, 2.5, 3.75 → 1, 3, 4
    expect(credit(1, 0, 2, 1)).toBe(1);
    expect(credit(3, 0, 2, 1)).toBe(2);
    expect([3, 2, 1].map((left) => credit(5, 0, 4, 4 - left))).toEqual([4, 3, 1]);
    // 2.4999… stays down
    expect(credit(5, 0, 1_000_001, 500_001)).toBe(2);
  });

  it('is exact where floating point would not be (paid × period length > 2^53)', () => {
    const paid = 9_999_999_999;
    const p = periodOf(Date.UTC(2024, 1, 29), 'year', 0);
    const at = p.start + 123_456_789;
    expect(credit(paid, p.start, p.end, at)).toBe(expectedCredit(paid, p.start, p.end, at));
    expect(paid * (p.end - at)).toBeGreaterThan(Number.MAX_SAFE_INTEGER);
  });

  it('keeps the currency', () => {
    expect(unusedTimeCredit({ paid: money(1000, JPY), periodStart: 0, periodEnd: 10, at: 5 })).toEqual(money(500, JPY));
  });

  it('refuses bookkeeping that cannot be right (bugs upstream, so plain errors)', () => {
    expect(() => credit(-1, 0, 10, 5)).toThrow(/paid/);
    expect(() => unusedTimeCredit({ paid: { amount: 1.5, currency: EUR }, periodStart: 0, periodEnd: 10, at: 5 })).toThrow(/paid/);
    expect(() => credit(100, 0, 0, 0)).toThrow(/empty or inverted/);
    expect(() => credit(100, 10, 0, 5)).toThrow(/empty or inverted/);
    expect(() => credit(100, 0, 10, -1)).toThrow(/outside the period/);
    expect(() => credit(100, 0, 10, 11)).toThrow(/outside the period/);
    expect(() => credit(100, 0, 10, 5.5)).toThrow(/at must be an integer/);
    expect(() => credit(100, Number.NaN, 10, 5)).toThrow(/periodStart/);
  });

  it('rounds half up, once: credit is the exact share rounded (property)', () => {
    fc.assert(
      fc.property(caseArb, ({ paid, start, end, at }) => {
        expect(credit(paid, start, end, at)).toBe(expectedCredit(paid, start, end, at));
      }),
      { numRuns: 1000 },
    );
  });

  it('credit + used = paid exactly, each within half a unit of its exact share (property)', () => {
    fc.assert(
      fc.property(caseArb, ({ paid, start, end, at }) => {
        const c = credit(paid, start, end, at);
        const used = paid - c;
        expect(c).toBeGreaterThanOrEqual(0);
        expect(used).toBeGreaterThanOrEqual(0);
        expect(c + used).toBe(paid);
        // |used × D − paid × (at − start)| ≤ D / 2, in exact integers.
        const D = BigInt(end - start);
        const err = BigInt(used) * D - BigInt(paid) * BigInt(at - start);
        expect(2n * (err < 0n ? -err : err) <= D).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('never grows as `at` moves later (property)', () => {
    fc.assert(
      fc.property(caseArb, ({ paid, start, end, at, at2 }) => {
        const [early, late] = at <= at2 ? [at, at2] : [at2, at];
        expect(credit(paid, start, end, late)).toBeLessThanOrEqual(credit(paid, start, end, early));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('unusedShare', () => {
  it('for one share is exactly the unused-time credit, and rounds a chain of shares once, half up', () => {
    // 5900 with 15 of 31 days unused: 2854.84 → 2855, as unusedTimeCredit gives.
    expect(unusedShare(5900, [{ num: 15, den: 31 }])).toBe(2855);
    // The credited 15/31 of 5900, times 300 of 365 days of the next plan still unused: one exact rounding.
    expect(unusedShare(5900, [{ num: 15, den: 31 }, { num: 300, den: 365 }])).toBe(Number((5900n * 15n * 300n * 2n + 31n * 365n) / (2n * 31n * 365n)));
    expect(unusedShare(1, [{ num: 1, den: 2 }])).toBe(1); // a half rounds up
    expect(unusedShare(0, [{ num: 1, den: 3 }])).toBe(0);
    expect(() => unusedShare(100, [{ num: 4, den: 3 }])).toThrow(RangeError);
    expect(() => unusedShare(-1, [])).toThrow(RangeError);
  });

  it('equals unusedTimeCredit for any single share (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000_000 }), fc.integer({ min: 1, max: 400 * DAY_MS }), fc.double({ min: 0, max: 1, noNaN: true }), (paid, span, f) => {
        const num = Math.floor(span * f);
        expect(unusedShare(paid, [{ num, den: span }])).toBe(unusedTimeCredit({ paid: money(paid, EUR), periodStart: 0, periodEnd: span, at: span - num }).amount);
      }),
      { numRuns: 500 },
    );
  });
});
