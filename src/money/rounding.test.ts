import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { divideRounded, mulDivRounded, ROUNDING_MODES } from './rounding.js';
import type { RoundingMode } from './rounding.js';

/**
 * An independent reference: floor division plus the remainder's distance to the next integer,
 * rather than divideRounded's sign-and-magnitude approach. `down`/`up` are toward/away from zero.
 */
function reference(n: bigint, d: bigint, mode: RoundingMode): bigint {
  let floor = n / d;
  if (n % d !== 0n && n < 0n) floor -= 1n;
  const rem = n - floor * d; // 0 ≤ rem < d
  if (rem === 0n) return floor;
  const ceil = floor + 1n;
  const towardZero = n >= 0n ? floor : ceil;
  const awayFromZero = n >= 0n ? ceil : floor;
  switch (mode) {
    case 'down':
      return towardZero;
    case 'up':
      return awayFromZero;
    case 'half_up':
      return 2n * rem === d ? awayFromZero : 2n * rem > d ? ceil : floor;
    case 'half_even':
      return 2n * rem === d ? (floor % 2n === 0n ? floor : ceil) : 2n * rem > d ? ceil : floor;
  }
}

const MAX = BigInt(Number.MAX_SAFE_INTEGER);
const modeArb = fc.constantFrom(...ROUNDING_MODES);
const safeInt = fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER });
const positiveSafeInt = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
// Small values make exact halves and sign changes frequent; large ones exercise overflow.
const amountArb = fc.oneof(fc.integer({ min: -1000, max: 1000 }), safeInt);
const numeratorArb = fc.oneof(fc.integer({ min: -10_000, max: 10_000 }), safeInt);
const denominatorArb = fc.oneof(fc.integer({ min: 1, max: 20_000 }), positiveSafeInt);

describe('mulDivRounded', () => {
  it('agrees with a BigInt reference in every mode, or throws when the result is not a safe integer', () => {
    fc.assert(
      fc.property(amountArb, numeratorArb, denominatorArb, modeArb, (a, n, d, mode) => {
        const expected = reference(BigInt(a) * BigInt(n), BigInt(d), mode);
        if (expected > MAX || expected < -MAX) {
          expect(() => mulDivRounded(a, n, d, mode)).toThrow(RangeError);
        } else {
          expect(mulDivRounded(a, n, d, mode)).toBe(Number(expected));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('is exact where a float would not be: intermediate products beyond 2^53', () => {
    // 2^53 − 1 × 3 / 3 overflows a double's mantissa in the middle but not in the result.
    expect(mulDivRounded(Number.MAX_SAFE_INTEGER, 3, 3, 'half_up')).toBe(Number.MAX_SAFE_INTEGER);
    expect(mulDivRounded(Number.MAX_SAFE_INTEGER, 10_000, 20_000, 'half_even')).toBe(2 ** 52);
  });

  it('throws on results beyond the safe range rather than losing precision', () => {
    expect(() => mulDivRounded(Number.MAX_SAFE_INTEGER, 2, 1, 'down')).toThrow(RangeError);
    expect(() => mulDivRounded(Number.MIN_SAFE_INTEGER, 3, 2, 'up')).toThrow(RangeError);
  });

  it('refuses non-integer and unsafe inputs and non-positive denominators', () => {
    expect(() => mulDivRounded(1.5, 1, 1, 'half_up')).toThrow(RangeError);
    expect(() => mulDivRounded(1, Number.MAX_SAFE_INTEGER + 1, 1, 'half_up')).toThrow(RangeError);
    expect(() => mulDivRounded(1, 1, Number.NaN, 'half_up')).toThrow(RangeError);
    expect(() => mulDivRounded(1, 1, 0, 'half_up')).toThrow(RangeError);
    expect(() => mulDivRounded(1, 1, -2, 'half_up')).toThrow(RangeError);
  });

  it('never returns negative zero', () => {
    // −1/3 rounds to zero in these modes; a −0 would print as "-0.00" downstream.
    for (const mode of ['down', 'half_up', 'half_even'] as const) {
      expect(Object.is(mulDivRounded(-1, 1, 3, mode), 0)).toBe(true);
    }
  });
});

describe('divideRounded at exact halves', () => {
  it.each([
    // n/2    half_up  half_even
    [5n, 3n, 2n], //  2.5
    [7n, 4n, 4n], //  3.5
    [1n, 1n, 0n], //  0.5
    [3n, 2n, 2n], //  1.5
    [-5n, -3n, -2n], // −2.5
    [-7n, -4n, -4n], // −3.5
    [-1n, -1n, 0n], // −0.5
    [-3n, -2n, -2n], // −1.5
  ])('%i/2 rounds half_up to %i and half_even to %i', (n, halfUp, halfEven) => {
    expect(divideRounded(n, 2n, 'half_up')).toBe(halfUp);
    expect(divideRounded(n, 2n, 'half_even')).toBe(halfEven);
  });

  it('half_up moves every exact half away from zero; half_even to the even neighbour', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }), fc.bigInt({ min: 1n, max: 2n ** 40n }), (k, m) => {
        // n/d = k + ½ exactly, for any scale m.
        const d = 2n * m;
        const n = (2n * k + 1n) * m;
        const lower = k;
        const upper = k + 1n;
        expect(divideRounded(n, d, 'half_up')).toBe(n > 0n ? upper : lower);
        expect(divideRounded(n, d, 'half_even')).toBe(lower % 2n === 0n ? lower : upper);
      }),
    );
  });

  it('just off the half goes to the nearer neighbour in both modes, whatever the sign', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 60n), max: 2n ** 60n }), fc.constantFrom('half_up', 'half_even') as fc.Arbitrary<RoundingMode>, (k, mode) => {
        // (k + 0.499) and (k + 0.501) with denominator 1000.
        expect(divideRounded(k * 1000n + 499n, 1000n, mode)).toBe(k);
        expect(divideRounded(k * 1000n + 501n, 1000n, mode)).toBe(k + 1n);
      }),
    );
  });

  it('down truncates toward zero and up rounds away from zero', () => {
    expect(divideRounded(7n, 2n, 'down')).toBe(3n);
    expect(divideRounded(-7n, 2n, 'down')).toBe(-3n);
    expect(divideRounded(7n, 3n, 'up')).toBe(3n);
    expect(divideRounded(-7n, 3n, 'up')).toBe(-3n);
  });
});
