import { describe, expect, it } from 'vitest';
import { nextConnector, recordRouteAttempt, shouldFailOver, type AttemptResult, type FailoverOutcome } from './failover.js';

describe('shouldFailOver', () => {
  it.each<[string, FailoverOutcome, boolean, RegExp]>([
    ['unavailable: nothing was sent', { kind: 'unavailable' }, true, /nothing was sent/],
    ['unknown: never risk a second charge', { kind: 'unknown' }, false, /resolve by retrieve first/],
    ['5xx not yet confirmed', { kind: 'technical_error', status: 502 }, false, /HTTP 502.*resolve by retrieve first/],
    ['5xx explicitly unconfirmed', { kind: 'technical_error', status: 500, confirmedNotAuthorized: false }, false, /retrieve first/],
    ['5xx confirmed not authorized', { kind: 'technical_error', status: 503, confirmedNotAuthorized: true }, true, /confirmed not authorized/],
    ['technical error without status, confirmed', { kind: 'technical_error', confirmedNotAuthorized: true }, true, /^technical error, confirmed/],
    ['soft decline (processing error)', { kind: 'declined', declineClass: 'soft', code: 'processing_error' }, true, /another connector may succeed/],
    ['soft decline that is the issuer verdict on funds', { kind: 'declined', declineClass: 'soft', code: 'insufficient_funds' }, false, /same answer/],
    ['soft decline for velocity', { kind: 'declined', declineClass: 'soft', code: 'card_velocity_exceeded' }, false, /same answer/],
    ['hard decline', { kind: 'declined', declineClass: 'hard', code: 'card_declined' }, false, /never fail over/],
    ['hard decline even with a soft-looking code', { kind: 'declined', declineClass: 'hard', code: 'processing_error' }, false, /never fail over/],
    ['customer action (3-D Secure)', { kind: 'declined', declineClass: 'customer_action', code: 'authentication_required' }, false, /customer to act/],
  ])('%s', (_name, outcome, failover, reason) => {
    const decision = shouldFailOver(outcome);
    expect(decision.failover).toBe(failover);
    expect(decision.reason).toMatch(reason);
  });
});

describe('walking a route', () => {
  const route = ['stripe', 'braintree', 'adyen'];
  const at = (connector: string, result: AttemptResult) => recordRouteAttempt({ connector, result });

  it('starts with the first choice', () => {
    expect(nextConnector({ route, attempts: [] })).toEqual({ kind: 'try', connector: 'stripe', reason: 'first choice of the route' });
    expect(nextConnector({ route: [], attempts: [] }).kind).toBe('stop');
  });

  it('fails over past unavailable and soft-declining connectors, recording each with its reason', () => {
    const attempts = [at('stripe', { kind: 'unavailable' }), at('braintree', { kind: 'declined', declineClass: 'soft', code: 'processing_error' })];
    expect(attempts.map((a) => [a.connector, a.failover])).toEqual([
      ['stripe', true],
      ['braintree', true],
    ]);
    const next = nextConnector({ route, attempts });
    expect(next).toMatchObject({ kind: 'try', connector: 'adyen' });
    expect(next.reason).toMatch(/^failover from braintree: soft decline processing_error/);
  });

  it.each<[string, AttemptResult]>([
    ['authorized', { kind: 'authorized' }],
    ['requires_action', { kind: 'requires_action' }],
    ['hard decline', { kind: 'declined', declineClass: 'hard', code: 'card_declined' }],
    ['customer action', { kind: 'declined', declineClass: 'customer_action', code: 'authentication_required' }],
    ['unknown (no second charge)', { kind: 'unknown' }],
    ['unconfirmed 5xx', { kind: 'technical_error', status: 500 }],
  ])('stops after %s', (_name, result) => {
    expect(nextConnector({ route, attempts: [at('stripe', result)] }).kind).toBe('stop');
  });

  it('stops when the route is exhausted', () => {
    const attempts = route.map((c) => at(c, { kind: 'unavailable' }));
    expect(nextConnector({ route, attempts })).toMatchObject({ kind: 'stop', reason: expect.stringMatching(/no connector left/) });
  });
});
