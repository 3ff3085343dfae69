/**
 * Views of the use cases to protobuf messages and back. int64 crosses here: protobuf-es gives
 * bigint, the use cases count in JavaScript numbers, so every amount is checked to be a safe
 * integer on the way in (a larger one is refused as AMOUNT_INVALID rather than rounded) and on
 * the way out (a view never holds one; if it did, failing loudly beats a silently wrong amount).
 */
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import { ObolError } from '../../kernel/index.js';
import type { CheckoutSessionView, SessionStatus } from '../../checkout/index.js';
import type { CaptureMethod, OperationResult, OperationView, PaymentInitiator, PaymentStatus, PaymentView, RefundView } from '../../payments/index.js';
import { CaptureMethod as PbCaptureMethod, MoneySchema, type Money } from '../../gen/obol/v1/common_pb.js';
import {
  OperationResult as PbOperationResult,
  PaymentOperationSchema,
  PaymentInitiator as PbPaymentInitiator,
  PaymentSchema,
  PaymentStatus as PbPaymentStatus,
  RefundSchema,
  type Payment,
} from '../../gen/obol/v1/payments_pb.js';
import { CheckoutSessionSchema, CheckoutSessionStatus as PbSessionStatus, type CheckoutSession } from '../../gen/obol/v1/checkout_pb.js';
import type { BillingInterval, TaxBehavior } from '../../catalog/index.js';
import type { PaymentMethodStatus, PaymentMethodView } from '../../payments/index.js';
import type { DunningState, InvoiceStatus, InvoiceView, RefundPolicy, SubscriptionResult, SubscriptionStatus, SubscriptionView } from '../../subscriptions/index.js';
import {
  BillingInterval as PbBillingInterval,
  DunningState as PbDunningState,
  InvoiceSchema,
  InvoiceStatus as PbInvoiceStatus,
  PaymentMethodSchema,
  PaymentMethodStatus as PbPaymentMethodStatus,
  RefundPolicy as PbRefundPolicy,
  SubscriptionSchema,
  SubscriptionStatus as PbSubscriptionStatus,
  TaxBehavior as PbTaxBehavior,
  type Invoice,
  type PaymentMethod,
  type Subscription,
} from '../../gen/obol/v1/subscriptions_pb.js';

/** A request's int64 as a number of minor units, refused when JavaScript cannot hold it exactly. */
export function minorUnitsFrom(value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new ObolError('AMOUNT_INVALID', `${field} is outside the range Obol accepts (at most ${Number.MAX_SAFE_INTEGER} minor units).`, { field });
  }
  return Number(value);
}

export function int64From(value: number): bigint {
  if (!Number.isSafeInteger(value)) throw new Error(`amount ${value} is not a safe integer`);
  return BigInt(value);
}

export function moneyOf(amount: number, currency: string): Money {
  return create(MoneySchema, { amountMinor: int64From(amount), currency });
}

const timeOf = (ms: number): Timestamp => timestampFromMs(ms);

export function paymentInitiatorOf(value: PaymentInitiator): PbPaymentInitiator {
  switch (value) {
    case 'customer':
      return PbPaymentInitiator.CUSTOMER;
    case 'merchant':
      return PbPaymentInitiator.MERCHANT;
    default: {
      const unhandled: never = value;
      throw new Error(`unknown payment initiator ${String(unhandled)}`);
    }
  }
}

export function captureMethodOf(value: CaptureMethod): PbCaptureMethod {
  switch (value) {
    case 'automatic':
      return PbCaptureMethod.AUTOMATIC;
    case 'manual':
      return PbCaptureMethod.MANUAL;
    default: {
      const unhandled: never = value;
      throw new Error(`unknown capture method ${String(unhandled)}`);
    }
  }
}

/** UNSPECIFIED is the proto3 default, so it means what the GraphQL API defaults to: automatic. */
export function captureMethodFrom(value: PbCaptureMethod): CaptureMethod {
  switch (value) {
    case PbCaptureMethod.UNSPECIFIED:
    case PbCaptureMethod.AUTOMATIC:
      return 'automatic';
    case PbCaptureMethod.MANUAL:
      return 'manual';
    default:
      throw new ObolError('VALIDATION_FAILED', 'capture_method must be AUTOMATIC or MANUAL.', { field: 'capture_method' });
  }
}

export function paymentStatusOf(value: PaymentStatus): PbPaymentStatus {
  switch (value) {
    case 'requires_payment_method':
      return PbPaymentStatus.REQUIRES_PAYMENT_METHOD;
    case 'requires_confirmation':
      return PbPaymentStatus.REQUIRES_CONFIRMATION;
    case 'processing':
      return PbPaymentStatus.PROCESSING;
    case 'requires_action':
      return PbPaymentStatus.REQUIRES_ACTION;
    case 'requires_capture':
      return PbPaymentStatus.REQUIRES_CAPTURE;
    case 'succeeded':
      return PbPaymentStatus.SUCCEEDED;
    case 'canceled':
      return PbPaymentStatus.CANCELED;
    case 'failed':
      return PbPaymentStatus.FAILED;
    default: {
      const unhandled: never = value;
      throw new Error(`unknown payment status ${String(unhandled)}`);
    }
  }
}

export function operationResultOf(value: OperationResult): PbOperationResult {
  switch (value) {
    case 'succeeded':
      return PbOperationResult.SUCCEEDED;
    case 'failed':
      return PbOperationResult.FAILED;
    case 'pending':
      return PbOperationResult.PENDING;
    default: {
      const unhandled: never = value;
      throw new Error(`unknown operation result ${String(unhandled)}`);
    }
  }
}

export function sessionStatusOf(value: SessionStatus): PbSessionStatus {
  switch (value) {
    case 'open':
      return PbSessionStatus.OPEN;
    case 'processing':
      return PbSessionStatus.PROCESSING;
    case 'complete':
      return PbSessionStatus.COMPLETE;
    case 'expired':
      return PbSessionStatus.EXPIRED;
    default: {
      const unhandled: never = value;
      throw new Error(`unknown checkout session status ${String(unhandled)}`);
    }
  }
}

export function refundOf(r: RefundView): MessageInitShape<typeof RefundSchema> {
  return {
    id: r.id,
    paymentId: r.paymentId,
    amount: moneyOf(r.amount, r.currency),
    status: r.status,
    reason: r.reason ?? '',
    failureCode: r.failureCode ?? '',
    createTime: timeOf(r.createdAt),
    updateTime: timeOf(r.updatedAt),
  };
}

function operationOf(o: OperationView): MessageInitShape<typeof PaymentOperationSchema> {
  return {
    id: o.id,
    kind: o.kind,
    amount: moneyOf(o.amount, o.currency),
    status: o.status,
    failureCode: o.failureCode ?? '',
    createTime: timeOf(o.createdAt),
  };
}

export function paymentMessage(p: PaymentView): Payment {
  return create(PaymentSchema, {
    id: p.id,
    checkoutSessionId: p.checkoutSessionId ?? '',
    invoiceId: p.invoiceId ?? '',
    initiator: paymentInitiatorOf(p.initiator),
    customerId: p.customerId,
    amount: moneyOf(p.amount, p.currency),
    captureMethod: captureMethodOf(p.captureMethod),
    status: paymentStatusOf(p.status),
    connector: p.connector ?? '',
    amountAuthorized: moneyOf(p.amountAuthorized, p.currency),
    amountCaptured: moneyOf(p.amountCaptured, p.currency),
    amountRefunded: moneyOf(p.amountRefunded, p.currency),
    amountRefundable: moneyOf(p.amountRefundable, p.currency),
    failedAttempts: p.failedAttempts,
    ...(p.lastError ? { lastError: { code: p.lastError.code, reason: p.lastError.reason, declineClass: p.lastError.declineClass ?? '' } } : {}),
    ...(p.nextAction ? { nextAction: { type: p.nextAction.type, challengeId: p.nextAction.challengeId, redirectUrl: p.nextAction.redirectUrl } } : {}),
    refunds: p.refunds.map(refundOf),
    operations: p.operations.map(operationOf),
    createTime: timeOf(p.createdAt),
    updateTime: timeOf(p.updatedAt),
  });
}

export function checkoutSessionMessage(s: CheckoutSessionView): CheckoutSession {
  return create(CheckoutSessionSchema, {
    id: s.id,
    customerId: s.customerId,
    country: s.country,
    status: sessionStatusOf(s.status),
    captureMethod: captureMethodOf(s.captureMethod),
    couponId: s.couponId ?? '',
    lines: s.lines.map((l) => ({
      priceId: l.priceId,
      productId: l.productId,
      productName: l.productName,
      quantity: l.quantity,
      unitAmount: moneyOf(l.unitAmount, s.currency),
      discount: moneyOf(l.discount, s.currency),
      tax: moneyOf(l.tax, s.currency),
      total: moneyOf(l.total, s.currency),
    })),
    subtotal: moneyOf(s.subtotal, s.currency),
    discountTotal: moneyOf(s.discountTotal, s.currency),
    taxTotal: moneyOf(s.taxTotal, s.currency),
    total: moneyOf(s.total, s.currency),
    paymentId: s.paymentId ?? '',
    orderId: s.orderId ?? '',
    expireTime: timeOf(s.expiresAt),
    ...(s.completedAt !== null ? { completeTime: timeOf(s.completedAt) } : {}),
    createTime: timeOf(s.createdAt),
  });
}

/** A nullable instant of a view as an optional Timestamp field (unset for null). */
function optionalTime<K extends string>(key: K, ms: number | null): { [P in K]?: Timestamp } {
  return (ms === null ? {} : { [key]: timeOf(ms) }) as { [P in K]?: Timestamp };
}

export function subscriptionStatusOf(value: SubscriptionStatus): PbSubscriptionStatus {
  switch (value) {
    case 'incomplete':
      return PbSubscriptionStatus.INCOMPLETE;
    case 'incomplete_expired':
      return PbSubscriptionStatus.INCOMPLETE_EXPIRED;
    case 'trialing':
      return PbSubscriptionStatus.TRIALING;
    case 'active':
      return PbSubscriptionStatus.ACTIVE;
    case 'past_due':
      return PbSubscriptionStatus.PAST_DUE;
    case 'canceled':
      return PbSubscriptionStatus.CANCELED;
    case 'unpaid':
      return PbSubscriptionStatus.UNPAID;
    default: {
      const unhandled: never = value;
      throw new Error(`unknown subscription status ${String(unhandled)}`);
    }
  }
}

export function invoiceStatusOf(value: InvoiceStatus): PbInvoiceStatus {
  switch (value) {
    case 'draft':
      return PbInvoiceStatus.DRAFT;
    case 'open':
      return PbInvoiceStatus.OPEN;
    case 'paid':
      return PbInvoiceStatus.PAID;
    case 'void':
      return PbInvoiceStatus.VOID;
    case 'uncollectible':
      return PbInvoiceStatus.UNCOLLECTIBLE;
    default: {
      const unhandled: never = value;
      throw new Error(`unknown invoice status ${String(unhandled)}`);
    }
  }
}

export function billingIntervalOf(value: BillingInterval): PbBillingInterval {
  switch (value) {
    case 'month':
      return PbBillingInterval.MONTH;
    case 'year':
      return PbBillingInterval.YEAR;
    default: {
      const unhandled: never = value;
      throw new Error(`unknown billing interval ${String(unhandled)}`);
    }
  }
}

export function taxBehaviorOf(value: TaxBehavior): PbTaxBehavior {
  switch (value) {
    case 'inclusive':
      return PbTaxBehavior.INCLUSIVE;
    case 'exclusive':
      return PbTaxBehavior.EXCLUSIVE;
    default: {
      const unhandled: never = value;
      throw new Error(`unknown tax behavior ${String(unhandled)}`);
    }
  }
}

/** No dunning is the enum's zero value (UNSPECIFIED), as the contract documents. */
export function dunningStateOf(value: DunningState | null): PbDunningState {
  switch (value) {
    case null:
      return PbDunningState.UNSPECIFIED;
    case 'retrying':
      return PbDunningState.RETRYING;
    case 'await_payment_method':
      return PbDunningState.AWAIT_PAYMENT_METHOD;
    case 'await_customer_authentication':
      return PbDunningState.AWAIT_CUSTOMER_AUTHENTICATION;
    default: {
      const unhandled: never = value;
      throw new Error(`unknown dunning state ${String(unhandled)}`);
    }
  }
}

export function paymentMethodStatusOf(value: PaymentMethodStatus): PbPaymentMethodStatus {
  switch (value) {
    case 'pending':
      return PbPaymentMethodStatus.PENDING;
    case 'active':
      return PbPaymentMethodStatus.ACTIVE;
    case 'failed':
      return PbPaymentMethodStatus.FAILED;
    case 'detached':
      return PbPaymentMethodStatus.DETACHED;
    default: {
      const unhandled: never = value;
      throw new Error(`unknown payment method status ${String(unhandled)}`);
    }
  }
}

/** UNSPECIFIED is the proto3 default, so it means what the use case defaults to: no refund. */
export function refundPolicyFrom(value: PbRefundPolicy): RefundPolicy {
  switch (value) {
    case PbRefundPolicy.UNSPECIFIED:
    case PbRefundPolicy.NONE:
      return 'none';
    case PbRefundPolicy.PRORATED:
      return 'prorated';
    default:
      throw new ObolError('VALIDATION_FAILED', 'refund must be NONE or PRORATED.', { field: 'refund' });
  }
}

export function subscriptionMessage(s: SubscriptionView): Subscription {
  return create(SubscriptionSchema, {
    id: s.id,
    customerId: s.customerId,
    status: subscriptionStatusOf(s.status),
    productId: s.productId,
    priceId: s.priceId,
    unitAmount: moneyOf(s.unitAmount, s.currency),
    billingInterval: billingIntervalOf(s.billingInterval),
    taxBehavior: taxBehaviorOf(s.taxBehavior),
    country: s.country,
    couponId: s.couponId ?? '',
    testClockId: s.testClockId ?? '',
    paymentMethodId: s.paymentMethodId ?? '',
    ...optionalTime('trialEndTime', s.trialEnd),
    currentPeriodStartTime: timeOf(s.currentPeriodStart),
    currentPeriodEndTime: timeOf(s.currentPeriodEnd),
    ...optionalTime('accessEndTime', s.accessUntil),
    cancelAtPeriodEnd: s.cancelAtPeriodEnd,
    ...optionalTime('cancelTime', s.canceledAt),
    ...optionalTime('endTime', s.endedAt),
    endReason: s.endReason ?? '',
    pendingPriceId: s.pendingPriceId ?? '',
    creditBalance: moneyOf(s.creditBalance, s.currency),
    latestInvoiceId: s.latestInvoiceId ?? '',
    dunningState: dunningStateOf(s.dunningState),
    dunningRetries: s.dunningRetries,
    ...optionalTime('dunningDeadlineTime', s.dunningDeadline),
    createTime: timeOf(s.createdAt),
    updateTime: timeOf(s.updatedAt),
  });
}

export function invoiceMessage(i: InvoiceView): Invoice {
  return create(InvoiceSchema, {
    id: i.id,
    number: i.number ?? '',
    subscriptionId: i.subscriptionId,
    customerId: i.customerId,
    status: invoiceStatusOf(i.status),
    billingReason: i.billingReason,
    periodStartTime: timeOf(i.periodStart),
    periodEndTime: timeOf(i.periodEnd),
    subtotal: moneyOf(i.subtotal, i.currency),
    discount: moneyOf(i.discount, i.currency),
    credit: moneyOf(i.credit, i.currency),
    tax: moneyOf(i.tax, i.currency),
    total: moneyOf(i.total, i.currency),
    taxCountry: i.taxCountry,
    taxRateBps: i.taxRateBps,
    paymentId: i.paymentId ?? '',
    attemptCount: i.attemptCount,
    lines: i.lines.map((l) => ({
      kind: l.kind,
      description: l.description,
      priceId: l.priceId ?? '',
      periodStartTime: timeOf(l.periodStart),
      periodEndTime: timeOf(l.periodEnd),
      amount: moneyOf(l.amount, i.currency),
    })),
    ...optionalTime('finalizeTime', i.finalizedAt),
    ...optionalTime('payTime', i.paidAt),
    createTime: timeOf(i.createdAt),
  });
}

export function paymentMethodMessage(m: PaymentMethodView): PaymentMethod {
  return create(PaymentMethodSchema, {
    id: m.id,
    customerId: m.customerId,
    connector: m.connector,
    status: paymentMethodStatusOf(m.status),
    declineCode: m.declineCode ?? '',
    declineReason: m.declineReason ?? '',
    createTime: timeOf(m.createdAt),
  });
}

/**
 * A subscription mutation's result: the same four fields in every mutation's response message
 * (each RPC has its own response type, as buf's STANDARD rules want), unset when null.
 */
export function subscriptionResultFields(r: SubscriptionResult): {
  subscription: Subscription;
  latestInvoice?: Invoice;
  payment?: Payment;
  paymentMethod?: PaymentMethod;
} {
  return {
    subscription: subscriptionMessage(r.subscription),
    ...(r.invoice !== null ? { latestInvoice: invoiceMessage(r.invoice) } : {}),
    ...(r.payment !== null ? { payment: paymentMessage(r.payment) } : {}),
    ...(r.paymentMethod !== null ? { paymentMethod: paymentMethodMessage(r.paymentMethod) } : {}),
  };
}
