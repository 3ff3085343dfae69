/**
 * Card-testing defence: a customer or an IP that fails too many payment confirmations within a
 * window is refused from confirming for a while.
 *
 * Failures are a log (one row per failed confirmation and subject) rather than a fixed-window
 * counter, so "N failures within the window" is exact at every instant: a tester cannot spread
 * failures across a window boundary to get twice as many tries. The log stays small because
 * counting stops at maxFailures (a LIMITed index range scan), failures only reach it while the
 * subject is not blocked (callers check assertNotBlocked first), and tripping a block clears the
 * subject's log, so each block is earned afresh once it expires.
 *
 * Each function runs its own short autocommit statements, never inside a caller's transaction, so
 * a refused request writes nothing else and a rolled-back use case cannot un-count a failure. The
 * counts are approximate only in one direction: a crash between statements can drop a failure or
 * miss a block, never add one. Concurrent failures cannot both miss the threshold: each counts
 * after its own insert has committed, so whichever counts last sees every insert before it.
 */
import { randomUUID } from 'node:crypto';
import { ObolError } from '../../kernel/index.js';
import type { Db } from '../db/index.js';
import { assertEpochMs, assertKey, assertPositiveInt, secondsUntil, toInt } from './keys.js';

/** Why a subject is blocked; stored in abuse_blocks.reason. */
export const ABUSE_BLOCK_REASONS = ['card_testing'] as const;
export type AbuseBlockReason = (typeof ABUSE_BLOCK_REASONS)[number];

/**
 * Throws CARD_TESTING_BLOCKED when any subject is blocked at `now`. The error does not say which
 * subject (telling a tester that the IP, not the account, is burned helps them); retryAfterSeconds
 * is until the last of the blocks ends, since that is when a retry can succeed.
 */
export async function assertNotBlocked(db: Db, args: { readonly subjects: readonly string[]; readonly now: number }): Promise<void> {
  assertEpochMs('now', args.now);
  const subjects = distinct(args.subjects);
  if (subjects.length === 0) return;
  const row = await db.kysely
    .selectFrom('abuse_blocks')
    .select((eb) => eb.fn.max('blocked_until').as('until'))
    .where('subject', 'in', subjects)
    .where('blocked_until', '>', args.now)
    .executeTakeFirst();
  if (row?.until === null || row?.until === undefined) return;
  const retryAfterSeconds = secondsUntil(toInt(row.until, 'blocked_until'), args.now);
  throw new ObolError('CARD_TESTING_BLOCKED', 'Too many failed payment attempts; try again later.', { retryAfterSeconds });
}

/**
 * Records one failed payment confirmation for each subject. A subject with maxFailures failures
 * in the window ending at `now` is blocked until now + blockMs (an existing longer block is kept,
 * a shorter one extended). Returns the subjects this call blocked.
 */
export async function recordFailedPayment(
  db: Db,
  args: {
    readonly subjects: readonly string[];
    readonly maxFailures: number;
    readonly windowMs: number;
    readonly blockMs: number;
    readonly now: number;
  },
): Promise<{ readonly blocked: readonly string[] }> {
  assertPositiveInt('maxFailures', args.maxFailures);
  assertPositiveInt('card-testing window', args.windowMs);
  assertPositiveInt('block duration', args.blockMs);
  assertEpochMs('now', args.now);
  const subjects = distinct(args.subjects);
  if (subjects.length === 0) return { blocked: [] };

  await db.kysely
    .insertInto('abuse_payment_failures')
    .values(subjects.map((subject) => ({ id: randomUUID(), subject, occurred_at: args.now, expires_at: args.now + args.windowMs })))
    .execute();

  const blocked: string[] = [];
  for (const subject of subjects) {
    const failures = await failuresInWindow(db, { subject, since: args.now - args.windowMs, atMost: args.maxFailures });
    if (failures < args.maxFailures) continue;
    await block(db, { subject, until: args.now + args.blockMs, reason: 'card_testing', now: args.now });
    // The failures have been spent on this block; after it expires the subject starts afresh.
    // Only rows up to `now`, so a failure recorded concurrently after this one still counts.
    await db.kysely.deleteFrom('abuse_payment_failures').where('subject', '=', subject).where('occurred_at', '<=', args.now).execute();
    blocked.push(subject);
  }
  return { blocked };
}

/** Failures of `subject` after `since`, counted up to `atMost` (which bounds the scan). */
async function failuresInWindow(db: Db, args: { readonly subject: string; readonly since: number; readonly atMost: number }): Promise<number> {
  const row = await db.kysely
    .selectFrom((qb) =>
      qb
        .selectFrom('abuse_payment_failures')
        .select('id')
        .where('subject', '=', args.subject)
        .where('occurred_at', '>', args.since)
        .limit(args.atMost)
        .as('recent'),
    )
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirstOrThrow();
  return toInt(row.n, 'failure count');
}

/** Creates the block or extends it to `until`; never shortens one (a longer block may exist). */
async function block(db: Db, args: { readonly subject: string; readonly until: number; readonly reason: AbuseBlockReason; readonly now: number }): Promise<void> {
  const insert = db.kysely
    .insertInto('abuse_blocks')
    .values({ subject: args.subject, blocked_until: args.until, reason: args.reason, created_at: args.now, updated_at: args.now });
  // Assignment order matters on MySQL, where a later assignment sees earlier ones: created_at
  // (restarted when the old block had already expired) is computed from the old blocked_until.
  if (db.dialect === 'mysql') {
    await insert
      .onDuplicateKeyUpdate((eb) => ({
        created_at: eb.case().when('blocked_until', '<=', args.now).then(args.now).else(eb.ref('created_at')).end(),
        blocked_until: eb.case().when('blocked_until', '<', args.until).then(args.until).else(eb.ref('blocked_until')).end(),
        reason: args.reason,
        updated_at: args.now,
      }))
      .execute();
    return;
  }
  await insert
    .onConflict((oc) =>
      oc.column('subject').doUpdateSet((eb) => ({
        created_at: eb.case().when('abuse_blocks.blocked_until', '<=', args.now).then(args.now).else(eb.ref('abuse_blocks.created_at')).end(),
        blocked_until: eb.case().when('abuse_blocks.blocked_until', '<', args.until).then(args.until).else(eb.ref('abuse_blocks.blocked_until')).end(),
        reason: args.reason,
        updated_at: args.now,
      })),
    )
    .execute();
}

function distinct(subjects: readonly string[]): string[] {
  const out = [...new Set(subjects)];
  for (const s of out) assertKey('abuse subject', s);
  return out;
}
