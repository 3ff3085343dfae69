import type { Clock } from '../kernel/index.js';
import type { PaymentsDeps } from '../payments/index.js';
import type { Db } from '../platform/db/index.js';

export interface CheckoutDeps {
  readonly db: Db;
  readonly clock: Clock;
  /** How long a session stays open for payment. */
  readonly sessionTtlMs: number;
  readonly payments: PaymentsDeps;
}
