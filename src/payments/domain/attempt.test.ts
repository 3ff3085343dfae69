import { describe, expect, it } from 'vitest';
import { stateMachineBattery } from './state-machine-battery.js';
import {
  ATTEMPT_EVENTS,
  ATTEMPT_STATUSES,
  INITIAL_ATTEMPT_STATUS,
  TERMINAL_ATTEMPT_STATUSES,
  isAttemptStatus,
  nextAttemptStatus,
  transitionAttempt,
  type AttemptEvent,
  type AttemptStatus,
} from './attempt.js';

/** The whole machine, written out by hand: any pair not listed here must be refused. */
const EXPECTED: Readonly<Record<AttemptStatus, Partial<Record<AttemptEvent, AttemptStatus>>>> = {
  pending: { requires_action: 'requires_action', authorized: 'authorized', captured: 'captured', declined: 'failed', outcome_unknown: 'unknown' },
  unknown: { requires_action: 'requires_action', authorized: 'authorized', captured: 'captured', declined: 'failed' },
  requires_action: { resume: 'pending', declined: 'failed' },
  authorized: { capture: 'captured', void: 'voided' },
  captured: {},
  failed: {},
  voided: {},
};

describe('payment attempt state machine', () => {
  stateMachineBattery({
    statuses: ATTEMPT_STATUSES,
    events: ATTEMPT_EVENTS,
    initial: INITIAL_ATTEMPT_STATUS,
    terminal: TERMINAL_ATTEMPT_STATUSES,
    expected: EXPECTED,
    next: nextAttemptStatus,
    transition: transitionAttempt,
    isStatus: isAttemptStatus,
    notStatuses: ['succeeded', 42],
  });

  it('names exactly these terminal statuses', () => {
    expect([...TERMINAL_ATTEMPT_STATUSES].sort()).toEqual(['captured', 'failed', 'voided']);
  });

  it('resolves an unknown outcome to whatever the gateway reports', () => {
    expect(transitionAttempt(transitionAttempt('pending', 'outcome_unknown'), 'captured')).toBe('captured');
    expect(transitionAttempt('unknown', 'declined')).toBe('failed');
  });

  it('goes through a 3-D Secure challenge and back to pending for the resumed call', () => {
    let status: AttemptStatus = INITIAL_ATTEMPT_STATUS;
    for (const event of ['requires_action', 'resume', 'authorized', 'capture'] as const) status = transitionAttempt(status, event);
    expect(status).toBe('captured');
  });
});
