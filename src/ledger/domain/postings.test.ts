import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { money, parseCurrency, type CurrencyCode } from '../../money/index.js';
import { ACCOUNT_KINDS, AUTHORIZATION_HOLDS_CONTRA, DEFERRED_REVENUE, DISCOUNTS, REFUNDS, REVENUE, accountKind, authorizationHolds, gatewayClearing, taxPayable } from './accounts.js';
import { assertBalanced, reverse, type JournalDraft, type JournalLine } from './journal.js';
import { authorizationPosting, authorizationReleasePosting, postedSale, recognitionPosting, refundPosting, refundTax, salePosting, saleTotal, type RefundPostingArgs, type SaleBreakdown } from './postings.js';

const EUR = parseCurrency('EUR') as CurrencyCode;
const JPY = parseCurrency('JPY') as CurrencyCode;

/** Sales as checkout produces them: every part ≥ 0 and the discount never above the goods. */
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

/** Small sales too, where every rounding matters. */
const smallSaleArb = fc
  .record({
    revenue: fc.integer({ min: 0, max: 50 }),
    deferredRevenue: fc.integer({ min: 0, max: 50 }),
    tax: fc.integer({ min: 0, max: 20 }),
    discount: fc.integer({ min: 0, max: 100 }),
  })
  .map((s): SaleBreakdown => ({ currency: EUR, ...s, discount: Math.min(s.discount, s.revenue + s.deferredRevenue) }))
  .filter((s) => saleTotal(s) > 0);

const anySaleArb = fc.oneof(saleArb, smallSaleArb);

/** A sale with a capture of 1..total. */
const capturedSaleArb = anySaleArb.chain((sale) => fc.record({ sale: fc.constant(sale), captured: fc.integer({ min: 1, max: saleTotal(sale) }) }));

/** Splits `amount` into 1..maxParts positive parts at random cut points. */
const splitArb = (amount: number, maxParts: number): fc.Arbitrary<number[]> =>
  fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, amount - 1) }), { maxLength: Math.min(maxParts - 1, amount - 1) }).map((cuts) => {
    const points = [0, ...cuts.sort((a, b) => a - b), amount];
    return points.slice(1).map((p, i) => p - points[i]!);
  });

function sumsOf(lines: readonly JournalLine[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of lines) m.set(l.account, (m.get(l.account) ?? 0) + l.amount.amount);
  return m;
}

function expectWellFormed(d: JournalDraft): void {
  assertBalanced(d);
  for (const l of d.lines) {
    expect(l.amount.amount).not.toBe(0);
    expect(ACCOUNT_KINDS).toContain(accountKind(l.account));
  }
}

function refundsOf(args: { sale: SaleBreakdown; captured: number; parts: readonly number[] }): JournalDraft[] {
  const total = saleTotal(args.sale);
  let before = 0;
  return args.parts.map((part) => {
    const d = refundPosting({
      paymentId: 'pay_1',
      refundId: `re_${before}`,
      connector: 'sandbox',
      refund: money(part, EUR),
      capturedTotal: money(args.captured, EUR),
      refundedBefore: money(before, EUR),
      sale: args.sale,
      total: money(total, EUR),
      taxCountry: 'FR',
    });
    before += part;
    return d;
  });
}

describe('chart of accounts', () => {
  it('derives each kind from the code', () => {
    expect(accountKind(gatewayClearing('sandbox'))).toBe('asset');
    expect(accountKind(REVENUE)).toBe('revenue');
    expect(accountKind(DEFERRED_REVENUE)).toBe('liability');
    expect(accountKind(taxPayable('de'))).toBe('liability');
    expect(taxPayable('de')).toBe('tax_payable:DE');
    expect(accountKind(DISCOUNTS)).toBe('contra_revenue');
    expect(accountKind(REFUNDS)).toBe('contra_revenue');
    expect(accountKind(authorizationHolds('sandbox'))).toBe('memo');
    expect(accountKind(AUTHORIZATION_HOLDS_CONTRA)).toBe('memo');
  });

  it('refuses codes outside the chart', () => {
    for (const code of ['cash', 'gateway_clearing:', 'tax_payable:DEU', 'tax_payable:de', 'authorization_holds:Bad Name']) expect(() => accountKind(code)).toThrow();
    expect(() => gatewayClearing('')).toThrow();
    expect(() => taxPayable('Germany')).toThrow();
  });
});

describe('posting rules, examples', () => {
  it('books a full capture exactly as the sale', () => {
    const sale: SaleBreakdown = { currency: EUR, revenue: 1666, deferredRevenue: 0, tax: 333, discount: 0 };
    const d = salePosting({ paymentId: 'pay_1', connector: 'sandbox', captured: money(1999, EUR), total: money(1999, EUR), sale, taxCountry: 'DE' });
    expectWellFormed(d);
    expect(d.referenceType).toBe('payment');
    expect(sumsOf(d.lines)).toEqual(new Map([['gateway_clearing:sandbox', 1999], ['revenue', -1666], ['tax_payable:DE', -333]]));
  });

  it('books a free order as revenue given away, with no clearing line', () => {
    const sale: SaleBreakdown = { currency: EUR, revenue: 4900, deferredRevenue: 1000, tax: 0, discount: 5900 };
    const d = salePosting({ paymentId: 'ord_1', referenceType: 'order', connector: 'none', captured: money(0, EUR), total: money(0, EUR), sale, taxCountry: 'DE' });
    expectWellFormed(d);
    expect(d.referenceType).toBe('order');
    expect(sumsOf(d.lines)).toEqual(new Map([['discounts', 5900], ['revenue', -4900], ['deferred_revenue', -1000]]));
  });

  it('scales a partial capture: discount half up, the credits by largest remainder', () => {
    // total 1000 + 500 + 150 − 150 = 1500; capture 1001 → discount' = round(150 × 1001/1500 = 100.1) = 100;
    // credits 1101 over weights 1000:500:150 → 667.27, 333.63, 100.09 → 667, 334, 100.
    const sale: SaleBreakdown = { currency: EUR, revenue: 1000, deferredRevenue: 500, tax: 150, discount: 150 };
    const posted = postedSale({ sale, captured: money(1001, EUR), total: money(1500, EUR) });
    expect(posted).toEqual({ currency: EUR, revenue: 667, deferredRevenue: 334, tax: 100, discount: 100 });
    const d = salePosting({ paymentId: 'pay_1', connector: 'sandbox', captured: money(1001, EUR), total: money(1500, EUR), sale, taxCountry: 'FR' });
    expectWellFormed(d);
    expect(sumsOf(d.lines)).toEqual(new Map([['gateway_clearing:sandbox', 1001], ['discounts', 100], ['revenue', -667], ['deferred_revenue', -334], ['tax_payable:FR', -100]]));
  });

  it('never books a stray unit on a part the sale did not have', () => {
    const sale: SaleBreakdown = { currency: JPY, revenue: 0, deferredRevenue: 999, tax: 1, discount: 0 };
    const posted = postedSale({ sale, captured: money(333, JPY), total: money(1000, JPY) });
    expect(posted.revenue).toBe(0);
    expect(posted.deferredRevenue + posted.tax).toBe(333);
  });

  it('gives tax back cumulatively, so three thirds return exactly the posted tax', () => {
    const sale: SaleBreakdown = { currency: EUR, revenue: 1000, deferredRevenue: 0, tax: 200, discount: 0 };
    const drafts = refundsOf({ sale, captured: 1200, parts: [400, 400, 400] });
    // taxBack: 66.67→67, 133.33→133, 200 → shares 67, 66, 67
    expect(drafts.map((d) => sumsOf(d.lines).get('tax_payable:FR'))).toEqual([67, 66, 67]);
    expect(drafts.map((d) => sumsOf(d.lines).get('refunds'))).toEqual([333, 334, 333]);
    for (const d of drafts) expectWellFormed(d);
  });

  it('holds and releases an authorization off-balance', () => {
    const hold = authorizationPosting({ paymentId: 'pay_1', connector: 'sandbox', amount: money(500, EUR) });
    const release = authorizationReleasePosting({ paymentId: 'pay_1', connector: 'sandbox', amount: money(500, EUR) });
    expectWellFormed(hold);
    expectWellFormed(release);
    for (const l of [...hold.lines, ...release.lines]) expect(accountKind(l.account)).toBe('memo');
    for (const v of sumsOf([...hold.lines, ...release.lines]).values()) expect(v).toBe(0);
  });

  it('reverses a draft or a posted journal', () => {
    const sale: SaleBreakdown = { currency: EUR, revenue: 1000, deferredRevenue: 0, tax: 190, discount: 100 };
    const d = salePosting({ paymentId: 'pay_1', connector: 'sandbox', captured: money(1090, EUR), total: money(1090, EUR), sale, taxCountry: 'DE' });
    const r = reverse(d);
    expectWellFormed(r);
    expect(r.kind).toBe('reversal');
    expect(r.reversesId).toBeUndefined();
    for (const v of sumsOf([...d.lines, ...r.lines]).values()) expect(v).toBe(0);
    const posted = { id: 'jtx_1', kind: d.kind, referenceType: d.referenceType, referenceId: d.referenceId, description: d.description, reversesId: null, createdAt: 0, entries: d.lines.map((l) => ({ account: l.account, currency: l.amount.currency, amount: l.amount.amount })) };
    const r2 = reverse(posted, 'booked twice');
    expect(r2).toEqual({ ...r, description: 'booked twice', reversesId: 'jtx_1' });
  });

  it('refuses inputs that cannot be a real sale (bugs upstream, so they throw)', () => {
    const sale: SaleBreakdown = { currency: EUR, revenue: 1000, deferredRevenue: 0, tax: 0, discount: 0 };
    const refund = (amount: number, before: number) =>
      refundPosting({ paymentId: 'p', refundId: 'r', connector: 'sandbox', refund: money(amount, EUR), capturedTotal: money(1000, EUR), refundedBefore: money(before, EUR), sale, total: money(1000, EUR), taxCountry: 'FR' });
    expect(() => refund(600, 500)).toThrow(/exceeds captured/);
    expect(() => refund(0, 0)).toThrow(/positive/);
    expect(() => postedSale({ sale, captured: money(10, EUR), total: money(999, EUR) })).toThrow(/not the total/);
    expect(() => postedSale({ sale, captured: money(1001, EUR), total: money(1000, EUR) })).toThrow(/outside/);
    expect(() => postedSale({ sale, captured: money(0, EUR), total: money(1000, EUR) })).toThrow(/nothing captured/);
    expect(() => postedSale({ sale, captured: money(10, JPY), total: money(1000, EUR) })).toThrow(/mixes/);
    expect(() => postedSale({ sale: { ...sale, discount: 1001, tax: 1001 }, captured: money(1000, EUR), total: money(1000, EUR) })).toThrow(/discount/);
    expect(() => postedSale({ sale: { ...sale, tax: -1, revenue: 1001 }, captured: money(1000, EUR), total: money(1000, EUR) })).toThrow(/non-negative/);
  });

  it('detects an unbalanced or degenerate draft', () => {
    const base = { kind: 'sale', referenceType: 'payment', referenceId: 'p', description: '' } as const;
    expect(() => assertBalanced({ ...base, lines: [{ account: 'revenue', amount: money(-5, EUR) }, { account: 'discounts', amount: money(4, EUR) }] })).toThrow(/unbalanced/);
    expect(() => assertBalanced({ ...base, lines: [{ account: 'revenue', amount: money(-5, EUR) }, { account: 'discounts', amount: money(5, JPY) }] })).toThrow(/unbalanced/);
    expect(() => assertBalanced({ ...base, lines: [{ account: 'revenue', amount: money(0, EUR) }, { account: 'discounts', amount: money(0, EUR) }] })).toThrow(/zero line/);
    expect(() => assertBalanced({ ...base, lines: [] })).toThrow(/fewer than two/);
  });
});

describe('posting rules, properties', () => {
  it('books every partial capture balanced, exact, and within one unit of each exact share', () => {
    fc.assert(
      fc.property(capturedSaleArb, ({ sale, captured }) => {
        const total = saleTotal(sale);
        const d = salePosting({ paymentId: 'pay_1', connector: 'sandbox', captured: money(captured, EUR), total: money(total, EUR), sale, taxCountry: 'FR' });
        expectWellFormed(d);
        const posted = postedSale({ sale, captured: money(captured, EUR), total: money(total, EUR) });
        expect(saleTotal(posted)).toBe(captured);
        expect(posted.discount).toBe(Math.floor((2 * sale.discount * captured + total) / (2 * total))); // half up
        // No part grows, none goes negative, and tax never exceeds the money taken.
        for (const part of ['revenue', 'deferredRevenue', 'tax', 'discount'] as const) {
          expect(posted[part]).toBeGreaterThanOrEqual(0);
          expect(posted[part]).toBeLessThanOrEqual(sale[part]);
        }
        expect(posted.tax).toBeLessThanOrEqual(captured);
        const credits = captured + posted.discount;
        const weight = sale.revenue + sale.deferredRevenue + sale.tax;
        for (const part of ['revenue', 'deferredRevenue', 'tax'] as const) {
          expect(Math.abs(posted[part] * weight - credits * sale[part])).toBeLessThan(weight);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('holds and releases any amount in balance', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.constantFrom('sandbox', 'stripe', 'razorpay'), (amount, connector) => {
        expectWellFormed(authorizationPosting({ paymentId: 'p', connector, amount: money(amount, EUR) }));
        expectWellFormed(authorizationReleasePosting({ paymentId: 'p', connector, amount: money(amount, EUR) }));
      }),
    );
  });

  it('never books more tax than was captured, even when the discount takes nearly all the goods (regression)', () => {
    // fast-check found it: 5 of 17 captured, where 17 is all tax after a discount of all the goods.
    const sale: SaleBreakdown = { currency: EUR, revenue: 1, deferredRevenue: 1, tax: 17, discount: 2 };
    const posted = postedSale({ sale, captured: money(5, EUR), total: money(17, EUR) });
    expect(posted).toEqual({ currency: EUR, revenue: 1, deferredRevenue: 0, tax: 5, discount: 1 });
    expect(saleTotal(posted)).toBe(5);
  });

  it('returns exactly the posted tax over any sequence of refunds that adds up to the capture', () => {
    fc.assert(
      fc.property(
        capturedSaleArb.chain(({ sale, captured }) => fc.record({ sale: fc.constant(sale), captured: fc.constant(captured), parts: splitArb(captured, 8) })),
        ({ sale, captured, parts }) => {
          const postedTax = postedSale({ sale, captured: money(captured, EUR), total: money(saleTotal(sale), EUR) }).tax;
          const drafts = refundsOf({ sale, captured, parts });
          let taxBack = 0;
          let clearing = 0;
          drafts.forEach((d, i) => {
            expectWellFormed(d);
            const sums = sumsOf(d.lines);
            const tax = sums.get('tax_payable:FR') ?? 0;
            // Each refund's tax is between nothing and the refund itself.
            expect(tax).toBeGreaterThanOrEqual(0);
            expect(tax).toBeLessThanOrEqual(parts[i]!);
            expect(sums.get('refunds') ?? 0).toBe(parts[i]! - tax);
            taxBack += tax;
            clearing += sums.get('gateway_clearing:sandbox') ?? 0;
          });
          expect(taxBack).toBe(postedTax);
          expect(clearing).toBe(-captured);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('gives back tax that depends only on where a refund starts and ends', () => {
    fc.assert(
      fc.property(capturedSaleArb, fc.nat(), fc.nat(), ({ sale, captured }, a, b) => {
        const [lo, hi] = [a % (captured + 1), b % (captured + 1)].sort((x, y) => x - y) as [number, number];
        fc.pre(lo < hi);
        const common = { capturedTotal: money(captured, EUR), sale, total: money(saleTotal(sale), EUR) };
        const whole = refundTax({ ...common, refund: money(hi - lo, EUR), refundedBefore: money(lo, EUR) });
        const mid = lo + Math.floor((hi - lo) / 2);
        const halves =
          (mid > lo ? refundTax({ ...common, refund: money(mid - lo, EUR), refundedBefore: money(lo, EUR) }) : 0) +
          refundTax({ ...common, refund: money(hi - mid, EUR), refundedBefore: money(mid, EUR) });
        expect(halves).toBe(whole);
      }),
    );
  });

  it('nets a sale and its full refund to zero: clearing and tax cleared, refunds offset the revenue booked', () => {
    fc.assert(
      fc.property(
        capturedSaleArb.chain(({ sale, captured }) => fc.record({ sale: fc.constant(sale), captured: fc.constant(captured), parts: splitArb(captured, 4) })),
        ({ sale, captured, parts }) => {
          const total = saleTotal(sale);
          const s = salePosting({ paymentId: 'pay_1', connector: 'sandbox', captured: money(captured, EUR), total: money(total, EUR), sale, taxCountry: 'FR' });
          const net = sumsOf([...s.lines, ...refundsOf({ sale, captured, parts }).flatMap((d) => d.lines)]);
          expect(net.get('gateway_clearing:sandbox') ?? 0).toBe(0);
          expect(net.get('tax_payable:FR') ?? 0).toBe(0);
          // What stays is revenue (credit) against its contra accounts (debits): they cancel out.
          const revenueSide = (net.get(REVENUE) ?? 0) + (net.get(DEFERRED_REVENUE) ?? 0);
          const contraSide = (net.get(DISCOUNTS) ?? 0) + (net.get(REFUNDS) ?? 0);
          expect(revenueSide + contraSide).toBe(0);
          expect(net.get(REFUNDS) ?? 0).toBe(captured - postedSale({ sale, captured: money(captured, EUR), total: money(total, EUR) }).tax);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reverses any posting to a net of zero on every account', () => {
    fc.assert(
      fc.property(capturedSaleArb, ({ sale, captured }) => {
        const d = salePosting({ paymentId: 'pay_1', connector: 'sandbox', captured: money(captured, EUR), total: money(saleTotal(sale), EUR), sale, taxCountry: 'FR' });
        const r = reverse(d);
        expectWellFormed(r);
        for (const v of sumsOf([...d.lines, ...r.lines]).values()) expect(v).toBe(0);
      }),
    );
  });
});

describe('revenue recognition posting', () => {
  it('moves the amount from deferred revenue to revenue, referencing the invoice', () => {
    const d = recognitionPosting({ scheduleId: 'rs_1', invoiceId: 'in_1', amount: money(1234, EUR) });
    expectWellFormed(d);
    expect(d.kind).toBe('revenue_recognition');
    expect(d.referenceType).toBe('invoice');
    expect(d.referenceId).toBe('in_1');
    expect(d.description).toContain('rs_1');
    expect(d.lines).toEqual([
      { account: DEFERRED_REVENUE, amount: money(1234, EUR) },
      { account: REVENUE, amount: money(-1234, EUR) },
    ]);
  });

  it('refuses an amount that is not a positive integer (nothing to recognise is not a posting)', () => {
    for (const amount of [0, -1, -1234]) expect(() => recognitionPosting({ scheduleId: 'rs_1', invoiceId: 'in_1', amount: money(amount, EUR) })).toThrow(/positive integer/);
    expect(() => recognitionPosting({ scheduleId: 'rs_1', invoiceId: 'in_1', amount: { amount: 1.5, currency: EUR } })).toThrow(/positive integer/);
  });

  it('balances any positive amount, in any currency (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.constantFrom(EUR, JPY), (amount, currency) => {
        const d = recognitionPosting({ scheduleId: 'rs_1', invoiceId: 'in_1', amount: money(amount, currency) });
        expectWellFormed(d);
        expect(sumsOf(d.lines)).toEqual(new Map([[DEFERRED_REVENUE, amount], [REVENUE, -amount]]));
      }),
    );
  });
});

describe('refund of service not yet delivered (fromDeferred)', () => {
  // A subscription period: 1000 deferred + 200 tax, captured in full.
  const sale: SaleBreakdown = { currency: EUR, revenue: 0, deferredRevenue: 1000, tax: 200, discount: 0 };
  const refund = (amount: number, fromDeferred: number | undefined, before = 0): JournalDraft => {
    const args: RefundPostingArgs = {
      paymentId: 'pay_1',
      refundId: 're_1',
      connector: 'sandbox',
      refund: money(amount, EUR),
      capturedTotal: money(1200, EUR),
      refundedBefore: money(before, EUR),
      sale,
      total: money(1200, EUR),
      taxCountry: 'FR',
    };
    return refundPosting(fromDeferred === undefined ? args : { ...args, fromDeferred });
  };

  it('splits the refund before tax between deferred revenue and refunds', () => {
    // 600 refunded: tax back 100, 500 before tax, of which 300 was never earned.
    const d = refund(600, 300);
    expectWellFormed(d);
    expect(sumsOf(d.lines)).toEqual(new Map([['gateway_clearing:sandbox', -600], ['tax_payable:FR', 100], [DEFERRED_REVENUE, 300], [REFUNDS, 200]]));
  });

  it('takes it all from deferred revenue when none was earned, and none by default', () => {
    expect(sumsOf(refund(600, 500).lines)).toEqual(new Map([['gateway_clearing:sandbox', -600], ['tax_payable:FR', 100], [DEFERRED_REVENUE, 500]]));
    expect(sumsOf(refund(600, undefined).lines)).toEqual(new Map([['gateway_clearing:sandbox', -600], ['tax_payable:FR', 100], [REFUNDS, 500]]));
    expect(refund(600, 0)).toEqual(refund(600, undefined));
  });

  it('refuses a fromDeferred outside 0..the refund before tax', () => {
    // 401 refunded after 400: taxBack(801) − taxBack(400) = 134 − 67 = 67, so 334 before tax.
    expect(() => refund(401, 335, 400)).toThrow(/outside 0\.\.334/);
    expect(() => refund(401, 334, 400)).not.toThrow();
    for (const bad of [-1, 501, 600, 0.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => refund(600, bad)).toThrow(/fromDeferred/);
  });

  it('balances any refund with any valid fromDeferred, and refuses any other (property)', () => {
    fc.assert(
      fc.property(capturedSaleArb, fc.nat(), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 1000 }), ({ sale: s, captured }, a, b, pick, over) => {
        const before = a % captured;
        const amount = 1 + (b % (captured - before));
        const args: RefundPostingArgs = {
          paymentId: 'pay_1',
          refundId: 're_1',
          connector: 'sandbox',
          refund: money(amount, EUR),
          capturedTotal: money(captured, EUR),
          refundedBefore: money(before, EUR),
          sale: s,
          total: money(saleTotal(s), EUR),
          taxCountry: 'FR',
        };
        const tax = refundTax(args);
        const exTax = amount - tax;
        const fromDeferred = pick % (exTax + 1);
        const d = refundPosting({ ...args, fromDeferred });
        expectWellFormed(d);
        const sums = sumsOf(d.lines);
        expect(sums.get('gateway_clearing:sandbox')).toBe(-amount);
        expect(sums.get('tax_payable:FR') ?? 0).toBe(tax);
        expect(sums.get(DEFERRED_REVENUE) ?? 0).toBe(fromDeferred);
        expect(sums.get(REFUNDS) ?? 0).toBe(exTax - fromDeferred);
        // Only debits besides the clearing credit.
        for (const l of d.lines) if (l.account !== 'gateway_clearing:sandbox') expect(l.amount.amount).toBeGreaterThan(0);
        expect(() => refundPosting({ ...args, fromDeferred: exTax + over })).toThrow(/fromDeferred/);
        expect(() => refundPosting({ ...args, fromDeferred: -over })).toThrow(/fromDeferred/);
      }),
      { numRuns: 500 },
    );
  });
});
