import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CouponTerms } from '../../catalog/domain/coupon.js';
import type { TaxBehavior } from '../../catalog/domain/price.js';
import { computeTotals } from '../../checkout/domain/totals.js';
import { ObolError } from '../../kernel/index.js';
import { money, parseCurrency, type CurrencyCode } from '../../money/index.js';
import {
  formatInvoiceNumber,
  INVOICE_EVENTS,
  INVOICE_STATUSES,
  invoiceTotals,
  isInvoiceEvent,
  isInvoicePrefix,
  isInvoiceStatus,
  nextInvoiceStatus,
  TERMINAL_INVOICE_STATUSES,
  transitionInvoice,
  type InvoiceEvent,
  type InvoiceStatus,
  type InvoiceTotalsArgs,
} from './invoice.js';

const EUR = parseCurrency('EUR') as CurrencyCode;
const USD = parseCurrency('USD') as CurrencyCode;

/** The diagram in invoice.ts, written out edge by edge: every pair not listed is refused. */
const DIAGRAM: Readonly<Record<InvoiceStatus, Partial<Record<InvoiceEvent, InvoiceStatus>>>> = {
  draft: { finalize: 'open', void: 'void' },
  open: { pay: 'paid', void: 'void', mark_uncollectible: 'uncollectible' },
  uncollectible: { pay: 'paid', void: 'void' },
  paid: {},
  void: {},
};

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ObolError);
    return (err as ObolError).code;
  }
  return 'no error';
}

describe('invoice state machine', () => {
  it('allows exactly the transitions of the diagram, for every (status, event) pair', () => {
    let allowed = 0;
    for (const from of INVOICE_STATUSES) {
      for (const event of INVOICE_EVENTS) {
        const to = DIAGRAM[from][event];
        expect(nextInvoiceStatus(from, event), `${from} + ${event}`).toBe(to);
        if (to === undefined) {
          let caught: unknown;
          try {
            transitionInvoice(from, event);
          } catch (err) {
            caught = err;
          }
          expect(caught).toBeInstanceOf(ObolError);
          expect((caught as ObolError).code).toBe('ILLEGAL_STATE_TRANSITION');
          expect((caught as ObolError).details).toEqual({ from, event });
        } else {
          expect(transitionInvoice(from, event)).toBe(to);
          allowed += 1;
        }
      }
    }
    expect(allowed).toBe(7);
  });

  it('writes the event in words in the refusal', () => {
    expect(() => transitionInvoice('paid', 'mark_uncollectible')).toThrow('an invoice in status paid cannot take mark uncollectible');
  });

  it('moves nothing out of a terminal status, and every other status has a way out', () => {
    expect([...TERMINAL_INVOICE_STATUSES].sort()).toEqual(['paid', 'void']);
    for (const status of INVOICE_STATUSES) {
      const exits = INVOICE_EVENTS.filter((e) => nextInvoiceStatus(status, e) !== undefined);
      expect(exits.length === 0, status).toBe(TERMINAL_INVOICE_STATUSES.includes(status));
    }
  });

  it('throws a plain error on an unknown status (a bug, not a caller mistake)', () => {
    expect(() => nextInvoiceStatus('sent' as InvoiceStatus, 'pay')).toThrow(/unknown invoice status/);
  });

  it('guards statuses and events', () => {
    for (const s of INVOICE_STATUSES) expect(isInvoiceStatus(s)).toBe(true);
    for (const e of INVOICE_EVENTS) expect(isInvoiceEvent(e)).toBe(true);
    for (const bad of ['Paid', 'sent', '', null, undefined, 1, {}]) {
      expect(isInvoiceStatus(bad)).toBe(false);
      expect(isInvoiceEvent(bad)).toBe(false);
    }
  });
});

describe('formatInvoiceNumber', () => {
  it('pads to six digits and never truncates a wider number', () => {
    expect(formatInvoiceNumber('OBOL', 42)).toBe('OBOL-000042');
    expect(formatInvoiceNumber('OBOL', 1)).toBe('OBOL-000001');
    expect(formatInvoiceNumber('OBOL', 999_999)).toBe('OBOL-999999');
    expect(formatInvoiceNumber('OBOL', 1_234_567)).toBe('OBOL-1234567');
    expect(formatInvoiceNumber('INV-2024', 7)).toBe('INV-2024-000007');
    expect(formatInvoiceNumber('A'.repeat(20), 5)).toBe(`${'A'.repeat(20)}-000005`);
  });

  it('refuses a bad prefix', () => {
    for (const prefix of ['', 'obol', 'OB OL', 'OBOL/', 'A'.repeat(21), 'ÖBOL', 'OBOL\n']) {
      expect(isInvoicePrefix(prefix)).toBe(false);
      expect(() => formatInvoiceNumber(prefix, 1)).toThrow(/invoice prefix/);
    }
    expect(isInvoicePrefix(42)).toBe(false);
  });

  it('refuses a sequence number that is not a positive safe integer', () => {
    for (const seq of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) expect(() => formatInvoiceNumber('OBOL', seq)).toThrow(RangeError);
  });

  it('keeps numbers in order when compared as text within six digits (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 999_999 }), fc.integer({ min: 1, max: 999_999 }), (a, b) => {
        const [x, y] = [formatInvoiceNumber('OBOL', a), formatInvoiceNumber('OBOL', b)];
        expect(Math.sign(x.localeCompare(y, 'en'))).toBe(Math.sign(a - b));
        expect(Number(x.slice('OBOL-'.length))).toBe(a);
      }),
    );
  });
});

const base = (over: Partial<InvoiceTotalsArgs>): InvoiceTotalsArgs => ({
  currency: EUR,
  unitAmount: 1000,
  quantity: 1,
  taxBehavior: 'exclusive',
  taxRateBps: 2000,
  discount: null,
  credit: 0,
  ...over,
});

describe('invoiceTotals, examples', () => {
  it('adds exclusive tax on top', () => {
    expect(invoiceTotals(base({}))).toEqual({ subtotal: 1000, discount: 0, credit: 0, tax: 200, total: 1200, net: 1000, unusedCredit: 0 });
  });

  it('takes inclusive tax out of the sticker price', () => {
    // 1200 × 2000 / 12000 = 200
    expect(invoiceTotals(base({ unitAmount: 1200, taxBehavior: 'inclusive' }))).toEqual({ subtotal: 1200, discount: 0, credit: 0, tax: 200, total: 1200, net: 1000, unusedCredit: 0 });
  });

  it('rounds tax half up, once', () => {
    // exclusive 1005 × 10 % = 100.5 → 101; inclusive 1155 × 1000/11000 = 105 exactly; 1105 → 100.45 → 100
    expect(invoiceTotals(base({ unitAmount: 1005, taxRateBps: 1000 })).tax).toBe(101);
    expect(invoiceTotals(base({ unitAmount: 1155, taxRateBps: 1000, taxBehavior: 'inclusive' })).tax).toBe(105);
    expect(invoiceTotals(base({ unitAmount: 1105, taxRateBps: 1000, taxBehavior: 'inclusive' })).tax).toBe(100);
  });

  it('applies the coupon, then the credit, then taxes what is left', () => {
    const tenPercent: CouponTerms = { kind: 'percent', percentOffBps: 1000 };
    // 1000 − 100 − 300 = 600; tax 120
    expect(invoiceTotals(base({ discount: tenPercent, credit: 300 }))).toEqual({ subtotal: 1000, discount: 100, credit: 300, tax: 120, total: 720, net: 600, unusedCredit: 0 });
    // Inclusive: 1200 − 120 − 300 = 780 contains 780 × 2000/12000 = 130
    expect(invoiceTotals(base({ unitAmount: 1200, taxBehavior: 'inclusive', discount: tenPercent, credit: 300 }))).toEqual({
      subtotal: 1200,
      discount: 120,
      credit: 300,
      tax: 130,
      total: 780,
      net: 650,
      unusedCredit: 0,
    });
  });

  it('uses credit only up to what remains and carries the rest', () => {
    const off = { kind: 'amount', amountOff: money(250, EUR) } as const;
    expect(invoiceTotals(base({ discount: off, credit: 5000 }))).toEqual({ subtotal: 1000, discount: 250, credit: 750, tax: 0, total: 0, net: 0, unusedCredit: 4250 });
    expect(invoiceTotals(base({ credit: 1000 }))).toEqual({ subtotal: 1000, discount: 0, credit: 1000, tax: 0, total: 0, net: 0, unusedCredit: 0 });
    expect(invoiceTotals(base({ credit: 999 }))).toEqual({ subtotal: 1000, discount: 0, credit: 999, tax: 0, total: 1, net: 1, unusedCredit: 0 }); // 0.2 → 0
  });

  it('caps an amount coupon at the price, leaving nothing for the credit', () => {
    const off = { kind: 'amount', amountOff: money(5000, EUR) } as const;
    expect(invoiceTotals(base({ discount: off, credit: 10 }))).toEqual({ subtotal: 1000, discount: 1000, credit: 0, tax: 0, total: 0, net: 0, unusedCredit: 10 });
  });

  it('handles a free price', () => {
    expect(invoiceTotals(base({ unitAmount: 0, credit: 7 }))).toEqual({ subtotal: 0, discount: 0, credit: 0, tax: 0, total: 0, net: 0, unusedCredit: 7 });
  });

  it('refuses what checkout refuses (typed) and a bad credit or quantity (bugs)', () => {
    expect(codeOf(() => invoiceTotals(base({ taxRateBps: 10_001 })))).toBe('VALIDATION_FAILED');
    expect(codeOf(() => invoiceTotals(base({ unitAmount: -1 })))).toBe('VALIDATION_FAILED');
    expect(codeOf(() => invoiceTotals(base({ discount: { kind: 'amount', amountOff: money(100, USD) } })))).toBe('COUPON_CURRENCY_MISMATCH');
    expect(codeOf(() => invoiceTotals(base({ discount: { kind: 'percent', percentOffBps: 0 } })))).toBe('VALIDATION_FAILED');
    expect(() => invoiceTotals(base({ credit: -1 }))).toThrow(RangeError);
    expect(() => invoiceTotals(base({ credit: 0.5 }))).toThrow(RangeError);
    expect(() => invoiceTotals(base({ quantity: 2 as 1 }))).toThrow(RangeError);
  });
});

const couponArb: fc.Arbitrary<CouponTerms | null> = fc.oneof(
  fc.constant(null),
  fc.integer({ min: 1, max: 10_000 }).map((percentOffBps) => ({ kind: 'percent', percentOffBps }) as const),
  fc.integer({ min: 0, max: 2_000_000 }).map((amount) => ({ kind: 'amount', amountOff: money(amount, EUR) }) as const),
);

const argsArb: fc.Arbitrary<InvoiceTotalsArgs> = fc.record({
  currency: fc.constant(EUR),
  unitAmount: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 1_000_000_000 })),
  quantity: fc.constant(1 as const),
  taxBehavior: fc.constantFrom<TaxBehavior>('exclusive', 'inclusive'),
  taxRateBps: fc.oneof(fc.constantFrom(0, 500, 700, 1900, 2000, 2500, 10_000), fc.integer({ min: 0, max: 10_000 })),
  discount: couponArb,
  credit: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 2_000_000_000 })),
});

/** round_half_up(a × b / c), written out in BigInt. */
const halfUp = (a: number, b: number, c: number): number => Number((2n * BigInt(a) * BigInt(b) + BigInt(c)) / (2n * BigInt(c)));

describe('invoiceTotals, properties', () => {
  it('uses credit up to what remains, carries the rest, and total = net + tax with the tax rounded once, half up', () => {
    fc.assert(
      fc.property(argsArb, (args) => {
        const t = invoiceTotals(args);
        for (const v of Object.values(t)) {
          expect(Number.isSafeInteger(v)).toBe(true);
          expect(v).toBeGreaterThanOrEqual(0);
        }
        expect(t.subtotal).toBe(args.unitAmount);
        const remaining = t.subtotal - t.discount;
        expect(t.credit).toBe(Math.min(args.credit, remaining));
        expect(t.credit + t.unusedCredit).toBe(args.credit);
        expect(t.total).toBe(t.net + t.tax);
        const taxable = remaining - t.credit;
        if (args.taxBehavior === 'exclusive') {
          expect(t.net).toBe(taxable);
          expect(t.tax).toBe(halfUp(taxable, args.taxRateBps, 10_000));
        } else {
          expect(t.total).toBe(taxable);
          expect(t.tax).toBe(halfUp(taxable, args.taxRateBps, 10_000 + args.taxRateBps));
          expect(t.tax).toBeLessThanOrEqual(t.total);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('without credit, is exactly checkout for the same one-line cart', () => {
    fc.assert(
      fc.property(argsArb, (args) => {
        const t = invoiceTotals({ ...args, credit: 0 });
        const cart = computeTotals({
          currency: EUR,
          taxRateBps: args.taxRateBps,
          coupon: args.discount,
          items: [{ priceId: 'p', productId: 'x', productName: 'x', billingInterval: 'month', quantity: 1, unitAmount: args.unitAmount, taxBehavior: args.taxBehavior }],
        });
        expect([t.subtotal, t.discount, t.tax, t.total]).toEqual([cart.subtotal, cart.discountTotal, cart.taxTotal, cart.total]);
      }),
      { numRuns: 500 },
    );
  });

  it('more credit never makes the customer pay more, nor the revenue grow', () => {
    fc.assert(
      fc.property(argsArb, fc.integer({ min: 0, max: 1_000_000 }), (args, more) => {
        const a = invoiceTotals(args);
        const b = invoiceTotals({ ...args, credit: args.credit + more });
        expect(b.total).toBeLessThanOrEqual(a.total);
        expect(b.net).toBeLessThanOrEqual(a.net);
        expect(b.credit).toBeGreaterThanOrEqual(a.credit);
      }),
      { numRuns: 500 },
    );
  });
});
