import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allowRequest, createBreaker, peekStatus, recordResult, type BreakerConfig, type BreakerState } from './circuit-breaker.js';

const config: BreakerConfig = {
  consecutiveFailures: 3,
  windowSize: 10,
  minCallsInWindow: 6,
  failureRatePercent: 50,
  coolDownMs: 1_000,
  halfOpenSuccesses: 2,
  halfOpenMaxTrials: 1,
};

const T0 = 10_000;

function run(state: BreakerState, results: readonly boolean[], now = T0): BreakerState {
  return results.reduce((s, ok) => recordResult(s, { ok, now }), state);
}

/** Named situations, each built by driving the machine only through its public functions. */
function situations(): Record<string, BreakerState> {
  const fresh = createBreaker(config);
  const almost = run(fresh, [false, false]);
  const open = run(fresh, [false, false, false]);
  const halfOpen = allowRequest(open, T0 + config.coolDownMs).state;
  const halfOpenOneSuccess = recordResult(halfOpen, { ok: true, now: T0 + 1_001 });
  return { fresh, almost, open, halfOpen, halfOpenOneSuccess };
}

type Event = 'allow_early' | 'allow_after_cooldown' | 'ok' | 'fail';

function apply(state: BreakerState, event: Event): { allowed?: boolean; status: string } {
  switch (event) {
    case 'allow_early': {
      const r = allowRequest(state, T0 + config.coolDownMs - 1);
      return { allowed: r.allowed, status: r.state.status };
    }
    case 'allow_after_cooldown': {
      const r = allowRequest(state, T0 + config.coolDownMs);
      return { allowed: r.allowed, status: r.state.status };
    }
    case 'ok':
      return { status: recordResult(state, { ok: true, now: T0 + 2_000 }).status };
    case 'fail':
      return { status: recordResult(state, { ok: false, now: T0 + 2_000 }).status };
  }
}

/** The whole machine, by hand. */
const EXPECTED: Record<string, Record<Event, { allowed?: boolean; status: string }>> = {
  fresh: { allow_early: { allowed: true, status: 'closed' }, allow_after_cooldown: { allowed: true, status: 'closed' }, ok: { status: 'closed' }, fail: { status: 'closed' } },
  almost: { allow_early: { allowed: true, status: 'closed' }, allow_after_cooldown: { allowed: true, status: 'closed' }, ok: { status: 'closed' }, fail: { status: 'open' } },
  open: { allow_early: { allowed: false, status: 'open' }, allow_after_cooldown: { allowed: true, status: 'half_open' }, ok: { status: 'open' }, fail: { status: 'open' } },
  // one trial in flight (max 1): further requests wait for its result
  halfOpen: { allow_early: { allowed: false, status: 'half_open' }, allow_after_cooldown: { allowed: false, status: 'half_open' }, ok: { status: 'half_open' }, fail: { status: 'open' } },
  halfOpenOneSuccess: { allow_early: { allowed: true, status: 'half_open' }, allow_after_cooldown: { allowed: true, status: 'half_open' }, ok: { status: 'closed' }, fail: { status: 'open' } },
};

describe('circuit breaker', () => {
  const states = situations();
  for (const [name, row] of Object.entries(EXPECTED)) {
    for (const [event, expected] of Object.entries(row) as [Event, { allowed?: boolean; status: string }][]) {
      it(`${name} --${event}--> ${expected.status}${expected.allowed === undefined ? '' : expected.allowed ? ' (allowed)' : ' (refused)'}`, () => {
        expect(apply(states[name]!, event)).toEqual(expected);
      });
    }
  }

  it('opens on the failure ratio over the window even without N consecutive failures', () => {
    // f f ok f f ok: 4 of 6 failures, never 3 in a row
    const s = run(createBreaker(config), [false, false, true, false, false]);
    expect(s.status).toBe('closed');
    expect(run(s, [true]).status).toBe('open');
  });

  it('does not judge the ratio before the window holds minCallsInWindow calls', () => {
    expect(run(createBreaker(config), [false, false, true, false, false]).status).toBe('closed');
  });

  it('forgets failures that slid out of the window', () => {
    // 2 failures then 10 successes: the window holds only successes; then f f ok f f ok would be 4/10 < 50%
    const s = run(createBreaker(config), [false, false, ...Array<boolean>(10).fill(true), false, false, true, false, false, true]);
    expect(s.status).toBe('closed');
  });

  it('full cycle: opens after failures, refuses during cool-down, closes after cool-down and M successes', () => {
    let s = run(createBreaker(config), [false, false, false], T0);
    expect(s.status).toBe('open');
    expect(allowRequest(s, T0 + 999).allowed).toBe(false);
    let r = allowRequest(s, T0 + 1_000);
    expect(r.allowed).toBe(true);
    s = recordResult(r.state, { ok: true, now: T0 + 1_100 });
    r = allowRequest(s, T0 + 1_200);
    expect(r.allowed).toBe(true);
    s = recordResult(r.state, { ok: true, now: T0 + 1_300 });
    expect(s.status).toBe('closed');
    expect(s.status === 'closed' && s.window).toEqual([]);
  });

  it('a failed trial re-opens with a fresh cool-down', () => {
    const open = run(createBreaker(config), [false, false, false], T0);
    const trial = allowRequest(open, T0 + 1_000).state;
    const reopened = recordResult(trial, { ok: false, now: T0 + 1_500 });
    expect(reopened).toMatchObject({ status: 'open', openedAt: T0 + 1_500 });
    expect(allowRequest(reopened, T0 + 2_000).allowed).toBe(false);
    expect(allowRequest(reopened, T0 + 2_500).allowed).toBe(true);
  });

  it('peekStatus agrees with allowRequest without taking a trial slot', () => {
    const open = run(createBreaker(config), [false, false, false], T0);
    expect(peekStatus(open, T0 + 1)).toEqual({ status: 'open', wouldAllow: false });
    expect(peekStatus(open, T0 + 1_000)).toEqual({ status: 'half_open', wouldAllow: true });
  });

  it('refuses a nonsensical config', () => {
    expect(() => createBreaker({ ...config, minCallsInWindow: 11 })).toThrow(RangeError);
    expect(() => createBreaker({ ...config, failureRatePercent: 0 })).toThrow(RangeError);
  });

  it('property: never allows a request while open and cooling down; the window never exceeds its size', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ ok: fc.boolean(), dt: fc.integer({ min: 0, max: 700 }), ask: fc.boolean() }), { maxLength: 200 }), (steps) => {
        let s = createBreaker(config);
        let now = T0;
        for (const step of steps) {
          now += step.dt;
          if (step.ask) {
            const before = s;
            const r = allowRequest(s, now);
            if (before.status === 'open' && now - before.openedAt < config.coolDownMs) expect(r.allowed).toBe(false);
            if (before.status === 'closed') expect(r.allowed).toBe(true);
            s = r.state;
          } else {
            s = recordResult(s, { ok: step.ok, now });
          }
          if (s.status === 'closed') {
            expect(s.window.length).toBeLessThanOrEqual(config.windowSize);
            expect(s.consecutiveFailures).toBeLessThan(config.consecutiveFailures);
          }
          if (s.status === 'half_open') expect(s.successes).toBeLessThan(config.halfOpenSuccesses);
        }
      }),
    );
  });
});
