/** Row types of subscriptions, invoices and revenue schedules (merged into Database in schema.ts). */

export interface SubscriptionsTable {
  id: string;
  customer_id: string;
  status: string;
  product_id: string;
  price_id: string;
  currency: string;
  /** The plan's price at signup (or at the last plan change), minor units, in its tax basis. */
  unit_amount: number;
  billing_interval: string;
  tax_behavior: string;
  /** The learner's country: decides tax on every invoice. */
  country: string;
  coupon_id: string | null;
  test_clock_id: string | null;
  payment_method_id: string | null;
  /** Periods are computed from this instant (never chained), so month ends stay put. */
  billing_anchor: number;
  trial_end: number | null;
  /** Start of the first period that was billed (after any trial): coupon durations count from it. */
  first_paid_period_start: number | null;
  period_index: number;
  current_period_start: number;
  current_period_end: number;
  /** Until when the learner has access (period end, or the dunning deadline while past due). */
  access_until: number | null;
  cancel_at_period_end: number;
  canceled_at: number | null;
  ended_at: number | null;
  end_reason: string | null;
  /** A downgrade waiting for the period end. */
  pending_price_id: string | null;
  /** Proration credit not yet used, minor units in the plan's tax basis. */
  credit_balance: number;
  latest_invoice_id: string | null;
  /** null, 'retrying', 'await_payment_method', 'await_customer_authentication'. */
  dunning_state: string | null;
  dunning_first_failed_at: number | null;
  dunning_retries: number;
  dunning_deadline: number | null;
  create_request_key: string;
  /** `<customer>|<product>` while live (not canceled or expired), else null: unique. */
  live_key: string | null;
  created_at: number;
  updated_at: number;
  version: number;
}

export interface InvoicesTable {
  id: string;
  /** Assigned at finalization from invoice_sequences: gap-free per sequence. */
  number: string | null;
  subscription_id: string;
  customer_id: string;
  status: string;
  billing_reason: string;
  currency: string;
  period_start: number;
  period_end: number;
  subtotal: number;
  discount: number;
  credit: number;
  tax: number;
  total: number;
  net: number;
  tax_country: string;
  tax_rate_bps: number;
  payment_id: string | null;
  attempt_count: number;
  finalized_at: number | null;
  paid_at: number | null;
  voided_at: number | null;
  created_at: number;
  updated_at: number;
  version: number;
}

export interface InvoiceLinesTable {
  invoice_id: string;
  position: number;
  kind: string;
  description: string;
  price_id: string | null;
  period_start: number;
  period_end: number;
  /** Signed minor units: a credit or discount line is negative. */
  amount: number;
}

export interface InvoiceSequencesTable {
  name: string;
  next_number: number;
}

export interface RevenueSchedulesTable {
  id: string;
  invoice_id: string;
  subscription_id: string;
  /** The payment whose sale deferred this revenue; null for an invoice with nothing to pay. */
  payment_id: string | null;
  currency: string;
  /** Deferred at payment (the invoice's net, plus credit carried over from a replaced plan). */
  amount: number;
  recognised: number;
  service_start: number;
  service_end: number;
  /** active, closed. */
  status: string;
  created_at: number;
  updated_at: number;
  version: number;
}

export interface SubscriptionTables {
  subscriptions: SubscriptionsTable;
  invoices: InvoicesTable;
  invoice_lines: InvoiceLinesTable;
  invoice_sequences: InvoiceSequencesTable;
  revenue_schedules: RevenueSchedulesTable;
}
