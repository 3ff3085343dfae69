/**
 * The scrape-time gauges' database reads. Each is one cheap query on an existing index:
 *
 *   outbox backlog         outbox_unpublished_idx (published_at, seq)
 *   oldest unpublished     the same index, lowest seq first, one row
 *   due jobs               scheduled_jobs_due_idx (status, clock_id, run_at); only due rows are read
 *   unknown payments       payment_attempts_status_idx (status, updated_at); only unknown and
 *                          pending rows are read, which are few (calls in flight or unresolved)
 *
 * An unknown attempt's age is measured from created_at: the reconciler touches updated_at each
 * time it asks again, so updated_at never grows old.
 */
import type { Clock } from '../../kernel/index.js';
import { dbInt, type Db } from '../db/index.js';
import type { ScrapeSources } from './metrics.js';

/**
 * A `pending` attempt older than this is not a call in flight any more (the reconciler's
 * PENDING_GRACE_MS: longer than any connector's client timeout).
 */
export const LONG_PENDING_MS = 120_000;

export function databaseSources(args: { readonly db: Db; readonly clock: Clock }): Pick<
  ScrapeSources,
  'outboxBacklog' | 'outboxOldestAgeSeconds' | 'jobsDue' | 'unknownPayments' | 'unknownPaymentsOldestAgeSeconds' | 'dbPool'
> {
  const { db, clock } = args;
  const k = db.kysely;
  const unknownOrStuck = (now: number) =>
    k
      .selectFrom('payment_attempts')
      .where((eb) => eb.or([eb('status', '=', 'unknown'), eb.and([eb('status', '=', 'pending'), eb('updated_at', '<', now - LONG_PENDING_MS)])]));
  return {
    async outboxBacklog() {
      const row = await k
        .selectFrom('outbox')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('published_at', 'is', null)
        .executeTakeFirst();
      return Number(row?.n ?? 0);
    },
    async outboxOldestAgeSeconds() {
      const row = await k.selectFrom('outbox').select('occurred_at').where('published_at', 'is', null).orderBy('seq').limit(1).executeTakeFirst();
      return row === undefined ? 0 : Math.max(0, clock.now() - dbInt(row.occurred_at)) / 1000;
    },
    async jobsDue() {
      const rows = await k
        .selectFrom('scheduled_jobs')
        .select(['kind', (eb) => eb.fn.countAll<number>().as('n')])
        .where('status', '=', 'pending')
        .where('clock_id', 'is', null)
        .where('run_at', '<=', clock.now())
        .groupBy('kind')
        .execute();
      return new Map(rows.map((r) => [r.kind, Number(r.n)]));
    },
    async unknownPayments() {
      const row = await unknownOrStuck(clock.now())
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirst();
      return Number(row?.n ?? 0);
    },
    async unknownPaymentsOldestAgeSeconds() {
      const now = clock.now();
      const row = await unknownOrStuck(now)
        .select((eb) => eb.fn.min('created_at').as('oldest'))
        .executeTakeFirst();
      const oldest = row?.oldest;
      return oldest === null || oldest === undefined ? 0 : Math.max(0, now - Number(oldest)) / 1000;
    },
    dbPool: () => db.poolStats?.() ?? null,
  };
}
