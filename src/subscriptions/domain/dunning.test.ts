import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assertPolicy,
  decideAfterFailure,
  dunningDeadline,
  isRetryableDecline,
  policyProblem,
  RETRYABLE_DECLINE_REASONS,
  type DunningDeclineClass,
  type DunningPolicy,
} from './dunning.js';
import { DAY_MS } from './period.js';

const policy: DunningPolicy = { retryDays: [1, 3, 5], graceDays: 7, onExhausted: 'cancel' };
const first = Date.UTC(2024, 2, 31, 4, 0, 0);
const day = (n: number): number => first + n * DAY_MS;
const NON_RETRYABLE_REASONS = ['stolen_card', 'lost_card', 'expired_card', 'incorrect_number', 'fraudulent', 'account_closed', 'pickup_card', 'unknown_reason'];

const decide = (args: { declineClass: DunningDeclineClass; reason?: string; retriesDone?: number; now?: number; policy?: DunningPolicy }) =>
  decideAfterFailure({
    policy: args.policy ?? policy,
    firstFailedAt: first,
    retriesDone: args.retriesDone ?? 0,
    decline: { declineClass: args.declineClass, reason: args.reason ?? 'insufficient_funds' },
    now: args.now ?? first,
  });

describe('isRetryableDecline', () => {
  it('retries any soft decline', () => {
    for (const reason of [...RETRYABLE_DECLINE_REASONS, ...NON_RETRYABLE_REASONS, '']) expect(isRetryableDecline({ declineClass: 'soft', reason })).toBe(true);
  });

  it('retries a hard decline only for the issuer reasons that can turn into a yes', () => {
    for (const reason of RETRYABLE_DECLINE_REASONS) expect(isRetryableDecline({ declineClass: 'hard', reason })).toBe(true);
    for (const reason of NON_RETRYABLE_REASONS) expect(isRetryableDecline({ declineClass: 'hard', reason })).toBe(false);
  });

  it('never retries a decline that wants the cardholder', () => {
    for (const reason of [...RETRYABLE_DECLINE_REASONS, ...NON_RETRYABLE_REASONS]) expect(isRetryableDecline({ declineClass: 'customer_action', reason })).toBe(false);
  });

  it('throws on an unknown class', () => {
    expect(() => isRetryableDecline({ declineClass: 'maybe' as DunningDeclineClass, reason: 'x' })).toThrow(/unknown decline class/);
  });
});

describe('decideAfterFailure', () => {
  it('retries a soft decline on each retry day, counted from the first failure (not from this one)', () => {
    expect(decide({ declineClass: 'soft', reason: 'try_again_later', retriesDone: 0, now: first })).toEqual({ kind: 'retry', at: day(1), deadline: day(7) });
    // The first retry ran (a little late) and failed: the next is on day 3 after the first failure, not 3 days after now.
    expect(decide({ declineClass: 'soft', retriesDone: 1, now: day(1) + 3_600_000 })).toEqual({ kind: 'retry', at: day(3), deadline: day(7) });
    expect(decide({ declineClass: 'soft', retriesDone: 2, now: day(3) })).toEqual({ kind: 'retry', at: day(5), deadline: day(7) });
  });

  it('waits for a new payment method once the retry days are used up', () => {
    expect(decide({ declineClass: 'soft', retriesDone: 3, now: day(5) })).toEqual({ kind: 'await_payment_method', deadline: day(7) });
    expect(decide({ declineClass: 'soft', retriesDone: 9, now: day(6) })).toEqual({ kind: 'await_payment_method', deadline: day(7) });
  });

  it('retries a hard decline for every retryable reason, and for no other', () => {
    for (const reason of RETRYABLE_DECLINE_REASONS) expect(decide({ declineClass: 'hard', reason })).toEqual({ kind: 'retry', at: day(1), deadline: day(7) });
    for (const reason of NON_RETRYABLE_REASONS) expect(decide({ declineClass: 'hard', reason })).toEqual({ kind: 'await_payment_method', deadline: day(7) });
  });

  it('waits for the customer after a decline that wants authentication, whatever the reason', () => {
    for (const reason of ['authentication_required', 'insufficient_funds', 'stolen_card']) {
      expect(decide({ declineClass: 'customer_action', reason })).toEqual({ kind: 'await_customer_authentication', deadline: day(7) });
      expect(decide({ declineClass: 'customer_action', reason, retriesDone: 2, now: day(4) })).toEqual({ kind: 'await_customer_authentication', deadline: day(7) });
    }
  });

  it('exhausts dunning for a failure at or after the deadline, whatever the decline', () => {
    for (const declineClass of ['soft', 'hard', 'customer_action'] as const) {
      for (const now of [day(7), day(7) + 1, day(30)]) {
        expect(decide({ declineClass, retriesDone: 0, now })).toEqual({ kind: 'exhausted' });
        expect(decide({ declineClass, retriesDone: 3, now })).toEqual({ kind: 'exhausted' });
      }
      expect(decide({ declineClass, now: day(7) - 1 }).kind).not.toBe('exhausted');
    }
  });

  it('retries at once when the failure comes after its retry day (a late failure)', () => {
    const late = day(4) + 123;
    expect(decide({ declineClass: 'soft', retriesDone: 1, now: late })).toEqual({ kind: 'retry', at: late, deadline: day(7) });
    expect(decide({ declineClass: 'hard', reason: 'do_not_honor', retriesDone: 0, now: day(2) })).toEqual({ kind: 'retry', at: day(2), deadline: day(7) });
    // On the retry day itself, it is that instant.
    expect(decide({ declineClass: 'soft', retriesDone: 1, now: day(3) })).toEqual({ kind: 'retry', at: day(3), deadline: day(7) });
  });

  it('schedules a retry due on the deadline itself (the last retry day may equal the grace period)', () => {
    const tight: DunningPolicy = { retryDays: [2, 7], graceDays: 7, onExhausted: 'mark_unpaid' };
    expect(decide({ policy: tight, declineClass: 'soft', retriesDone: 1, now: day(2) })).toEqual({ kind: 'retry', at: day(7), deadline: day(7) });
    // …and when that retry fails, at the deadline, dunning is over.
    expect(decide({ policy: tight, declineClass: 'soft', retriesDone: 2, now: day(7) })).toEqual({ kind: 'exhausted' });
  });

  it('with no retry days and no grace, any failure exhausts at once', () => {
    const none: DunningPolicy = { retryDays: [], graceDays: 0, onExhausted: 'cancel' };
    expect(decide({ policy: none, declineClass: 'soft' })).toEqual({ kind: 'exhausted' });
    const graceOnly: DunningPolicy = { retryDays: [], graceDays: 3, onExhausted: 'cancel' };
    expect(decide({ policy: graceOnly, declineClass: 'soft' })).toEqual({ kind: 'await_payment_method', deadline: day(3) });
  });

  it('refuses a bad retriesDone', () => {
    expect(() => decide({ declineClass: 'soft', retriesDone: -1 })).toThrow(RangeError);
    expect(() => decide({ declineClass: 'soft', retriesDone: 0.5 })).toThrow(RangeError);
  });

  it('dunningDeadline is graceDays after the first failure', () => {
    expect(dunningDeadline(policy, first)).toBe(day(7));
    expect(dunningDeadline({ ...policy, graceDays: 0 }, first)).toBe(first);
  });
});

/** Valid policies: 0..6 strictly increasing retry days ≥ 1, a grace period at least the last of them. */
const policyArb = fc
  .record({ days: fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { maxLength: 6 }), extra: fc.integer({ min: 0, max: 30 }), onExhausted: fc.constantFrom('cancel' as const, 'mark_unpaid' as const) })
  .map(({ days, extra, onExhausted }): DunningPolicy => {
    const retryDays = [...days].sort((a, b) => a - b);
    return { retryDays, graceDays: (retryDays.at(-1) ?? 0) + extra, onExhausted };
  });

describe('decideAfterFailure, properties', () => {
  it('follows the table for any valid policy, decline and time', () => {
    fc.assert(
      fc.property(
        policyArb,
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        fc.integer({ min: 0, max: 8 }),
        fc.constantFrom<DunningDeclineClass>('soft', 'hard', 'customer_action'),
        fc.constantFrom(...RETRYABLE_DECLINE_REASONS, ...NON_RETRYABLE_REASONS),
        fc.integer({ min: 0, max: 100 * DAY_MS }),
        (p, firstFailedAt, retriesDone, declineClass, reason, elapsed) => {
          expect(policyProblem(p)).toBeNull();
          const now = firstFailedAt + elapsed;
          const deadline = firstFailedAt + p.graceDays * DAY_MS;
          const d = decideAfterFailure({ policy: p, firstFailedAt, retriesDone, decline: { declineClass, reason }, now });
          if (now >= deadline) {
            expect(d).toEqual({ kind: 'exhausted' });
            return;
          }
          const retryDay = p.retryDays[retriesDone];
          const retryable = declineClass === 'soft' || (declineClass === 'hard' && (RETRYABLE_DECLINE_REASONS as readonly string[]).includes(reason));
          if (declineClass === 'customer_action') expect(d).toEqual({ kind: 'await_customer_authentication', deadline });
          else if (!retryable || retryDay === undefined) expect(d).toEqual({ kind: 'await_payment_method', deadline });
          else {
            expect(d).toEqual({ kind: 'retry', at: Math.max(now, firstFailedAt + retryDay * DAY_MS), deadline });
            // A retry is never before the failure, and never after the deadline.
            if (d.kind === 'retry') {
              expect(d.at).toBeGreaterThanOrEqual(now);
              expect(d.at).toBeLessThanOrEqual(deadline);
            }
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('policyProblem and assertPolicy', () => {
  it('accepts policies that can be followed', () => {
    for (const p of [policy, { retryDays: [], graceDays: 0 }, { retryDays: [7], graceDays: 7 }, { retryDays: [1, 2, 3], graceDays: 30 }]) {
      expect(policyProblem({ onExhausted: 'cancel', ...p })).toBeNull();
      expect(() => assertPolicy({ onExhausted: 'mark_unpaid', ...p })).not.toThrow();
    }
  });

  it('names the field of a policy that cannot be followed', () => {
    const cases: [Pick<DunningPolicy, 'retryDays' | 'graceDays'>, 'retryDays' | 'graceDays', RegExp][] = [
      [{ retryDays: [1], graceDays: -1 }, 'graceDays', /≥ 0/],
      [{ retryDays: [1], graceDays: 2.5 }, 'graceDays', /whole number/],
      [{ retryDays: [1], graceDays: Number.NaN }, 'graceDays', /whole number/],
      [{ retryDays: [0, 2], graceDays: 5 }, 'retryDays', /≥ 1/],
      [{ retryDays: [-1], graceDays: 5 }, 'retryDays', /≥ 1/],
      [{ retryDays: [1.5], graceDays: 5 }, 'retryDays', /whole days/],
      [{ retryDays: [1, 3, 3], graceDays: 5 }, 'retryDays', /must increase/],
      [{ retryDays: [3, 1], graceDays: 5 }, 'retryDays', /must increase/],
      [{ retryDays: [1, 8], graceDays: 7 }, 'graceDays', /last retry day \(8\)/],
    ];
    for (const [p, field, message] of cases) {
      const problem = policyProblem({ ...p, onExhausted: 'cancel' });
      expect(problem?.field).toBe(field);
      expect(problem?.message).toMatch(message);
      expect(() => assertPolicy({ ...p, onExhausted: 'cancel' })).toThrow(new RegExp(`^dunning ${field} `));
    }
  });
});
