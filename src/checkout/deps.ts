import type { Caller, Clock } from '../kernel/index.js';
import type { PaymentsDeps } from '../payments/index.js';
import type { Keyring } from '../platform/crypto/keyring.js';
import type { Db } from '../platform/db/index.js';

export interface CheckoutDeps {
  readonly db: Db;
  readonly clock: Clock;
  /** How long a session stays open for payment. */
  readonly sessionTtlMs: number;
  readonly payments: PaymentsDeps;
  readonly limits: CheckoutLimits;
  /** Encrypts billing details at rest. */
  readonly keyring: Keyring;
  /** Where the checkout funnel is counted (absent: not counted). */
  readonly metrics?: CheckoutMetrics;
}

/** What a confirmation ended in: paid, declined, waiting for the customer (3-D Secure), or not known yet. */
export type CheckoutOutcome = 'succeeded' | 'failed' | 'requires_action' | 'unknown';

/**
 * The checkout funnel, as a port (the platform counts it in Prometheus). Called after the
 * transactions it reports on have committed; a repeated request is not reported again.
 */
export interface CheckoutMetrics {
  sessionCreated(args: { readonly currency: string }): void;
  /** `declineReason`: the normalized reason of a failed confirmation, else null. */
  confirmed(args: { readonly currency: string; readonly outcome: CheckoutOutcome; readonly declineReason: string | null }): void;
}

/**
 * Abuse limits on checkout, as a port: counted where every process sees them (the database), and
 * checked before anything is written. Each method throws the typed error when a limit is hit.
 */
export interface CheckoutLimits {
  /** Rate limit per customer and per client IP on checkout mutations. */
  beforeCheckoutMutation(args: { readonly caller: Caller; readonly customerId: string }): Promise<void>;
  /** Card-testing defence: refuses a confirmation from a blocked customer or IP. */
  beforeConfirm(args: { readonly caller: Caller; readonly customerId: string }): Promise<void>;
  /** Counts a declined confirmation towards the card-testing block. */
  afterDeclined(args: { readonly caller: Caller; readonly customerId: string }): Promise<void>;
}

/** No limits: for tools and tests that exercise something else. */
export const NO_LIMITS: CheckoutLimits = {
  beforeCheckoutMutation: async () => undefined,
  beforeConfirm: async () => undefined,
  afterDeclined: async () => undefined,
};
