/**
 * What a gateway's webhook event means for Obol, as data. Each gateway's mapper is pure; the
 * payloads were verified and stored by the webhook intake. Events that Obol does not act on are
 * `ignored` (and acknowledged), never errors. Payment events carry no outcome of their own here:
 * a webhook is a hint to ask the gateway ("when in doubt, retrieve status"), so an out-of-order or
 * replayed delivery cannot move a payment backwards.
 */
import type { Money } from '../money/index.js';
import { fromPaise } from './connectors/razorpay/transformers.js';
import { fromStripeAmount } from './connectors/stripe/transformers.js';

export const DISPUTE_EVENT_KINDS = ['opened', 'won', 'lost'] as const;
export type DisputeEventKind = (typeof DISPUTE_EVENT_KINDS)[number];

export type GatewayFact =
  | {
      readonly kind: 'dispute';
      readonly connector: string;
      readonly gatewayDisputeId: string;
      /** The gateway's id of the disputed payment: an attempt's `gateway_reference`. */
      readonly paymentReference: string;
      readonly status: DisputeEventKind;
      readonly amount: Money;
      readonly fee: Money | null;
      readonly reason: string | null;
    }
  | { readonly kind: 'payment_changed'; readonly connector: string; readonly paymentReference: string }
  | { readonly kind: 'ignored'; readonly reason: string };

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const int = (v: unknown): number | undefined => (typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined);

class MalformedEvent extends Error {
  constructor(gateway: string, what: string) {
    super(`${gateway} event is missing ${what}`);
    this.name = 'MalformedEvent';
  }
}

/** Stripe: `charge.dispute.*` and `payment_intent.*` events (JSON). */
export function mapStripeEvent(raw: string): GatewayFact {
  const event = obj(JSON.parse(raw));
  const type = str(event?.type) ?? '';
  const data = obj(obj(event?.data)?.object);
  if (type.startsWith('charge.dispute.')) {
    if (!data) throw new MalformedEvent('stripe', 'data.object');
    let status: DisputeEventKind | undefined;
    if (type === 'charge.dispute.created') status = 'opened';
    else if (type === 'charge.dispute.closed') status = data.status === 'won' ? 'won' : data.status === 'lost' ? 'lost' : undefined;
    if (!status) return { kind: 'ignored', reason: `${type} with status ${String(data.status)} changes nothing Obol books` };
    const id = str(data.id);
    const pi = str(data.payment_intent);
    const amount = int(data.amount);
    const currency = str(data.currency);
    if (!id || !pi || amount === undefined || !currency) throw new MalformedEvent('stripe', 'the dispute id, payment_intent, amount or currency');
    const balance = Array.isArray(data.balance_transactions) ? obj(data.balance_transactions[0]) : undefined;
    const feeAmount = int(balance?.fee);
    const feeCurrency = str(balance?.currency);
    return {
      kind: 'dispute',
      connector: 'stripe',
      gatewayDisputeId: id,
      paymentReference: pi,
      status,
      amount: fromStripeAmount(amount, currency),
      fee: status === 'opened' && feeAmount !== undefined && feeAmount > 0 && feeCurrency ? fromStripeAmount(feeAmount, feeCurrency) : null,
      reason: str(data.reason) ?? null,
    };
  }
  if (type.startsWith('payment_intent.')) {
    const id = str(data?.id);
    if (!id) throw new MalformedEvent('stripe', 'the PaymentIntent id');
    return { kind: 'payment_changed', connector: 'stripe', paymentReference: id };
  }
  return { kind: 'ignored', reason: `stripe ${type || 'event'} is not acted on` };
}

/** Razorpay: `payment.dispute.*` and `payment.*` events (JSON). */
export function mapRazorpayEvent(raw: string): GatewayFact {
  const event = obj(JSON.parse(raw));
  const type = str(event?.event) ?? '';
  const payload = obj(event?.payload);
  if (type.startsWith('payment.dispute.')) {
    const dispute = obj(obj(payload?.dispute)?.entity);
    const suffix = type.slice('payment.dispute.'.length);
    const status: DisputeEventKind | undefined = suffix === 'created' ? 'opened' : suffix === 'won' ? 'won' : suffix === 'lost' ? 'lost' : undefined;
    if (!status) return { kind: 'ignored', reason: `razorpay ${type} changes nothing Obol books` };
    const id = str(dispute?.id);
    const paymentId = str(dispute?.payment_id);
    if (!dispute || !id || !paymentId) throw new MalformedEvent('razorpay', 'the dispute id or payment_id');
    return {
      kind: 'dispute',
      connector: 'razorpay',
      gatewayDisputeId: id,
      paymentReference: paymentId,
      status,
      amount: fromPaise(dispute.amount, dispute.currency),
      fee: null,
      reason: str(dispute.reason_code) ?? null,
    };
  }
  if (type.startsWith('payment.') || type.startsWith('refund.')) {
    const payment = obj(obj(payload?.payment)?.entity);
    const id = str(payment?.id);
    if (!id) throw new MalformedEvent('razorpay', 'the payment id');
    return { kind: 'payment_changed', connector: 'razorpay', paymentReference: id };
  }
  return { kind: 'ignored', reason: `razorpay ${type || 'event'} is not acted on` };
}

/** Braintree notifications carry a kind and a subject; disputes need the transaction behind them. */
export function mapBraintreeNotification(args: { readonly kind: string }): GatewayFact {
  // Braintree's dispute notifications nest the transaction inside the dispute XML; mapping them
  // needs the SDK's parser, which the intake does not keep yet: acknowledged, left for the next step.
  return { kind: 'ignored', reason: `braintree ${args.kind} is not acted on yet` };
}
