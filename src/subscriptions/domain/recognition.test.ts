import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DAY_MS } from './period.js';
import { earnedBy, recognitionDue } from './recognition.js';

describe('earnedBy', () => {
  const start = Date.UTC(2024, 0, 1);
  const end = start + 30 * DAY_MS;

  it('earns nothing up to the start, everything from the end, straight-line between', () => {
    expect(earnedBy({ amount: 3000, start, end, at: start - 1 })).toBe(0);
    expect(earnedBy({ amount: 3000, start, end, at: start })).toBe(0);
    expect(earnedBy({ amount: 3000, start, end, at: start + 10 * DAY_MS })).toBe(1000);
    expect(earnedBy({ amount: 3000, start, end, at: end - 1 })).toBe(3000); // 2999.99999… → 3000
    expect(earnedBy({ amount: 3000, start, end, at: end })).toBe(3000);
    expect(earnedBy({ amount: 3000, start, end, at: end + DAY_MS })).toBe(3000);
  });

  it('rounds half up', () => {
    expect(earnedBy({ amount: 1, start: 0, end: 2, at: 1 })).toBe(1);
    expect(earnedBy({ amount: 3, start: 0, end: 2, at: 1 })).toBe(2);
    expect([1, 2, 3].map((at) => earnedBy({ amount: 5, start: 0, end: 4, at }))).toEqual([1, 3, 4]);
    expect(earnedBy({ amount: 1000, start: 0, end: 3, at: 1 })).toBe(333);
    expect(earnedBy({ amount: 1000, start: 0, end: 3, at: 2 })).toBe(667);
  });

  it('earns an empty period in full at its instant', () => {
    expect(earnedBy({ amount: 500, start: 10, end: 10, at: 9 })).toBe(0);
    expect(earnedBy({ amount: 500, start: 10, end: 10, at: 10 })).toBe(500);
    expect(earnedBy({ amount: 500, start: 10, end: 10, at: 11 })).toBe(500);
  });

  it('refuses a bad amount or period', () => {
    expect(() => earnedBy({ amount: -1, start: 0, end: 10, at: 5 })).toThrow(/amount/);
    expect(() => earnedBy({ amount: 1.5, start: 0, end: 10, at: 5 })).toThrow(/amount/);
    expect(() => earnedBy({ amount: 10, start: 10, end: 0, at: 5 })).toThrow(/service period/);
    expect(() => earnedBy({ amount: 10, start: 0.5, end: 10, at: 5 })).toThrow(/service period/);
  });
});

describe('recognitionDue', () => {
  it('books what is earned and not yet recognised, never less than zero', () => {
    expect(recognitionDue({ amount: 3000, start: 0, end: 30, at: 10, alreadyRecognised: 0 })).toBe(1000);
    expect(recognitionDue({ amount: 3000, start: 0, end: 30, at: 20, alreadyRecognised: 1000 })).toBe(1000);
    expect(recognitionDue({ amount: 3000, start: 0, end: 30, at: 20, alreadyRecognised: 2000 })).toBe(0);
    // Ahead of a curve shrunk by a refund: it waits.
    expect(recognitionDue({ amount: 1500, start: 0, end: 30, at: 20, alreadyRecognised: 1200 })).toBe(0);
    expect(recognitionDue({ amount: 1500, start: 0, end: 30, at: 30, alreadyRecognised: 1200 })).toBe(300);
  });

  it('refuses a bad alreadyRecognised', () => {
    expect(() => recognitionDue({ amount: 10, start: 0, end: 10, at: 5, alreadyRecognised: -1 })).toThrow(/alreadyRecognised/);
    expect(() => recognitionDue({ amount: 10, start: 0, end: 10, at: 5, alreadyRecognised: 0.5 })).toThrow(/alreadyRecognised/);
  });
});

/** A schedule and postings at increasing instants, some before the start, the last at or after the end. */
const scheduleArb = fc
  .record({
    amount: fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 10_000_000_000 })),
    start: fc.integer({ min: 0, max: 4_000_000_000_000 }),
    length: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 1, max: 366 * DAY_MS })),
  })
  .chain(({ amount, start, length }) =>
    fc.record({
      amount: fc.constant(amount),
      start: fc.constant(start),
      end: fc.constant(start + length),
      ats: fc
        .uniqueArray(fc.integer({ min: start - DAY_MS, max: start + length + DAY_MS }), { maxLength: 40 })
        .map((xs) => [...xs.sort((a, b) => a - b), start + length + 1]),
    }),
  );

describe('recognition, properties', () => {
  it('is monotone in `at` and within 0..amount', () => {
    fc.assert(
      fc.property(scheduleArb, ({ amount, start, end, ats }) => {
        let prev = 0;
        for (const at of ats) {
          const e = earnedBy({ amount, start, end, at });
          expect(e).toBeGreaterThanOrEqual(prev);
          expect(e).toBeLessThanOrEqual(amount);
          prev = e;
        }
      }),
      { numRuns: 500 },
    );
  });

  it('any sequence of postings is never negative, catches up to earnedBy each time, and sums to exactly `amount` by the end', () => {
    fc.assert(
      fc.property(scheduleArb, fc.array(fc.boolean(), { maxLength: 41 }), ({ amount, start, end, ats }, skips) => {
        let recognised = 0;
        ats.forEach((at, i) => {
          // A skipped posting (a worker late or down) is caught up by the next one; the last always runs.
          if (skips[i] === true && i < ats.length - 1) return;
          const due = recognitionDue({ amount, start, end, at, alreadyRecognised: recognised });
          expect(Number.isSafeInteger(due)).toBe(true);
          expect(due).toBeGreaterThanOrEqual(0);
          recognised += due;
          expect(recognised).toBe(earnedBy({ amount, start, end, at }));
        });
        expect(recognised).toBe(amount);
      }),
      { numRuns: 500 },
    );
  });

  it('a schedule shrunk mid-way (to no less than what it recognised) waits for its curve and still ends at exactly its new amount', () => {
    fc.assert(
      fc.property(scheduleArb, fc.nat(), fc.nat(), ({ amount, start, end, ats }, cut, shrink) => {
        const cutAt = cut % ats.length;
        let current = amount;
        let recognised = 0;
        ats.forEach((at, i) => {
          if (i === cutAt) current = recognised + (shrink % (current - recognised + 1));
          const due = recognitionDue({ amount: current, start, end, at, alreadyRecognised: recognised });
          expect(due).toBeGreaterThanOrEqual(0);
          recognised += due;
          expect(recognised).toBe(Math.max(recognised - due, earnedBy({ amount: current, start, end, at })));
        });
        expect(recognised).toBe(current);
      }),
      { numRuns: 500 },
    );
  });
});
