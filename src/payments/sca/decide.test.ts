import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isObolError } from '../../kernel/index.js';
import { money, type CurrencyCode } from '../../money/index.js';
import {
  EEA_COUNTRIES,
  THREE_DS_OUTCOMES,
  decideSca,
  declineNeedsAuthentication,
  isThreeDsOutcome,
  scaRegimeOf,
  type DecideScaArgs,
  type ScaDecision,
} from './decide.js';

const EUR = 'EUR' as CurrencyCode;
const eur = (cents: number) => money(cents, EUR);

const base: DecideScaArgs = {
  issuerCountry: 'FR',
  acquirerCountry: 'IE',
  initiator: 'customer',
  amount: eur(5_000),
  amountInEur: eur(5_000),
  lowValueCounters: { consecutiveExempted: 0, cumulativeEurMinor: 0 },
  recurring: { kind: 'none' },
};

function lowValue(cents: number, consecutiveExempted = 0, cumulativeEurMinor = 0): DecideScaArgs {
  return { ...base, amount: eur(cents), amountInEur: eur(cents), lowValueCounters: { consecutiveExempted, cumulativeEurMinor } };
}

function summary(d: ScaDecision): string {
  return d.outcome === 'exempt' ? `exempt:${d.exemption}` : d.outcome;
}

describe('decideSca', () => {
  it.each<[string, DecideScaArgs, string]>([
    // scope
    ['EEA issuer and acquirer, customer-initiated, EUR 50', base, 'required'],
    ['acquirer outside the EEA (US)', { ...base, acquirerCountry: 'US' }, 'not_in_scope'],
    ['issuer outside the EEA (one leg out)', { ...base, issuerCountry: 'US' }, 'not_in_scope'],
    ['UK card at an EEA acquirer: one leg out under both regimes', { ...base, issuerCountry: 'GB' }, 'not_in_scope'],
    ['UK card at a UK acquirer: UK regime, in scope', { ...base, issuerCountry: 'GB', acquirerCountry: 'GB' }, 'required'],
    ['EEA outside the EU (NO issuer, IS acquirer)', { ...base, issuerCountry: 'NO', acquirerCountry: 'IS' }, 'required'],
    ['unknown issuer country: treated as in scope', { ...base, issuerCountry: null }, 'required'],
    ['unknown issuer country, low value still exempt', { ...lowValue(1_000), issuerCountry: null }, 'exempt:low_value'],
    ['one leg out wins over MIT (not in scope at all)', { ...base, issuerCountry: 'US', initiator: 'merchant' }, 'not_in_scope'],
    // merchant-initiated
    ['merchant-initiated renewal', { ...base, initiator: 'merchant' }, 'exempt:merchant_initiated'],
    ['merchant-initiated, large amount', { ...base, initiator: 'merchant', amount: eur(1_000_000), amountInEur: eur(1_000_000) }, 'exempt:merchant_initiated'],
    // recurring
    ['fixed-amount recurring, subsequent', { ...base, recurring: { kind: 'fixed_amount_subsequent' } }, 'exempt:fixed_amount_recurring'],
    ['variable recurring: no recurring exemption', { ...base, recurring: { kind: 'variable' } }, 'required'],
    ['variable recurring can still be low value', { ...lowValue(2_000), recurring: { kind: 'variable' } }, 'exempt:low_value'],
    // low value: amount boundary
    ['EUR 30.00', lowValue(3_000), 'exempt:low_value'],
    ['EUR 30.01', lowValue(3_001), 'required'],
    ['EUR 0.01', lowValue(1), 'exempt:low_value'],
    // low value: count boundary (counters count payments before this one)
    ['5th consecutive low-value payment', lowValue(1_000, 4, 4_000), 'exempt:low_value'],
    ['6th consecutive low-value payment', lowValue(1_000, 5, 5_000), 'required'],
    // low value: cumulative boundary
    ['cumulative reaches exactly EUR 100.00', lowValue(3_000, 3, 7_000), 'exempt:low_value'],
    ['cumulative would be EUR 100.01', lowValue(3_000, 3, 7_001), 'required'],
    // conversion
    ['no EUR conversion available', { ...lowValue(1_000), amount: money(1_000, 'SEK' as CurrencyCode), amountInEur: null }, 'required'],
    ['non-EUR amount converted to EUR', { ...lowValue(2_500), amount: money(28_000, 'SEK' as CurrencyCode) }, 'exempt:low_value'],
  ])('%s → %s', (_name, args, expected) => {
    expect(summary(decideSca(args))).toBe(expected);
  });

  it('explains each step', () => {
    expect(decideSca(lowValue(1_000, 4, 4_000)).reasons).toEqual([
      'acquirer country IE is in the EEA SCA regime',
      'issuer country FR is in the same regime',
      'customer-initiated',
      'low value: EUR 1000 cents, exemption 5 of 5, cumulative EUR 5000 cents: exempt',
    ]);
    expect(decideSca(lowValue(1_000, 5, 5_000)).reasons.slice(-2)).toEqual([
      'would be low-value exemption number 6 in a row (limit 5)',
      'no exemption applies: authentication required',
    ]);
  });

  it('refuses an amountInEur that is not EUR, naming the field', () => {
    try {
      decideSca({ ...base, amountInEur: money(100, 'USD' as CurrencyCode) });
      expect.unreachable();
    } catch (err) {
      expect(isObolError(err) && err.code === 'VALIDATION_FAILED' && err.details?.['field']).toBe('amountInEur');
    }
  });

  it('refuses negative counters', () => {
    expect(() => decideSca(lowValue(100, -1, 0))).toThrow(/consecutiveExempted/);
  });

  it('property: low value is exempt exactly when ≤ EUR 30, ≤ 5th in a row and cumulative ≤ EUR 100', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6_000 }), fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 12_000 }), (cents, count, cumulative) => {
        const d = decideSca(lowValue(cents, count, cumulative));
        const expected = cents <= 3_000 && count < 5 && cumulative + cents <= 10_000;
        expect(d.outcome).toBe(expected ? 'exempt' : 'required');
      }),
    );
  });

  it('EEA is EU 27 + IS, LI, NO; GB is its own regime', () => {
    expect(EEA_COUNTRIES).toHaveLength(30);
    expect(new Set(EEA_COUNTRIES).size).toBe(30);
    expect(scaRegimeOf('GB')).toBe('uk');
    expect(scaRegimeOf('CH')).toBeNull();
    expect(scaRegimeOf('LI')).toBe('eea');
  });

  it('3-D Secure outcomes for the attempt record', () => {
    expect(THREE_DS_OUTCOMES).toEqual(['frictionless', 'challenge', 'exempted', 'failed', 'not_attempted']);
    expect(isThreeDsOutcome('challenge')).toBe(true);
    expect(isThreeDsOutcome('passed')).toBe(false);
  });

  it('recognizes an issuer soft decline for missing authentication', () => {
    expect(declineNeedsAuthentication('1A')).toBe(true);
    expect(declineNeedsAuthentication('authentication_required')).toBe(true);
    expect(declineNeedsAuthentication('insufficient_funds')).toBe(false);
  });
});
