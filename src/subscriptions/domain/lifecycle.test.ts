import { describe, expect, it } from 'vitest';
import { ObolError } from '../../kernel/index.js';
import {
  hasAccess,
  isSubscriptionEvent,
  isSubscriptionStatus,
  isTerminal,
  nextSubscriptionStatus,
  SUBSCRIPTION_EVENTS,
  SUBSCRIPTION_STATUSES,
  TERMINAL_SUBSCRIPTION_STATUSES,
  transitionSubscription,
  type SubscriptionEvent,
  type SubscriptionStatus,
} from './lifecycle.js';

/** The diagram in lifecycle.ts, edge by edge: every pair not listed is refused. */
const DIAGRAM: Readonly<Record<SubscriptionStatus, Partial<Record<SubscriptionEvent, SubscriptionStatus>>>> = {
  incomplete: { trial_started: 'trialing', first_payment_succeeded: 'active', incomplete_expired: 'incomplete_expired', cancel: 'canceled' },
  trialing: { period_paid: 'active', payment_failed: 'past_due', cancel: 'canceled' },
  active: { period_paid: 'active', payment_failed: 'past_due', cancel: 'canceled' },
  past_due: { payment_failed: 'past_due', payment_recovered: 'active', dunning_exhausted: 'unpaid', cancel: 'canceled' },
  unpaid: { payment_recovered: 'active', cancel: 'canceled' },
  canceled: {},
  incomplete_expired: {},
};

const ACCESS: Readonly<Record<SubscriptionStatus, boolean>> = {
  incomplete: false,
  incomplete_expired: false,
  trialing: true,
  active: true,
  past_due: true, // the dunning grace period
  canceled: false,
  unpaid: false,
};

describe('subscription state machine', () => {
  it('allows exactly the transitions of the diagram, for every (status, event) pair', () => {
    let allowed = 0;
    for (const from of SUBSCRIPTION_STATUSES) {
      for (const event of SUBSCRIPTION_EVENTS) {
        const to = DIAGRAM[from][event];
        expect(nextSubscriptionStatus(from, event), `${from} + ${event}`).toBe(to);
        if (to === undefined) {
          let caught: unknown;
          try {
            transitionSubscription(from, event);
          } catch (err) {
            caught = err;
          }
          expect(caught, `${from} + ${event}`).toBeInstanceOf(ObolError);
          expect((caught as ObolError).code).toBe('ILLEGAL_STATE_TRANSITION');
          expect((caught as ObolError).details).toEqual({ from, event });
        } else {
          expect(transitionSubscription(from, event)).toBe(to);
          allowed += 1;
        }
      }
    }
    expect(allowed).toBe(16);
  });

  it('writes the event in words in the refusal', () => {
    expect(() => transitionSubscription('canceled', 'payment_recovered')).toThrow('a subscription in status canceled cannot take payment recovered');
  });

  it('lets every live status be canceled, and nothing leave a terminal one', () => {
    for (const s of SUBSCRIPTION_STATUSES) {
      expect(nextSubscriptionStatus(s, 'cancel')).toBe(isTerminal(s) ? undefined : 'canceled');
      if (isTerminal(s)) for (const e of SUBSCRIPTION_EVENTS) expect(nextSubscriptionStatus(s, e)).toBeUndefined();
    }
  });

  it('reaches every status from incomplete', () => {
    const seen = new Set<SubscriptionStatus>(['incomplete']);
    const queue: SubscriptionStatus[] = ['incomplete'];
    while (queue.length > 0) {
      const s = queue.shift()!;
      for (const e of SUBSCRIPTION_EVENTS) {
        const to = nextSubscriptionStatus(s, e);
        if (to !== undefined && !seen.has(to)) {
          seen.add(to);
          queue.push(to);
        }
      }
    }
    expect([...seen].sort()).toEqual([...SUBSCRIPTION_STATUSES].sort());
  });

  it('throws a plain error on an unknown status', () => {
    expect(() => nextSubscriptionStatus('paused' as SubscriptionStatus, 'cancel')).toThrow(/unknown subscription status/);
    expect(() => isTerminal('paused' as SubscriptionStatus)).toThrow(/unknown subscription status/);
    expect(() => hasAccess('paused' as SubscriptionStatus)).toThrow(/unknown subscription status/);
  });
});

describe('hasAccess and isTerminal', () => {
  it('grants access while trialing, active and past due (grace), and never otherwise', () => {
    for (const s of SUBSCRIPTION_STATUSES) expect(hasAccess(s), s).toBe(ACCESS[s]);
  });

  it('knows the terminal statuses: canceled and incomplete_expired', () => {
    expect([...TERMINAL_SUBSCRIPTION_STATUSES].sort()).toEqual(['canceled', 'incomplete_expired']);
    for (const s of SUBSCRIPTION_STATUSES) expect(isTerminal(s), s).toBe(s === 'canceled' || s === 'incomplete_expired');
  });

  it('never grants access in a terminal status', () => {
    for (const s of SUBSCRIPTION_STATUSES) if (isTerminal(s)) expect(hasAccess(s)).toBe(false);
  });

  it('guards statuses and events', () => {
    for (const s of SUBSCRIPTION_STATUSES) expect(isSubscriptionStatus(s)).toBe(true);
    for (const e of SUBSCRIPTION_EVENTS) expect(isSubscriptionEvent(e)).toBe(true);
    for (const bad of ['Active', 'paused', '', null, undefined, 0, []]) {
      expect(isSubscriptionStatus(bad)).toBe(false);
      expect(isSubscriptionEvent(bad)).toBe(false);
    }
  });
});
