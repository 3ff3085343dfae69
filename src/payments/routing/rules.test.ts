import { describe, expect, it } from 'vitest';
import { isObolError } from '../../kernel/index.js';
import { DEFAULT_ROUTING_CONFIG, matchRule, parseRoutingConfig, type RouteRequest } from './rules.js';

const request: RouteRequest = { paymentId: 'pay_1', country: 'DE', currency: 'EUR', amount: 5_000, paymentMethodKind: 'card' };

const config = parseRoutingConfig({
  rules: [
    { id: 'in-inr', match: { countries: ['IN'], currencies: ['INR'] }, connectors: [{ connector: 'razorpay', weight: 1 }] },
    { id: 'eur-small', match: { currencies: ['EUR'], amount: { currency: 'EUR', min: 0, max: 3_000 } }, connectors: [{ connector: 'stripe', weight: 1 }] },
    { id: 'paypal', match: { paymentMethodKinds: ['paypal'] }, connectors: [{ connector: 'braintree', weight: 1 }] },
    { id: 'tokens', match: { paymentMethodPrefixes: ['tok_'] }, connectors: [{ connector: 'sandbox', weight: 1 }] },
    { id: 'rest', connectors: [{ connector: 'stripe', weight: 70 }, { connector: 'braintree', weight: 30 }] },
  ],
});

function firstMatch(r: RouteRequest): string | undefined {
  return config.rules.find((rule) => matchRule({ rule, request: r }).matched)?.id;
}

function errorOf(json: unknown): { code: string; field: unknown } {
  try {
    parseRoutingConfig(json);
  } catch (err) {
    if (isObolError(err)) return { code: err.code, field: err.details?.['field'] };
    throw err;
  }
  throw new Error('expected a validation error');
}

describe('routing rules', () => {
  it.each([
    ['country and currency', { ...request, country: 'IN', currency: 'INR' }, 'in-inr'],
    ['country without its currency falls through', { ...request, country: 'IN', currency: 'USD' }, 'rest'],
    ['amount at the inclusive max', { ...request, amount: 3_000 }, 'eur-small'],
    ['amount just above the max', { ...request, amount: 3_001 }, 'rest'],
    ['amount range in another currency never matches', { ...request, currency: 'USD', amount: 100 }, 'rest'],
    ['payment method kind', { ...request, paymentMethodKind: 'paypal' }, 'paypal'],
    ['payment method prefix', { ...request, paymentMethodKind: 'tok_visa' }, 'tokens'],
    ['unknown country only fails country conditions', { ...request, country: null, currency: 'INR' }, 'rest'],
  ])('%s', (_name, r, expected) => {
    expect(firstMatch(r)).toBe(expected);
  });

  it('says which conditions failed', () => {
    const rule = config.rules[0]!;
    expect(matchRule({ rule, request }).failed).toEqual(['country DE not in [IN]', 'currency EUR not in [INR]']);
  });

  it('the default config sends everything to the sandbox', () => {
    expect(DEFAULT_ROUTING_CONFIG.rules).toHaveLength(1);
    expect(matchRule({ rule: DEFAULT_ROUTING_CONFIG.rules[0]!, request }).matched).toBe(true);
    expect(DEFAULT_ROUTING_CONFIG.rules[0]!.connectors).toEqual([{ connector: 'sandbox', weight: 1 }]);
  });

  it('returns frozen values', () => {
    expect(Object.isFrozen(config.rules[4]!.connectors[0])).toBe(true);
  });

  it.each([
    ['not an object', 'nope', '(root)'],
    ['no rules', { rules: [] }, 'rules'],
    ['bad country', { rules: [{ id: 'a', match: { countries: ['de'] }, connectors: [{ connector: 's', weight: 1 }] }] }, 'rules.0.match.countries.0'],
    ['bad currency', { rules: [{ id: 'a', match: { currencies: ['EURO'] }, connectors: [{ connector: 's', weight: 1 }] }] }, 'rules.0.match.currencies.0'],
    ['fractional weight', { rules: [{ id: 'a', connectors: [{ connector: 's', weight: 0.5 }] }] }, 'rules.0.connectors.0.weight'],
    ['negative weight', { rules: [{ id: 'a', connectors: [{ connector: 's', weight: -1 }] }] }, 'rules.0.connectors.0.weight'],
    ['all weights zero', { rules: [{ id: 'a', connectors: [{ connector: 's', weight: 0 }] }] }, 'rules.0.connectors'],
    ['duplicate connector', { rules: [{ id: 'a', connectors: [{ connector: 's', weight: 1 }, { connector: 's', weight: 1 }] }] }, 'rules.0.connectors.1.connector'],
    ['duplicate rule id', { rules: [{ id: 'a', connectors: [{ connector: 's', weight: 1 }] }, { id: 'a', connectors: [{ connector: 's', weight: 1 }] }] }, 'rules.1.id'],
    ['min above max', { rules: [{ id: 'a', match: { amount: { currency: 'EUR', min: 10, max: 5 } }, connectors: [{ connector: 's', weight: 1 }] }] }, 'rules.0.match.amount'],
    ['fractional amount', { rules: [{ id: 'a', match: { amount: { currency: 'EUR', max: 9.99 } }, connectors: [{ connector: 's', weight: 1 }] }] }, 'rules.0.match.amount.max'],
    ['unknown field', { rules: [{ id: 'a', connectors: [{ connector: 's', weight: 1 }], priority: 1 }] }, 'rules.0'],
  ])('refuses %s with a field-named VALIDATION_FAILED', (_name, json, field) => {
    expect(errorOf(json)).toEqual({ code: 'VALIDATION_FAILED', field });
  });
});
