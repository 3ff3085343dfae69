import { describe, expect, it } from 'vitest';
import { ObolError } from '../../kernel/index.js';
import {
  INITIAL_REFUND_STATUS,
  REFUND_EVENTS,
  REFUND_STATUSES,
  TERMINAL_REFUND_STATUSES,
  isRefundStatus,
  nextRefundStatus,
  transitionRefund,
  type RefundEvent,
  type RefundStatus,
} from './refund.js';

/** The whole machine, written out by hand: any pair not listed here must be refused. */
const EXPECTED: Readonly<Record<RefundStatus, Partial<Record<RefundEvent, RefundStatus>>>> = {
  pending: { succeeded: 'succeeded', failed: 'failed', outcome_unknown: 'unknown' },
  unknown: { succeeded: 'succeeded', failed: 'failed' },
  succeeded: {},
  failed: {},
};

const pairs = REFUND_STATUSES.flatMap((from) => REFUND_EVENTS.map((event) => ({ from, event, to: EXPECTED[from][event] })));

describe('refund state machine', () => {
  it.each(pairs.filter((p) => p.to !== undefined))('$from --$event--> $to', ({ from, event, to }) => {
    expect(nextRefundStatus(from, event)).toBe(to);
    expect(transitionRefund(from, event)).toBe(to);
  });

  it.each(pairs.filter((p) => p.to === undefined))('refuses $event in $from with ILLEGAL_STATE_TRANSITION', ({ from, event }) => {
    expect(nextRefundStatus(from, event)).toBeUndefined();
    let thrown: unknown;
    try {
      transitionRefund(from, event);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ObolError);
    expect((thrown as ObolError).code).toBe('ILLEGAL_STATE_TRANSITION');
    expect((thrown as ObolError).details).toEqual({ from, event });
  });

  it('terminal statuses accept no event at all', () => {
    expect([...TERMINAL_REFUND_STATUSES].sort()).toEqual(['failed', 'succeeded']);
    for (const from of TERMINAL_REFUND_STATUSES) {
      for (const event of REFUND_EVENTS) expect(nextRefundStatus(from, event)).toBeUndefined();
    }
  });

  it('reaches every status from the initial one', () => {
    const seen = new Set<RefundStatus>([INITIAL_REFUND_STATUS]);
    const queue: RefundStatus[] = [INITIAL_REFUND_STATUS];
    while (queue.length > 0) {
      const from = queue.shift()!;
      for (const event of REFUND_EVENTS) {
        const to = nextRefundStatus(from, event);
        if (to !== undefined && !seen.has(to)) {
          seen.add(to);
          queue.push(to);
        }
      }
    }
    expect([...seen].sort()).toEqual([...REFUND_STATUSES].sort());
  });

  it('recognises its statuses', () => {
    for (const s of REFUND_STATUSES) expect(isRefundStatus(s)).toBe(true);
    expect(isRefundStatus('processing')).toBe(false);
    expect(isRefundStatus(null)).toBe(false);
  });
});
