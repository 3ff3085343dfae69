/**
 * Proration: what is left of a paid period when the plan changes or the subscription ends early.
 *
 *   credit = round_half_up(paid × (periodEnd − at) / (periodEnd − periodStart))
 *
 * by time, to the millisecond, not by whole days: a day count would need a time zone and would
 * give the same credit at 00:01 and 23:59. The product (paid up to ~1e10 minor units times a
 * year in ms, ~3e10) exceeds 2^53, so it is computed exactly with BigInt (mulDivRounded), and
 * rounded once, HALF_UP like every other rounding in Obol. The used part is the complement,
 * paid − credit, so credit and used always add up to exactly what was paid.
 */
import { money, mulDivRounded, type Money } from '../../money/index.js';

export interface UnusedTimeArgs {
  /** What was paid for the whole period, in the basis being credited (see invoiceTotals' `credit`). */
  readonly paid: Money;
  readonly periodStart: number;
  readonly periodEnd: number;
  /** The instant the service stops (or changes); must lie within [periodStart, periodEnd]. */
  readonly at: number;
}

/** The share of `paid` for the time from `at` to the period's end. */
export function unusedTimeCredit(args: UnusedTimeArgs): Money {
  const { paid, periodStart, periodEnd, at } = args;
  // All of these are the caller's own bookkeeping, never a customer's input: a bad one is a bug.
  if (!Number.isSafeInteger(paid.amount) || paid.amount < 0) throw new RangeError(`paid must be a non-negative integer amount, got ${paid.amount}`);
  for (const [name, v] of [['periodStart', periodStart], ['periodEnd', periodEnd], ['at', at]] as const) {
    if (!Number.isSafeInteger(v)) throw new RangeError(`${name} must be an integer number of milliseconds, got ${v}`);
  }
  if (periodEnd <= periodStart) throw new RangeError(`empty or inverted period [${periodStart}, ${periodEnd})`);
  if (at < periodStart || at > periodEnd) throw new RangeError(`at ${at} lies outside the period [${periodStart}, ${periodEnd}]`);
  return money(mulDivRounded(paid.amount, periodEnd - at, periodEnd - periodStart, 'half_up'), paid.currency);
}

/** A share of a period: `num` of its `den` milliseconds. */
export interface PeriodShare {
  readonly num: number;
  readonly den: number;
}

/**
 * `paid` × the product of the shares, rounded half up once (BigInt: the products of amounts and
 * millisecond spans exceed 2^53). A prorated refund after a plan change reaches back through the
 * credit: what was paid for the earlier plan counts with the share of it that was unused at the
 * change, times the share of the current period that is unused now.
 */
export function unusedShare(paid: number, shares: readonly PeriodShare[]): number {
  if (!Number.isSafeInteger(paid) || paid < 0) throw new RangeError(`paid must be a non-negative integer amount, got ${paid}`);
  let num = BigInt(paid);
  let den = 1n;
  for (const s of shares) {
    if (!Number.isSafeInteger(s.num) || !Number.isSafeInteger(s.den) || s.den <= 0 || s.num < 0 || s.num > s.den) throw new RangeError(`a share must be 0..den of a positive span, got ${s.num}/${s.den}`);
    num *= BigInt(s.num);
    den *= BigInt(s.den);
  }
  // Half up for a non-negative quotient: floor((2·num + den) / (2·den)).
  return Number((2n * num + den) / (2n * den));
}
