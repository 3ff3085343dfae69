import { authorize, isCatalogId, isCustomerId, mayActFor, newId, ObolError, type Caller } from '../kernel/index.js';
import { assertCouponUsable, couponTerms, findCouponByCode, findPrices, findTaxRate, type Coupon } from '../catalog/index.js';
import type { CaptureMethod } from '../payments/index.js';
import type { Tx } from '../platform/db/index.js';
import { enqueueEvent } from '../platform/events/index.js';
import type { CheckoutDeps } from './deps.js';
import { parseBillingDetails, sealBillingDetails } from './billing-details.js';
import { computeTotals, MAX_QUANTITY, type PricedItem } from './domain/totals.js';

export { MAX_QUANTITY };
import { loadSessionView, type CheckoutSessionView } from './records.js';
import { traced } from '../platform/observability/tracing.js';

export const MAX_ITEMS = 50;
/** No single checkout above this many minor units (10 billion): a typo guard, far above any real cart. */
export const MAX_TOTAL = 10_000_000_000;

export interface CreateSessionProps {
  readonly caller: Caller;
  /** The learner paying: `cus_…`. A learner may leave it out (it is then themselves). */
  readonly customerId: string | null;
  /** ISO 3166-1 alpha-2 country of the learner (decides tax and localized prices). */
  readonly country: string;
  readonly items: readonly { readonly priceId: string; readonly quantity: number }[];
  readonly couponCode: string | null;
  readonly captureMethod: CaptureMethod;
  /** Name, email and address of the payer, as sent: validated here and stored encrypted. */
  readonly billingDetails: unknown;
}

export function assertCustomerId(value: string): void {
  if (!isCatalogId('customer', value) && !isCustomerId(value)) {
    throw new ObolError('INVALID_ID', 'customerId must look like cus_… (letters, digits, _ or -, at most 64 characters).', { field: 'customerId' });
  }
}

export function normaliseCountry(value: string): string {
  const upper = value.trim().toUpperCase();
  if (!/^[A-Z]{2}$/.test(upper)) throw new ObolError('VALIDATION_FAILED', 'country must be an ISO 3166-1 alpha-2 code such as "DE" or "IN".', { field: 'country' });
  return upper;
}

/**
 * Prices a cart for a learner and opens a checkout session (one transaction: session, lines,
 * event, and the idempotency record through `within`). Every rule is checked before anything is
 * written, so a refused request changes nothing.
 */
async function createCheckoutSessionUntraced(
  deps: CheckoutDeps,
  props: CreateSessionProps,
  within?: (tx: Tx, view: CheckoutSessionView) => Promise<void>,
): Promise<CheckoutSessionView> {
  const { db, clock } = deps;
  const { actor } = props.caller;
  authorize(actor, 'checkout.create');
  const customerId = props.customerId ?? actor.customerId;
  if (customerId === null) throw new ObolError('VALIDATION_FAILED', 'customerId is required.', { field: 'customerId' });
  assertCustomerId(customerId);
  if (!mayActFor(actor, customerId)) throw new ObolError('FORBIDDEN', 'A learner can only check out for themselves.', { field: 'customerId' });
  const country = normaliseCountry(props.country);
  if (props.items.length === 0) throw new ObolError('VALIDATION_FAILED', 'items must contain at least one item.', { field: 'items' });
  if (props.items.length > MAX_ITEMS) throw new ObolError('INPUT_TOO_LARGE', `A checkout holds at most ${MAX_ITEMS} items.`, { field: 'items' });
  const seen = new Set<string>();
  for (const [i, item] of props.items.entries()) {
    if (!isCatalogId('price', item.priceId)) throw new ObolError('INVALID_ID', `items[${i}].priceId is not a price id (price_…).`, { field: `items[${i}].priceId` });
    if (!Number.isSafeInteger(item.quantity) || item.quantity < 1 || item.quantity > MAX_QUANTITY) {
      throw new ObolError('INVALID_QUANTITY', `items[${i}].quantity must be a whole number from 1 to ${MAX_QUANTITY}.`, { field: `items[${i}].quantity` });
    }
    if (seen.has(item.priceId)) throw new ObolError('VALIDATION_FAILED', `items[${i}] repeats price ${item.priceId}; use quantity instead.`, { field: `items[${i}].priceId` });
    seen.add(item.priceId);
  }

  await deps.limits.beforeCheckoutMutation({ caller: props.caller, customerId });
  const prices = await findPrices(db.kysely, props.items.map((i) => i.priceId));
  const priced: PricedItem[] = props.items.map((item, i) => {
    const price = prices.get(item.priceId);
    if (!price) throw new ObolError('PRICE_NOT_FOUND', `No price ${item.priceId}.`, { field: `items[${i}].priceId` });
    if (!price.active) throw new ObolError('PRICE_INACTIVE', `Price ${item.priceId} is no longer for sale.`, { field: `items[${i}].priceId` });
    if (price.country !== null && price.country !== country) {
      throw new ObolError('PRICE_NOT_AVAILABLE_IN_COUNTRY', `Price ${item.priceId} is only for learners in ${price.country}.`, { field: `items[${i}].priceId` });
    }
    return {
      priceId: price.id,
      productId: price.productId,
      productName: price.productName,
      billingInterval: price.billingInterval,
      quantity: item.quantity,
      unitAmount: price.unitAmount,
      taxBehavior: price.taxBehavior,
    };
  });
  const currency = prices.get(props.items[0]!.priceId)!.currency;
  for (const [i, item] of props.items.entries()) {
    const c = prices.get(item.priceId)!.currency;
    if (c !== currency) throw new ObolError('CURRENCY_MISMATCH', `All items must share one currency: items[${i}] is ${c}, items[0] is ${currency}.`, { field: `items[${i}].priceId` });
  }
  const taxRate = await findTaxRate(db.kysely, country);
  if (!taxRate) throw new ObolError('UNSUPPORTED_COUNTRY', `Obol has no tax configuration for ${country}, so it cannot sell there yet.`, { field: 'country' });

  const now = clock.now();
  let coupon: Coupon | null = null;
  if (props.couponCode !== null) {
    const found = await findCouponByCode(db.kysely, props.couponCode);
    if (!found) throw new ObolError('COUPON_NOT_FOUND', 'No such coupon.', { field: 'couponCode' });
    const redeemed = await db.kysely.selectFrom('coupon_redemptions').select('coupon_id').where('coupon_id', '=', found.id).where('customer_id', '=', customerId).executeTakeFirst();
    assertCouponUsable({ coupon: found, now, currency, alreadyRedeemedByCustomer: redeemed !== undefined });
    coupon = found;
  }

  let totals;
  try {
    totals = computeTotals({ currency, items: priced, taxRateBps: taxRate.rateBps, coupon: coupon ? couponTerms(coupon) : null });
  } catch (err) {
    // Only an absurd catalog price times a quantity can leave the safe-integer range.
    if (err instanceof RangeError) throw new ObolError('AMOUNT_TOO_LARGE', 'This checkout is larger than Obol can charge in one payment.');
    throw err;
  }
  if (totals.total > MAX_TOTAL) throw new ObolError('AMOUNT_TOO_LARGE', `The total ${totals.total} exceeds the maximum of ${MAX_TOTAL} minor units for one checkout.`);

  const billing = props.billingDetails === null || props.billingDetails === undefined ? null : parseBillingDetails(props.billingDetails);
  const id = newId('checkoutSession', now);
  const sealedBilling = billing === null ? null : sealBillingDetails({ keyring: deps.keyring, sessionId: id, details: billing });
  await db.transaction(async (tx) => {
    await tx
      .insertInto('checkout_sessions')
      .values({
        id,
        customer_id: customerId,
        country,
        currency,
        status: 'open',
        capture_method: props.captureMethod,
        coupon_id: coupon?.id ?? null,
        subtotal: totals.subtotal,
        discount_total: totals.discountTotal,
        tax_total: totals.taxTotal,
        total: totals.total,
        payment_id: null,
        order_id: null,
        confirm_request_key: null,
        billing_details: sealedBilling,
        expires_at: now + deps.sessionTtlMs,
        completed_at: null,
        created_at: now,
        updated_at: now,
        version: 0,
      })
      .execute();
    await tx
      .insertInto('checkout_session_lines')
      .values(
        totals.lines.map((l, position) => ({
          session_id: id,
          position,
          price_id: l.priceId,
          product_id: l.productId,
          product_name: l.productName,
          billing_interval: l.billingInterval,
          quantity: l.quantity,
          unit_amount: l.unitAmount,
          tax_behavior: l.taxBehavior,
          tax_rate_bps: taxRate.rateBps,
          amount_gross: l.amountGross,
          discount: l.discount,
          tax: l.tax,
          total: l.total,
        })),
      )
      .execute();
    await enqueueEvent(tx, {
      type: 'checkout.session_created',
      aggregateType: 'checkout_session',
      aggregateId: id,
      now,
      data: { checkoutSessionId: id, customerId, country, currency, total: totals.total },
    });
    if (within) {
      const view = await loadSessionView(tx, id);
      if (!view) throw new Error('session vanished inside its own transaction');
      await within(tx, view);
    }
  });
  deps.metrics?.sessionCreated({ currency });
  const view = await loadSessionView(db.kysely, id);
  if (!view) throw new Error(`session ${id} vanished`);
  return view;
}

/** Each call is one span of the trace it belongs to (platform/observability/tracing.ts). */
export const createCheckoutSession = traced('checkout.create_session', createCheckoutSessionUntraced);
