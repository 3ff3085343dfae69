/** Row types of the tables strong customer authentication owns (merged into Database in schema.ts). */

/**
 * PSD2 RTS art. 16's counters for the low-value exemption, since the last strong authentication.
 * Kept per customer: Obol never sees the card, and counting a customer's cards together can only
 * ask for authentication sooner than the issuer would, never later.
 */
export interface ScaLowValueCountersTable {
  customer_id: string;
  /** Low-value exempted payments in a row. */
  consecutive: number;
  /** Their total, EUR minor units. */
  cumulative_eur: number;
  updated_at: number;
}

export interface ScaTables {
  sca_low_value_counters: ScaLowValueCountersTable;
}
