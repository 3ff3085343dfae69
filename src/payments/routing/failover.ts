/**
 * May a payment that just failed at one connector be tried at the next one in the route?
 *
 * The rule: fail over only where no issuer said no, and only when we know nothing was charged.
 *
 *   outcome                          failover   why
 *   ───────────────────────────────  ────────   ─────────────────────────────────────────────────
 *   unavailable                      yes        nothing was sent (connection refused, breaker open)
 *   unknown                          NO         it may have authorized: resolve with `retrieve`
 *                                               first, then ask again with what was learned
 *   technical_error, confirmed       yes        the gateway failed before an issuer decision, and
 *     not authorized                            `retrieve` (or the gateway) confirmed no charge
 *   technical_error, not confirmed   NO         a 5xx can hide an authorization: resolve first
 *   declined soft                    yes*       see below
 *   declined hard                    never      the issuer refused this method for good
 *   declined customer_action         never      the customer must act (3-D Secure, new card);
 *                                               another connector would get the same answer
 *
 * Soft declines. DESIGN.md's routing section says "a soft decline ... fails over to the next",
 * and Obol's connectors classify a decline as soft only where trying again *elsewhere or later*
 * can succeed (the sandbox: only `processing_error`; card_declined is hard). So a soft decline
 * fails over — except for soft codes that are the issuer's verdict about the account itself
 * (`SOFT_CODES_WITHOUT_FAILOVER`: insufficient funds, velocity limits). Those come back the same
 * from any acquirer within minutes, and card schemes count such re-attempts against the
 * merchant (Visa's excessive-reattempt rules, Mastercard's merchant advice codes); they are for
 * dunning later, not for failover now.
 */
import type { DeclineClass } from '../connectors/port.js';

export type FailoverOutcome =
  | { readonly kind: 'declined'; readonly declineClass: DeclineClass; readonly code: string }
  | { readonly kind: 'unavailable' }
  | { readonly kind: 'unknown' }
  | {
      readonly kind: 'technical_error';
      /** The gateway's HTTP status, when there was one (for the record only). */
      readonly status?: number;
      /**
       * True only once `retrieve` (or an explicit gateway answer) has shown the attempt did not
       * authorize. Left out means false: a technical error alone never triggers failover.
       */
      readonly confirmedNotAuthorized?: boolean;
    };

/** Soft decline codes (gateway code or Obol's normalized reason) that are issuer verdicts on the account. */
export const SOFT_CODES_WITHOUT_FAILOVER = ['insufficient_funds', 'card_velocity_exceeded', 'withdrawal_count_limit_exceeded'] as const;

export interface FailoverDecision {
  readonly failover: boolean;
  readonly reason: string;
}

export function shouldFailOver(outcome: FailoverOutcome): FailoverDecision {
  switch (outcome.kind) {
    case 'unavailable':
      return { failover: true, reason: 'connector unavailable: nothing was sent, safe to try the next connector' };
    case 'unknown':
      return { failover: false, reason: 'outcome unknown: it may have authorized; resolve by retrieve first, never risk a second charge' };
    case 'technical_error': {
      const status = outcome.status === undefined ? '' : ` (HTTP ${outcome.status})`;
      return outcome.confirmedNotAuthorized === true
        ? { failover: true, reason: `technical error${status}, confirmed not authorized: no issuer decision, trying the next connector` }
        : { failover: false, reason: `technical error${status} not yet confirmed as not authorized: resolve by retrieve first` };
    }
    case 'declined':
      return afterDecline(outcome.declineClass, outcome.code);
    default: {
      const unreachable: never = outcome;
      throw new Error(`unknown outcome ${String(unreachable)}`);
    }
  }
}

function afterDecline(declineClass: DeclineClass, code: string): FailoverDecision {
  switch (declineClass) {
    case 'soft':
      return (SOFT_CODES_WITHOUT_FAILOVER as readonly string[]).includes(code)
        ? { failover: false, reason: `soft decline ${code} is the issuer's verdict on the account: another connector would get the same answer` }
        : { failover: true, reason: `soft decline ${code}: another connector may succeed` };
    case 'hard':
      return { failover: false, reason: `hard decline ${code}: the issuer refused this payment method; never fail over` };
    case 'customer_action':
      return { failover: false, reason: `decline ${code} needs the customer to act (e.g. authenticate); never fail over` };
    default: {
      const unreachable: never = declineClass;
      throw new Error(`unknown decline class ${String(unreachable)}`);
    }
  }
}

// ---- walking a route --------------------------------------------------------------------------

/** What one attempt at one connector came to, as far as routing cares. */
export type AttemptResult = FailoverOutcome | { readonly kind: 'authorized' } | { readonly kind: 'requires_action' };

/** One line of a payment's routing history: which connector was tried, what happened, and what routing made of it. */
export interface RouteAttempt {
  readonly connector: string;
  readonly result: AttemptResult;
  readonly failover: boolean;
  readonly reason: string;
}

export function recordRouteAttempt(args: { readonly connector: string; readonly result: AttemptResult }): RouteAttempt {
  const { connector, result } = args;
  switch (result.kind) {
    case 'authorized':
      return Object.freeze({ connector, result, failover: false, reason: 'authorized: route complete' });
    case 'requires_action':
      return Object.freeze({ connector, result, failover: false, reason: 'requires customer action (3-D Secure): the payment continues at this connector' });
    case 'declined':
    case 'unavailable':
    case 'unknown':
    case 'technical_error':
      return Object.freeze({ connector, result, ...shouldFailOver(result) });
    default: {
      const unreachable: never = result;
      throw new Error(`unknown attempt result ${String(unreachable)}`);
    }
  }
}

export type NextStep = { readonly kind: 'try'; readonly connector: string; readonly reason: string } | { readonly kind: 'stop'; readonly reason: string };

/**
 * The next connector to try for a planned route, given the attempts so far (oldest first). Each
 * connector is tried at most once per route. An `unknown` last attempt stops the walk: once
 * `retrieve` has resolved it, the caller replaces that record with what it learned (a resolved
 * "never reached the gateway" is `unavailable`; a resolved decline is `declined`) and asks again.
 */
export function nextConnector(args: { readonly route: readonly string[]; readonly attempts: readonly RouteAttempt[] }): NextStep {
  const { route, attempts } = args;
  const last = attempts[attempts.length - 1];
  if (last === undefined) {
    const first = route[0];
    return first === undefined ? { kind: 'stop', reason: 'the route is empty' } : { kind: 'try', connector: first, reason: 'first choice of the route' };
  }
  if (!last.failover) return { kind: 'stop', reason: `${last.connector}: ${last.reason}` };
  const tried = new Set(attempts.map((a) => a.connector));
  const next = route.find((c) => !tried.has(c));
  return next === undefined
    ? { kind: 'stop', reason: `${last.connector}: ${last.reason}; no connector left in the route` }
    : { kind: 'try', connector: next, reason: `failover from ${last.connector}: ${last.reason}` };
}
