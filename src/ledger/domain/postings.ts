/**
 * Posting rules: what each money movement books. Every rule returns a draft that is balanced by
 * construction with zero lines omitted (postJournal checks it again before anything is written).
 * Inputs that cannot describe a real sale (negative parts, mixed currencies, over-refunds) throw
 * plain Errors: the use cases validate caller input first, so reaching one here is a bug.
 *
 * Authorization: Dr authorization_holds:<connector> / Cr authorization_holds_contra, memo only.
 * Release (void, and capture for the whole held amount) is the mirror image, so once a payment
 * is settled its holds net to zero whatever was captured.
 *
 * Sale (capture): Dr gateway_clearing:<connector> captured + Dr discounts
 *               = Cr revenue + Cr deferred_revenue + Cr tax_payable:<CC>.
 * One-time products earn revenue at once; subscription periods go to deferred revenue until
 * recognised. A zero-total sale (100 % coupon, connector 'none') has no clearing line: it books
 * Dr discounts against the revenue it gave away, so reports still see the giveaway.
 *
 * PARTIAL CAPTURE, the rule. When `captured` < `total`:
 *   1. discount' = round_half_up(discount × captured / total);
 *   2. the credits to book, captured + discount', are split across (revenue, deferred revenue,
 *      tax) in proportion to the full sale's (revenue, deferredRevenue, tax) by largest
 *      remainder (money/allocate: ties to revenue, then deferred revenue).
 * It is exact (the parts sum to captured + discount', so the draft balances with no plug line)
 * and each part is within one minor unit of its exact share. Largest remainder rather than
 * "revenue absorbs the rounding" because a part that is zero in the sale stays zero: a
 * subscription-only sale never books a stray ±1 of one-time revenue, and no part goes negative.
 * Each posted part is ≤ the sale's, and (given discount ≤ revenue + deferred revenue, which
 * checkout guarantees) the posted tax is ≤ captured, so a refund never gives back more tax than
 * money.
 *
 * REFUND, the rule. The tax given back is cumulative:
 *   taxBack(x) = round_half_up(postedTax × x / captured),
 *   refund tax = taxBack(refundedBefore + refund) − taxBack(refundedBefore),
 * where postedTax is the tax the capture booked (recomputed with the rule above, so it is the
 * same number). Since taxBack(captured) = postedTax and the differences telescope, any sequence
 * of partial refunds adding up to the captured amount returns exactly the tax that was posted,
 * never a cent more or less. Each step's tax is between 0 and the refund (taxBack rises by at
 * most one unit per unit of x); the rest of the refund goes to the refunds contra-revenue
 * account. A refund of service not yet delivered (a subscription period cut short) takes back
 * `fromDeferred` of the amount before tax out of deferred revenue instead: that revenue was never
 * earned, so it is the liability that shrinks, not revenue (the seller decides how much; at most
 * the refund's amount before tax).
 *
 * RECOGNITION: Dr deferred_revenue / Cr revenue as a subscription's service period elapses (see
 * subscriptions/domain/recognition.ts for when and how much).
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

function assertSameCurrency(expected: CurrencyCode, ...amounts: readonly Money[]): void {
  for (const m of amounts) if (m.currency !== expected) throw new Error(`ledger posting mixes ${expected} and ${m.currency}`);
}

function assertSale(sale: SaleBreakdown): void {
  for (const part of ['revenue', 'deferredRevenue', 'discount', 'tax'] as const) {
    const v = sale[part];
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`sale ${part} must be a non-negative integer, got ${v}`);
  }
  // A coupon cannot give away more than the goods it discounts; were it allowed, tax could
  // exceed the money paid and a refund would hand back more tax than cash.
  if (sale.discount > sale.revenue + sale.deferredRevenue) {
    throw new Error(`sale discount ${sale.discount} exceeds revenue ${sale.revenue} + deferred revenue ${sale.deferredRevenue}`);
  }
}

export interface PaymentAmountArgs {
  readonly paymentId: string;
  readonly connector: string;
  readonly amount: Money;
}

export function authorizationPosting(args: PaymentAmountArgs): JournalDraft {
  return draft({
    kind: 'authorization',
    referenceType: 'payment',
    referenceId: args.paymentId,
    description: `authorization hold at ${args.connector}`,
    lines: [debit(authorizationHolds(args.connector), args.amount), credit(AUTHORIZATION_HOLDS_CONTRA, args.amount)],
  });
}

export function authorizationReleasePosting(args: PaymentAmountArgs): JournalDraft {
  return draft({
    kind: 'authorization_release',
    referenceType: 'payment',
    referenceId: args.paymentId,
    description: `authorization hold released at ${args.connector}`,
    lines: [debit(AUTHORIZATION_HOLDS_CONTRA, args.amount), credit(authorizationHolds(args.connector), args.amount)],
  });
}

export interface PostedSaleArgs {
  /** The whole order's breakdown. */
  readonly sale: SaleBreakdown;
  readonly captured: Money;
  /** The order total; equals saleTotal(sale). */
  readonly total: Money;
}

/** The sale as booked when `captured` of `total` was captured (see the partial-capture rule). */
export function postedSale(args: PostedSaleArgs): SaleBreakdown {
  const { sale } = args;
  assertSale(sale);
  assertSameCurrency(sale.currency, args.captured, args.total);
  const captured = args.captured.amount;
  const total = args.total.amount;
  if (saleTotal(sale) !== total) throw new Error(`sale breakdown sums to ${saleTotal(sale)}, not the total ${total}`);
  if (captured < 0 || captured > total) throw new Error(`captured ${captured} is outside 0..${total}`);
  if (captured === total) return sale;
  if (captured === 0) throw new Error(`nothing captured of ${total}: there is no sale to book`);
  const discount = mulDivRounded(sale.discount, captured, total, 'half_up');
  // total > 0 here, so revenue + deferredRevenue + tax ≥ total > 0: the weights are not all zero.
  const [revenue, deferredRevenue, tax] = allocate(money(captured + discount, sale.currency), [sale.revenue, sale.deferredRevenue, sale.tax]).map((m) => m.amount) as [
    number,
    number,
    number,
  ];
  // Tax never exceeds the money taken. The shares above are within a unit of exact, but when the
  // discount is nearly all of the goods (so nearly all of the total is tax), the rounded discount
  // and the largest remainder can both land on tax and lift it one unit past the capture; that
  // unit belongs to the goods, to whichever share the rounding shortchanged most.
  if (tax > captured) {
    const excess = tax - captured;
    const pool = BigInt(captured + discount);
    const weight = BigInt(sale.revenue + sale.deferredRevenue + sale.tax);
    const shortfall = (part: number) => (pool * BigInt(part)) % weight;
    const toRevenue = revenue + excess <= sale.revenue && (deferredRevenue + excess > sale.deferredRevenue || shortfall(sale.revenue) >= shortfall(sale.deferredRevenue));
    return toRevenue
      ? { currency: sale.currency, revenue: revenue + excess, deferredRevenue, tax: captured, discount }
      : { currency: sale.currency, revenue, deferredRevenue: deferredRevenue + excess, tax: captured, discount };
  }
  return { currency: sale.currency, revenue, deferredRevenue, tax, discount };
}

export interface SalePostingArgs {
  /** What was sold: the payment, or the order itself when nothing was charged. */
  readonly paymentId: string;
  readonly referenceType?: 'payment' | 'order';
  /** 'none' for a sale that charged nothing (zero total). */
  readonly connector: string;
  readonly captured: Money;
  readonly total: Money;
  /** The whole order's breakdown; scaled here when the capture is partial. */
  readonly sale: SaleBreakdown;
  readonly taxCountry: string;
}

/**
 * The sale booked at capture. A sale with nothing in it (free goods, no coupon) yields a draft
 * without lines, which postJournal refuses: callers skip posting it.
 */
export function salePosting(args: SalePostingArgs): JournalDraft {
  const c = args.captured.currency;
  const posted = postedSale(args);
  return draft({
    kind: 'sale',
    referenceType: args.referenceType ?? 'payment',
    referenceId: args.paymentId,
    description: args.captured.amount === 0 ? 'sale without a charge' : `sale captured at ${args.connector}`,
    lines: [
      ...(args.captured.amount === 0 ? [] : [debit(gatewayClearing(args.connector), args.captured)]),
      debit(DISCOUNTS, money(posted.discount, c)),
      credit(REVENUE, money(posted.revenue, c)),
      credit(DEFERRED_REVENUE, money(posted.deferredRevenue, c)),
      credit(taxPayable(args.taxCountry), money(posted.tax, c)),
    ],
  });
}

export interface RefundPostingArgs {
  readonly paymentId: string;
  readonly refundId: string;
  readonly connector: string;
  readonly refund: Money;
  /** What the capture took (the base the refund shares are computed on). */
  readonly capturedTotal: Money;
  /** Successful refunds before this one. */
  readonly refundedBefore: Money;
  /** The whole order's breakdown and total, exactly as given to salePosting at capture. */
  readonly sale: SaleBreakdown;
  readonly total: Money;
  readonly taxCountry: string;
  /** Of the refund before tax, how much returns service not yet delivered (out of deferred revenue); default 0. */
  readonly fromDeferred?: number;
}

/** The tax a refund gives back (see the refund rule); exported so callers can show it. */
export function refundTax(args: Omit<RefundPostingArgs, 'paymentId' | 'refundId' | 'connector' | 'taxCountry' | 'fromDeferred'>): number {
  assertSameCurrency(args.sale.currency, args.refund, args.capturedTotal, args.refundedBefore, args.total);
  const captured = args.capturedTotal.amount;
  const before = args.refundedBefore.amount;
  const after = before + args.refund.amount;
  if (args.refund.amount <= 0) throw new Error(`refund amount must be positive, got ${args.refund.amount}`);
  if (before < 0 || after > captured) throw new Error(`refund ${args.refund.amount} after ${before} exceeds captured ${captured}`);
  const postedTax = postedSale({ sale: args.sale, captured: args.capturedTotal, total: args.total }).tax;
  const taxBack = (x: number): number => mulDivRounded(postedTax, x, captured, 'half_up');
  return taxBack(after) - taxBack(before);
}

export function refundPosting(args: RefundPostingArgs): JournalDraft {
  const c = args.refund.currency;
  const tax = refundTax(args);
  const exTax = args.refund.amount - tax;
  const fromDeferred = args.fromDeferred ?? 0;
  if (!Number.isSafeInteger(fromDeferred) || fromDeferred < 0 || fromDeferred > exTax) throw new Error(`fromDeferred ${fromDeferred} is outside 0..${exTax}, the refund before tax`);
  return draft({
    kind: 'refund',
    referenceType: 'payment',
    referenceId: args.paymentId,
    description: `refund ${args.refundId} at ${args.connector}`,
    lines: [
      credit(gatewayClearing(args.connector), args.refund),
      debit(taxPayable(args.taxCountry), money(tax, c)),
      debit(DEFERRED_REVENUE, money(fromDeferred, c)),
      debit(REFUNDS, money(exTax - fromDeferred, c)),
    ],
  });
}

export interface RecognitionPostingArgs {
  readonly scheduleId: string;
  readonly invoiceId: string;
  /** Earned now, > 0. */
  readonly amount: Money;
}

/** Deferred revenue earned as a subscription's service period elapses. */
export function recognitionPosting(args: RecognitionPostingArgs): JournalDraft {
  if (!Number.isSafeInteger(args.amount.amount) || args.amount.amount <= 0) throw new Error(`recognised amount must be a positive integer, got ${args.amount.amount}`);
  return draft({
    kind: 'revenue_recognition',
    referenceType: 'invoice',
    referenceId: args.invoiceId,
    description: `revenue recognised on schedule ${args.scheduleId}`,
    lines: [debit(DEFERRED_REVENUE, args.amount), credit(REVENUE, args.amount)],
  });
}
