import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { money, parseCurrency, type CurrencyCode } from '../../money/index.js';
import { assertBalanced } from './journal.js';
import { authorizationPosting, authorizationReleasePosting, postedSale, refundPosting, salePosting, saleTotal, type SaleBreakdown } from './postings.js';

const EUR = parseCurrency('EUR') as CurrencyCode;

const saleArb = fc
  .record({
    revenue: fc.integer({ min: 0, max: 10_000_000 }),
    deferredRevenue: fc.integer({ min: 0, max: 10_000_000 }),
    tax: fc.integer({ min: 0, max: 2_000_000 }),
    discountShare: fc.integer({ min: 0, max: 100 }),
  })
  .filter((s) => s.revenue + s.deferredRevenue > 0)
  .map((s): SaleBreakdown => {
    const discount = Math.floor(((s.revenue + s.deferredRevenue) * s.discountShare) / 100);
    return { currency: EUR, revenue: s.revenue, deferredRevenue: s.deferredRevenue, tax: s.tax, discount };
  })
  .filter((s) => saleTotal(s) > 0);

function sumsOf(lines: readonly { account: string; amount: { amount: number } }[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of lines) m.set(l.account, (m.get(l.account) ?? 0) + l.amount.amount);
  return m;
}

describe('posting rules', () => {
  it('books a full capture exactly as the sale', () => {
    const sale: SaleBreakdown = { currency: EUR, revenue: 1666, deferredRevenue: 0, tax: 333, discount: 0 };
    const d = salePosting({ paymentId: 'pay_1', connector: 'sandbox', captured: money(1999, EUR), total: money(1999, EUR), sale, taxCountry: 'DE' });
    assertBalanced(d);
    expect(sumsOf(d.lines)).toEqual(new Map([['gateway_clearing:sandbox', 1999], ['revenue', -1666], ['tax_payable:DE', -333]]));
  });

  it('books a free order as revenue given away, with no clearing line', () => {
    const sale: SaleBreakdown = { currency: EUR, revenue: 4900, deferredRevenue: 0, tax: 0, discount: 4900 };
    const d = salePosting({ paymentId: 'ord_1', connector: 'none', captured: money(0, EUR), total: money(0, EUR), sale, taxCountry: 'DE' });
    assertBalanced(d);
    expect(sumsOf(d.lines)).toEqual(new Map([['discounts', 4900], ['revenue', -4900]]));
  });

  it('holds and releases an authorization off-balance', () => {
    const hold = authorizationPosting({ paymentId: 'pay_1', connector: 'sandbox', amount: money(500, EUR) });
    const release = authorizationReleasePosting({ paymentId: 'pay_1', connector: 'sandbox', amount: money(500, EUR) });
    assertBalanced(hold);
    assertBalanced(release);
    const net = sumsOf([...hold.lines, ...release.lines]);
    for (const v of net.values()) expect(v).toBe(0);
  });

  it('keeps every sale balanced for any partial capture', () => {
    fc.assert(
      fc.property(saleArb, fc.integer({ min: 1, max: 1000 }), (sale, per) => {
        const total = saleTotal(sale);
        const captured = Math.max(1, Math.floor((total * per) / 1000));
        const d = salePosting({ paymentId: 'pay_1', connector: 'sandbox', captured: money(captured, EUR), total: money(total, EUR), sale, taxCountry: 'FR' });
        assertBalanced(d);
        const posted = postedSale(sale, captured, total);
        expect(saleTotal(posted)).toBe(captured);
        for (const part of [posted.revenue, posted.deferredRevenue, posted.tax, posted.discount]) expect(part).toBeGreaterThanOrEqual(0);
        // each credit within one minor unit of its exact share of (captured + scaled discount)
        const credits = captured + posted.discount;
        const weight = sale.revenue + sale.deferredRevenue + sale.tax;
        for (const [postedPart, fullPart] of [[posted.revenue, sale.revenue], [posted.deferredRevenue, sale.deferredRevenue], [posted.tax, sale.tax]] as const) {
          expect(Math.abs(postedPart * weight - credits * fullPart)).toBeLessThanOrEqual(weight);
        }
      }),
    );
  });

  it('returns exactly the posted tax over any sequence of refunds that adds up to the capture', () => {
    fc.assert(
      fc.property(saleArb, fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 6 }), (sale, weights) => {
        const total = saleTotal(sale);
        // split the captured total into refunds proportional to the weights
        const parts: number[] = [];
        let left = total;
        weights.forEach((w, i) => {
          const part = i === weights.length - 1 ? left : Math.min(left, Math.floor((total * w) / 600));
          if (part > 0) parts.push(part);
          left -= part;
        });
        if (left > 0) parts.push(left);
        let before = 0;
        let taxBack = 0;
        let clearing = 0;
        for (const part of parts) {
          const d = refundPosting({
            paymentId: 'pay_1',
            refundId: 're_1',
            connector: 'sandbox',
            refund: money(part, EUR),
            capturedTotal: money(total, EUR),
            refundedBefore: money(before, EUR),
            sale,
            total: money(total, EUR),
            taxCountry: 'FR',
          });
          assertBalanced(d);
          const sums = sumsOf(d.lines);
          taxBack += sums.get('tax_payable:FR') ?? 0;
          clearing += sums.get('gateway_clearing:sandbox') ?? 0;
          before += part;
        }
        expect(before).toBe(total);
        expect(taxBack).toBe(sale.tax);
        expect(clearing).toBe(-total);
      }),
    );
  });

  it('refuses a refund beyond what was captured (a bug upstream, so it throws)', () => {
    const sale: SaleBreakdown = { currency: EUR, revenue: 1000, deferredRevenue: 0, tax: 0, discount: 0 };
    expect(() =>
      refundPosting({ paymentId: 'p', refundId: 'r', connector: 'sandbox', refund: money(600, EUR), capturedTotal: money(1000, EUR), refundedBefore: money(500, EUR), sale, total: money(1000, EUR), taxCountry: 'FR' }),
    ).toThrow();
  });

  it('detects an unbalanced draft', () => {
    expect(() => assertBalanced({ kind: 'sale', referenceType: 'payment', referenceId: 'p', description: '', lines: [{ account: 'revenue', amount: money(-5, EUR) }, { account: 'discounts', amount: money(4, EUR) }] })).toThrow(/unbalanced/);
  });
});
