import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/** Expand step: why each attempt went to its connector (the routing decision, explainable). */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('payment_attempts').addColumn('routing', 'varchar(1000)').execute();
  // Routing rules may match the learner's country, so a failover re-plans with the same input.
  await db.schema.alterTable('payment_intents').addColumn('customer_country', 'char(2)').execute();
}
