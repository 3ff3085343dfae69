import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * Expand step: subscription billing.
 *
 * - `subscriptions`: one plan (a recurring price) per subscription, with the price's terms
 *   copied at signup (a later catalog change does not reprice a running subscription), its
 *   billing anchor and current period, dunning state, and the test clock it runs on, if any.
 * - `invoices` and `invoice_lines`: one invoice per billing period and per plan change. Numbers
 *   are assigned when an invoice is finalized, from `invoice_sequences`, in the same transaction,
 *   so a sequence has no gaps (a rolled-back finalization takes its number back with it).
 * - `revenue_schedules`: what each paid invoice defers and how much of it has been recognised.
 * - prices gain `trial_period_days` (a plan's default free trial); coupons gain `duration`
 *   (`once`, `repeating` for `duration_in_months`, `forever`) for subscriptions. A coupon
 *   redeemed by a subscription is recorded in coupon_redemptions with the subscription id in
 *   `checkout_session_id` (the column names whatever redeemed it).
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('prices').addColumn('trial_period_days', 'integer').execute();
  await db.schema.alterTable('coupons').addColumn('duration', 'varchar(10)', (c) => c.notNull().defaultTo('once')).execute();
  await db.schema.alterTable('coupons').addColumn('duration_in_months', 'integer').execute();

  await db.schema
    .createTable('subscriptions')
    .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('customer_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('status', 'varchar(20)', (c) => c.notNull())
    .addColumn('product_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('price_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('currency', 'char(3)', (c) => c.notNull())
    .addColumn('unit_amount', 'bigint', (c) => c.notNull())
    .addColumn('billing_interval', 'varchar(10)', (c) => c.notNull())
    .addColumn('tax_behavior', 'varchar(10)', (c) => c.notNull())
    .addColumn('country', 'char(2)', (c) => c.notNull())
    .addColumn('coupon_id', 'varchar(64)')
    .addColumn('test_clock_id', 'varchar(40)')
    .addColumn('payment_method_id', 'varchar(40)')
    .addColumn('billing_anchor', 'bigint', (c) => c.notNull())
    .addColumn('trial_end', 'bigint')
    .addColumn('first_paid_period_start', 'bigint')
    .addColumn('period_index', 'integer', (c) => c.notNull())
    .addColumn('current_period_start', 'bigint', (c) => c.notNull())
    .addColumn('current_period_end', 'bigint', (c) => c.notNull())
    .addColumn('access_until', 'bigint')
    .addColumn('cancel_at_period_end', 'integer', (c) => c.notNull())
    .addColumn('canceled_at', 'bigint')
    .addColumn('ended_at', 'bigint')
    .addColumn('end_reason', 'varchar(40)')
    .addColumn('pending_price_id', 'varchar(64)')
    .addColumn('credit_balance', 'bigint', (c) => c.notNull())
    .addColumn('latest_invoice_id', 'varchar(40)')
    .addColumn('dunning_state', 'varchar(40)')
    .addColumn('dunning_first_failed_at', 'bigint')
    .addColumn('dunning_retries', 'integer', (c) => c.notNull())
    .addColumn('dunning_deadline', 'bigint')
    .addColumn('create_request_key', 'varchar(255)', (c) => c.notNull())
    // `<customer>|<product>` while the subscription is live, null once it ended: unique, so a
    // customer holds at most one live subscription per product whatever races (a locking read
    // cannot promise that under READ COMMITTED, which takes no gap locks).
    .addColumn('live_key', 'varchar(140)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addUniqueConstraint('subscriptions_customer_request_uq', ['customer_id', 'create_request_key'])
    .addUniqueConstraint('subscriptions_live_uq', ['live_key'])
    .execute();
  await db.schema.createIndex('subscriptions_customer_idx').on('subscriptions').columns(['customer_id', 'status']).execute();

  await db.schema
    .createTable('invoices')
    .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('number', 'varchar(40)', (c) => c.unique())
    .addColumn('subscription_id', 'varchar(40)', (c) => c.notNull())
    .addColumn('customer_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('status', 'varchar(20)', (c) => c.notNull())
    .addColumn('billing_reason', 'varchar(30)', (c) => c.notNull())
    .addColumn('currency', 'char(3)', (c) => c.notNull())
    .addColumn('period_start', 'bigint', (c) => c.notNull())
    .addColumn('period_end', 'bigint', (c) => c.notNull())
    .addColumn('subtotal', 'bigint', (c) => c.notNull())
    .addColumn('discount', 'bigint', (c) => c.notNull())
    .addColumn('credit', 'bigint', (c) => c.notNull())
    .addColumn('tax', 'bigint', (c) => c.notNull())
    .addColumn('total', 'bigint', (c) => c.notNull())
    .addColumn('net', 'bigint', (c) => c.notNull())
    .addColumn('tax_country', 'char(2)', (c) => c.notNull())
    .addColumn('tax_rate_bps', 'integer', (c) => c.notNull())
    .addColumn('payment_id', 'varchar(40)')
    .addColumn('attempt_count', 'integer', (c) => c.notNull())
    .addColumn('finalized_at', 'bigint')
    .addColumn('paid_at', 'bigint')
    .addColumn('voided_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('invoices_subscription_idx').on('invoices').columns(['subscription_id', 'created_at']).execute();
  await db.schema.createIndex('invoices_customer_idx').on('invoices').columns(['customer_id', 'created_at']).execute();

  await db.schema
    .createTable('invoice_lines')
    .addColumn('invoice_id', 'varchar(40)', (c) => c.notNull())
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('kind', 'varchar(20)', (c) => c.notNull())
    .addColumn('description', 'varchar(300)', (c) => c.notNull())
    .addColumn('price_id', 'varchar(64)')
    .addColumn('period_start', 'bigint', (c) => c.notNull())
    .addColumn('period_end', 'bigint', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('invoice_lines_pk', ['invoice_id', 'position'])
    .execute();

  await db.schema
    .createTable('invoice_sequences')
    .addColumn('name', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('next_number', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('revenue_schedules')
    .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('invoice_id', 'varchar(40)', (c) => c.notNull().unique())
    .addColumn('subscription_id', 'varchar(40)', (c) => c.notNull())
    // The payment whose sale deferred this revenue (null: an invoice paid with nothing to pay).
    .addColumn('payment_id', 'varchar(40)')
    .addColumn('currency', 'char(3)', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('recognised', 'bigint', (c) => c.notNull())
    .addColumn('service_start', 'bigint', (c) => c.notNull())
    .addColumn('service_end', 'bigint', (c) => c.notNull())
    .addColumn('status', 'varchar(10)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('revenue_schedules_subscription_idx').on('revenue_schedules').columns(['subscription_id', 'status']).execute();
}
