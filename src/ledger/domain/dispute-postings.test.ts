import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { money, parseCurrency, type CurrencyCode } from '../../money/index.js';
import { ACCOUNT_KINDS, accountKind, gatewayClearing } from './accounts.js';
import { CHARGEBACKS, DISPUTE_FEES } from './dispute-accounts.js';
import { disputeOpenedPosting, disputeWonPosting } from './dispute-postings.js';
import { assertBalanced, type JournalDraft } from './journal.js';

const EUR = parseCurrency('EUR') as CurrencyCode;
const USD = parseCurrency('USD') as CurrencyCode;
const JPY = parseCurrency('JPY') as CurrencyCode;

function balances(drafts: readonly JournalDraft[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const d of drafts) for (const l of d.lines) m.set(`${l.account} ${l.amount.currency}`, (m.get(`${l.account} ${l.amount.currency}`) ?? 0) + l.amount.amount);
  return m;
}

function currencyTotals(drafts: readonly JournalDraft[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const d of drafts) for (const l of d.lines) m.set(l.amount.currency, (m.get(l.amount.currency) ?? 0) + l.amount.amount);
  return m;
}

describe('dispute posting rules', () => {
  it('opened: clearing loses amount + fee, chargebacks and fees take them', () => {
    const d = disputeOpenedPosting({ paymentId: 'pay_1', disputeId: 'dp_1', connector: 'stripe', amount: money(5000, EUR), fee: money(1500, EUR) });
    assertBalanced(d);
    expect(d.kind).toBe('dispute_opened');
    expect(d.referenceType).toBe('payment');
    const b = balances([d]);
    expect(b.get(`${gatewayClearing('stripe')} EUR`)).toBe(-6500);
    expect(b.get(`${CHARGEBACKS} EUR`)).toBe(5000);
    expect(b.get(`${DISPUTE_FEES} EUR`)).toBe(1500);
  });

  it('opened without a fee books no fee lines', () => {
    for (const fee of [null, money(0, EUR)]) {
      const d = disputeOpenedPosting({ paymentId: 'pay_1', disputeId: 'dp_1', connector: 'stripe', amount: money(5000, EUR), fee });
      expect(d.lines.map((l) => l.account).sort()).toEqual([CHARGEBACKS, gatewayClearing('stripe')].sort());
    }
  });

  it('a fee in another currency balances in each currency separately', () => {
    const d = disputeOpenedPosting({ paymentId: 'pay_1', disputeId: 'dp_1', connector: 'stripe', amount: money(5000, EUR), fee: money(1500, USD) });
    assertBalanced(d);
    const b = balances([d]);
    expect(b.get(`${gatewayClearing('stripe')} EUR`)).toBe(-5000);
    expect(b.get(`${gatewayClearing('stripe')} USD`)).toBe(-1500);
  });

  it('won: returns the amount to clearing and empties chargebacks; the fee stays an expense', () => {
    const args = { paymentId: 'pay_1', disputeId: 'dp_1', connector: 'braintree', amount: money(5000, JPY) };
    const opened = disputeOpenedPosting({ ...args, fee: money(1500, JPY) });
    const won = disputeWonPosting(args);
    assertBalanced(won);
    expect(won.kind).toBe('dispute_won');
    const b = balances([opened, won]);
    expect(b.get(`${gatewayClearing('braintree')} JPY`)).toBe(-1500);
    expect(b.get(`${CHARGEBACKS} JPY`)).toBe(0);
    expect(b.get(`${DISPUTE_FEES} JPY`)).toBe(1500);
  });

  it('uses accounts of the expected kinds', () => {
    expect(accountKind(CHARGEBACKS)).toBe('contra_revenue');
    expect(accountKind(DISPUTE_FEES)).toBe('expense');
    expect(ACCOUNT_KINDS).toContain('expense');
  });

  it('refuses malformed input as a bug', () => {
    const base = { paymentId: 'pay_1', disputeId: 'dp_1', connector: 'stripe' };
    expect(() => disputeOpenedPosting({ ...base, amount: money(0, EUR), fee: null })).toThrow(/positive/);
    expect(() => disputeOpenedPosting({ ...base, amount: money(10, EUR), fee: money(-1, EUR) })).toThrow(/non-negative/);
    expect(() => disputeWonPosting({ ...base, amount: money(-5, EUR) })).toThrow(/positive/);
    expect(() => disputeOpenedPosting({ ...base, connector: 'Not A Connector', amount: money(10, EUR), fee: null })).toThrow(/connector/);
  });

  /** Random lives of many disputes, interleaved: each opens, then maybe wins (a loss posts nothing). */
  it('any interleaving of dispute lives stays balanced per currency, with balances matching the outcomes', () => {
    const lifeArb = fc.record({
      amount: fc.integer({ min: 1, max: 10_000_000 }),
      fee: fc.option(fc.integer({ min: 0, max: 5_000 }), { nil: null }),
      currency: fc.constantFrom(EUR, USD, JPY),
      feeCurrency: fc.constantFrom(EUR, USD),
      outcome: fc.constantFrom('open', 'won', 'lost'),
    });
    fc.assert(
      fc.property(fc.array(lifeArb, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 50 }), (lives, shuffle) => {
        // Each life's steps stay in order; lives interleave in the order `shuffle` picks.
        const queues = lives.map((life, i) => {
          const args = { paymentId: `pay_${i}`, disputeId: `dp_${i}`, connector: 'stripe', amount: money(life.amount, life.currency) };
          const steps: JournalDraft[] = [disputeOpenedPosting({ ...args, fee: life.fee === null ? null : money(life.fee, life.feeCurrency) })];
          if (life.outcome === 'won') steps.push(disputeWonPosting(args));
          return steps;
        });
        const posted: JournalDraft[] = [];
        let k = 0;
        while (queues.some((q) => q.length > 0)) {
          const live = queues.filter((q) => q.length > 0);
          const q = live[(shuffle[k++] ?? 0) % live.length]!;
          const d = q.shift()!;
          assertBalanced(d);
          for (const l of d.lines) expect(ACCOUNT_KINDS).toContain(accountKind(l.account));
          posted.push(d);
          for (const total of currencyTotals(posted).values()) expect(total).toBe(0);
        }
        const b = balances(posted);
        for (const c of [EUR, USD, JPY]) {
          const chargebacks = lives.filter((l) => l.outcome !== 'won' && l.currency === c).reduce((a, l) => a + l.amount, 0);
          const fees = lives.filter((l) => l.fee !== null && l.feeCurrency === c).reduce((a, l) => a + (l.fee ?? 0), 0);
          expect(b.get(`${CHARGEBACKS} ${c}`) ?? 0).toBe(chargebacks);
          expect(b.get(`${DISPUTE_FEES} ${c}`) ?? 0).toBe(fees);
          expect(b.get(`${gatewayClearing('stripe')} ${c}`) ?? 0).toBe(0 - (chargebacks + fees) || 0);
        }
      }),
      { numRuns: 300 },
    );
  });
});
