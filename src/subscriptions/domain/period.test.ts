import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BillingInterval } from '../../catalog/domain/price.js';
import { addDays, addIntervals, DAY_MS, monthsPer, periodIndexAt, periodOf } from './period.js';

const utc = (y: number, m: number, d: number, h = 0, min = 0, s = 0, ms = 0): number => Date.UTC(y, m - 1, d, h, min, s, ms);
const iso = (ms: number): string => new Date(ms).toISOString();
/** Milliseconds since UTC midnight (before 1970 too). */
const timeOfDay = (ms: number): number => ((ms % DAY_MS) + DAY_MS) % DAY_MS;

/** Days in a calendar month (1-based month), by the Gregorian rule, independent of Date. */
function daysIn(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!;
}

const intervalArb = fc.constantFrom<BillingInterval>('month', 'year');
/** Instants from 1900 to 2300, to the millisecond. */
const instantArb = fc.integer({ min: utc(1900, 1, 1), max: utc(2300, 1, 1) });
/** Anchors that favour the awkward days of a month (28th to 31st). */
const anchorArb = fc.oneof(
  instantArb,
  fc
    .record({ year: fc.integer({ min: 1900, max: 2300 }), month: fc.integer({ min: 1, max: 12 }), day: fc.integer({ min: 28, max: 31 }), time: fc.integer({ min: 0, max: DAY_MS - 1 }) })
    .map(({ year, month, day, time }) => utc(year, month, Math.min(day, daysIn(year, month))) + time),
);

describe('monthsPer', () => {
  it('is one month for monthly, twelve for annual', () => {
    expect(monthsPer('month')).toBe(1);
    expect(monthsPer('year')).toBe(12);
  });
});

describe('addIntervals', () => {
  it('keeps the anchor day, clamping to a short month, and comes back to the 31st (common year)', () => {
    const anchor = utc(2023, 1, 31, 9, 30, 15, 250);
    expect([0, 1, 2, 3, 4, 5].map((k) => iso(addIntervals(anchor, 'month', k)))).toEqual([
      '2023-01-31T09:30:15.250Z',
      '2023-02-28T09:30:15.250Z',
      '2023-03-31T09:30:15.250Z',
      '2023-04-30T09:30:15.250Z',
      '2023-05-31T09:30:15.250Z',
      '2023-06-30T09:30:15.250Z',
    ]);
  });

  it('clamps Jan 31 to Feb 29 in a leap year', () => {
    expect(iso(addIntervals(utc(2024, 1, 31), 'month', 1))).toBe('2024-02-29T00:00:00.000Z');
    expect(iso(addIntervals(utc(2024, 1, 31), 'month', 2))).toBe('2024-03-31T00:00:00.000Z');
    expect(iso(addIntervals(utc(2024, 1, 30, 23, 59, 59, 999), 'month', 1))).toBe('2024-02-29T23:59:59.999Z');
  });

  it('crosses year ends', () => {
    expect(iso(addIntervals(utc(2023, 12, 31, 12), 'month', 2))).toBe('2024-02-29T12:00:00.000Z');
    expect(iso(addIntervals(utc(2023, 11, 30), 'month', 3))).toBe('2024-02-29T00:00:00.000Z');
    expect(iso(addIntervals(utc(2023, 12, 15), 'month', 13))).toBe('2025-01-15T00:00:00.000Z');
    expect(iso(addIntervals(utc(2023, 12, 15), 'month', 25))).toBe('2026-01-15T00:00:00.000Z');
  });

  it('renews a Feb 29 anchor on Feb 28 in common years and Feb 29 in leap years', () => {
    const anchor = utc(2024, 2, 29, 8);
    expect([1, 2, 3, 4, 5].map((k) => iso(addIntervals(anchor, 'year', k)))).toEqual([
      '2025-02-28T08:00:00.000Z',
      '2026-02-28T08:00:00.000Z',
      '2027-02-28T08:00:00.000Z',
      '2028-02-29T08:00:00.000Z',
      '2029-02-28T08:00:00.000Z',
    ]);
    // 2100 is not a leap year, 2400 is.
    expect(iso(addIntervals(utc(2096, 2, 29), 'year', 4))).toBe('2100-02-28T00:00:00.000Z');
    expect(iso(addIntervals(utc(2396, 2, 29), 'year', 4))).toBe('2400-02-29T00:00:00.000Z');
  });

  it('is twelve months for a year', () => {
    const anchor = utc(2023, 3, 31, 1, 2, 3);
    for (const k of [0, 1, 2, 7]) expect(addIntervals(anchor, 'year', k)).toBe(addIntervals(anchor, 'month', 12 * k));
  });

  it('works before 1970 and in years 0..99 (not mapped onto 19xx)', () => {
    expect(iso(addIntervals(utc(1960, 1, 31, 6), 'month', 1))).toBe('1960-02-29T06:00:00.000Z');
    const year50 = new Date(0);
    year50.setUTCFullYear(50, 0, 31);
    const next = new Date(addIntervals(year50.getTime(), 'month', 1));
    expect([next.getUTCFullYear(), next.getUTCMonth(), next.getUTCDate()]).toEqual([50, 1, 28]);
  });

  it('refuses instants and counts it cannot represent', () => {
    expect(() => addIntervals(1.5, 'month', 1)).toThrow(RangeError);
    expect(() => addIntervals(Number.NaN, 'month', 1)).toThrow(RangeError);
    expect(() => addIntervals(8.64e15 + 1, 'month', 0)).toThrow(RangeError);
    expect(() => addIntervals(0, 'month', -1)).toThrow(RangeError);
    expect(() => addIntervals(0, 'month', 0.5)).toThrow(RangeError);
    expect(() => addIntervals(8.64e15 - DAY_MS, 'month', 1)).toThrow(/leaves the Date range/);
    expect(() => addIntervals(0, 'forever' as BillingInterval, 1)).toThrow(/unknown billing interval/);
  });

  it('keeps day (clamped), time of day and the month count, and strictly increases (property)', () => {
    fc.assert(
      fc.property(anchorArb, intervalArb, fc.integer({ min: 0, max: 240 }), (anchor, interval, k) => {
        const a = new Date(anchor);
        const r = new Date(addIntervals(anchor, interval, k));
        const months = (r.getUTCFullYear() - a.getUTCFullYear()) * 12 + (r.getUTCMonth() - a.getUTCMonth());
        expect(months).toBe(k * monthsPer(interval));
        expect(r.getUTCDate()).toBe(Math.min(a.getUTCDate(), daysIn(r.getUTCFullYear(), r.getUTCMonth() + 1)));
        expect(timeOfDay(r.getTime())).toBe(timeOfDay(anchor));
        expect(addIntervals(anchor, interval, k + 1)).toBeGreaterThan(r.getTime());
      }),
      { numRuns: 500 },
    );
  });
});

describe('periodOf', () => {
  it('computes every period from the anchor, never chaining from a short month', () => {
    const anchor = utc(2023, 1, 31);
    const periods = [0, 1, 2, 3].map((k) => periodOf(anchor, 'month', k));
    expect(periods.map((p) => [iso(p.start), iso(p.end)])).toEqual([
      ['2023-01-31T00:00:00.000Z', '2023-02-28T00:00:00.000Z'],
      ['2023-02-28T00:00:00.000Z', '2023-03-31T00:00:00.000Z'],
      ['2023-03-31T00:00:00.000Z', '2023-04-30T00:00:00.000Z'],
      ['2023-04-30T00:00:00.000Z', '2023-05-31T00:00:00.000Z'],
    ]);
  });

  it('has a yearly period of 365 or 366 days', () => {
    const p = periodOf(utc(2024, 2, 29), 'year', 0);
    expect((p.end - p.start) / DAY_MS).toBe(365);
    const q = periodOf(utc(2023, 3, 1), 'year', 0);
    expect((q.end - q.start) / DAY_MS).toBe(366);
  });

  it('refuses a negative or fractional index', () => {
    expect(() => periodOf(0, 'month', -1)).toThrow(RangeError);
    expect(() => periodOf(0, 'month', 1.5)).toThrow(RangeError);
  });

  it('tiles time: each period ends where the next starts (property)', () => {
    fc.assert(
      fc.property(anchorArb, intervalArb, fc.integer({ min: 0, max: 240 }), (anchor, interval, k) => {
        const p = periodOf(anchor, interval, k);
        expect(p.start).toBeLessThan(p.end);
        expect(periodOf(anchor, interval, k + 1).start).toBe(p.end);
        if (k === 0) expect(p.start).toBe(anchor);
      }),
    );
  });
});

describe('periodIndexAt', () => {
  const anchor = utc(2023, 1, 31, 10);

  it('finds the period containing an instant: its start in, its end out', () => {
    expect(periodIndexAt(anchor, 'month', anchor)).toBe(0);
    expect(periodIndexAt(anchor, 'month', utc(2023, 2, 28, 9, 59, 59, 999))).toBe(0);
    expect(periodIndexAt(anchor, 'month', utc(2023, 2, 28, 10))).toBe(1);
    // Mar 30 is in the calendar month after February but still in period 1 (Feb 28 → Mar 31).
    expect(periodIndexAt(anchor, 'month', utc(2023, 3, 30, 23))).toBe(1);
    expect(periodIndexAt(anchor, 'month', utc(2023, 3, 31, 10))).toBe(2);
    // Later in the anchor's day of month but earlier in its time of day.
    expect(periodIndexAt(anchor, 'month', utc(2023, 5, 31, 9))).toBe(3);
    expect(periodIndexAt(anchor, 'year', utc(2024, 1, 31, 9))).toBe(0);
    expect(periodIndexAt(anchor, 'year', utc(2024, 1, 31, 10))).toBe(1);
    expect(periodIndexAt(utc(2024, 2, 29), 'year', utc(2025, 2, 28))).toBe(1);
    expect(periodIndexAt(utc(2024, 2, 29), 'year', utc(2025, 2, 28) - 1)).toBe(0);
  });

  it('refuses an instant before the anchor, or a bad instant', () => {
    expect(() => periodIndexAt(anchor, 'month', anchor - 1)).toThrow(/before the anchor/);
    expect(() => periodIndexAt(anchor, 'month', Number.NaN)).toThrow(RangeError);
    expect(() => periodIndexAt(0.5, 'month', 10)).toThrow(RangeError);
  });

  it('agrees with periodOf for any instant (property)', () => {
    fc.assert(
      fc.property(anchorArb, intervalArb, instantArb, (anchor, interval, at) => {
        fc.pre(at >= anchor);
        const k = periodIndexAt(anchor, interval, at);
        const p = periodOf(anchor, interval, k);
        expect(p.start).toBeLessThanOrEqual(at);
        expect(at).toBeLessThan(p.end);
      }),
      { numRuns: 500 },
    );
  });

  it('gives back k for every instant of period k, its first and last millisecond included (property)', () => {
    fc.assert(
      fc.property(anchorArb, intervalArb, fc.integer({ min: 0, max: 240 }), fc.double({ min: 0, max: 1, noNaN: true }), (anchor, interval, k, frac) => {
        const p = periodOf(anchor, interval, k);
        const inside = p.start + Math.min(p.end - p.start - 1, Math.floor((p.end - p.start) * frac));
        expect(periodIndexAt(anchor, interval, p.start)).toBe(k);
        expect(periodIndexAt(anchor, interval, p.end - 1)).toBe(k);
        expect(periodIndexAt(anchor, interval, inside)).toBe(k);
        expect(periodIndexAt(anchor, interval, p.end)).toBe(k + 1);
      }),
      { numRuns: 500 },
    );
  });
});

describe('addDays', () => {
  it('adds whole days of DAY_MS, forward and back', () => {
    expect(addDays(utc(2024, 2, 28), 1)).toBe(utc(2024, 2, 29));
    expect(addDays(utc(2024, 3, 1), -1)).toBe(utc(2024, 2, 29));
    expect(addDays(5, 0)).toBe(5);
  });

  it('refuses fractional days and leaving the Date range', () => {
    expect(() => addDays(0, 1.5)).toThrow(RangeError);
    expect(() => addDays(0.5, 1)).toThrow(RangeError);
    expect(() => addDays(8.64e15, 1)).toThrow(/leaves the Date range/);
  });
});
