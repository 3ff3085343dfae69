/** Row types of the tables this feature owns (merged into Database in schema.ts). */

/**
 * One inbound gateway event, stored verbatim once its signature verified, and processed later by
 * the worker. The primary key (gateway, event_id) is what makes a redelivery a no-op.
 */
export interface WebhookInboxTable {
  /** stripe | braintree | razorpay */
  gateway: string;
  /** The gateway's event id (Braintree has none: a digest of the notification, see webhooks/verify.ts). */
  event_id: string;
  event_type: string;
  /** When the gateway says the event happened (epoch ms), when it says; null otherwise. */
  occurred_at: number | null;
  received_at: number;
  /** The verified body (Braintree: the decoded notification XML). */
  payload: string;
  /** received | processed | failed */
  status: string;
  /** Processing attempts started so far. */
  attempts: number;
  /** Not before this time may a worker claim the row: retry backoff, and a lease while claimed. */
  next_attempt_at: number;
  last_error: string | null;
  processed_at: number | null;
}

export interface WebhookTables {
  webhook_inbox: WebhookInboxTable;
}
