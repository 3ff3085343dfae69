/**
 * Subscription invoices: their state machine, their numbers, and their totals.
 *
 *            finalize                pay
 *   draft ───────────▶ open ─────────────────────────▶ paid
 *     │                 │  │                             ▲
 *     │                 │  │ mark_uncollectible          │ pay (paid late, e.g. by hand
 *     │                 │  ▼                             │      after dunning gave up)
 *     │                 │  uncollectible ────────────────┘
 *     │ void       void │    │ void
 *     ▼                 ▼    ▼
 *   void ◀──────────────┴────┘
 *
 *   terminal: paid, void. A draft has no number yet: numbers are taken when an invoice is
 *   finalized, so the sequence has no gaps from drafts thrown away.
 *
 * Totals (`invoiceTotals`) reuse checkout's arithmetic for a one-line cart (discount and tax,
 * see checkout/domain/totals.ts for the rounding rule), with one step added between them: a
 * proration credit, in the price's own tax basis, comes off what remains after the discount,
 * never below zero; tax is then computed on what is left, exactly as checkout would.
 *
 *   subtotal      = unitAmount                        (as priced: inclusive prices contain tax)
 *   discount      = checkout's order discount on subtotal
 *   credit        = min(input credit, subtotal − discount)     unusedCredit = input − credit
 *   taxable       = subtotal − discount − credit
 *   tax           = checkout's line tax on taxable    (inclusive: contained; exclusive: added)
 *   total         = exclusive ? taxable + tax : taxable        (what the customer pays)
 *   net           = total − tax                       (the revenue to defer over the period)
 */
import { ObolError } from '../../kernel/index.js';
import { add, money } from '../../money/index.js';
import type { CurrencyCode } from '../../money/index.js';
import type { CouponTerms } from '../../catalog/domain/coupon.js';
import type { TaxBehavior } from '../../catalog/domain/price.js';
import { computeTotals, lineTax } from '../../checkout/domain/totals.js';

export const INVOICE_STATUSES = ['draft', 'open', 'paid', 'void', 'uncollectible'] as const;
export type InvoiceStatus = (typeof INVOICE_STATUSES)[number];

export const INVOICE_EVENTS = ['finalize', 'pay', 'void', 'mark_uncollectible'] as const;
export type InvoiceEvent = (typeof INVOICE_EVENTS)[number];

export const TERMINAL_INVOICE_STATUSES: readonly InvoiceStatus[] = ['paid', 'void'];

export function isInvoiceStatus(value: unknown): value is InvoiceStatus {
  return typeof value === 'string' && (INVOICE_STATUSES as readonly string[]).includes(value);
}

export function isInvoiceEvent(value: unknown): value is InvoiceEvent {
  return typeof value === 'string' && (INVOICE_EVENTS as readonly string[]).includes(value);
}

/** The next status, or undefined when `event` is not allowed in `from`. */
export function nextInvoiceStatus(from: InvoiceStatus, event: InvoiceEvent): InvoiceStatus | undefined {
  switch (from) {
    case 'draft':
      return event === 'finalize' ? 'open' : event === 'void' ? 'void' : undefined;
    case 'open':
      switch (event) {
        case 'pay':
          return 'paid';
        case 'void':
          return 'void';
        case 'mark_uncollectible':
          return 'uncollectible';
        default:
          return undefined;
      }
    case 'uncollectible':
      return event === 'pay' ? 'paid' : event === 'void' ? 'void' : undefined;
    case 'paid':
    case 'void':
      return undefined;
    default: {
      const unreachable: never = from;
      throw new Error(`unknown invoice status ${String(unreachable)}`);
    }
  }
}

/** Applies `event`, or throws the typed ILLEGAL_STATE_TRANSITION error a caller can handle. */
export function transitionInvoice(from: InvoiceStatus, event: InvoiceEvent): InvoiceStatus {
  const to = nextInvoiceStatus(from, event);
  if (to === undefined) {
    throw new ObolError('ILLEGAL_STATE_TRANSITION', `an invoice in status ${from} cannot take ${event.replace(/_/g, ' ')}`, { from, event });
  }
  return to;
}

/** Invoice number prefixes: short, upper case, safe in file names, URLs and accounting exports. */
export const INVOICE_PREFIX_PATTERN = /^[A-Z0-9-]{1,20}$/;
const INVOICE_NUMBER_DIGITS = 6;

export function isInvoicePrefix(value: unknown): value is string {
  return typeof value === 'string' && INVOICE_PREFIX_PATTERN.test(value);
}

/**
 * `OBOL-000042`: the prefix, a hyphen, the sequence number zero-padded to six digits; numbers
 * wider than that are written in full, never truncated (`OBOL-1234567`).
 * The prefix comes from configuration and the number from a sequence, so a bad one is a bug or
 * a configuration error (plain Error); configuration validation should check `isInvoicePrefix`.
 */
export function formatInvoiceNumber(prefix: string, seq: number): string {
  if (!isInvoicePrefix(prefix)) throw new Error(`invoice prefix must match ${String(INVOICE_PREFIX_PATTERN)}, got ${JSON.stringify(prefix)}`);
  if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError(`invoice sequence number must be a positive integer, got ${seq}`);
  return `${prefix}-${String(seq).padStart(INVOICE_NUMBER_DIGITS, '0')}`;
}

export interface InvoiceTotalsArgs {
  readonly currency: CurrencyCode;
  /** The price's unit amount, in minor units, as priced (tax-inclusive prices contain their tax). */
  readonly unitAmount: number;
  /** A subscription is one seat; the type keeps it so until seats are designed. */
  readonly quantity: 1;
  readonly taxBehavior: TaxBehavior;
  readonly taxRateBps: number;
  /** The coupon's terms when it applies to this invoice's period (see couponAppliesToPeriod). */
  readonly discount: CouponTerms | null;
  /**
   * A proration credit (>= 0) in the price's tax basis: for an inclusive price, an amount with
   * tax included (e.g. the unused share of the old invoice's total); for an exclusive price, an
   * amount before tax (e.g. the unused share of the old invoice's total − tax).
   */
  readonly credit: number;
}

export interface InvoiceTotals {
  readonly subtotal: number;
  readonly discount: number;
  /** The part of the input credit used on this invoice. */
  readonly credit: number;
  readonly tax: number;
  /** What the customer pays. */
  readonly total: number;
  /** total − tax: the revenue this invoice earns over its period. */
  readonly net: number;
  /** The part of the input credit this invoice could not use (carry it to the next one). */
  readonly unusedCredit: number;
}

export function invoiceTotals(args: InvoiceTotalsArgs): InvoiceTotals {
  const { currency, unitAmount, quantity, taxBehavior, taxRateBps, discount, credit } = args;
  if (quantity !== 1) throw new RangeError(`a subscription invoice has quantity 1, got ${String(quantity)}`);
  if (!Number.isSafeInteger(credit) || credit < 0) throw new RangeError(`credit must be a non-negative integer amount, got ${credit}`);
  // Checkout's totals for the same one-line cart: the same validation (ObolError for a bad
  // amount, rate or coupon) and the very same discount.
  const cart = computeTotals({
    currency,
    taxRateBps,
    coupon: discount,
    items: [{ priceId: 'invoice', productId: 'invoice', productName: 'invoice', billingInterval: null, quantity, unitAmount, taxBehavior }],
  });
  const remaining = cart.subtotal - cart.discountTotal;
  const applied = Math.min(credit, remaining);
  const taxable = remaining - applied;
  const tax = lineTax(taxable, taxBehavior, taxRateBps);
  const total = taxBehavior === 'exclusive' ? add(money(taxable, currency), money(tax, currency)).amount : taxable;
  return {
    subtotal: cart.subtotal,
    discount: cart.discountTotal,
    credit: applied,
    tax,
    total,
    net: total - tax,
    unusedCredit: credit - applied,
  };
}
