import { describe, expect, it } from 'vitest';
import { ObolError } from '../../kernel/index.js';
import {
  PAYMENT_EVENTS,
  PAYMENT_STATUSES,
  TERMINAL_PAYMENT_STATUSES,
  isPaymentStatus,
  nextPaymentStatus,
  transitionPayment,
  type PaymentEvent,
  type PaymentStatus,
} from './payment-intent.js';

const INITIAL: PaymentStatus = 'requires_payment_method';

/** The whole machine, written out by hand: any pair not listed here must be refused. */
const EXPECTED: Readonly<Record<PaymentStatus, Partial<Record<PaymentEvent, PaymentStatus>>>> = {
  requires_payment_method: { attach_payment_method: 'requires_confirmation', cancel: 'canceled' },
  requires_confirmation: { confirm: 'processing', cancel: 'canceled' },
  processing: {
    requires_action: 'requires_action',
    authorized: 'requires_capture',
    captured: 'succeeded',
    declined: 'requires_payment_method',
    attempts_exhausted: 'failed',
  },
  requires_action: {
    action_completed: 'processing',
    declined: 'requires_payment_method',
    attempts_exhausted: 'failed',
    cancel: 'canceled',
  },
  requires_capture: { captured: 'succeeded', void: 'canceled' },
  succeeded: {},
  canceled: {},
  failed: {},
};

const pairs = PAYMENT_STATUSES.flatMap((from) => PAYMENT_EVENTS.map((event) => ({ from, event, to: EXPECTED[from][event] })));

describe('payment intent state machine', () => {
  it.each(pairs.filter((p) => p.to !== undefined))('$from --$event--> $to', ({ from, event, to }) => {
    expect(nextPaymentStatus(from, event)).toBe(to);
    expect(transitionPayment(from, event)).toBe(to);
  });

  it.each(pairs.filter((p) => p.to === undefined))('refuses $event in $from with ILLEGAL_STATE_TRANSITION', ({ from, event }) => {
    expect(nextPaymentStatus(from, event)).toBeUndefined();
    let thrown: unknown;
    try {
      transitionPayment(from, event);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ObolError);
    expect((thrown as ObolError).code).toBe('ILLEGAL_STATE_TRANSITION');
    expect((thrown as ObolError).details).toEqual({ from, event });
  });

  it('terminal statuses accept no event at all', () => {
    expect([...TERMINAL_PAYMENT_STATUSES].sort()).toEqual(['canceled', 'failed', 'succeeded']);
    for (const from of TERMINAL_PAYMENT_STATUSES) {
      for (const event of PAYMENT_EVENTS) expect(nextPaymentStatus(from, event)).toBeUndefined();
    }
  });

  it('reaches every status from requires_payment_method', () => {
    const seen = new Set<PaymentStatus>([INITIAL]);
    const queue: PaymentStatus[] = [INITIAL];
    while (queue.length > 0) {
      const from = queue.shift()!;
      for (const event of PAYMENT_EVENTS) {
        const to = nextPaymentStatus(from, event);
        if (to !== undefined && !seen.has(to)) {
          seen.add(to);
          queue.push(to);
        }
      }
    }
    expect([...seen].sort()).toEqual([...PAYMENT_STATUSES].sort());
  });

  it('recognises its statuses', () => {
    for (const s of PAYMENT_STATUSES) expect(isPaymentStatus(s)).toBe(true);
    expect(isPaymentStatus('paid')).toBe(false);
    expect(isPaymentStatus(undefined)).toBe(false);
  });
});
