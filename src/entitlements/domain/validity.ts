/**
 * When access holds. A window is [validFrom, validUntil): open at its start, closed at its end,
 * with a null end meaning "no end". All instants are epoch milliseconds; every calendar step is
 * taken in UTC so the same purchase ends at the same instant on every server.
 */
import type { BillingInterval } from '../../catalog/index.js';

export interface Window {
  readonly validFrom: number;
  /** null: open-ended. */
  readonly validUntil: number | null;
}

/**
 * One billing period after `fromMs`, by the calendar in UTC: the same day and time of day one
 * month (or year) later, clamped to the end of a shorter month. 31 January + 1 month = 28 (or 29)
 * February; 29 February + 1 year = 28 February. Clamping never carries into the next month, so a
 * period is never longer than the calendar says.
 */
export function addBillingPeriod(fromMs: number, interval: BillingInterval): number {
  if (!Number.isSafeInteger(fromMs)) throw new Error(`not an instant: ${fromMs}`);
  const d = new Date(fromMs);
  const months = interval === 'month' ? 1 : 12;
  const monthIndex = d.getUTCMonth() + months;
  const year = d.getUTCFullYear() + Math.floor(monthIndex / 12);
  const month = monthIndex % 12;
  const out = new Date(0);
  out.setUTCFullYear(year, month + 1, 0); // day 0 of the next month: the last day of `month`
  const lastDay = out.getUTCDate();
  out.setUTCFullYear(year, month, Math.min(d.getUTCDate(), lastDay));
  out.setUTCHours(d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds());
  return out.getTime();
}

/**
 * What a purchase at `completedAt` grants: a one-time price from completion with no end; a
 * recurring price one billing period from completion (until subscriptions extend or end it).
 */
export function purchaseWindow(completedAt: number, billingInterval: BillingInterval | null): Window {
  return { validFrom: completedAt, validUntil: billingInterval === null ? null : addBillingPeriod(completedAt, billingInterval) };
}

const end = (w: Window): number => w.validUntil ?? Number.POSITIVE_INFINITY;

export function isEmptyWindow(w: Window): boolean {
  return end(w) <= w.validFrom;
}

export function contains(w: Window, at: number): boolean {
  return w.validFrom <= at && at < end(w);
}

/** True when `a` lasts at least as long as `b` (an open end outlasts every end). */
export function outlasts(a: Window, b: Window): boolean {
  return end(a) >= end(b);
}

/** Union as disjoint windows, ascending; empty windows vanish and touching ones join. */
export function mergeWindows(windows: readonly Window[]): Window[] {
  const sorted = windows.filter((w) => !isEmptyWindow(w)).sort((a, b) => a.validFrom - b.validFrom || end(a) - end(b));
  const out: Window[] = [];
  for (const w of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && w.validFrom <= end(last)) {
      if (end(w) > end(last)) out[out.length - 1] = { validFrom: last.validFrom, validUntil: w.validUntil };
    } else {
      out.push({ validFrom: w.validFrom, validUntil: w.validUntil });
    }
  }
  return out;
}

/** The window holding `at`, if any. */
export function windowAt(windows: readonly Window[], at: number): Window | undefined {
  return windows.find((w) => contains(w, at));
}
