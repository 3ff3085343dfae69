/**
 * Calendar billing periods, in UTC.
 *
 * A subscription bills from an anchor instant (its start, or its trial's end). Period k runs from
 * `addIntervals(anchor, interval, k)` to `addIntervals(anchor, interval, k + 1)`, always computed
 * from the anchor and never chained from the previous period's end: chaining would let a short
 * month drag every later period earlier (Jan 31 → Feb 28 → Mar 28 → …), while computing from
 * the anchor gives Jan 31 → Feb 28 (or 29) → Mar 31 → Apr 30 → May 31.
 *
 * Months are calendar months: adding keeps the anchor's day of month and time of day, clamped to
 * the target month's last day when that month is shorter. A year is twelve such months, so an
 * anchor on Feb 29 renews on Feb 28 in common years and on Feb 29 again in leap years.
 *
 * UTC, not the customer's time zone: a period is an instant range every process computes alike,
 * with no daylight-saving gaps; JavaScript time has no leap seconds, so every day is DAY_MS long.
 */
import type { BillingInterval } from '../../catalog/domain/price.js';

export const DAY_MS = 86_400_000;

/** The range `Date` can represent (±100,000,000 days around the epoch). */
const MAX_TIME_MS = 8.64e15;

export interface BillingPeriod {
  /** Inclusive, milliseconds since the Unix epoch. */
  readonly start: number;
  /** Exclusive: the next period's start. */
  readonly end: number;
}

function assertInstant(name: string, ms: number): void {
  if (!Number.isSafeInteger(ms) || Math.abs(ms) > MAX_TIME_MS) {
    throw new RangeError(`${name} must be an integer number of milliseconds within the Date range, got ${ms}`);
  }
}

function assertCount(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative integer, got ${n}`);
}

/** Calendar months in one billing interval (a longer interval ranks higher: monthly → annual is an upgrade). */
export function monthsPer(interval: BillingInterval): number {
  switch (interval) {
    case 'month':
      return 1;
    case 'year':
      return 12;
    default: {
      const unreachable: never = interval;
      throw new Error(`unknown billing interval ${String(unreachable)}`);
    }
  }
}

/** Milliseconds of the UTC midnight starting that calendar day (month 0-based, day 1-based). */
function utcMidnight(year: number, month: number, day: number): number {
  // setUTCFullYear, unlike Date.UTC, does not map years 0..99 onto 1900..1999.
  const d = new Date(0);
  d.setUTCFullYear(year, month, day);
  return d.getTime();
}

function daysInMonth(year: number, month: number): number {
  // Day 0 of the next month is the last day of this one.
  const d = new Date(0);
  d.setUTCFullYear(year, month + 1, 0);
  return d.getUTCDate();
}

/**
 * The anchor plus `count` months or years, on the anchor's day of month (clamped to the target
 * month's last day) and at the anchor's time of day. Strictly increasing in `count`.
 */
export function addIntervals(anchorMs: number, interval: BillingInterval, count: number): number {
  assertInstant('anchorMs', anchorMs);
  assertCount('count', count);
  const anchor = new Date(anchorMs);
  const timeOfDay = anchorMs - utcMidnight(anchor.getUTCFullYear(), anchor.getUTCMonth(), anchor.getUTCDate());
  const monthIndex = anchor.getUTCMonth() + count * monthsPer(interval);
  const year = anchor.getUTCFullYear() + Math.floor(monthIndex / 12);
  const month = monthIndex % 12;
  const day = Math.min(anchor.getUTCDate(), daysInMonth(year, month));
  const result = utcMidnight(year, month, day) + timeOfDay;
  if (!Number.isSafeInteger(result) || Math.abs(result) > MAX_TIME_MS) {
    throw new RangeError(`adding ${count} × ${interval} to ${anchorMs} leaves the Date range`);
  }
  return result;
}

/** Period `index` (0 = the first) of a subscription anchored at `anchorMs`. */
export function periodOf(anchorMs: number, interval: BillingInterval, index: number): BillingPeriod {
  assertCount('index', index);
  return { start: addIntervals(anchorMs, interval, index), end: addIntervals(anchorMs, interval, index + 1) };
}

/** The index of the period containing `atMs` (a period contains its start, not its end). */
export function periodIndexAt(anchorMs: number, interval: BillingInterval, atMs: number): number {
  assertInstant('anchorMs', anchorMs);
  assertInstant('atMs', atMs);
  if (atMs < anchorMs) throw new RangeError(`atMs ${atMs} is before the anchor ${anchorMs}: no period contains it`);
  // The calendar-month distance is right or one too many (when `at` falls before the anchor's
  // day or time of day in its month); the loops settle it in at most a step or two.
  const a = new Date(anchorMs);
  const t = new Date(atMs);
  const monthsApart = (t.getUTCFullYear() - a.getUTCFullYear()) * 12 + (t.getUTCMonth() - a.getUTCMonth());
  let index = Math.max(0, Math.floor(monthsApart / monthsPer(interval)));
  while (index > 0 && addIntervals(anchorMs, interval, index) > atMs) index -= 1;
  while (addIntervals(anchorMs, interval, index + 1) <= atMs) index += 1;
  return index;
}

/** `ms` plus whole days (negative days go back). */
export function addDays(ms: number, days: number): number {
  assertInstant('ms', ms);
  if (!Number.isSafeInteger(days)) throw new RangeError(`days must be an integer, got ${days}`);
  const result = ms + days * DAY_MS;
  if (!Number.isSafeInteger(result) || Math.abs(result) > MAX_TIME_MS) throw new RangeError(`adding ${days} days to ${ms} leaves the Date range`);
  return result;
}
