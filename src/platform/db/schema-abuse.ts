/**
 * Row types of the tables this feature owns (merged into Database in schema.ts): abuse limits
 * (rate limits, card-testing defence). The state is in the database, not process memory, so the
 * limits hold across every Obol process behind a load balancer. See src/platform/abuse/.
 */

/** One fixed rate-limit window of one bucket: a counter, so a request costs one row write. */
export interface AbuseRateCountersTable {
  /** e.g. `checkout:customer:cus_…` or `checkout:ip:203.0.113.7` */
  bucket: string;
  /** epoch ms, a multiple of the window length */
  window_start: number;
  /** requests counted in the window, capped at limit + 1 (see consumeRateLimit) */
  hits: number;
  /** window_start + window length: when the row stops mattering (purge) */
  expires_at: number;
}

/** One failed payment confirmation of one subject: a log, so the window slides exactly. */
export interface AbusePaymentFailuresTable {
  id: string;
  /** `customer:<id>` or `ip:<address or /64>` */
  subject: string;
  occurred_at: number;
  /** occurred_at + window length: when the row stops counting (purge) */
  expires_at: number;
}

/** A subject refused from confirming payments until blocked_until. */
export interface AbuseBlocksTable {
  subject: string;
  blocked_until: number;
  /** one of ABUSE_BLOCK_REASONS (platform/abuse) */
  reason: string;
  created_at: number;
  updated_at: number;
}

export interface AbuseTables {
  abuse_rate_counters: AbuseRateCountersTable;
  abuse_payment_failures: AbusePaymentFailuresTable;
  abuse_blocks: AbuseBlocksTable;
}
