/**
 * Moves committed outbox rows to the bus, oldest first. Rows are marked published only after the
 * bus accepted them, so a crash in between republishes (at least once, never lost). A row that
 * keeps failing is retried with its error recorded; one aggregate's later events wait behind it
 * so per-aggregate order holds.
 */
import type { Clock } from '../../kernel/index.js';
import type { Db } from '../db/index.js';
import type { EventBus } from './bus.js';
import type { CloudEvent, EventTopic } from './outbox.js';

export interface RelayResult {
  readonly published: number;
  readonly failed: number;
}

export async function relayOutboxOnce(args: { readonly db: Db; readonly bus: EventBus; readonly clock: Clock; readonly batchSize?: number }): Promise<RelayResult> {
  const { db, bus, clock } = args;
  const rows = await db.kysely
    .selectFrom('outbox')
    .select(['seq', 'id', 'topic', 'aggregate_id', 'payload'])
    .where('published_at', 'is', null)
    .orderBy('seq')
    .limit(args.batchSize ?? 100)
    .execute();
  let published = 0;
  let failed = 0;
  const blocked = new Set<string>();
  for (const row of rows) {
    if (blocked.has(row.aggregate_id)) continue;
    try {
      await bus.publish([{ topic: row.topic as EventTopic, key: row.aggregate_id, event: JSON.parse(row.payload) as CloudEvent }]);
      await db.kysely.updateTable('outbox').set({ published_at: clock.now() }).where('seq', '=', row.seq).where('published_at', 'is', null).execute();
      published++;
    } catch (err) {
      failed++;
      blocked.add(row.aggregate_id);
      const message = err instanceof Error ? err.message : String(err);
      await db.kysely
        .updateTable('outbox')
        .set((eb) => ({ attempts: eb('attempts', '+', 1), last_error: message.slice(0, 1000) }))
        .where('seq', '=', row.seq)
        .execute();
    }
  }
  return { published, failed };
}

/** Age in ms of the oldest unpublished event (0 when none): the backlog signal operators watch. */
export async function oldestUnpublishedAgeMs(db: Db, clock: Clock): Promise<number> {
  const row = await db.kysely.selectFrom('outbox').select((eb) => eb.fn.min('occurred_at').as('oldest')).where('published_at', 'is', null).executeTakeFirst();
  const oldest = row?.oldest;
  return oldest === null || oldest === undefined ? 0 : Math.max(0, clock.now() - Number(oldest));
}
