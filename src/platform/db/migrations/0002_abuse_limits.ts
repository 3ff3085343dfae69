import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * Abuse limits: rate-limit counters, the failed-payment log and blocks (src/platform/abuse).
 * Portable like the foundation: BIGINT epoch-ms, VARCHAR keys. Keys are at most 191 characters
 * so a utf8mb4 key fits any InnoDB index prefix limit. Every table has an index on the column
 * that says when a row expires, so the purge is a range scan, not a table scan.
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('abuse_rate_counters')
    .addColumn('bucket', 'varchar(191)', (c) => c.notNull())
    .addColumn('window_start', 'bigint', (c) => c.notNull())
    .addColumn('hits', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('abuse_rate_counters_pk', ['bucket', 'window_start'])
    .execute();
  await db.schema.createIndex('abuse_rate_counters_expires_idx').on('abuse_rate_counters').column('expires_at').execute();

  await db.schema
    .createTable('abuse_payment_failures')
    .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('subject', 'varchar(191)', (c) => c.notNull())
    .addColumn('occurred_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  // Counting a subject's failures in the window is a range scan of this index.
  await db.schema.createIndex('abuse_payment_failures_subject_idx').on('abuse_payment_failures').columns(['subject', 'occurred_at']).execute();
  await db.schema.createIndex('abuse_payment_failures_expires_idx').on('abuse_payment_failures').column('expires_at').execute();

  await db.schema
    .createTable('abuse_blocks')
    .addColumn('subject', 'varchar(191)', (c) => c.primaryKey())
    .addColumn('blocked_until', 'bigint', (c) => c.notNull())
    .addColumn('reason', 'varchar(40)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('abuse_blocks_until_idx').on('abuse_blocks').column('blocked_until').execute();
}
