import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/** Chargebacks raised against captured payments (payments/disputes). */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('disputes')
    .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('payment_id', 'varchar(40)', (c) => c.notNull())
    .addColumn('connector', 'varchar(40)', (c) => c.notNull())
    .addColumn('gateway_dispute_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('status', 'varchar(20)', (c) => c.notNull())
    .addColumn('reason', 'varchar(255)')
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'char(3)', (c) => c.notNull())
    .addColumn('fee', 'bigint')
    .addColumn('fee_currency', 'char(3)')
    .addColumn('opened_at', 'bigint', (c) => c.notNull())
    .addColumn('resolved_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    // A gateway's webhook may arrive many times; this key makes the second delivery a no-op
    // even if two deliveries race past the application's own check.
    .addUniqueConstraint('disputes_gateway_uq', ['connector', 'gateway_dispute_id'])
    .execute();
  // The payment view lists a payment's disputes.
  await db.schema.createIndex('disputes_payment_idx').on('disputes').columns(['payment_id', 'opened_at']).execute();
}
