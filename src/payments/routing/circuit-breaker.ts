/**
 * A circuit breaker per connector, as pure values: the caller keeps the state (in memory per
 * process is enough; breakers are a local opinion about a gateway's health) and passes `now`.
 *
 *                  N consecutive failures, or failure ratio ≥ R
 *                  over the last W calls (at least minCalls of them)
 *        ┌────────┐ ───────────────────────────────────────────▶ ┌────────┐
 *        │ closed │                                               │  open  │ ◀─┐
 *        └────────┘ ◀──────────┐                                  └────────┘   │
 *                              │ M successes                           │       │ any failure
 *                              │                  cool-down elapsed    │       │
 *                        ┌───────────┐ ◀── (allowRequest at now) ──────┘       │
 *                        │ half_open │ ────────────────────────────────────────┘
 *                        └───────────┘
 *
 *   closed:    every request allowed; results feed the consecutive counter and the window.
 *   open:      requests refused until `openedAt + coolDownMs`; results of calls that were
 *              already in flight are ignored (they say nothing about the gateway now).
 *   half_open: at most `halfOpenMaxTrials` requests in flight as trials; a failure re-opens at
 *              once (the gateway is still sick), M successes close it with a clean history.
 *
 * A "failure" is a technical failure (unavailable, 5xx, timeout), never an issuer decline: a
 * declined card says the gateway works.
 */

export const BREAKER_STATUSES = ['closed', 'open', 'half_open'] as const;
export type BreakerStatus = (typeof BREAKER_STATUSES)[number];

export interface BreakerConfig {
  /** N: consecutive failures that open a closed breaker. */
  readonly consecutiveFailures: number;
  /** W: how many recent calls the failure ratio looks at. */
  readonly windowSize: number;
  /** The ratio is judged only once the window holds this many calls, so two calls cannot open it. */
  readonly minCallsInWindow: number;
  /** R as a whole percentage (integer, 1..100): failures × 100 ≥ R × calls opens the breaker. */
  readonly failureRatePercent: number;
  readonly coolDownMs: number;
  /** M: successes in half_open that close the breaker. */
  readonly halfOpenSuccesses: number;
  /** Trials allowed in flight at once while half_open. */
  readonly halfOpenMaxTrials: number;
}

export const DEFAULT_BREAKER_CONFIG: BreakerConfig = Object.freeze({
  consecutiveFailures: 5,
  windowSize: 20,
  minCallsInWindow: 10,
  failureRatePercent: 50,
  coolDownMs: 30_000,
  halfOpenSuccesses: 3,
  halfOpenMaxTrials: 1,
});

export type BreakerState =
  | {
      readonly status: 'closed';
      readonly config: BreakerConfig;
      readonly consecutiveFailures: number;
      /** Most recent last; true = failure. At most `windowSize` entries. */
      readonly window: readonly boolean[];
    }
  | { readonly status: 'open'; readonly config: BreakerConfig; readonly openedAt: number }
  | { readonly status: 'half_open'; readonly config: BreakerConfig; readonly successes: number; readonly trialsInFlight: number };

export function createBreaker(config: BreakerConfig = DEFAULT_BREAKER_CONFIG): BreakerState {
  assertConfig(config);
  return closed(config);
}

function assertConfig(c: BreakerConfig): void {
  const positive = (n: number) => Number.isSafeInteger(n) && n > 0;
  if (
    !positive(c.consecutiveFailures) ||
    !positive(c.windowSize) ||
    !positive(c.minCallsInWindow) ||
    c.minCallsInWindow > c.windowSize ||
    !positive(c.failureRatePercent) ||
    c.failureRatePercent > 100 ||
    !Number.isSafeInteger(c.coolDownMs) ||
    c.coolDownMs < 0 ||
    !positive(c.halfOpenSuccesses) ||
    !positive(c.halfOpenMaxTrials)
  ) {
    throw new RangeError('invalid circuit breaker config');
  }
}

function closed(config: BreakerConfig): BreakerState {
  return Object.freeze({ status: 'closed', config, consecutiveFailures: 0, window: Object.freeze([]) });
}

function open(config: BreakerConfig, now: number): BreakerState {
  return Object.freeze({ status: 'open', config, openedAt: now });
}

/**
 * May a request go to this connector now? Moving open → half_open happens here (on demand)
 * rather than on a timer, so the state needs no scheduler. An allowed half_open request takes a
 * trial slot, which `recordResult` gives back.
 */
export function allowRequest(state: BreakerState, now: number): { readonly allowed: boolean; readonly state: BreakerState } {
  switch (state.status) {
    case 'closed':
      return { allowed: true, state };
    case 'open': {
      if (now - state.openedAt < state.config.coolDownMs) return { allowed: false, state };
      const trial: BreakerState = Object.freeze({ status: 'half_open', config: state.config, successes: 0, trialsInFlight: 1 });
      return { allowed: true, state: trial };
    }
    case 'half_open': {
      if (state.trialsInFlight >= state.config.halfOpenMaxTrials) return { allowed: false, state };
      return { allowed: true, state: Object.freeze({ ...state, trialsInFlight: state.trialsInFlight + 1 }) };
    }
    default: {
      const unreachable: never = state;
      throw new Error(`unknown breaker state ${String(unreachable)}`);
    }
  }
}

/** What `allowRequest` would say, without taking a trial slot: for routing decisions that only order connectors. */
export function peekStatus(state: BreakerState, now: number): { readonly status: BreakerStatus; readonly wouldAllow: boolean } {
  switch (state.status) {
    case 'closed':
      return { status: 'closed', wouldAllow: true };
    case 'open':
      return now - state.openedAt < state.config.coolDownMs ? { status: 'open', wouldAllow: false } : { status: 'half_open', wouldAllow: true };
    case 'half_open':
      return { status: 'half_open', wouldAllow: state.trialsInFlight < state.config.halfOpenMaxTrials };
    default: {
      const unreachable: never = state;
      throw new Error(`unknown breaker state ${String(unreachable)}`);
    }
  }
}

export function recordResult(state: BreakerState, result: { readonly ok: boolean; readonly now: number }): BreakerState {
  const { config } = state;
  switch (state.status) {
    case 'closed': {
      const window = Object.freeze([...state.window, !result.ok].slice(-config.windowSize));
      const consecutiveFailures = result.ok ? 0 : state.consecutiveFailures + 1;
      if (consecutiveFailures >= config.consecutiveFailures) return open(config, result.now);
      const failures = window.filter(Boolean).length;
      if (window.length >= config.minCallsInWindow && failures * 100 >= config.failureRatePercent * window.length) {
        return open(config, result.now);
      }
      return Object.freeze({ status: 'closed', config, consecutiveFailures, window });
    }
    case 'open':
      return state;
    case 'half_open': {
      if (!result.ok) return open(config, result.now);
      const successes = state.successes + 1;
      if (successes >= config.halfOpenSuccesses) return closed(config);
      return Object.freeze({ ...state, successes, trialsInFlight: Math.max(0, state.trialsInFlight - 1) });
    }
    default: {
      const unreachable: never = state;
      throw new Error(`unknown breaker state ${String(unreachable)}`);
    }
  }
}
