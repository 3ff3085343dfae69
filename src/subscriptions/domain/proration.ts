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
