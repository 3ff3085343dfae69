import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAuthRate, recordAuthOutcome, type AuthRateState } from './auth-rate.js';
import { allowRequest, createBreaker, recordResult, type BreakerState } from './circuit-breaker.js';
import { planRoute, stableHash, type ConnectorHealth } from './router.js';
import { DEFAULT_ROUTING_CONFIG, parseRoutingConfig, type RouteRequest } from './rules.js';

const NOW = 1_000_000;
const config = parseRoutingConfig({
  rules: [
    { id: 'india', match: { countries: ['IN'] }, connectors: [{ connector: 'razorpay', weight: 1 }, { connector: 'stripe', weight: 0 }] },
    {
      id: 'split',
      connectors: [
        { connector: 'stripe', weight: 60 },
        { connector: 'braintree', weight: 30 },
        { connector: 'adyen', weight: 10 },
      ],
    },
  ],
});
const request: RouteRequest = { paymentId: 'pay_1', country: 'US', currency: 'USD', amount: 2_000, paymentMethodKind: 'card' };
const none: ReadonlyMap<string, ConnectorHealth> = new Map();

function openBreaker(): BreakerState {
  return [1, 2, 3, 4, 5].reduce((s) => recordResult(s, { ok: false, now: NOW - 10 }), createBreaker());
}

function rate(authorized: number, declined: number): AuthRateState {
  let s = createAuthRate({ windowMs: 60_000, maxSamples: 100, minSamples: 5 });
  for (let i = 0; i < authorized; i++) s = recordAuthOutcome({ state: s, outcome: 'authorized', now: NOW - 1 });
  for (let i = 0; i < declined; i++) s = recordAuthOutcome({ state: s, outcome: 'declined', now: NOW - 1 });
  return s;
}

/** A payment id whose weighted first choice is `connector`. */
function idLeadingWith(connector: string): string {
  for (let i = 0; ; i++) {
    const id = `pay_${i}`;
    if (planRoute({ config, request: { ...request, paymentId: id }, health: none, now: NOW }).connectors[0] === connector) return id;
  }
}

describe('planRoute', () => {
  it('uses the first matching rule and lists every connector once', () => {
    const plan = planRoute({ config, request, health: none, now: NOW });
    expect(plan.ruleId).toBe('split');
    expect([...plan.connectors].sort()).toEqual(['adyen', 'braintree', 'stripe']);
  });

  it('keeps weight-0 connectors as failover only', () => {
    const plan = planRoute({ config, request: { ...request, country: 'IN' }, health: none, now: NOW });
    expect(plan).toMatchObject({ ruleId: 'india', connectors: ['razorpay', 'stripe'] });
    expect(plan.explanation).toContain('failover only (weight 0): stripe');
  });

  it('returns no connectors, explained, when no rule matches', () => {
    const narrow = parseRoutingConfig({ rules: [{ id: 'eur', match: { currencies: ['EUR'] }, connectors: [{ connector: 'stripe', weight: 1 }] }] });
    const plan = planRoute({ config: narrow, request, health: none, now: NOW });
    expect(plan).toMatchObject({ ruleId: null, connectors: [] });
    expect(plan.explanation).toEqual(['rule eur skipped: currency USD not in [EUR]', 'no rule matched: no connector can take this payment']);
  });

  it('default config routes everything to the sandbox', () => {
    expect(planRoute({ config: DEFAULT_ROUTING_CONFIG, request, health: none, now: NOW }).connectors).toEqual(['sandbox']);
  });

  it('is deterministic per payment id (a retry lands on the same first choice)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (paymentId) => {
        const a = planRoute({ config, request: { ...request, paymentId }, health: none, now: NOW });
        const b = planRoute({ config, request: { ...request, paymentId, amount: 9_999 }, health: none, now: NOW + 5 });
        expect(b.connectors).toEqual(a.connectors);
      }),
    );
  });

  it('honours the weights over many payment ids (first choice within ±1.5 points)', () => {
    const n = 20_000;
    const counts = new Map<string, number>();
    const second = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const plan = planRoute({ config, request: { ...request, paymentId: `pay_${i.toString(36)}` }, health: none, now: NOW });
      counts.set(plan.connectors[0]!, (counts.get(plan.connectors[0]!) ?? 0) + 1);
      if (plan.connectors[0] === 'stripe') second.set(plan.connectors[1]!, (second.get(plan.connectors[1]!) ?? 0) + 1);
    }
    expect(Math.abs((counts.get('stripe') ?? 0) / n - 0.6)).toBeLessThan(0.015);
    expect(Math.abs((counts.get('braintree') ?? 0) / n - 0.3)).toBeLessThan(0.015);
    expect(Math.abs((counts.get('adyen') ?? 0) / n - 0.1)).toBeLessThan(0.015);
    // behind stripe, braintree:adyen stays 30:10
    const behindStripe = counts.get('stripe')!;
    expect(Math.abs((second.get('braintree') ?? 0) / behindStripe - 0.75)).toBeLessThan(0.03);
  });

  it('stableHash spreads sequential ids evenly over small moduli', () => {
    const buckets = [0, 0, 0, 0];
    for (let i = 0; i < 4_000; i++) buckets[stableHash(`pay_${i}`) % 4]! += 1;
    for (const b of buckets) expect(Math.abs(b - 1_000)).toBeLessThan(120);
  });

  it('moves a connector with an open breaker last, and says so', () => {
    const id = idLeadingWith('stripe');
    const plan = planRoute({ config, request: { ...request, paymentId: id }, health: new Map([['stripe', { breaker: openBreaker() }]]), now: NOW });
    expect(plan.connectors[2]).toBe('stripe');
    expect(plan.explanation).toContain('stripe: breaker open (refusing requests, moved last), recent authorization rate unknown');
  });

  it('keeps a half-open connector in place for a trial (cool-down over)', () => {
    const id = idLeadingWith('stripe');
    const plan = planRoute({ config, request: { ...request, paymentId: id }, health: new Map([['stripe', { breaker: openBreaker() }]]), now: NOW + 60_000 });
    expect(plan.connectors[0]).toBe('stripe');
    expect(plan.explanation.some((l) => l.startsWith('stripe: breaker half_open (allowed as a trial)'))).toBe(true);
  });

  it('a half-open connector whose trial slot is taken is moved last', () => {
    const id = idLeadingWith('stripe');
    const busy = allowRequest(openBreaker(), NOW + 60_000).state;
    const plan = planRoute({ config, request: { ...request, paymentId: id }, health: new Map([['stripe', { breaker: busy }]]), now: NOW + 60_000 });
    expect(plan.connectors[2]).toBe('stripe');
  });

  it('orders failover candidates by authorization rate but keeps the weighted first choice first', () => {
    const id = idLeadingWith('stripe');
    const health = new Map<string, ConnectorHealth>([
      ['stripe', { authRate: rate(1, 9) }],
      ['braintree', { authRate: rate(5, 5) }],
      ['adyen', { authRate: rate(9, 1) }],
    ]);
    const plan = planRoute({ config, request: { ...request, paymentId: id }, health, now: NOW });
    expect(plan.connectors).toEqual(['stripe', 'adyen', 'braintree']);
    expect(plan.explanation).toContain('adyen: breaker closed (allowed), recent authorization rate 90.00%');
  });

  it('an open first choice hands the lead to the next in weighted order', () => {
    const id = idLeadingWith('stripe');
    const health = new Map<string, ConnectorHealth>([
      ['stripe', { breaker: openBreaker() }],
      ['braintree', { authRate: rate(5, 5) }],
      ['adyen', { authRate: rate(9, 1) }],
    ]);
    const plan = planRoute({ config, request: { ...request, paymentId: id }, health, now: NOW });
    expect(plan.connectors[2]).toBe('stripe');
    expect(plan.explanation.some((l) => l.endsWith('leads: the weighted first choice is not available'))).toBe(true);
  });

  it('when every breaker is open, keeps the weighted order as a last resort', () => {
    const id = idLeadingWith('braintree');
    const open = openBreaker();
    const health = new Map<string, ConnectorHealth>(['stripe', 'braintree', 'adyen'].map((c) => [c, { breaker: open }]));
    const weighted = planRoute({ config, request: { ...request, paymentId: id }, health: none, now: NOW }).connectors;
    const plan = planRoute({ config, request: { ...request, paymentId: id }, health, now: NOW });
    expect(plan.connectors).toEqual(weighted);
    expect(plan.explanation).toContain('every connector is refusing requests: keeping weighted order as a last resort');
  });

  it('explains each decision in order: rules, split, health per connector, final route', () => {
    const plan = planRoute({ config, request: { ...request, paymentId: idLeadingWith('adyen') }, health: none, now: NOW });
    const e = plan.explanation;
    expect(e[0]).toBe('rule india skipped: country US not in [IN]');
    expect(e[1]).toBe('rule split matched');
    expect(e[2]).toMatch(/^weighted split stripe:60, braintree:30, adyen:10: bucket \d+ of 100 for payment pay_\d+ → adyen$/);
    expect(e[3]).toMatch(/^weighted order: adyen, /);
    expect(e.filter((l) => / breaker /.test(l))).toHaveLength(3);
    expect(e[e.length - 1]).toBe(`route: ${plan.connectors.join(' → ')}`);
  });
});
