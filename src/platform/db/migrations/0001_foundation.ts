import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * The foundation schema. Portable between SQLite and MySQL/MariaDB: BIGINT epoch-ms timestamps,
 * BIGINT minor-unit amounts, VARCHAR ids, TEXT for JSON documents. Expand/contract rule: a later
 * migration only adds; removing or renaming is a separate, marked contract step.
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  const id = (n = 40) => `varchar(${n})` as const;

  await db.schema
    .createTable('products')
    .addColumn('id', id(64), (c) => c.primaryKey())
    .addColumn('name', 'varchar(200)', (c) => c.notNull())
    .addColumn('description', 'varchar(1000)', (c) => c.notNull())
    .addColumn('kind', 'varchar(20)', (c) => c.notNull())
    .addColumn('resource', 'varchar(200)', (c) => c.notNull())
    .addColumn('active', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('prices')
    .addColumn('id', id(64), (c) => c.primaryKey())
    .addColumn('product_id', id(64), (c) => c.notNull().references('products.id'))
    .addColumn('currency', 'char(3)', (c) => c.notNull())
    .addColumn('unit_amount', 'bigint', (c) => c.notNull())
    .addColumn('billing_interval', 'varchar(10)')
    .addColumn('tax_behavior', 'varchar(10)', (c) => c.notNull())
    .addColumn('country', 'char(2)')
    .addColumn('nickname', 'varchar(200)', (c) => c.notNull())
    .addColumn('active', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('prices_product_idx').on('prices').column('product_id').execute();

  await db.schema
    .createTable('coupons')
    .addColumn('id', id(64), (c) => c.primaryKey())
    .addColumn('code', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('kind', 'varchar(10)', (c) => c.notNull())
    .addColumn('percent_off_bps', 'integer')
    .addColumn('amount_off', 'bigint')
    .addColumn('currency', 'char(3)')
    .addColumn('expires_at', 'bigint')
    .addColumn('max_redemptions', 'integer')
    .addColumn('times_redeemed', 'integer', (c) => c.notNull())
    .addColumn('active', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('coupon_redemptions')
    .addColumn('coupon_id', id(64), (c) => c.notNull())
    .addColumn('customer_id', id(64), (c) => c.notNull())
    .addColumn('checkout_session_id', id(), (c) => c.notNull())
    .addColumn('status', 'varchar(10)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('coupon_redemptions_pk', ['coupon_id', 'customer_id'])
    .execute();

  await db.schema
    .createTable('tax_rates')
    .addColumn('country', 'char(2)', (c) => c.primaryKey())
    .addColumn('rate_bps', 'integer', (c) => c.notNull())
    .addColumn('name', 'varchar(100)', (c) => c.notNull())
    .addColumn('sample', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('checkout_sessions')
    .addColumn('id', id(), (c) => c.primaryKey())
    .addColumn('customer_id', id(64), (c) => c.notNull())
    .addColumn('country', 'char(2)', (c) => c.notNull())
    .addColumn('currency', 'char(3)', (c) => c.notNull())
    .addColumn('status', 'varchar(20)', (c) => c.notNull())
    .addColumn('capture_method', 'varchar(10)', (c) => c.notNull())
    .addColumn('coupon_id', id(64))
    .addColumn('subtotal', 'bigint', (c) => c.notNull())
    .addColumn('discount_total', 'bigint', (c) => c.notNull())
    .addColumn('tax_total', 'bigint', (c) => c.notNull())
    .addColumn('total', 'bigint', (c) => c.notNull())
    .addColumn('payment_id', id())
    .addColumn('order_id', id())
    .addColumn('confirm_request_key', 'varchar(255)')
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('completed_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('checkout_sessions_status_exp_idx').on('checkout_sessions').columns(['status', 'expires_at']).execute();

  await db.schema
    .createTable('checkout_session_lines')
    .addColumn('session_id', id(), (c) => c.notNull())
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('price_id', id(64), (c) => c.notNull())
    .addColumn('product_id', id(64), (c) => c.notNull())
    .addColumn('product_name', 'varchar(200)', (c) => c.notNull())
    .addColumn('billing_interval', 'varchar(10)')
    .addColumn('quantity', 'integer', (c) => c.notNull())
    .addColumn('unit_amount', 'bigint', (c) => c.notNull())
    .addColumn('tax_behavior', 'varchar(10)', (c) => c.notNull())
    .addColumn('tax_rate_bps', 'integer', (c) => c.notNull())
    .addColumn('amount_gross', 'bigint', (c) => c.notNull())
    .addColumn('discount', 'bigint', (c) => c.notNull())
    .addColumn('tax', 'bigint', (c) => c.notNull())
    .addColumn('total', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('checkout_session_lines_pk', ['session_id', 'position'])
    .execute();

  await db.schema
    .createTable('orders')
    .addColumn('id', id(), (c) => c.primaryKey())
    .addColumn('checkout_session_id', id(), (c) => c.notNull().unique())
    .addColumn('customer_id', id(64), (c) => c.notNull())
    .addColumn('currency', 'char(3)', (c) => c.notNull())
    .addColumn('total', 'bigint', (c) => c.notNull())
    .addColumn('payment_id', id())
    .addColumn('status', 'varchar(20)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('payment_intents')
    .addColumn('id', id(), (c) => c.primaryKey())
    .addColumn('checkout_session_id', id(), (c) => c.notNull().unique())
    .addColumn('customer_id', id(64), (c) => c.notNull())
    .addColumn('currency', 'char(3)', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('capture_method', 'varchar(10)', (c) => c.notNull())
    .addColumn('status', 'varchar(30)', (c) => c.notNull())
    .addColumn('connector', 'varchar(30)')
    .addColumn('amount_authorized', 'bigint', (c) => c.notNull())
    .addColumn('amount_captured', 'bigint', (c) => c.notNull())
    .addColumn('amount_refunded', 'bigint', (c) => c.notNull())
    .addColumn('failed_attempts', 'integer', (c) => c.notNull())
    .addColumn('last_error_code', 'varchar(64)')
    .addColumn('last_error_reason', 'varchar(64)')
    .addColumn('last_error_class', 'varchar(20)')
    .addColumn('next_action', 'text')
    .addColumn('canceled_reason', 'varchar(64)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('payment_intents_customer_idx').on('payment_intents').columns(['customer_id', 'id']).execute();
  await db.schema.createIndex('payment_intents_status_idx').on('payment_intents').columns(['status', 'updated_at']).execute();

  await db.schema
    .createTable('payment_attempts')
    .addColumn('id', id(), (c) => c.primaryKey())
    .addColumn('payment_id', id(), (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('connector', 'varchar(30)', (c) => c.notNull())
    .addColumn('idempotency_key', 'varchar(100)', (c) => c.notNull().unique())
    .addColumn('request_idempotency_key', 'varchar(255)', (c) => c.notNull())
    .addColumn('payment_method', 'varchar(255)', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'char(3)', (c) => c.notNull())
    .addColumn('status', 'varchar(20)', (c) => c.notNull())
    .addColumn('gateway_reference', 'varchar(100)')
    .addColumn('decline_code', 'varchar(64)')
    .addColumn('decline_reason', 'varchar(64)')
    .addColumn('decline_class', 'varchar(20)')
    .addColumn('next_action', 'text')
    .addColumn('resumes', 'integer', (c) => c.notNull())
    .addColumn('resume_request_key', 'varchar(255)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('resolved_at', 'bigint')
    .addColumn('version', 'integer', (c) => c.notNull())
    .addUniqueConstraint('payment_attempts_payment_seq_uq', ['payment_id', 'seq'])
    .execute();
  await db.schema.createIndex('payment_attempts_status_idx').on('payment_attempts').columns(['status', 'updated_at']).execute();

  await db.schema
    .createTable('payment_operations')
    .addColumn('id', id(), (c) => c.primaryKey())
    .addColumn('payment_id', id(), (c) => c.notNull())
    .addColumn('kind', 'varchar(10)', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'char(3)', (c) => c.notNull())
    .addColumn('connector', 'varchar(30)', (c) => c.notNull())
    .addColumn('idempotency_key', 'varchar(100)', (c) => c.notNull().unique())
    .addColumn('request_idempotency_key', 'varchar(255)', (c) => c.notNull())
    .addColumn('status', 'varchar(20)', (c) => c.notNull())
    .addColumn('failure_code', 'varchar(64)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('payment_operations_payment_idx').on('payment_operations').column('payment_id').execute();
  await db.schema.createIndex('payment_operations_status_idx').on('payment_operations').columns(['status', 'updated_at']).execute();

  await db.schema
    .createTable('refunds')
    .addColumn('id', id(), (c) => c.primaryKey())
    .addColumn('payment_id', id(), (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'char(3)', (c) => c.notNull())
    .addColumn('reason', 'varchar(200)')
    .addColumn('status', 'varchar(20)', (c) => c.notNull())
    .addColumn('connector', 'varchar(30)', (c) => c.notNull())
    .addColumn('idempotency_key', 'varchar(100)', (c) => c.notNull().unique())
    .addColumn('request_idempotency_key', 'varchar(255)', (c) => c.notNull())
    .addColumn('gateway_reference', 'varchar(100)')
    .addColumn('failure_code', 'varchar(64)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('refunds_payment_idx').on('refunds').column('payment_id').execute();
  await db.schema.createIndex('refunds_status_idx').on('refunds').columns(['status', 'updated_at']).execute();

  await db.schema
    .createTable('ledger_accounts')
    .addColumn('code', 'varchar(100)', (c) => c.notNull())
    .addColumn('currency', 'char(3)', (c) => c.notNull())
    .addColumn('kind', 'varchar(20)', (c) => c.notNull())
    .addColumn('balance', 'bigint', (c) => c.notNull())
    .addColumn('entry_count', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('ledger_accounts_pk', ['code', 'currency'])
    .execute();

  await db.schema
    .createTable('journal_transactions')
    .addColumn('id', id(), (c) => c.primaryKey())
    .addColumn('kind', 'varchar(40)', (c) => c.notNull())
    .addColumn('reference_type', 'varchar(40)', (c) => c.notNull())
    .addColumn('reference_id', id(), (c) => c.notNull())
    .addColumn('description', 'varchar(500)', (c) => c.notNull())
    .addColumn('reverses_id', id())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('journal_transactions_ref_idx').on('journal_transactions').columns(['reference_id', 'created_at']).execute();

  await db.schema
    .createTable('journal_entries')
    .addColumn('id', id(), (c) => c.primaryKey())
    .addColumn('transaction_id', id(), (c) => c.notNull())
    .addColumn('account_code', 'varchar(100)', (c) => c.notNull())
    .addColumn('currency', 'char(3)', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('journal_entries_tx_idx').on('journal_entries').column('transaction_id').execute();
  await db.schema.createIndex('journal_entries_account_idx').on('journal_entries').columns(['account_code', 'currency']).execute();

  const outbox = db.schema.createTable('outbox');
  await (dialect === 'sqlite'
    ? outbox.addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
    : outbox.addColumn('seq', 'bigint', (c) => c.primaryKey().autoIncrement())
  )
    .addColumn('id', id(), (c) => c.notNull().unique())
    .addColumn('topic', 'varchar(100)', (c) => c.notNull())
    .addColumn('type', 'varchar(100)', (c) => c.notNull())
    .addColumn('aggregate_type', 'varchar(40)', (c) => c.notNull())
    .addColumn('aggregate_id', id(), (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('occurred_at', 'bigint', (c) => c.notNull())
    .addColumn('published_at', 'bigint')
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('last_error', 'varchar(1000)')
    .execute();
  await db.schema.createIndex('outbox_unpublished_idx').on('outbox').columns(['published_at', 'seq']).execute();

  await db.schema
    .createTable('idempotency_keys')
    .addColumn('scope', 'varchar(100)', (c) => c.notNull())
    .addColumn('idem_key', 'varchar(255)', (c) => c.notNull())
    .addColumn('operation', 'varchar(100)', (c) => c.notNull())
    .addColumn('request_hash', 'char(64)', (c) => c.notNull())
    .addColumn('status', 'varchar(20)', (c) => c.notNull())
    .addColumn('response', 'text')
    .addColumn('holder', 'varchar(40)', (c) => c.notNull())
    .addColumn('locked_until', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('idempotency_keys_pk', ['scope', 'idem_key'])
    .execute();

  await db.schema
    .createTable('sandbox_charges')
    .addColumn('id', id(), (c) => c.primaryKey())
    .addColumn('idempotency_key', 'varchar(100)', (c) => c.notNull().unique())
    .addColumn('operation', 'varchar(20)', (c) => c.notNull())
    .addColumn('parent_id', id())
    .addColumn('payment_method', 'varchar(255)', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'char(3)', (c) => c.notNull())
    .addColumn('status', 'varchar(30)', (c) => c.notNull())
    .addColumn('response', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('sandbox_charges_parent_idx').on('sandbox_charges').column('parent_id').execute();
}
