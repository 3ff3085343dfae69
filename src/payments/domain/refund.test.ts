import { describe, expect, it } from 'vitest';
import { stateMachineBattery } from './state-machine-battery.js';
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

describe('refund state machine', () => {
  stateMachineBattery({
    statuses: REFUND_STATUSES,
    events: REFUND_EVENTS,
    initial: INITIAL_REFUND_STATUS,
    terminal: TERMINAL_REFUND_STATUSES,
    expected: EXPECTED,
    next: nextRefundStatus,
    transition: transitionRefund,
    isStatus: isRefundStatus,
    notStatuses: ['processing', null],
  });

  it('names exactly these terminal statuses', () => {
    expect([...TERMINAL_REFUND_STATUSES].sort()).toEqual(['failed', 'succeeded']);
  });
});
