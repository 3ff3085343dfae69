/**
 * Recent authorization rate per connector: of the recent attempts an issuer decided on, how many
 * it authorized. Technical failures (unavailable, 5xx, timeouts) are the circuit breaker's
 * business and do not count here: they say nothing about how issuers treat this connector.
 *
 * The window is both time-bounded (`windowMs`) and size-bounded (`maxSamples`), so the state stays
 * small on a busy connector and old traffic stops counting on a quiet one.
 */

export const AUTH_OUTCOMES = ['authorized', 'declined', 'technical_failure'] as const;
export type AuthOutcome = (typeof AUTH_OUTCOMES)[number];

export interface AuthRateConfig {
  readonly windowMs: number;
  readonly maxSamples: number;
  /** Below this many issuer decisions in the window the rate is reported as unknown (null). */
  readonly minSamples: number;
}

export const DEFAULT_AUTH_RATE_CONFIG: AuthRateConfig = Object.freeze({ windowMs: 15 * 60_000, maxSamples: 500, minSamples: 20 });

export interface AuthRateState {
  readonly config: AuthRateConfig;
  /** Oldest first. */
  readonly samples: readonly { readonly at: number; readonly authorized: boolean }[];
}

export interface AuthRate {
  readonly authorized: number;
  readonly declined: number;
  /** Authorized share in basis points (0..10000, rounded down), or null with too few samples. */
  readonly rateBps: number | null;
}

export function createAuthRate(config: AuthRateConfig = DEFAULT_AUTH_RATE_CONFIG): AuthRateState {
  if (!(config.windowMs > 0 && config.maxSamples > 0 && config.minSamples >= 0)) throw new RangeError('invalid auth rate config');
  return Object.freeze({ config, samples: Object.freeze([]) });
}

function recent(state: AuthRateState, now: number): AuthRateState['samples'] {
  return state.samples.filter((s) => now - s.at < state.config.windowMs);
}

export function recordAuthOutcome(args: { readonly state: AuthRateState; readonly outcome: AuthOutcome; readonly now: number }): AuthRateState {
  const { state, outcome, now } = args;
  switch (outcome) {
    case 'technical_failure':
      return state;
    case 'authorized':
    case 'declined': {
      const samples = [...recent(state, now), Object.freeze({ at: now, authorized: outcome === 'authorized' })].slice(-state.config.maxSamples);
      return Object.freeze({ config: state.config, samples: Object.freeze(samples) });
    }
    default: {
      const unreachable: never = outcome;
      throw new Error(`unknown auth outcome ${String(unreachable)}`);
    }
  }
}

export function authorizationRate(args: { readonly state: AuthRateState; readonly now: number }): AuthRate {
  const samples = recent(args.state, args.now);
  const authorized = samples.filter((s) => s.authorized).length;
  const declined = samples.length - authorized;
  const rateBps = samples.length === 0 || samples.length < args.state.config.minSamples ? null : Math.floor((authorized * 10_000) / samples.length);
  return { authorized, declined, rateBps };
}
