import type { Clock } from '../kernel/index.js';
import type { SaleBreakdown } from '../ledger/index.js';
import type { Db, Tx } from '../platform/db/index.js';
import type { Connector } from './connectors/port.js';
import { saleOf, type IntentRow, type RefundView, type SaleRef } from './records.js';

/**
 * What payments needs from the context that sold something (checkout today, subscriptions
 * later). Called inside the payment's own transaction, so the sale's state, the ledger and the
 * events commit together with the payment's.
 */
export interface PaymentHooks {
  /** The sale the payment pays for, as the ledger must book it. */
  saleFor(tx: Tx, intent: IntentRow): Promise<{ readonly sale: SaleBreakdown; readonly taxCountry: string }>;
  /** Money was authorized for later capture (manual capture). */
  onAuthorized(tx: Tx, intent: IntentRow, now: number): Promise<void>;
  /** Money was captured: the sale is paid. */
  onSucceeded(tx: Tx, intent: IntentRow, now: number): Promise<void>;
  /** An attempt was declined and the customer may try another payment method. */
  onDeclined(tx: Tx, intent: IntentRow, now: number): Promise<void>;
  /** No further attempts are allowed. */
  onFailed(tx: Tx, intent: IntentRow, now: number): Promise<void>;
  /** The authorization was voided or the payment canceled. */
  onCanceled(tx: Tx, intent: IntentRow, now: number): Promise<void>;
  onRefunded(tx: Tx, intent: IntentRow, refund: RefundView, now: number): Promise<void>;
  /**
   * A chargeback was lost: the money is gone for good, so whatever the payment bought is taken
   * back exactly as a full refund takes it back.
   */
  onDisputeLost(tx: Tx, intent: IntentRow, now: number): Promise<void>;
  /**
   * How much of a refund's amount before tax comes out of deferred revenue (service paid for and
   * not yet delivered) rather than being booked against revenue; absent: none. Subscriptions
   * answer with the unrecognised part of the invoice's schedule, which the refund then shrinks.
   */
  refundFromDeferred?(tx: Tx, intent: IntentRow, args: { readonly exTax: number; readonly now: number }): Promise<number>;
}

/**
 * One set of hooks per kind of sale, chosen by what each payment pays for: a checkout session's
 * payments go to checkout, an invoice's to subscriptions. `hooksFor` is asked at each call, so a
 * context that itself needs payments (subscriptions) can supply its hooks once it exists.
 */
export function hooksBySale(hooksFor: (kind: SaleRef['kind']) => PaymentHooks): PaymentHooks {
  const of = (intent: IntentRow): PaymentHooks => hooksFor(saleOf(intent).kind);
  return {
    saleFor: (tx, intent) => of(intent).saleFor(tx, intent),
    onAuthorized: (tx, intent, now) => of(intent).onAuthorized(tx, intent, now),
    onSucceeded: (tx, intent, now) => of(intent).onSucceeded(tx, intent, now),
    onDeclined: (tx, intent, now) => of(intent).onDeclined(tx, intent, now),
    onFailed: (tx, intent, now) => of(intent).onFailed(tx, intent, now),
    onCanceled: (tx, intent, now) => of(intent).onCanceled(tx, intent, now),
    onRefunded: (tx, intent, refund, now) => of(intent).onRefunded(tx, intent, refund, now),
    onDisputeLost: (tx, intent, now) => of(intent).onDisputeLost(tx, intent, now),
    refundFromDeferred: async (tx, intent, args) => (await of(intent).refundFromDeferred?.(tx, intent, args)) ?? 0,
  };
}

export interface RouteArgs {
  readonly paymentId: string;
  readonly currency: string;
  readonly amount: number;
  readonly customerCountry: string | null;
  /** The payment-method token; rules may match its prefix (e.g. `rzp:` for Razorpay Checkout). */
  readonly paymentMethod: string;
}

/** A connector picked for an attempt, with the reason, which is kept on the attempt. */
export interface RouteChoice {
  readonly connector: Connector;
  readonly reason: string;
}

export interface ConnectorRegistry {
  get(name: string): Connector | undefined;
  /** The connector for a payment's first attempt, chosen by the routing rules and health. */
  route(args: RouteArgs): RouteChoice;
  /** The next connector to fail over to after `tried` failed with no issuer decision; none left: undefined. */
  next(args: RouteArgs & { readonly tried: readonly string[] }): RouteChoice | undefined;
  /**
   * Health feedback: ok when the gateway answered at all (a decline is an answer); `authorization`
   * when an issuer decided, for the connector's recent authorization rate.
   */
  recordCall(args: { readonly connector: string; readonly ok: boolean; readonly authorization?: 'authorized' | 'declined' }): void;
}

export interface PaymentsDeps {
  readonly db: Db;
  readonly clock: Clock;
  readonly connectors: ConnectorRegistry;
  readonly hooks: PaymentHooks;
  readonly maxFailedAttempts: number;
  /**
   * Each connector's acquirer country (ISO 3166-1 alpha-2). Strong customer authentication is
   * decided for connectors listed here; the others leave 3-D Secure to the gateway.
   */
  readonly acquirerCountries: Readonly<Record<string, string>>;
  /** Largest single refund a support user may make, per currency (minor units). */
  readonly supportRefundLimits: Readonly<Record<string, number>>;
  /**
   * Something a person may need to look at: a gateway call without an outcome, a gateway answer
   * that contradicts the recorded one, a call the reconciler could not resolve.
   */
  readonly onIncident?: (err: unknown, context: { readonly operation: string; readonly id: string }) => void;
}

/** Every payment to one connector (tests, tools). */
export function singleConnectorRegistry(connector: Connector): ConnectorRegistry {
  return {
    get: (name) => (name === connector.name ? connector : undefined),
    route: () => ({ connector, reason: `the only connector: ${connector.name}` }),
    next: () => undefined,
    recordCall: () => undefined,
  };
}
