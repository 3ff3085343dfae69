/**
 * Row types of every table, as Kysely sees them. Timestamps are epoch milliseconds (BIGINT) so
 * SQLite and MySQL agree exactly and no time zone ever enters the database. Money columns are
 * BIGINT minor units beside a CHAR(3) currency. Booleans are 0/1 integers.
 */
import type { Generated } from 'kysely';
import type { AbuseTables } from './schema-abuse.js';
import type { AuditTables } from './schema-audit.js';
import type { PersonalDataTables } from './schema-personal-data.js';
import type { WebhookTables } from './schema-webhooks.js';
import type { DisputeTables } from './schema-disputes.js';
import type { ScaTables } from './schema-sca.js';
import type { RazorpayTables } from './schema-razorpay.js';
import type { EventConsumerTables, RelayTables } from './schema-events.js';
import type { EntitlementTables } from './schema-entitlements.js';
import type { JobsTables } from './schema-jobs.js';
import type { SubscriptionTables } from './schema-subscriptions.js';
export type { InvoicesTable, SubscriptionsTable, RevenueSchedulesTable } from './schema-subscriptions.js';
export type { ScheduledJobsTable, TestClocksTable } from './schema-jobs.js';

export interface ProductsTable {
  id: string;
  name: string;
  description: string;
  /** one_time | recurring */
  kind: string;
  /** what access the product grants, e.g. `course:ml-101`, `catalog:all` */
  resource: string;
  active: number;
  created_at: number;
}

export interface PricesTable {
  id: string;
  product_id: string;
  currency: string;
  unit_amount: number;
  /** null for one-time prices; month | year */
  billing_interval: string | null;
  /** inclusive | exclusive */
  tax_behavior: string;
  /** set for a price localized to one country (ISO 3166-1 alpha-2); null = available everywhere */
  country: string | null;
  nickname: string;
  active: number;
  created_at: number;
  /** A recurring price's default free trial, in days; null: none. */
  trial_period_days: number | null;
}

export interface CouponsTable {
  id: string;
  code: string;
  /** percent | amount */
  kind: string;
  percent_off_bps: number | null;
  amount_off: number | null;
  currency: string | null;
  expires_at: number | null;
  max_redemptions: number | null;
  times_redeemed: number;
  active: number;
  created_at: number;
  /** On subscriptions: once (first paid invoice), repeating (duration_in_months), forever. */
  duration: string;
  duration_in_months: number | null;
}

export interface CouponRedemptionsTable {
  coupon_id: string;
  customer_id: string;
  checkout_session_id: string;
  /** reserved (session confirmed, not yet paid) | redeemed */
  status: string;
  created_at: number;
}

export interface TaxRatesTable {
  country: string;
  /** basis points of a percent: 2000 = 20 %, 550 = 5.5 % */
  rate_bps: number;
  name: string;
  /** 1 when the rate is illustrative demo data, not tax advice */
  sample: number;
  updated_at: number;
}

export interface CheckoutSessionsTable {
  id: string;
  customer_id: string;
  country: string;
  currency: string;
  /** open | processing | complete | expired */
  status: string;
  /** automatic | manual */
  capture_method: string;
  coupon_id: string | null;
  subtotal: number;
  discount_total: number;
  tax_total: number;
  total: number;
  payment_id: string | null;
  order_id: string | null;
  /** The idempotency key of the confirmation that completed a free (zero-total) session. */
  confirm_request_key: string | null;
  billing_details: string | null; // an encryption envelope (platform/crypto/keyring.ts), never plaintext: personal data
  expires_at: number;
  completed_at: number | null;
  created_at: number;
  updated_at: number;
  version: number;
}

export interface CheckoutSessionLinesTable {
  session_id: string;
  position: number;
  price_id: string;
  product_id: string;
  product_name: string;
  billing_interval: string | null;
  quantity: number;
  unit_amount: number;
  tax_behavior: string;
  tax_rate_bps: number;
  /** unit_amount × quantity, as priced (tax included when inclusive) */
  amount_gross: number;
  discount: number;
  tax: number;
  /** what the learner pays for the line */
  total: number;
}

export interface OrdersTable {
  id: string;
  checkout_session_id: string;
  customer_id: string;
  currency: string;
  total: number;
  payment_id: string | null;
  /** paid | refunded | partially_refunded */
  status: string;
  created_at: number;
  updated_at: number;
}

export interface PaymentIntentsTable {
  id: string;
  /** The checkout session the payment pays for; null for an invoice's payment. */
  checkout_session_id: string | null;
  /** The invoice the payment pays for (subscriptions); null for a checkout's payment. */
  invoice_id: string | null;
  /** `customer`: the payer is present; `merchant`: a renewal charging a saved payment method. */
  initiator: string;
  /** The saved payment method the payment used (merchant-initiated) or saved (first payment). */
  payment_method_id: string | null;
  customer_id: string;
  currency: string;
  amount: number;
  capture_method: string;
  status: string;
  connector: string | null;
  amount_authorized: number;
  amount_captured: number;
  amount_refunded: number;
  failed_attempts: number;
  last_error_code: string | null;
  last_error_reason: string | null;
  last_error_class: string | null;
  next_action: string | null;
  canceled_reason: string | null;
  /** The learner's country, as routing rules saw it. */
  customer_country: string | null;
  /** The card issuer's country as the gateway's client SDK reported it (for SCA); null when unknown. */
  issuer_country: string | null;
  created_at: number;
  updated_at: number;
  version: number;
}

export interface PaymentAttemptsTable {
  id: string;
  payment_id: string;
  seq: number;
  connector: string;
  /** the key Obol sends to the gateway; unique, so a retry can never become a second charge */
  idempotency_key: string;
  /** the API caller's idempotency key for the confirm that created this attempt */
  request_idempotency_key: string;
  payment_method: string;
  amount: number;
  currency: string;
  status: string;
  gateway_reference: string | null;
  decline_code: string | null;
  decline_reason: string | null;
  decline_class: string | null;
  next_action: string | null;
  /** how many times the authorization was resumed after a customer action (keys each resume) */
  resumes: number;
  /** The API caller's idempotency key for the latest resume, so a replay finds its result. */
  resume_request_key: string | null;
  /** Why this attempt went to its connector: the routing rule, or the failover that led here. */
  routing: string | null;
  /** What Obol asked the gateway about 3-D Secure: `gateway_default`, `required` or `exemption:<name>`. */
  authentication: string | null;
  /** Why (decideSca's reasons, joined). */
  sca_decision: string | null;
  /** What 3-D Secure did (THREE_DS_OUTCOMES), once known. */
  three_ds: string | null;
  /** 1 when the attempt asked the gateway to save the payment method for off-session use. */
  save_payment_method: number;
  created_at: number;
  updated_at: number;
  resolved_at: number | null;
  version: number;
}

export interface PaymentOperationsTable {
  id: string;
  payment_id: string;
  /** capture | void */
  kind: string;
  amount: number;
  currency: string;
  connector: string;
  idempotency_key: string;
  request_idempotency_key: string;
  /** pending | succeeded | failed | unknown */
  status: string;
  failure_code: string | null;
  created_at: number;
  updated_at: number;
}

export interface RefundsTable {
  id: string;
  payment_id: string;
  amount: number;
  currency: string;
  reason: string | null;
  status: string;
  connector: string;
  idempotency_key: string;
  request_idempotency_key: string;
  gateway_reference: string | null;
  failure_code: string | null;
  created_at: number;
  updated_at: number;
}

export interface LedgerAccountsTable {
  code: string;
  currency: string;
  /** asset | liability | revenue | contra_revenue | memo (see ledger/domain/accounts.ts) */
  kind: string;
  /** debits − credits, in minor units; maintained with every posting so a read is O(1) */
  balance: number;
  entry_count: number;
  updated_at: number;
}

export interface JournalTransactionsTable {
  id: string;
  kind: string;
  reference_type: string;
  reference_id: string;
  description: string;
  reverses_id: string | null;
  created_at: number;
}

export interface JournalEntriesTable {
  id: string;
  transaction_id: string;
  account_code: string;
  currency: string;
  /** positive = debit, negative = credit */
  amount: number;
  created_at: number;
}

export interface OutboxTable {
  id: string;
  topic: string;
  type: string;
  aggregate_type: string;
  aggregate_id: string;
  /** CloudEvents 1.0 JSON envelope */
  payload: string;
  occurred_at: number;
  published_at: number | null;
  attempts: number;
  last_error: string | null;
  seq: Generated<number>;
  /** shardOf(aggregate_id): which relay lease publishes it (platform/events/relay.ts). */
  shard: Generated<number>;
  /** W3C trace context (JSON headers) of the operation that wrote the row; null outside one. */
  trace_context: string | null;
}

export interface IdempotencyKeysTable {
  scope: string;
  idem_key: string;
  operation: string;
  request_hash: string;
  /** in_progress | completed */
  status: string;
  response: string | null;
  /** Who holds the claim: only the holder may store the response. */
  holder: string;
  locked_until: number;
  created_at: number;
  updated_at: number;
}

export interface SandboxChargesTable {
  id: string;
  idempotency_key: string;
  /** authorize | resume | capture | void | refund | challenge (the cardholder's 3-D Secure answer) */
  operation: string;
  parent_id: string | null;
  payment_method: string;
  amount: number;
  currency: string;
  status: string;
  response: string;
  created_at: number;
}

export interface SchemaMigrationsTable {
  name: string;
  applied_at: number;
}

/** A saved payment method: the gateway's reusable reference for off-session charges (never card data). */
export interface PaymentMethodsTable {
  id: string;
  customer_id: string;
  connector: string;
  gateway_reference: string | null;
  /** While pending: the gateway token to send again; cleared once the gateway answered. */
  token: string | null;
  /** pending (save sent, answer not yet known), active, failed (declined), detached. */
  status: string;
  created_by_payment_id: string | null;
  /** The caller's key for a save on its own (null for one saved by a payment): a repeat finds this row. */
  request_key: string | null;
  decline_code: string | null;
  decline_reason: string | null;
  created_at: number;
  updated_at: number;
  version: number;
}

/** Tables of later features live in their own schema-*.ts files, merged here. */
export interface Database extends AbuseTables, PersonalDataTables, AuditTables, WebhookTables, DisputeTables, ScaTables, RazorpayTables, EventConsumerTables, EntitlementTables, RelayTables, JobsTables, SubscriptionTables {
  products: ProductsTable;
  prices: PricesTable;
  coupons: CouponsTable;
  coupon_redemptions: CouponRedemptionsTable;
  tax_rates: TaxRatesTable;
  checkout_sessions: CheckoutSessionsTable;
  checkout_session_lines: CheckoutSessionLinesTable;
  orders: OrdersTable;
  payment_intents: PaymentIntentsTable;
  payment_methods: PaymentMethodsTable;
  payment_attempts: PaymentAttemptsTable;
  payment_operations: PaymentOperationsTable;
  refunds: RefundsTable;
  ledger_accounts: LedgerAccountsTable;
  journal_transactions: JournalTransactionsTable;
  journal_entries: JournalEntriesTable;
  outbox: OutboxTable;
  idempotency_keys: IdempotencyKeysTable;
  sandbox_charges: SandboxChargesTable;
}
