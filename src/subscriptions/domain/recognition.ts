/**
 * Revenue recognition: a paid invoice's net (total − tax) is deferred and earned straight-line
 * over its service period, in proportion to elapsed time, to the millisecond:
 *
 *   earned(at) = 0                                            at ≤ start
 *              = round_half_up(amount × (at − start) / (end − start))   start < at < end
 *              = amount                                       at ≥ end
 *
 * A posting at `at` books earned(at) − what was already recognised, never less than zero (a
 * schedule shrunk by a refund may have recognised ahead of its new curve; it then waits until
 * the curve catches up). Each posting catches up in full, so however often or late postings
 * run, the total recognised at any boundary is exactly earned(boundary), and at the end it is
 * exactly `amount`: rounding never accumulates.
 */
import { mulDivRounded } from '../../money/index.js';

export interface RecognitionArgs {
  /** What the schedule defers in total, minor units. */
  readonly amount: number;
  readonly start: number;
  readonly end: number;
  readonly at: number;
  readonly alreadyRecognised: number;
}

export function earnedBy(args: Omit<RecognitionArgs, 'alreadyRecognised'>): number {
  const { amount, start, end, at } = args;
  if (!Number.isSafeInteger(amount) || amount < 0) throw new RangeError(`amount must be a non-negative integer, got ${amount}`);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) throw new RangeError(`invalid service period [${start}, ${end})`);
  if (at <= start) return end === start && at >= end ? amount : 0;
  if (at >= end) return amount;
  return mulDivRounded(amount, at - start, end - start, 'half_up');
}

/** What a posting at `at` recognises now. */
export function recognitionDue(args: RecognitionArgs): number {
  if (!Number.isSafeInteger(args.alreadyRecognised) || args.alreadyRecognised < 0) throw new RangeError(`alreadyRecognised must be a non-negative integer, got ${args.alreadyRecognised}`);
  return Math.max(0, earnedBy(args) - args.alreadyRecognised);
}
