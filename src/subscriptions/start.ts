/**
 * Starting a subscription: the learner picks a plan (a recurring price) and hands over a payment
 * method token. The first invoice is paid on-session (3-D Secure may challenge) and the payment
 * method is saved with the gateway for the renewals that follow; with a free trial nothing is
 * charged and the method is only saved.
 *
 *   tx 1: subscription (incomplete) + first invoice + pending attempt (or pending saved method)
 *   gateway call, no transaction open
 *   tx 2: outcome → active (paid) | incomplete (declined or waiting for 3-D Secure) | trialing
 *
 * Repeating the request with the same idempotency key continues where the first one stopped.
 */
import { authorize, mayActFor, newId, notFound, ObolError, type Caller } from '../kernel/index.js';
import { assertCouponUsable, assertPriceId, findCouponByCode, findPrices, findTaxRate, markCouponRedeemed, reserveCoupon, type Coupon } from '../catalog/index.js';
import { assertCustomerId, normaliseCountry } from '../checkout/index.js';
import { beginSavePaymentMethod, completeSavePaymentMethod, executeAttempt, loadPaymentMethod, loadPaymentView, type PaymentMethodView, type PaymentView } from '../payments/index.js';
import { isUniqueViolation, type Tx } from '../platform/db/index.js';
import { clockOfCustomer, scheduleJob } from '../platform/jobs/index.js';
import { addDays, periodOf, transitionSubscription } from './domain/index.js';
import { beginPresentInvoicePayment, issueInvoice, JOB_KINDS } from './billing.js';
import type { SubscriptionsDeps } from './deps.js';
import { emitSubscriptionEvent } from './events.js';
import { derivedKey, liveKeyOf, loadInvoiceView, loadSubscriptionView, lockSubscription, normaliseSubscription, saveSubscription, statusOf, type InvoiceView, type SubscriptionRow, type SubscriptionView } from './records.js';
import { expireIncomplete, incompleteExpiryKey, periodEndKey, settlePaidInvoice } from './settle.js';

export const TOKEN_PATTERN = /^[A-Za-z0-9_\-:.]{3,255}$/;
export const MAX_TRIAL_DAYS = 365;

export interface StartSubscriptionProps {
  readonly caller: Caller;
  /** The learner subscribing (`cus_…`); a learner may leave it out (it is then themselves). */
  readonly customerId: string | null;
  /** A recurring price: the plan. */
  readonly priceId: string;
  /** ISO 3166-1 alpha-2: decides tax and localized prices. */
  readonly country: string;
  /** The gateway's token for the payment method (never card data); saved for renewals. */
  readonly paymentMethodToken: string;
  /** The card issuer's country as the gateway's client SDK reports it (for SCA); null: unknown. */
  readonly cardCountry: string | null;
  readonly couponCode: string | null;
  /** Days of free trial; null takes the plan's default, 0 means none. */
  readonly trialDays: number | null;
  /** The caller's idempotency key: a repeat continues the same signup. */
  readonly requestKey: string;
}

export interface SubscriptionResult {
  readonly subscription: SubscriptionView;
  readonly invoice: InvoiceView | null;
  /** The latest invoice's payment (a signup's may wait for 3-D Secure: see its nextAction). */
  readonly payment: PaymentView | null;
  readonly paymentMethod: PaymentMethodView | null;
}

/** Statuses in which a customer already has the product: a second signup is refused. */
const LIVE_STATUSES = ['incomplete', 'trialing', 'active', 'past_due', 'unpaid'] as const;

type Pending = { readonly kind: 'attempt'; readonly attemptId: string } | { readonly kind: 'save'; readonly paymentMethodId: string } | { readonly kind: 'none' };

export async function startSubscription(deps: SubscriptionsDeps, props: StartSubscriptionProps): Promise<SubscriptionResult> {
  const { db } = deps;
  const { actor } = props.caller;
  authorize(actor, 'subscription.create');
  const customerId = props.customerId ?? actor.customerId;
  if (customerId === null) throw new ObolError('VALIDATION_FAILED', 'customerId is required.', { field: 'customerId' });
  assertCustomerId(customerId);
  if (!mayActFor(actor, customerId)) throw new ObolError('FORBIDDEN', 'A learner can only subscribe themselves.', { field: 'customerId' });
  const country = normaliseCountry(props.country);
  if (!TOKEN_PATTERN.test(props.paymentMethodToken)) {
    throw new ObolError('VALIDATION_FAILED', 'paymentMethodToken must be the gateway token for the payment method (letters, digits, _ - : .).', { field: 'paymentMethodToken' });
  }
  if (props.cardCountry !== null && !/^[A-Z]{2}$/.test(props.cardCountry)) {
    throw new ObolError('VALIDATION_FAILED', 'cardCountry must be an ISO 3166-1 alpha-2 country code, such as DE.', { field: 'cardCountry' });
  }
  if (props.trialDays !== null && (!Number.isSafeInteger(props.trialDays) || props.trialDays < 0 || props.trialDays > MAX_TRIAL_DAYS)) {
    throw new ObolError('VALIDATION_FAILED', `trialDays must be a whole number from 0 to ${MAX_TRIAL_DAYS}.`, { field: 'trialDays' });
  }

  const repeated = await db.kysely.selectFrom('subscriptions').selectAll().where('customer_id', '=', customerId).where('create_request_key', '=', props.requestKey).executeTakeFirst();
  if (repeated) return continueStart(deps, normaliseSubscription(repeated));

  assertPriceId(props.priceId);
  const price = (await findPrices(db.kysely, [props.priceId])).get(props.priceId);
  if (!price) throw new ObolError('PRICE_NOT_FOUND', `No price ${props.priceId}.`, { field: 'priceId' });
  if (!price.active) throw new ObolError('PRICE_INACTIVE', `Price ${props.priceId} is no longer for sale.`, { field: 'priceId' });
  if (price.billingInterval === null) throw new ObolError('PRICE_NOT_RECURRING', `Price ${props.priceId} is a one-time price; subscribe to a monthly or annual plan.`, { field: 'priceId' });
  if (price.country !== null && price.country !== country) {
    throw new ObolError('PRICE_NOT_AVAILABLE_IN_COUNTRY', `Price ${props.priceId} is only for learners in ${price.country}.`, { field: 'priceId' });
  }
  if (!(await findTaxRate(db.kysely, country))) throw new ObolError('UNSUPPORTED_COUNTRY', `Obol has no tax configuration for ${country}, so it cannot sell there yet.`, { field: 'country' });
  const clockId = await clockOfCustomer(db.kysely, customerId);
  const now = await deps.clocks.now(clockId);
  let coupon: Coupon | null = null;
  if (props.couponCode !== null) {
    const found = await findCouponByCode(db.kysely, props.couponCode);
    if (!found) throw new ObolError('COUPON_NOT_FOUND', 'No such coupon.', { field: 'couponCode' });
    const redeemed = await db.kysely.selectFrom('coupon_redemptions').select('coupon_id').where('coupon_id', '=', found.id).where('customer_id', '=', customerId).executeTakeFirst();
    assertCouponUsable({ coupon: found, now, currency: price.currency, alreadyRedeemedByCustomer: redeemed !== undefined });
    coupon = found;
  }
  const trialDays = props.trialDays ?? price.trialPeriodDays ?? 0;
  const interval = price.billingInterval;

  const { subscriptionId, pending } = await db.transaction(async (tx) => {
    const live = await tx.selectFrom('subscriptions').select('id').where('customer_id', '=', customerId).where('product_id', '=', price.productId).where('status', 'in', [...LIVE_STATUSES]).executeTakeFirst();
    if (live) throw alreadySubscribed(price.productId, live.id);
    const id = newId('subscription', now);
    const trialEnd = trialDays > 0 ? addDays(now, trialDays) : null;
    const anchor = trialEnd ?? now;
    const first = periodOf(anchor, interval, 0);
    const sub: SubscriptionRow = {
      id,
      customer_id: customerId,
      status: 'incomplete',
      product_id: price.productId,
      price_id: price.id,
      currency: price.currency,
      unit_amount: price.unitAmount,
      billing_interval: interval,
      tax_behavior: price.taxBehavior,
      country,
      coupon_id: coupon?.id ?? null,
      test_clock_id: clockId,
      payment_method_id: null,
      billing_anchor: anchor,
      trial_end: trialEnd,
      first_paid_period_start: null,
      // The trial is period -1: [now, trial end); paid periods count from the anchor.
      period_index: trialEnd === null ? 0 : -1,
      current_period_start: trialEnd === null ? first.start : now,
      current_period_end: trialEnd === null ? first.end : trialEnd,
      access_until: null,
      cancel_at_period_end: 0,
      canceled_at: null,
      ended_at: null,
      end_reason: null,
      pending_price_id: null,
      credit_balance: 0,
      latest_invoice_id: null,
      dunning_state: null,
      dunning_first_failed_at: null,
      dunning_retries: 0,
      dunning_deadline: null,
      create_request_key: props.requestKey,
      live_key: liveKeyOf({ id, customer_id: customerId, product_id: price.productId, status: 'incomplete' }),
      created_at: now,
      updated_at: now,
      version: 0,
    };
    try {
      await tx.insertInto('subscriptions').values(sub).execute();
    } catch (err) {
      // A signup racing this one got there first: `live_key` is unique (one live subscription per product).
      if (!isUniqueViolation(err)) throw err;
      const winner = await tx.selectFrom('subscriptions').select(['id', 'create_request_key']).where('live_key', '=', sub.live_key).executeTakeFirst();
      if (winner === undefined) throw err;
      if (winner.create_request_key === props.requestKey) throw new ObolError('IDEMPOTENCY_REQUEST_IN_PROGRESS', 'This signup is already being processed; repeat the request to see its outcome.');
      throw alreadySubscribed(price.productId, winner.id);
    }
    if (coupon !== null) {
      await reserveCoupon(db, tx, { coupon, customerId, sessionId: id, now });
      await markCouponRedeemed(tx, { couponId: coupon.id, sessionId: id });
    }
    await scheduleJob(tx, { kind: JOB_KINDS.periodEnd, key: periodEndKey(id, sub.current_period_end), subjectId: id, clockId, runAt: sub.current_period_end, now });
    await scheduleJob(tx, { kind: JOB_KINDS.incompleteExpiry, key: incompleteExpiryKey(id), subjectId: id, clockId, runAt: now + deps.incompleteExpiryMs, now });
    await emitSubscriptionEvent(tx, 'subscription.created', sub, now);
    if (trialEnd !== null) return { subscriptionId: id, pending: await beginSave(deps, tx, sub, props.paymentMethodToken, now) };
    const { invoice } = await issueInvoice(deps, tx, { sub, reason: 'subscription_create', periodStart: first.start, periodEnd: first.end, credit: 0, now });
    await saveSubscription(tx, sub, { latest_invoice_id: invoice.id }, now);
    // Nothing to charge (a 100 % coupon): the method is still saved, for the renewals.
    if (invoice.total === 0) return { subscriptionId: id, pending: await beginSave(deps, tx, sub, props.paymentMethodToken, now) };
    const attemptId = await beginPresentInvoicePayment(deps, tx, { sub, invoice, paymentMethodToken: props.paymentMethodToken, cardCountry: props.cardCountry, requestKey: props.requestKey, now });
    return { subscriptionId: id, pending: { kind: 'attempt', attemptId } as Pending };
  });
  await runPending(deps, subscriptionId, pending);
  return resultOf(deps, subscriptionId);
}

function alreadySubscribed(productId: string, subscriptionId: string): ObolError {
  return new ObolError('SUBSCRIPTION_ALREADY_EXISTS', `This customer already has a subscription to ${productId} (${subscriptionId}).`, { subscriptionId });
}

/** A saved method waiting to be sent, remembered on the subscription until it is answered. */
async function beginSave(deps: SubscriptionsDeps, tx: Tx, sub: SubscriptionRow, token: string, now: number): Promise<Pending> {
  const paymentMethodId = await beginSavePaymentMethod(deps.payments, tx, { customerId: sub.customer_id, customerCountry: sub.country, currency: sub.currency, paymentMethodToken: token, requestKey: derivedKey('signup', sub.create_request_key), now });
  await tx.updateTable('subscriptions').set({ payment_method_id: paymentMethodId }).where('id', '=', sub.id).execute();
  return { kind: 'save', paymentMethodId };
}

async function runPending(deps: SubscriptionsDeps, subscriptionId: string, pending: Pending): Promise<void> {
  switch (pending.kind) {
    case 'attempt':
      await executeAttempt(deps.payments, pending.attemptId);
      return;
    case 'save': {
      const method = await completeSavePaymentMethod(deps.payments, pending.paymentMethodId);
      await applySaved(deps, subscriptionId, method);
      return;
    }
    case 'none':
      return;
    default: {
      const never: never = pending;
      throw new Error(`unknown pending step ${JSON.stringify(never)}`);
    }
  }
}

/** The signup's saved method was answered: the trial starts (or the free first invoice is paid), or the signup expires. */
async function applySaved(deps: SubscriptionsDeps, subscriptionId: string, method: PaymentMethodView): Promise<void> {
  const { db } = deps;
  await db.transaction(async (tx) => {
    const sub = await lockSubscription(db, tx, subscriptionId);
    if (!sub || statusOf(sub) !== 'incomplete') return;
    const now = await deps.clocks.now(sub.test_clock_id, tx);
    if (method.status !== 'active') {
      await expireIncomplete(deps, tx, { sub, now, reason: `payment method not saved: ${method.declineReason ?? method.declineCode ?? method.status}` });
      return;
    }
    if (sub.trial_end !== null) {
      const trialing = await saveSubscription(tx, sub, { status: transitionSubscription('incomplete', 'trial_started'), payment_method_id: method.id, access_until: sub.trial_end }, now);
      await emitSubscriptionEvent(tx, 'subscription.activated', trialing, now, { reason: 'trial_started' });
      return;
    }
    if (sub.latest_invoice_id === null) throw new Error(`subscription ${sub.id} has neither a trial nor an invoice`);
    await settlePaidInvoice(deps, tx, { invoiceId: sub.latest_invoice_id, paymentId: null, savedPaymentMethodId: method.id, now });
  });
}

/** A repeated signup request: finish whatever the first one left unfinished, then report. */
async function continueStart(deps: SubscriptionsDeps, sub: SubscriptionRow): Promise<SubscriptionResult> {
  if (statusOf(sub) === 'incomplete') {
    if (sub.trial_end !== null || (sub.latest_invoice_id !== null && sub.payment_method_id !== null)) {
      if (sub.payment_method_id !== null) {
        const method = await loadPaymentMethod(deps.db.kysely, sub.payment_method_id);
        if (method?.status === 'pending') await runPending(deps, sub.id, { kind: 'save', paymentMethodId: method.id });
      }
    } else if (sub.latest_invoice_id !== null) {
      const pending = await deps.db.kysely
        .selectFrom('payment_attempts')
        .innerJoin('payment_intents', 'payment_intents.id', 'payment_attempts.payment_id')
        .select('payment_attempts.id')
        .where('payment_intents.invoice_id', '=', sub.latest_invoice_id)
        .where('payment_attempts.status', '=', 'pending')
        .executeTakeFirst();
      if (pending) await runPending(deps, sub.id, { kind: 'attempt', attemptId: pending.id });
    }
  }
  return resultOf(deps, sub.id);
}

export async function resultOf(deps: SubscriptionsDeps, subscriptionId: string): Promise<SubscriptionResult> {
  const { kysely } = deps.db;
  const subscription = await loadSubscriptionView(kysely, subscriptionId);
  if (!subscription) throw notFound('subscription', 'subscriptionId');
  const invoice = subscription.latestInvoiceId === null ? null : ((await loadInvoiceView(kysely, subscription.latestInvoiceId)) ?? null);
  const payment = invoice?.paymentId ? ((await loadPaymentView(kysely, invoice.paymentId)) ?? null) : null;
  const paymentMethod = subscription.paymentMethodId === null ? null : ((await loadPaymentMethod(kysely, subscription.paymentMethodId)) ?? null);
  return { subscription, invoice, payment, paymentMethod };
}
