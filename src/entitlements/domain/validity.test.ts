import { describe, expect, it } from 'vitest';
import { addBillingPeriod, contains, mergeWindows, purchaseWindow, windowAt } from './validity.js';

const utc = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

describe('billing periods (calendar arithmetic in UTC)', () => {
  it('adds a month keeping day and time of day', () => {
    expect(iso(addBillingPeriod(utc('2026-03-15T10:20:30.456Z'), 'month'))).toBe('2026-04-15T10:20:30.456Z');
  });

  it('clamps to the end of a shorter month instead of spilling into the next', () => {
    expect(iso(addBillingPeriod(utc('2026-01-31T23:59:59.999Z'), 'month'))).toBe('2026-02-28T23:59:59.999Z');
    expect(iso(addBillingPeriod(utc('2028-01-31T00:00:00.000Z'), 'month'))).toBe('2028-02-29T00:00:00.000Z');
    expect(iso(addBillingPeriod(utc('2026-03-31T12:00:00.000Z'), 'month'))).toBe('2026-04-30T12:00:00.000Z');
  });

  it('rolls December into January of the next year', () => {
    expect(iso(addBillingPeriod(utc('2026-12-31T08:00:00.000Z'), 'month'))).toBe('2027-01-31T08:00:00.000Z');
  });

  it('adds a year; 29 February becomes 28 February', () => {
    expect(iso(addBillingPeriod(utc('2026-06-01T00:00:00.000Z'), 'year'))).toBe('2027-06-01T00:00:00.000Z');
    expect(iso(addBillingPeriod(utc('2028-02-29T06:00:00.000Z'), 'year'))).toBe('2029-02-28T06:00:00.000Z');
  });

  it('one-time purchases have no end; recurring ones one period', () => {
    const at = utc('2026-05-10T00:00:00.000Z');
    expect(purchaseWindow(at, null)).toEqual({ validFrom: at, validUntil: null });
    expect(purchaseWindow(at, 'month')).toEqual({ validFrom: at, validUntil: utc('2026-06-10T00:00:00.000Z') });
    expect(purchaseWindow(at, 'year')).toEqual({ validFrom: at, validUntil: utc('2027-05-10T00:00:00.000Z') });
  });
});

describe('windows', () => {
  it('are open at the start and closed at the end', () => {
    const w = { validFrom: 100, validUntil: 200 };
    expect([contains(w, 99), contains(w, 100), contains(w, 199), contains(w, 200)]).toEqual([false, true, true, false]);
    expect(contains({ validFrom: 100, validUntil: null }, Number.MAX_SAFE_INTEGER)).toBe(true);
  });

  it('merge overlapping and touching windows, drop empty ones, keep gaps', () => {
    expect(
      mergeWindows([
        { validFrom: 500, validUntil: 600 },
        { validFrom: 100, validUntil: 200 },
        { validFrom: 200, validUntil: 300 },
        { validFrom: 250, validUntil: 280 },
        { validFrom: 400, validUntil: 400 },
      ]),
    ).toEqual([
      { validFrom: 100, validUntil: 300 },
      { validFrom: 500, validUntil: 600 },
    ]);
    expect(mergeWindows([{ validFrom: 100, validUntil: 200 }, { validFrom: 150, validUntil: null }])).toEqual([{ validFrom: 100, validUntil: null }]);
    expect(mergeWindows([{ validFrom: 100, validUntil: null }, { validFrom: 150, validUntil: 300 }])).toEqual([{ validFrom: 100, validUntil: null }]);
  });

  it('finds the window holding an instant, none in a gap', () => {
    const ws = mergeWindows([{ validFrom: 100, validUntil: 200 }, { validFrom: 300, validUntil: null }]);
    expect(windowAt(ws, 150)).toEqual({ validFrom: 100, validUntil: 200 });
    expect(windowAt(ws, 250)).toBeUndefined();
    expect(windowAt(ws, 10_000)).toEqual({ validFrom: 300, validUntil: null });
  });
});
