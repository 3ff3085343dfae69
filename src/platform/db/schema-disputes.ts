/** Row types of the tables this feature owns (merged into Database in schema.ts). */

export interface DisputesTable {
  /** `dp_<ulid>` */
  id: string;
  payment_id: string;
  connector: string;
  /** The gateway's own id for the dispute; unique per connector, which makes webhooks idempotent. */
  gateway_dispute_id: string;
  /** opened | won | lost (payments/disputes/domain.ts) */
  status: string;
  reason: string | null;
  /** Disputed amount, minor units of `currency` (always the payment's currency). */
  amount: number;
  currency: string;
  /** The gateway's dispute fee; both null when the gateway reported none. */
  fee: number | null;
  fee_currency: string | null;
  opened_at: number;
  resolved_at: number | null;
  created_at: number;
  updated_at: number;
  version: number;
}

export interface DisputeTables {
  disputes: DisputesTable;
}
