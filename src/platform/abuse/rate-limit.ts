/**
 * Fixed-window rate limits kept in the database, so every Obol process behind a load balancer
 * shares them.
 *
 * Why a fixed window: one counter row per (bucket, window) makes a request cost exactly one
 * single-row upsert, O(1) whatever the limit, and that upsert is what makes the count exact under
 * concurrency. The price is the usual boundary burst: a client can spend `limit` at the end of one
 * window and `limit` again at the start of the next, so at most 2 × limit within any span of one
 * window length. For checkout limits that are abuse brakes, not quotas, that is acceptable; a
 * sliding log would cost O(limit) rows per bucket.
 *
 * Why the count is capped at limit + 1: refused requests still arrive, and an uncapped counter
 * would grow without bound (a hot bucket's integer, and nothing else). Capping keeps the row
 * constant once the bucket is over its limit. A fixed window never lengthens a refusal anyway:
 * the refusal ends when the window does, however many requests were refused.
 */
import { sql } from 'kysely';
import { ObolError } from '../../kernel/index.js';
import type { Db } from '../db/index.js';
import { assertEpochMs, assertKey, assertPositiveInt, secondsUntil, toInt } from './keys.js';

/**
 * Counts one request against `bucket` in the window containing `now`; throws RATE_LIMITED
 * (details.retryAfterSeconds = until the window ends) when the bucket is over `limit`.
 *
 * Runs its own single statement, never inside a caller's transaction, so a refused request writes
 * nothing but its count, and the counter row lock is held only for that statement. The statement
 * both increments and returns this request's own count (RETURNING on SQLite; LAST_INSERT_ID(expr)
 * on MySQL/MariaDB, which the server reports in the statement's own OK packet, so no second
 * statement and no connection affinity are needed). A separate read after the upsert would be
 * wrong: concurrent requests would read each other's increments and all be refused.
 */
export async function consumeRateLimit(
  db: Db,
  args: { readonly bucket: string; readonly limit: number; readonly windowMs: number; readonly now: number },
): Promise<void> {
  assertKey('rate-limit bucket', args.bucket);
  assertPositiveInt('rate limit', args.limit);
  assertPositiveInt('rate-limit window', args.windowMs);
  assertEpochMs('now', args.now);
  const windowStart = Math.floor(args.now / args.windowMs) * args.windowMs;
  const expiresAt = windowStart + args.windowMs;
  const hits = await countHit(db, { bucket: args.bucket, windowStart, expiresAt, cap: args.limit + 1 });
  if (hits > args.limit) {
    const retryAfterSeconds = secondsUntil(expiresAt, args.now);
    throw new ObolError('RATE_LIMITED', `Too many requests; retry after ${retryAfterSeconds} seconds.`, { retryAfterSeconds });
  }
}

/** Adds one hit (never beyond `cap`) and returns the row's count after this statement. */
async function countHit(db: Db, args: { readonly bucket: string; readonly windowStart: number; readonly expiresAt: number; readonly cap: number }): Promise<number> {
  const table = db.kysely.insertInto('abuse_rate_counters');
  if (db.dialect === 'mysql') {
    // LAST_INSERT_ID(expr) returns expr and makes it the statement's reported insert id, both on
    // the insert path (the 1) and on the duplicate-key path (the new count).
    const result = await table
      .values({ bucket: args.bucket, window_start: args.windowStart, hits: sql<number>`LAST_INSERT_ID(1)`, expires_at: args.expiresAt })
      .onDuplicateKeyUpdate((eb) => ({
        hits: sql<number>`LAST_INSERT_ID(${eb.case().when('hits', '>=', args.cap).then(eb.ref('hits')).else(eb('hits', '+', 1)).end()})`,
      }))
      .executeTakeFirstOrThrow();
    if (result.insertId === undefined) throw new Error('rate-limit upsert did not report its count');
    return toInt(result.insertId, 'rate-limit count');
  }
  const row = await table
    .values({ bucket: args.bucket, window_start: args.windowStart, hits: 1, expires_at: args.expiresAt })
    .onConflict((oc) =>
      oc.columns(['bucket', 'window_start']).doUpdateSet((eb) => ({
        hits: eb
          .case()
          .when('abuse_rate_counters.hits', '>=', args.cap)
          .then(eb.ref('abuse_rate_counters.hits'))
          .else(eb('abuse_rate_counters.hits', '+', 1))
          .end(),
      })),
    )
    .returning('hits')
    .executeTakeFirstOrThrow();
  return toInt(row.hits, 'rate-limit count');
}
