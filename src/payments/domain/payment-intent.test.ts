import { describe, expect, it } from 'vitest';
import { stateMachineBattery } from './state-machine-battery.js';
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

describe('payment intent state machine', () => {
  stateMachineBattery({
    statuses: PAYMENT_STATUSES,
    events: PAYMENT_EVENTS,
    initial: INITIAL,
    terminal: TERMINAL_PAYMENT_STATUSES,
    expected: EXPECTED,
    next: nextPaymentStatus,
    transition: transitionPayment,
    isStatus: isPaymentStatus,
    notStatuses: ['paid', undefined],
  });

  it('names exactly these terminal statuses', () => {
    expect([...TERMINAL_PAYMENT_STATUSES].sort()).toEqual(['canceled', 'failed', 'succeeded']);
  });
});
