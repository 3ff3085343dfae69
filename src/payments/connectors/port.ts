/**
 * The connector contract: every gateway (the built-in sandbox today; Stripe, Braintree and
 * Razorpay later) implements these flows. One readonly args object per call; results are values.
 *
 * - A decline is data (`declined`), never an exception.
 * - Only "could not reach or understand the gateway" throws, as `ConnectorUnknownOutcomeError`
 *   (the request may or may not have taken effect) or `ConnectorUnavailableError` (it certainly
 *   did not: for example the connection was refused before anything was sent). Obol then records
 *   the outcome as unknown and later resolves it with `retrieve`, never by guessing.
 * - Every call carries an idempotency key; the gateway must treat a repeat of the same key as the
 *   same request, so a retry can never become a second charge.
 * - Amounts cross this port as `Money` (minor units); conversion to the gateway's format happens
 *   only inside the connector.
 */
import type { Money } from '../../money/index.js';
import type { ScaExemption, ThreeDsOutcome } from '../sca/decide.js';

export const DECLINE_CLASSES = ['soft', 'hard', 'customer_action'] as const;
/** soft: may succeed if retried later; hard: never retry this method; customer_action: the customer must do something. */
export type DeclineClass = (typeof DECLINE_CLASSES)[number];

export const NEXT_ACTION_TYPES = ['three_d_secure_challenge'] as const;
export type NextActionType = (typeof NEXT_ACTION_TYPES)[number];

export interface NextAction {
  readonly type: NextActionType;
  /** Gateway's id for the challenge, needed to resume. */
  readonly challengeId: string;
  /** Where the client sends the customer (or the ACS iframe URL). */
  readonly redirectUrl: string;
}

export interface Decline {
  /** The gateway's own code, e.g. `card_declined`. */
  readonly code: string;
  /** Obol's normalized reason, e.g. `insufficient_funds`, `generic_decline`, `processing_error`. */
  readonly reason: string;
  readonly declineClass: DeclineClass;
  readonly message: string;
}

/** What an authorization that went through tells beyond its amount. */
export interface AuthorizedDetails {
  /**
   * What 3-D Secure did, as far as the gateway reports it; absent when it says nothing (then Obol
   * records what it asked for, not what it guesses happened).
   */
  readonly threeDSecure?: ThreeDsOutcome;
  /**
   * The gateway's reusable reference for off-session charges: present exactly when the
   * authorization asked to save the payment method and the gateway saved it.
   */
  readonly savedPaymentMethod?: string;
}

export type AuthorizeOutcome =
  | ({ readonly status: 'succeeded'; readonly reference: string; readonly captured: Money } & AuthorizedDetails)
  | ({ readonly status: 'requires_capture'; readonly reference: string; readonly authorized: Money } & AuthorizedDetails)
  | { readonly status: 'requires_action'; readonly reference: string; readonly action: NextAction }
  | { readonly status: 'processing'; readonly reference: string }
  | { readonly status: 'declined'; readonly reference: string | null; readonly decline: Decline };

export type CaptureOutcome =
  | { readonly status: 'succeeded'; readonly captured: Money }
  | { readonly status: 'declined'; readonly decline: Decline };

export type VoidOutcome = { readonly status: 'succeeded' } | { readonly status: 'declined'; readonly decline: Decline };

export type RefundOutcome =
  | { readonly status: 'succeeded'; readonly reference: string }
  | { readonly status: 'processing'; readonly reference: string }
  | { readonly status: 'declined'; readonly decline: Decline };

export type SavePaymentMethodOutcome =
  | { readonly status: 'saved'; readonly savedPaymentMethod: string }
  | { readonly status: 'declined'; readonly decline: Decline };

/**
 * Operations `retrieve` can look up by idempotency key. Saving a payment method is not among
 * them: it moves no money, so an unknown outcome is resolved by sending it again under the same key.
 */
export const CONNECTOR_OPERATIONS = ['authorize', 'resume', 'capture', 'void', 'refund', 'charge_off_session'] as const;
export type ConnectorOperation = (typeof CONNECTOR_OPERATIONS)[number];

/** What `retrieve` learned about an earlier call, looked up by that call's idempotency key. */
export type RetrieveOutcome =
  /** The gateway never saw the request: it is safe to treat the call as not having happened. */
  | { readonly status: 'not_found' }
  | { readonly status: 'found'; readonly operation: 'authorize' | 'resume' | 'charge_off_session'; readonly outcome: AuthorizeOutcome }
  | { readonly status: 'found'; readonly operation: 'capture'; readonly outcome: CaptureOutcome }
  | { readonly status: 'found'; readonly operation: 'void'; readonly outcome: VoidOutcome }
  | { readonly status: 'found'; readonly operation: 'refund'; readonly outcome: RefundOutcome };

/** Exemptions a customer-present authorization can ask for (merchant-initiated charges use `chargeOffSession`). */
export type RequestedExemption = Exclude<ScaExemption, 'merchant_initiated'>;

/**
 * What Obol asks of the gateway about 3-D Secure, as `decideSca` decided:
 * - `gateway_default`: SCA is out of scope (or undecided); the gateway and issuer do as they would.
 * - `required`: authenticate (frictionless or challenge, as the issuer decides).
 * - `exemption`: ask the issuer to waive authentication. A request, not a guarantee: an issuer that
 *   refuses answers with a decline for missing authentication, classed `customer_action`.
 */
export type AuthenticationRequest =
  | { readonly kind: 'gateway_default' }
  | { readonly kind: 'required' }
  | { readonly kind: 'exemption'; readonly exemption: RequestedExemption };

export interface AuthorizeArgs {
  readonly idempotencyKey: string;
  readonly amount: Money;
  /** A gateway token for the payment method (never card data). */
  readonly paymentMethod: string;
  readonly captureMethod: 'automatic' | 'manual';
  readonly customerId: string;
  readonly description: string;
  /** Absent: `gateway_default`. */
  readonly authentication?: AuthenticationRequest;
  /**
   * Also save the payment method for later off-session (merchant-initiated) charges, under the
   * customer's consent given at this checkout; the outcome then carries `savedPaymentMethod`.
   */
  readonly savePaymentMethod?: boolean;
}

export interface SavePaymentMethodArgs {
  readonly idempotencyKey: string;
  /** A gateway token for the payment method (never card data). */
  readonly paymentMethod: string;
  readonly customerId: string;
}

/**
 * A merchant-initiated charge of a saved payment method, the customer absent (a renewal). Always
 * captured at once. Out of SCA's scope, so it never asks for a challenge: an issuer that still
 * demands authentication answers with a decline, class `customer_action`, reason
 * `authentication_required`, and the customer must come back and pay on-session.
 */
export interface ChargeOffSessionArgs {
  readonly idempotencyKey: string;
  readonly amount: Money;
  /** A `savedPaymentMethod` this connector returned earlier. */
  readonly savedPaymentMethod: string;
  readonly customerId: string;
  readonly description: string;
}

export interface ResumeArgs {
  readonly idempotencyKey: string;
  /** The authorization's gateway reference. */
  readonly reference: string;
  readonly captureMethod: 'automatic' | 'manual';
}

export interface CaptureArgs {
  readonly idempotencyKey: string;
  readonly reference: string;
  readonly amount: Money;
}

export interface VoidArgs {
  readonly idempotencyKey: string;
  readonly reference: string;
}

export interface RefundArgs {
  readonly idempotencyKey: string;
  readonly reference: string;
  readonly amount: Money;
}

export interface RetrieveArgs {
  readonly idempotencyKey: string;
  readonly operation: ConnectorOperation;
}

export interface Connector {
  readonly name: string;
  authorize(args: AuthorizeArgs): Promise<AuthorizeOutcome>;
  /** Continue an authorization after the customer completed (or failed) the required action. */
  resume(args: ResumeArgs): Promise<AuthorizeOutcome>;
  capture(args: CaptureArgs): Promise<CaptureOutcome>;
  void(args: VoidArgs): Promise<VoidOutcome>;
  refund(args: RefundArgs): Promise<RefundOutcome>;
  /** Saves a payment method for off-session use, without charging it (a verification where the gateway does one). */
  savePaymentMethod(args: SavePaymentMethodArgs): Promise<SavePaymentMethodOutcome>;
  /** Never `requires_action` (see `ChargeOffSessionArgs`). Retrieved as operation `charge_off_session`. */
  chargeOffSession(args: ChargeOffSessionArgs): Promise<AuthorizeOutcome>;
  retrieve(args: RetrieveArgs): Promise<RetrieveOutcome>;
}

/** The request may or may not have reached the gateway: the outcome must be resolved with `retrieve`. */
export class ConnectorUnknownOutcomeError extends Error {
  constructor(
    readonly connector: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConnectorUnknownOutcomeError';
  }
}

/** Nothing reached the gateway (e.g. connection refused, circuit open): safe to try another connector. */
export class ConnectorUnavailableError extends Error {
  constructor(
    readonly connector: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConnectorUnavailableError';
  }
}

export const CHALLENGE_OUTCOMES = ['authenticated', 'failed'] as const;
export type ChallengeOutcome = (typeof CHALLENGE_OUTCOMES)[number];

/**
 * Only test gateways implement this: it plays the cardholder's part at the issuer's access
 * control server, so tests and the sandbox API can complete or fail a 3-D Secure challenge.
 * Real gateways learn the result from the issuer; Obol then just calls `resume`.
 */
export interface ChallengeSimulator {
  completeChallenge(args: { readonly challengeId: string; readonly outcome: ChallengeOutcome }): Promise<void>;
}

export function isChallengeSimulator(connector: Connector): connector is Connector & ChallengeSimulator {
  return typeof (connector as Partial<ChallengeSimulator>).completeChallenge === 'function';
}
