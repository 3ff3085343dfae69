import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/** Expand step: which events each consumer group has applied (deduplication by event id). */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('consumer_inbox')
    .addColumn('consumer_group', 'varchar(100)', (c) => c.notNull())
    .addColumn('event_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('event_type', 'varchar(100)', (c) => c.notNull())
    .addColumn('processed_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('consumer_inbox_pk', ['consumer_group', 'event_id'])
    .execute();
  // Purging old rows walks by time.
  await db.schema.createIndex('consumer_inbox_processed_idx').on('consumer_inbox').column('processed_at').execute();
}
