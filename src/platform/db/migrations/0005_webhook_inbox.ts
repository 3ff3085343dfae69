import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/** The inbox of verified inbound gateway webhooks (platform/webhooks). */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('webhook_inbox')
    .addColumn('gateway', 'varchar(20)', (c) => c.notNull())
    .addColumn('event_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('event_type', 'varchar(100)', (c) => c.notNull())
    .addColumn('occurred_at', 'bigint')
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    // MySQL's TEXT stops at 64 KiB and a gateway event (a Stripe invoice with many lines) can be
    // larger; MEDIUMTEXT holds 16 MiB. SQLite's TEXT has no such limit.
    .addColumn('payload', dialect === 'mysql' ? sql`mediumtext` : 'text', (c) => c.notNull())
    .addColumn('status', 'varchar(20)', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('last_error', 'varchar(1000)')
    .addColumn('processed_at', 'bigint')
    .addPrimaryKeyConstraint('webhook_inbox_pk', ['gateway', 'event_id'])
    .execute();
  // The worker's claim query: due rows still to process.
  await db.schema.createIndex('webhook_inbox_due_idx').on('webhook_inbox').columns(['status', 'next_attempt_at']).execute();
}
