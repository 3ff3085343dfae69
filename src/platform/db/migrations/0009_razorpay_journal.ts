import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * Expand step: the Razorpay connector's journal of capture, refund and resume keys. Razorpay cannot
 * look a payment up by Obol's key, so the connector writes key → payment before it sends; kept in
 * the database, a restart between the call and its outcome still lets `retrieve` find the refund.
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('razorpay_journal')
    .addColumn('idempotency_key', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('operation', 'varchar(20)', (c) => c.notNull())
    .addColumn('payment_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
}
