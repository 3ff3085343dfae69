/**
 * Posting rules: what each money movement books. Every rule returns a balanced draft by
 * construction (assertBalanced checks it again before anything is written).
 *
 * Sale (capture): Dr gateway clearing (captured) + Dr discounts = Cr revenue + Cr deferred
 * revenue + Cr tax payable. One-time products earn revenue at once; subscription periods go to
 * deferred revenue until recognised.
 *
 * Partial capture, the rule: when less than the total is captured, discount is scaled by
 * captured/total and rounded half up; then the credits (captured + scaled discount) are split
 * across revenue, deferred revenue and tax in proportion to the full sale by largest remainder,
 * so each part is within one minor unit of its exact share and the sum is exact.
 *
 * Refund, the rule: the tax given back is cumulative, taxBack(x) = round_half_up(postedTax × x /
 * captured), and a refund returns taxBack(refunded after) − taxBack(refunded before); the rest
 * goes to the refunds (contra-revenue) account. Any sequence of partial refunds adding up to the
 * captured amount therefore returns exactly the tax that was posted. (Adjusting deferred revenue
 * on a subscription refund arrives with revenue recognition.)
 */
import { allocate, money, mulDivRounded, type CurrencyCode, type Money } from '../../money/index.js';
import {
  AUTHORIZATION_HOLDS_CONTRA,
  DEFERRED_REVENUE,
  DISCOUNTS,
  REFUNDS,
  REVENUE,
  authorizationHolds,
  gatewayClearing,
  taxPayable,
} from './accounts.js';
import { credit, debit, draft, type JournalDraft } from './journal.js';

/** What a sale consists of: revenue + deferredRevenue + tax − discount = total paid. */
export interface SaleBreakdown {
  readonly currency: CurrencyCode;
  readonly revenue: number;
  readonly deferredRevenue: number;
  readonly discount: number;
  readonly tax: number;
}

export function saleTotal(sale: SaleBreakdown): number {
  return sale.revenue + sale.deferredRevenue + sale.tax - sale.discount;
}

export function authorizationPosting(args: { readonly paymentId: string; readonly connector: string; readonly amount: Money }): JournalDraft {
  return draft({
    kind: 'authorization',
    referenceType: 'payment',
    referenceId: args.paymentId,
    description: `authorization hold at ${args.connector}`,
    lines: [debit(authorizationHolds(args.connector), args.amount), credit(AUTHORIZATION_HOLDS_CONTRA, args.amount)],
  });
}

export function authorizationReleasePosting(args: { readonly paymentId: string; readonly connector: string; readonly amount: Money }): JournalDraft {
  return draft({
    kind: 'authorization_release',
    referenceType: 'payment',
    referenceId: args.paymentId,
    description: `authorization hold released at ${args.connector}`,
    lines: [debit(AUTHORIZATION_HOLDS_CONTRA, args.amount), credit(authorizationHolds(args.connector), args.amount)],
  });
}

/** The sale as booked when `captured` of `total` was captured (see the partial-capture rule). */
export function postedSale(sale: SaleBreakdown, captured: number, total: number): SaleBreakdown {
  if (saleTotal(sale) !== total) throw new Error(`sale breakdown sums to ${saleTotal(sale)}, not the total ${total}`);
  if (captured < 0 || captured > total) throw new Error(`captured ${captured} is outside 0..${total}`);
  if (captured === total) return sale;
  const discount = mulDivRounded(sale.discount, captured, total, 'half_up');
  const weights = [sale.revenue, sale.deferredRevenue, sale.tax];
  if (weights.every((w) => w === 0)) return { ...sale, revenue: captured + discount, deferredRevenue: 0, tax: 0, discount };
  const [revenue, deferredRevenue, tax] = allocate(money(captured + discount, sale.currency), weights).map((m) => m.amount) as [number, number, number];
  return { currency: sale.currency, revenue, deferredRevenue, tax, discount };
}

export function salePosting(args: {
  /** What was sold: the payment, or the order itself when nothing was charged. */
  readonly paymentId: string;
  readonly referenceType?: 'payment' | 'order';
  readonly connector: string;
  readonly captured: Money;
  readonly total: Money;
  readonly sale: SaleBreakdown;
  readonly taxCountry: string;
}): JournalDraft {
  const c = args.captured.currency;
  const posted = postedSale(args.sale, args.captured.amount, args.total.amount);
  return draft({
    kind: 'sale',
    referenceType: args.referenceType ?? 'payment',
    referenceId: args.paymentId,
    description: args.connector === 'none' ? 'sale without a charge' : `sale captured at ${args.connector}`,
    lines: [
      debit(gatewayClearing(args.connector), args.captured),
      debit(DISCOUNTS, money(posted.discount, c)),
      credit(REVENUE, money(posted.revenue, c)),
      credit(DEFERRED_REVENUE, money(posted.deferredRevenue, c)),
      credit(taxPayable(args.taxCountry), money(posted.tax, c)),
    ],
  });
}

export function refundPosting(args: {
  readonly paymentId: string;
  readonly refundId: string;
  readonly connector: string;
  readonly refund: Money;
  readonly capturedTotal: Money;
  readonly refundedBefore: Money;
  /** The sale breakdown of the whole order, and its total (the capture may have been partial). */
  readonly sale: SaleBreakdown;
  readonly total: Money;
  readonly taxCountry: string;
}): JournalDraft {
  const c = args.refund.currency;
  const captured = args.capturedTotal.amount;
  const before = args.refundedBefore.amount;
  const after = before + args.refund.amount;
  if (args.refund.amount <= 0 || after > captured) throw new Error(`refund ${args.refund.amount} after ${before} exceeds captured ${captured}`);
  const postedTax = postedSale(args.sale, captured, args.total.amount).tax;
  const taxBack = (x: number) => mulDivRounded(postedTax, x, captured, 'half_up');
  const tax = taxBack(after) - taxBack(before);
  return draft({
    kind: 'refund',
    referenceType: 'payment',
    referenceId: args.paymentId,
    description: `refund ${args.refundId} at ${args.connector}`,
    lines: [
      credit(gatewayClearing(args.connector), args.refund),
      debit(taxPayable(args.taxCountry), money(tax, c)),
      debit(REFUNDS, money(args.refund.amount - tax, c)),
    ],
  });
}
