import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * Expand step: strong customer authentication. Each attempt records what Obol asked the gateway
 * about 3-D Secure and why, and what 3-D Secure then did; the low-value exemption counters are
 * kept per customer.
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('payment_attempts').addColumn('authentication', 'varchar(40)').execute();
  await db.schema.alterTable('payment_attempts').addColumn('sca_decision', 'varchar(2000)').execute();
  await db.schema.alterTable('payment_attempts').addColumn('three_ds', 'varchar(20)').execute();
  // The card's issuer country as the client SDK reported it, so a failover decides SCA afresh.
  await db.schema.alterTable('payment_intents').addColumn('issuer_country', 'char(2)').execute();
  await db.schema
    .createTable('sca_low_value_counters')
    .addColumn('customer_id', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('consecutive', 'integer', (c) => c.notNull())
    .addColumn('cumulative_eur', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}
