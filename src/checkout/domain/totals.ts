/**
 * Checkout totals: discount and tax for a cart, in integer minor units of one currency.
 *
 * THE ROUNDING RULE (this comment is the written rule; totals.test.ts proves it):
 *
 *  1. Line gross. amountGross = unitAmount × quantity, exact. `quantity` is a positive integer
 *     ≤ 1000 (else ObolError INVALID_QUANTITY); `unitAmount` is a non-negative safe
 *     integer (else ObolError VALIDATION_FAILED). A product outside the safe-integer range throws
 *     RangeError: callers validate quantities first, so that is a bug, not a caller mistake.
 *  2. subtotal = Σ amountGross, as priced: the gross of a tax-inclusive line already contains
 *     its tax.
 *  3. Order discount, computed once on the subtotal:
 *       percent: round_half_up(subtotal × percentOffBps / 10000), percentOffBps integer 1..10000;
 *       amount:  min(amountOff, subtotal); amountOff must be in the session currency (else
 *                ObolError COUPON_CURRENCY_MISMATCH) and non-negative.
 *     Subtotal 0 ⇒ discount 0. The order discount is then split across lines in proportion to
 *     amountGross by `allocate` (largest remainder, ties to the earlier line), so
 *     Σ line discount = order discount exactly and no line's discount exceeds its gross.
 *  4. Tax, per line, on net = amountGross − line discount, rounded ONCE per line, HALF_UP
 *     (halves away from zero; all values here are ≥ 0, so halves round up). taxRateBps is an
 *     integer 0..10000 (else ObolError VALIDATION_FAILED).
 *       exclusive: tax = round_half_up(net × rate / 10000);           total = net + tax
 *       inclusive: tax = round_half_up(net × rate / (10000 + rate));  total = net
 *                  (the tax contained in the price; the learner pays the sticker price)
 *     Rounding per line (not per order) keeps every line's tax reproducible from that line alone,
 *     which is what invoices and partial refunds need.
 *  5. discountTotal = Σ line discount, taxTotal = Σ line tax, total = Σ line total.
 *     Invariant: total = subtotal − discountTotal + Σ(tax of exclusive lines). Nothing is negative.
 *
 * Sale breakdown (for the ledger), per line:
 *   revenue part = exclusive ? amountGross : amountGross − tax;
 *   one-time lines (billingInterval null) go to `revenue`, recurring lines to `deferredRevenue`;
 *   discount = discountTotal (a contra-revenue, kept gross); tax = taxTotal.
 *   Invariant: revenue + deferredRevenue + tax − discount = total.
 *
 * All arithmetic goes through src/money (mulDivRounded, allocate, checked add/multiply): no floats.
 */
import { ObolError } from '../../kernel/index.js';
import { add, allocate, money, mulDivRounded, multiply, subtract, zero } from '../../money/index.js';
import type { CurrencyCode, Money } from '../../money/index.js';
import { isTaxBehavior, type BillingInterval, type TaxBehavior } from '../../catalog/domain/price.js';
import type { CouponTerms } from '../../catalog/domain/coupon.js';
import type { SaleBreakdown } from '../../ledger/domain/postings.js';

export { TAX_BEHAVIORS, isTaxBehavior, BILLING_INTERVALS, isBillingInterval } from '../../catalog/domain/price.js';
export type { TaxBehavior, BillingInterval } from '../../catalog/domain/price.js';
export type { CouponTerms } from '../../catalog/domain/coupon.js';
export type { SaleBreakdown } from '../../ledger/domain/postings.js';

/** A digital good is never bought by the thousand; the cap also keeps gross × quantity far from overflow. */
export const MAX_QUANTITY = 1000;
const BPS = 10_000;

export interface PricedItem {
  readonly priceId: string;
  readonly productId: string;
  readonly productName: string;
  readonly billingInterval: BillingInterval | null;
  readonly quantity: number;
  readonly unitAmount: number;
  readonly taxBehavior: TaxBehavior;
}

export interface TotalsInput {
  readonly currency: CurrencyCode;
  readonly items: readonly PricedItem[];
  readonly taxRateBps: number;
  readonly coupon: CouponTerms | null;
}

export interface LineTotals extends PricedItem {
  readonly amountGross: number;
  readonly discount: number;
  readonly tax: number;
  readonly total: number;
}

export interface Totals {
  readonly currency: CurrencyCode;
  readonly lines: readonly LineTotals[];
  readonly subtotal: number;
  readonly discountTotal: number;
  readonly taxTotal: number;
  readonly total: number;
}

function validateItem(item: PricedItem): void {
  if (!Number.isInteger(item.quantity) || item.quantity < 1 || item.quantity > MAX_QUANTITY) {
    throw new ObolError('INVALID_QUANTITY', `quantity must be an integer from 1 to ${MAX_QUANTITY}`, {
      priceId: item.priceId,
      quantity: Number.isFinite(item.quantity) ? item.quantity : String(item.quantity),
    });
  }
  if (!Number.isSafeInteger(item.unitAmount) || item.unitAmount < 0) {
    throw new ObolError('VALIDATION_FAILED', 'unitAmount must be a non-negative integer in minor units', {
      priceId: item.priceId,
    });
  }
  if (!isTaxBehavior(item.taxBehavior)) {
    throw new ObolError('VALIDATION_FAILED', 'unknown tax behavior', { priceId: item.priceId });
  }
}

function validateTaxRate(taxRateBps: number): void {
  if (!Number.isInteger(taxRateBps) || taxRateBps < 0 || taxRateBps > BPS) {
    throw new ObolError('VALIDATION_FAILED', 'taxRateBps must be an integer from 0 to 10000', {
      taxRateBps: Number.isFinite(taxRateBps) ? taxRateBps : String(taxRateBps),
    });
  }
}

function orderDiscount(currency: CurrencyCode, subtotal: Money, coupon: CouponTerms | null): Money {
  if (coupon === null) return zero(currency);
  switch (coupon.kind) {
    case 'percent': {
      const bps = coupon.percentOffBps;
      if (!Number.isInteger(bps) || bps < 1 || bps > BPS) {
        throw new ObolError('VALIDATION_FAILED', 'percentOffBps must be an integer from 1 to 10000', {
          percentOffBps: Number.isFinite(bps) ? bps : String(bps),
        });
      }
      return money(mulDivRounded(subtotal.amount, bps, BPS, 'half_up'), currency);
    }
    case 'amount': {
      const off = coupon.amountOff;
      // Checked before the amount so a wrong-currency coupon is reported as such even on an empty cart.
      if (off.currency !== currency) {
        throw new ObolError('COUPON_CURRENCY_MISMATCH', `coupon is in ${off.currency}, checkout is in ${currency}`, {
          couponCurrency: off.currency,
          currency,
        });
      }
      if (!Number.isSafeInteger(off.amount) || off.amount < 0) {
        throw new ObolError('VALIDATION_FAILED', 'amountOff must be a non-negative integer in minor units');
      }
      return money(Math.min(off.amount, subtotal.amount), currency);
    }
    default: {
      const unreachable: never = coupon;
      throw new ObolError('VALIDATION_FAILED', `unknown coupon kind ${String((unreachable as { kind: unknown }).kind)}`);
    }
  }
}

/**
 * Step 4 of the rounding rule for one line: the tax on its net (gross − discount), in minor units.
 * exclusive: the tax added on top; inclusive: the tax contained in the net. Exported so that
 * subscription invoices tax exactly as checkout does.
 */
export function lineTax(netAmount: number, taxBehavior: TaxBehavior, taxRateBps: number): number {
  validateTaxRate(taxRateBps);
  if (!Number.isSafeInteger(netAmount) || netAmount < 0) throw new RangeError(`net must be a non-negative integer amount, got ${netAmount}`);
  switch (taxBehavior) {
    case 'exclusive':
      return mulDivRounded(netAmount, taxRateBps, BPS, 'half_up');
    case 'inclusive':
      return mulDivRounded(netAmount, taxRateBps, BPS + taxRateBps, 'half_up');
    default: {
      const unreachable: never = taxBehavior;
      throw new ObolError('VALIDATION_FAILED', `unknown tax behavior ${String(unreachable)}`);
    }
  }
}

export function computeTotals(input: TotalsInput): Totals {
  const { currency, items, taxRateBps, coupon } = input;
  validateTaxRate(taxRateBps);
  for (const item of items) validateItem(item);

  // multiply/add throw RangeError on leaving the safe-integer range.
  const grosses = items.map((item) => multiply(money(item.unitAmount, currency), item.quantity));
  const subtotal = grosses.reduce((acc, g) => add(acc, g), zero(currency));
  const discount = orderDiscount(currency, subtotal, coupon);

  // allocate refuses all-zero weights; a zero subtotal means a zero discount anyway.
  const lineDiscounts =
    subtotal.amount === 0 ? grosses.map(() => zero(currency)) : allocate(discount, grosses.map((g) => g.amount));

  const lines = items.map((item, i): LineTotals => {
    const gross = grosses[i]!;
    const lineDiscount = lineDiscounts[i]!;
    const net = subtract(gross, lineDiscount);
    const tax = lineTax(net.amount, item.taxBehavior, taxRateBps);
    const total = item.taxBehavior === 'exclusive' ? add(net, money(tax, currency)).amount : net.amount;
    return { ...item, amountGross: gross.amount, discount: lineDiscount.amount, tax, total };
  });

  const sumOf = (pick: (l: LineTotals) => number): number =>
    lines.reduce((acc, l) => add(acc, money(pick(l), currency)), zero(currency)).amount;

  return {
    currency,
    lines,
    subtotal: subtotal.amount,
    discountTotal: sumOf((l) => l.discount),
    taxTotal: sumOf((l) => l.tax),
    total: sumOf((l) => l.total),
  };
}

export function saleBreakdown(totals: Totals): SaleBreakdown {
  const { currency } = totals;
  let revenue = zero(currency);
  let deferredRevenue = zero(currency);
  for (const line of totals.lines) {
    const part = line.taxBehavior === 'exclusive' ? line.amountGross : line.amountGross - line.tax;
    if (line.billingInterval === null) revenue = add(revenue, money(part, currency));
    else deferredRevenue = add(deferredRevenue, money(part, currency));
  }
  return {
    currency,
    revenue: revenue.amount,
    deferredRevenue: deferredRevenue.amount,
    discount: totals.discountTotal,
    tax: totals.taxTotal,
  };
}
