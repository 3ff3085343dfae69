/**
 * What a gateway's webhook event means for Obol, as data. Each gateway's mapper is pure; the
 * payloads were verified and stored by the webhook intake. Events that Obol does not act on are
 * `ignored` (and acknowledged), never errors. Payment events carry no outcome of their own here:
 * a webhook is a hint to ask the gateway ("when in doubt, retrieve status"), so an out-of-order or
 * replayed delivery cannot move a payment backwards.
 */
import { currencyExponent, fromDecimalString, parseCurrency, type Money } from '../money/index.js';
import { AmbiguousXmlError, childText, onlyChild, parseXml, type XmlElement } from './braintree-xml.js';
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

export class MalformedEvent extends Error {
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

/**
 * Braintree's dispute notification kinds, per Braintree's webhook reference (Dispute): what each
 * means for the money. Accepting a dispute (by the merchant, or automatically on its behalf) and
 * letting it expire unanswered close it in the cardholder's favour, which is a loss; `disputed`
 * (evidence submitted) and `under_review` (PayPal reviewing) move no money and book nothing.
 */
const BRAINTREE_DISPUTE_KINDS: ReadonlyMap<string, DisputeEventKind | null> = new Map([
  ['dispute_opened', 'opened'],
  ['dispute_won', 'won'],
  ['dispute_lost', 'lost'],
  ['dispute_accepted', 'lost'],
  ['dispute_auto_accepted', 'lost'],
  ['dispute_expired', 'lost'],
  ['dispute_disputed', null],
  ['dispute_under_review', null],
]);

/**
 * Braintree's dispute kinds (`<dispute><kind>`). A retrieval is a request for information about a
 * transaction: no funds are withdrawn, so it books nothing (if it escalates, Braintree opens a
 * chargeback, a dispute of its own). A pre-arbitration withdraws the funds again after a
 * chargeback was contested, and is booked like a chargeback.
 */
const BOOKED_BRAINTREE_DISPUTES = new Set(['chargeback', 'pre_arbitration']);

/**
 * A Braintree decimal amount in minor units, exactly: digits and an optional fraction, never a
 * float. Braintree may pad past the currency's exponent ("500.00" JPY); padding must be zeros.
 */
function fromBraintreeDecimal(value: string | undefined, currencyCode: string | undefined): Money | undefined {
  const currency = currencyCode === undefined ? undefined : parseCurrency(currencyCode);
  if (value === undefined || currency === undefined) return undefined;
  const m = /^(\d{1,30})(?:\.(\d{1,30}))?$/.exec(value);
  if (!m) return undefined;
  const exp = currencyExponent(currency);
  const fraction = m[2] ?? '';
  if (/[^0]/.test(fraction.slice(exp))) return undefined;
  const kept = fraction.slice(0, exp);
  return fromDecimalString(kept.length > 0 ? `${m[1]}.${kept}` : m[1]!, currency);
}

/**
 * Braintree: the stored notification XML (`<notification>` with `kind`, `timestamp`, `subject`).
 * Dispute notifications carry the dispute in the subject, and the disputed transaction's id in
 * `<dispute><transaction><id>`: that id is the attempt's gateway reference. Braintree reports no
 * dispute fee in the notification, so `fee` is null. Other kinds are not acted on.
 */
export function mapBraintreeNotification(xml: string): GatewayFact {
  let notification: XmlElement;
  try {
    notification = parseXml(xml);
  } catch (err) {
    throw new MalformedEvent('braintree', `well-formed notification XML (${err instanceof Error ? err.message : String(err)})`);
  }
  try {
    if (notification.name !== 'notification') throw new MalformedEvent('braintree', 'its <notification> element');
    const kind = childText(notification, 'kind');
    if (kind === undefined) throw new MalformedEvent('braintree', 'the notification kind');
    const status = BRAINTREE_DISPUTE_KINDS.get(kind);
    if (status === undefined) return { kind: 'ignored', reason: `braintree ${kind.slice(0, 100)} is not acted on` };
    if (status === null) return { kind: 'ignored', reason: `braintree ${kind} changes nothing Obol books` };

    const subject = onlyChild(notification, 'subject');
    const dispute = subject === undefined ? undefined : onlyChild(subject, 'dispute');
    if (!dispute) throw new MalformedEvent('braintree', 'the <subject><dispute>');
    const disputeKind = childText(dispute, 'kind');
    if (disputeKind === undefined) throw new MalformedEvent('braintree', 'the dispute kind');
    if (disputeKind === 'retrieval') return { kind: 'ignored', reason: `braintree ${kind} for a retrieval moves no money` };
    if (!BOOKED_BRAINTREE_DISPUTES.has(disputeKind)) throw new MalformedEvent('braintree', `a known dispute kind (got ${disputeKind.slice(0, 40)})`);

    const id = childText(dispute, 'id');
    const transaction = onlyChild(dispute, 'transaction');
    const transactionId = transaction === undefined ? undefined : childText(transaction, 'id');
    if (!id || !transactionId) throw new MalformedEvent('braintree', 'the dispute id or its transaction id');
    const currency = childText(dispute, 'currency-iso-code');
    // `amount-disputed` is the documented field; `amount` is its older name, still sent beside it.
    const amountText = childText(dispute, 'amount-disputed') ?? childText(dispute, 'amount');
    const amount = fromBraintreeDecimal(amountText, currency);
    if (!amount) throw new MalformedEvent('braintree', `a well-formed dispute amount and currency (got ${String(amountText).slice(0, 40)} ${String(currency).slice(0, 8)})`);
    return {
      kind: 'dispute',
      connector: 'braintree',
      gatewayDisputeId: id,
      paymentReference: transactionId,
      status,
      amount,
      fee: null,
      reason: childText(dispute, 'reason') ?? null,
    };
  } catch (err) {
    if (err instanceof AmbiguousXmlError) throw new MalformedEvent('braintree', `unambiguous fields (${err.message})`);
    throw err;
  }
}
