import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * Expand step: a payment pays for a checkout session or for an invoice (subscriptions), and may
 * be merchant-initiated with a saved payment method.
 *
 * - `payment_intents.checkout_session_id` becomes nullable (an invoice's payment has no session)
 *   and `invoice_id` says which invoice a payment pays. Relaxing NOT NULL is compatible with the
 *   code already running: it only writes sessions' payments, which still carry the column.
 *   SQLite cannot drop a NOT NULL in place, so it rebuilds the table from its own stored DDL
 *   (SQLite's documented twelve-step procedure, in a transaction of its own).
 * - `initiator`: `customer` (present, may be asked for 3-D Secure) or `merchant` (a renewal
 *   charging a saved payment method, outside SCA).
 * - `payment_method_id`: the saved payment method the payment used or created.
 * - `payment_attempts.save_payment_method`: the attempt asked the gateway to save the method.
 * - `payment_methods`: saved payment methods, the gateway's reusable reference per customer.
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  if (dialect === 'sqlite') await relaxSessionColumnSqlite(db);
  else await sql`ALTER TABLE payment_intents MODIFY checkout_session_id varchar(40) NULL`.execute(db);

  await db.schema.alterTable('payment_intents').addColumn('invoice_id', 'varchar(40)').execute();
  await db.schema.alterTable('payment_intents').addColumn('initiator', 'varchar(10)', (c) => c.notNull().defaultTo('customer')).execute();
  await db.schema.alterTable('payment_intents').addColumn('payment_method_id', 'varchar(40)').execute();
  await db.schema.createIndex('payment_intents_invoice_idx').on('payment_intents').column('invoice_id').execute();
  await db.schema.alterTable('payment_attempts').addColumn('save_payment_method', 'integer', (c) => c.notNull().defaultTo(0)).execute();

  await db.schema
    .createTable('payment_methods')
    .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('customer_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('connector', 'varchar(30)', (c) => c.notNull())
    // The gateway's reusable reference (a Stripe PaymentMethod, a Braintree vault token…): never card data.
    .addColumn('gateway_reference', 'varchar(255)')
    // While pending: the gateway token to send again under the same key; cleared once answered.
    .addColumn('token', 'varchar(255)')
    .addColumn('status', 'varchar(12)', (c) => c.notNull())
    // Where it came from: a payment that saved it, or a save on its own (a trial's sign-up).
    .addColumn('created_by_payment_id', 'varchar(40)')
    // The caller's key for a save on its own: a repeat finds this row instead of saving again.
    .addColumn('request_key', 'varchar(255)')
    .addColumn('decline_code', 'varchar(64)')
    .addColumn('decline_reason', 'varchar(64)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('payment_methods_customer_idx').on('payment_methods').columns(['customer_id', 'created_at']).execute();
  await db.schema.createIndex('payment_methods_request_uq').on('payment_methods').columns(['customer_id', 'request_key']).unique().execute();
}

async function relaxSessionColumnSqlite(db: Kysely<unknown>): Promise<void> {
  // One transaction (Kysely's migrator runs SQLite migrations without one): a crash between the
  // drop and the rename must not leave the database without its payments.
  await db.transaction().execute(async (trx) => {
    const table = await sql<{ sql: string }>`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'payment_intents'`.execute(trx);
    const ddl = table.rows[0]?.sql;
    if (ddl === undefined) throw new Error('payment_intents is missing');
    const relaxed = ddl.replace(/("checkout_session_id" varchar\(40\)) not null unique/i, '$1 unique');
    if (relaxed === ddl) throw new Error(`payment_intents DDL is not what migration 0013 expects: ${ddl}`);
    const indexes = await sql<{ sql: string }>`SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'payment_intents' AND sql IS NOT NULL`.execute(trx);
    await sql.raw(relaxed.replace(/^CREATE TABLE "payment_intents"/i, 'CREATE TABLE "payment_intents_0013"')).execute(trx);
    await sql`INSERT INTO payment_intents_0013 SELECT * FROM payment_intents`.execute(trx);
    await sql`DROP TABLE payment_intents`.execute(trx);
    await sql`ALTER TABLE payment_intents_0013 RENAME TO payment_intents`.execute(trx);
    for (const index of indexes.rows) await sql.raw(index.sql).execute(trx);
  });
}
