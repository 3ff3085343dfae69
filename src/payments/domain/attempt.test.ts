import { describe, expect, it } from 'vitest';
import { ObolError } from '../../kernel/index.js';
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

const pairs = ATTEMPT_STATUSES.flatMap((from) => ATTEMPT_EVENTS.map((event) => ({ from, event, to: EXPECTED[from][event] })));

describe('payment attempt state machine', () => {
  it.each(pairs.filter((p) => p.to !== undefined))('$from --$event--> $to', ({ from, event, to }) => {
    expect(nextAttemptStatus(from, event)).toBe(to);
    expect(transitionAttempt(from, event)).toBe(to);
  });

  it.each(pairs.filter((p) => p.to === undefined))('refuses $event in $from with ILLEGAL_STATE_TRANSITION', ({ from, event }) => {
    expect(nextAttemptStatus(from, event)).toBeUndefined();
    let thrown: unknown;
    try {
      transitionAttempt(from, event);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ObolError);
    expect((thrown as ObolError).code).toBe('ILLEGAL_STATE_TRANSITION');
    expect((thrown as ObolError).details).toEqual({ from, event });
  });

  it('terminal statuses accept no event at all', () => {
    expect([...TERMINAL_ATTEMPT_STATUSES].sort()).toEqual(['captured', 'failed', 'voided']);
    for (const from of TERMINAL_ATTEMPT_STATUSES) {
      for (const event of ATTEMPT_EVENTS) expect(nextAttemptStatus(from, event)).toBeUndefined();
    }
  });

  it('every non-terminal status can move somewhere', () => {
    for (const from of ATTEMPT_STATUSES.filter((s) => !TERMINAL_ATTEMPT_STATUSES.includes(s))) {
      expect(ATTEMPT_EVENTS.some((event) => nextAttemptStatus(from, event) !== undefined)).toBe(true);
    }
  });

  it('reaches every status from the initial one', () => {
    const seen = new Set<AttemptStatus>([INITIAL_ATTEMPT_STATUS]);
    const queue: AttemptStatus[] = [INITIAL_ATTEMPT_STATUS];
    while (queue.length > 0) {
      const from = queue.shift()!;
      for (const event of ATTEMPT_EVENTS) {
        const to = nextAttemptStatus(from, event);
        if (to !== undefined && !seen.has(to)) {
          seen.add(to);
          queue.push(to);
        }
      }
    }
    expect([...seen].sort()).toEqual([...ATTEMPT_STATUSES].sort());
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

  it('recognises its statuses', () => {
    for (const s of ATTEMPT_STATUSES) expect(isAttemptStatus(s)).toBe(true);
    expect(isAttemptStatus('succeeded')).toBe(false);
    expect(isAttemptStatus(42)).toBe(false);
  });
});
