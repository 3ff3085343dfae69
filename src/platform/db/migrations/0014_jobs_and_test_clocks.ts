import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * Expand step: durable jobs and test clocks.
 *
 * - `scheduled_jobs`: work due at an instant (a renewal, a dunning retry, a revenue-recognition
 *   boundary), by the system clock or by a test clock (`clock_id`). `job_key` makes scheduling
 *   idempotent (the same key is the same job). A worker claims a job by a conditional update
 *   that sets a lease (`lease_owner`, `lease_until`, system time); a job whose worker died is
 *   claimed again once its lease has passed, so each runs to completion at least once, and its
 *   handler makes a repeat do nothing.
 * - `test_clocks`: a frozen instant that only moves when an admin advances it; `advancing` with a
 *   lease while an advance runs (a crashed advance is resumed by a worker).
 * - `test_clock_customers`: the customers whose subscriptions run on a clock.
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('scheduled_jobs')
    .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('kind', 'varchar(60)', (c) => c.notNull())
    .addColumn('job_key', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('subject_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('clock_id', 'varchar(40)')
    .addColumn('run_at', 'bigint', (c) => c.notNull())
    .addColumn('status', 'varchar(10)', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('lease_owner', 'varchar(100)')
    .addColumn('lease_until', 'bigint')
    .addColumn('last_error', 'varchar(1000)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('scheduled_jobs_due_idx').on('scheduled_jobs').columns(['status', 'clock_id', 'run_at']).execute();
  await db.schema.createIndex('scheduled_jobs_subject_idx').on('scheduled_jobs').columns(['subject_id', 'status']).execute();

  await db.schema
    .createTable('test_clocks')
    .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(200)', (c) => c.notNull())
    .addColumn('frozen_time', 'bigint', (c) => c.notNull())
    .addColumn('status', 'varchar(10)', (c) => c.notNull())
    .addColumn('advance_to', 'bigint')
    // Which advance holds the clock (a random token per advance), until when.
    .addColumn('advance_owner', 'varchar(100)')
    .addColumn('lease_until', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('test_clock_customers')
    .addColumn('customer_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('clock_id', 'varchar(40)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('test_clock_customers_clock_idx').on('test_clock_customers').column('clock_id').execute();
}
