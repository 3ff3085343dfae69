import type { Db } from '../db/index.js';
import { assertEpochMs, assertPositiveInt } from './keys.js';

export interface AbusePurgeResult {
  readonly rateCounters: number;
  readonly paymentFailures: number;
  readonly blocks: number;
}

/**
 * Deletes abuse state that no longer affects any decision at `now`: rate-limit windows that have
 * ended, failures that have left their window, blocks that have expired. At most `limit` rows per
 * table per call (default 1000), so a periodic job never holds locks for long; call again while
 * it returns a full batch. Rows are chosen first and then deleted by key with the expiry condition
 * repeated, because MySQL refuses LIMIT in an IN subquery and SQLite's DELETE … LIMIT is a
 * compile-time option — and so a block extended meanwhile is not deleted.
 */
export async function purgeAbuseState(db: Db, args: { readonly now: number; readonly limit?: number }): Promise<AbusePurgeResult> {
  assertEpochMs('now', args.now);
  const limit = args.limit ?? 1000;
  assertPositiveInt('purge limit', limit);
  const k = db.kysely;

  let rateCounters = 0;
  const windows = await k.selectFrom('abuse_rate_counters').select(['bucket', 'window_start']).where('expires_at', '<=', args.now).limit(limit).execute();
  if (windows.length > 0) {
    const r = await k
      .deleteFrom('abuse_rate_counters')
      .where((eb) => eb(eb.refTuple('bucket', 'window_start'), 'in', windows.map((w) => eb.tuple(w.bucket, w.window_start))))
      .where('expires_at', '<=', args.now)
      .executeTakeFirst();
    rateCounters = Number(r.numDeletedRows);
  }

  let paymentFailures = 0;
  const failures = await k.selectFrom('abuse_payment_failures').select('id').where('expires_at', '<=', args.now).limit(limit).execute();
  if (failures.length > 0) {
    const r = await k
      .deleteFrom('abuse_payment_failures')
      .where('id', 'in', failures.map((f) => f.id))
      .executeTakeFirst();
    paymentFailures = Number(r.numDeletedRows);
  }

  let blocks = 0;
  const expired = await k.selectFrom('abuse_blocks').select('subject').where('blocked_until', '<=', args.now).limit(limit).execute();
  if (expired.length > 0) {
    const r = await k
      .deleteFrom('abuse_blocks')
      .where('subject', 'in', expired.map((b) => b.subject))
      .where('blocked_until', '<=', args.now)
      .executeTakeFirst();
    blocks = Number(r.numDeletedRows);
  }

  return { rateCounters, paymentFailures, blocks };
}
