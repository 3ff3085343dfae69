import { describe, expect, it } from 'vitest';
import { authorizationRate, createAuthRate, recordAuthOutcome, type AuthOutcome, type AuthRateState } from './auth-rate.js';

const cfg = { windowMs: 1_000, maxSamples: 10, minSamples: 4 };

function feed(outcomes: readonly AuthOutcome[], now = 0, state: AuthRateState = createAuthRate(cfg)): AuthRateState {
  return outcomes.reduce((s, outcome) => recordAuthOutcome({ state: s, outcome, now }), state);
}

describe('authorization rate', () => {
  it('counts authorized against issuer declines; technical failures do not count', () => {
    const s = feed(['authorized', 'authorized', 'authorized', 'declined', 'technical_failure', 'technical_failure']);
    expect(authorizationRate({ state: s, now: 0 })).toEqual({ authorized: 3, declined: 1, rateBps: 7_500 });
  });

  it('is unknown below the minimum sample size', () => {
    expect(authorizationRate({ state: feed(['authorized', 'declined', 'authorized']), now: 0 }).rateBps).toBeNull();
    expect(authorizationRate({ state: createAuthRate(cfg), now: 0 }).rateBps).toBeNull();
  });

  it('forgets samples older than the window', () => {
    const s = feed(['authorized', 'authorized', 'authorized', 'authorized'], 0, feed(['declined', 'declined', 'declined', 'declined'], -1_000));
    expect(authorizationRate({ state: s, now: 0 })).toEqual({ authorized: 4, declined: 0, rateBps: 10_000 });
    expect(authorizationRate({ state: s, now: 999 }).authorized).toBe(4);
    expect(authorizationRate({ state: s, now: 1_000 })).toEqual({ authorized: 0, declined: 0, rateBps: null });
  });

  it('keeps at most maxSamples, newest', () => {
    const s = feed([...Array<AuthOutcome>(10).fill('declined'), ...Array<AuthOutcome>(5).fill('authorized')]);
    expect(s.samples).toHaveLength(10);
    expect(authorizationRate({ state: s, now: 0 })).toEqual({ authorized: 5, declined: 5, rateBps: 5_000 });
  });
});
