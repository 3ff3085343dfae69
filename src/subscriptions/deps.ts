import type { PaymentsDeps } from '../payments/index.js';
import type { Db } from '../platform/db/index.js';
import type { ClockSource } from '../platform/jobs/index.js';
import type { DunningPolicy } from './domain/index.js';

export interface SubscriptionsDeps {
  readonly db: Db;
  /**
   * Every scheduling decision reads time here: the system clock, or the test clock a customer's
   * subscriptions run on. Never `Date.now()`.
   */
  readonly clocks: ClockSource;
  readonly payments: PaymentsDeps;
  readonly dunning: DunningPolicy;
  /** Prefix of invoice numbers (`OBOL-000042`); one gap-free sequence per prefix. */
  readonly invoicePrefix: string;
  /** A first payment that never completes (3-D Secure abandoned) expires after this long. */
  readonly incompleteExpiryMs: number;
  /** Whether test clocks may be created and advanced (test mode, or admins only in production). */
  readonly testClocksEnabled: boolean;
}
