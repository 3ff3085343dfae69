import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { assertBeforeDeadline, deadlineMs, GrpcStatusError } from './service.js';
import { minorUnitsFrom } from './convert.js';

describe('deadlines', () => {
  it('refuses to start work whose deadline has passed, and lets work without a deadline run', () => {
    expect(() => assertBeforeDeadline(1_000, 999)).not.toThrow();
    for (const now of [1_000, 1_001]) {
      let thrown: unknown;
      try {
        assertBeforeDeadline(1_000, now);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(GrpcStatusError);
      expect((thrown as GrpcStatusError).code).toBe(status.DEADLINE_EXCEEDED);
    }
    expect(() => assertBeforeDeadline(deadlineMs(Infinity), Date.now())).not.toThrow();
    expect(deadlineMs(new Date(5_000))).toBe(5_000);
  });
});

describe('minorUnitsFrom', () => {
  it('accepts every safe integer and refuses int64 values JavaScript cannot hold exactly', () => {
    expect(minorUnitsFrom(9_007_199_254_740_991n, 'amount_minor')).toBe(Number.MAX_SAFE_INTEGER);
    expect(minorUnitsFrom(-5n, 'amount_minor')).toBe(-5);
    expect(() => minorUnitsFrom(9_007_199_254_740_992n, 'amount_minor')).toThrow(expect.objectContaining({ code: 'AMOUNT_INVALID', details: { field: 'amount_minor' } }));
    expect(() => minorUnitsFrom(-(2n ** 63n), 'amount_minor')).toThrow(expect.objectContaining({ code: 'AMOUNT_INVALID' }));
  });
});
