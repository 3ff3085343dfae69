/** Row types of the Razorpay connector's own table (merged into Database in schema.ts). */

export interface RazorpayJournalTable {
  idempotency_key: string;
  /** capture | refund | resume */
  operation: string;
  payment_id: string;
  /** Paise. */
  amount: number;
  created_at: number;
}

export interface RazorpayTables {
  razorpay_journal: RazorpayJournalTable;
}
