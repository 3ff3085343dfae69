/** Catalog storage: products, prices, coupons and tax rates. Reads are plain; the seed is idempotent. */
import { ObolError, isCatalogId } from '../kernel/index.js';
import { parseCurrency, type CurrencyCode } from '../money/index.js';
import { forUpdate, isUniqueViolation, type CouponsTable, type Db, type Executor, type ProductsTable } from '../platform/db/index.js';
import type { BillingInterval, TaxBehavior } from './domain/price.js';
import { isBillingInterval, isTaxBehavior } from './domain/price.js';
import type { Coupon, CouponKind } from './domain/coupon.js';
import { COUPON_KINDS, isCouponDuration } from './domain/coupon.js';
import { DEMO_COUPONS, DEMO_PRICES, DEMO_PRODUCTS, DEMO_TAX_RATES } from './demo.js';

export const PRODUCT_KINDS = ['one_time', 'recurring'] as const;
export type ProductKind = (typeof PRODUCT_KINDS)[number];

export interface Product {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly kind: ProductKind;
  readonly resource: string;
  /** What buying it grants (`course:<slug>`, `specialization:<slug>`, `catalog:all`); null: nothing. */
  readonly grants: string | null;
  readonly active: boolean;
}

export interface Price {
  readonly id: string;
  readonly productId: string;
  readonly productName: string;
  readonly currency: CurrencyCode;
  readonly unitAmount: number;
  readonly billingInterval: BillingInterval | null;
  readonly taxBehavior: TaxBehavior;
  readonly country: string | null;
  readonly nickname: string;
  readonly active: boolean;
  /** A recurring price's default free trial in days (subscriptions); null: no trial. */
  readonly trialPeriodDays: number | null;
}

export interface TaxRate {
  readonly country: string;
  readonly rateBps: number;
  readonly name: string;
  readonly sample: boolean;
}

function toCurrency(value: string): CurrencyCode {
  const c = parseCurrency(value);
  if (!c) throw new Error(`corrupt catalog: unknown currency ${value}`);
  return c;
}

const priceColumns = [
  'prices.id',
  'prices.product_id',
  'products.name as product_name',
  'prices.currency',
  'prices.unit_amount',
  'prices.billing_interval',
  'prices.tax_behavior',
  'prices.country',
  'prices.nickname',
  'prices.active',
  'prices.trial_period_days',
] as const;

type PriceRow = {
  id: string;
  product_id: string;
  product_name: string;
  currency: string;
  unit_amount: number;
  billing_interval: string | null;
  tax_behavior: string;
  country: string | null;
  nickname: string;
  active: number;
  trial_period_days: number | null;
};

function toPrice(row: PriceRow): Price {
  const interval = row.billing_interval;
  if (interval !== null && !isBillingInterval(interval)) throw new Error(`corrupt price ${row.id}: interval ${interval}`);
  if (!isTaxBehavior(row.tax_behavior)) throw new Error(`corrupt price ${row.id}: tax behavior ${row.tax_behavior}`);
  return {
    id: row.id,
    productId: row.product_id,
    productName: row.product_name,
    currency: toCurrency(row.currency),
    unitAmount: Number(row.unit_amount),
    billingInterval: interval,
    taxBehavior: row.tax_behavior,
    country: row.country,
    nickname: row.nickname,
    active: row.active === 1,
    trialPeriodDays: row.trial_period_days === null ? null : Number(row.trial_period_days),
  };
}

export async function findPrices(db: Executor, ids: readonly string[]): Promise<Map<string, Price>> {
  if (ids.length === 0) return new Map();
  const rows = await db.selectFrom('prices').innerJoin('products', 'products.id', 'prices.product_id').select(priceColumns).where('prices.id', 'in', [...new Set(ids)]).execute();
  return new Map(rows.map((r) => [r.id, toPrice(r)]));
}

export interface ListPricesFilter {
  /** Only prices a learner in this country can buy (global ones plus ones localized to it). */
  readonly country?: string | undefined;
  readonly currency?: string | undefined;
  readonly productId?: string | undefined;
}

export async function listPrices(db: Executor, filter: ListPricesFilter = {}): Promise<Price[]> {
  let q = db.selectFrom('prices').innerJoin('products', 'products.id', 'prices.product_id').select(priceColumns).where('prices.active', '=', 1).where('products.active', '=', 1);
  if (filter.country !== undefined) {
    const country = filter.country;
    q = q.where((eb) => eb.or([eb('prices.country', 'is', null), eb('prices.country', '=', country)]));
  }
  if (filter.currency !== undefined) q = q.where('prices.currency', '=', filter.currency);
  if (filter.productId !== undefined) q = q.where('prices.product_id', '=', filter.productId);
  const rows = await q.orderBy('prices.product_id').orderBy('prices.id').execute();
  return rows.map(toPrice);
}

function toProduct(r: Omit<ProductsTable, 'created_at'>): Product {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    kind: (PRODUCT_KINDS as readonly string[]).includes(r.kind) ? (r.kind as ProductKind) : 'one_time',
    resource: r.resource,
    grants: r.grants,
    active: r.active === 1,
  };
}

export async function listProducts(db: Executor): Promise<Product[]> {
  const rows = await db.selectFrom('products').selectAll().where('active', '=', 1).orderBy('id').execute();
  return rows.map(toProduct);
}

/** Products by id, active or not (a past purchase still names what it bought). */
export async function findProducts(db: Executor, ids: readonly string[]): Promise<Map<string, Product>> {
  if (ids.length === 0) return new Map();
  const rows = await db.selectFrom('products').selectAll().where('id', 'in', [...new Set(ids)]).execute();
  return new Map(rows.map((r) => [r.id, toProduct(r)]));
}

export async function findTaxRate(db: Executor, country: string): Promise<TaxRate | undefined> {
  const row = await db.selectFrom('tax_rates').selectAll().where('country', '=', country).executeTakeFirst();
  return row ? { country: row.country, rateBps: Number(row.rate_bps), name: row.name, sample: row.sample === 1 } : undefined;
}

export async function listTaxRates(db: Executor): Promise<TaxRate[]> {
  const rows = await db.selectFrom('tax_rates').selectAll().orderBy('country').execute();
  return rows.map((row) => ({ country: row.country, rateBps: Number(row.rate_bps), name: row.name, sample: row.sample === 1 }));
}

type CouponRow = Omit<CouponsTable, 'created_at'>;

function corrupt(what: string): never {
  throw new Error(`corrupt catalog: ${what}`);
}

function toCoupon(r: CouponRow): Coupon {
  if (!(COUPON_KINDS as readonly string[]).includes(r.kind)) throw new Error(`corrupt coupon ${r.id}`);
  return {
    id: r.id,
    code: r.code,
    kind: r.kind as CouponKind,
    percentOffBps: r.percent_off_bps === null ? null : Number(r.percent_off_bps),
    amountOff: r.amount_off === null ? null : Number(r.amount_off),
    currency: r.currency === null ? null : toCurrency(r.currency),
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
    maxRedemptions: r.max_redemptions === null ? null : Number(r.max_redemptions),
    timesRedeemed: Number(r.times_redeemed),
    active: r.active === 1,
    duration: isCouponDuration(r.duration) ? r.duration : corrupt(`coupon ${r.id} duration ${r.duration}`),
    durationInMonths: r.duration_in_months === null ? null : Number(r.duration_in_months),
  };
}

export async function findCouponByCode(db: Executor, code: string): Promise<Coupon | undefined> {
  const row = await db.selectFrom('coupons').selectAll().where('code', '=', code).executeTakeFirst();
  return row ? toCoupon(row) : undefined;
}

export async function findCouponById(db: Executor, id: string): Promise<Coupon | undefined> {
  const row = await db.selectFrom('coupons').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toCoupon(row) : undefined;
}

/**
 * Reserves the coupon for this customer: one redemption per customer (primary key) and never
 * beyond max_redemptions (conditional increment). Runs in the caller's transaction.
 */
export async function reserveCoupon(db: Db, tx: Executor, args: { readonly coupon: Coupon; readonly customerId: string; readonly sessionId: string; readonly now: number }): Promise<void> {
  const { coupon } = args;
  // One customer confirming two sessions with the same coupon at once: the coupon row lock
  // makes the second see the first's redemption instead of colliding with it.
  await forUpdate(db, tx.selectFrom('coupons').select('id').where('id', '=', coupon.id)).executeTakeFirst();
  const existing = await tx
    .selectFrom('coupon_redemptions')
    .select(['checkout_session_id'])
    .where('coupon_id', '=', coupon.id)
    .where('customer_id', '=', args.customerId)
    .executeTakeFirst();
  if (existing) {
    if (existing.checkout_session_id === args.sessionId) return;
    throw new ObolError('COUPON_ALREADY_REDEEMED', 'This customer has already used this coupon.', { coupon: coupon.code });
  }
  let q = tx.updateTable('coupons').set((eb) => ({ times_redeemed: eb('times_redeemed', '+', 1) })).where('id', '=', coupon.id);
  if (coupon.maxRedemptions !== null) q = q.where('times_redeemed', '<', coupon.maxRedemptions);
  const updated = await q.executeTakeFirst();
  if (Number(updated.numUpdatedRows) !== 1) throw new ObolError('COUPON_EXHAUSTED', 'This coupon has reached its maximum number of redemptions.', { coupon: coupon.code });
  try {
    await tx
      .insertInto('coupon_redemptions')
      .values({ coupon_id: coupon.id, customer_id: args.customerId, checkout_session_id: args.sessionId, status: 'reserved', created_at: args.now })
      .execute();
  } catch (err) {
    if (isUniqueViolation(err)) throw new ObolError('COUPON_ALREADY_REDEEMED', 'This customer has already used this coupon.', { coupon: coupon.code });
    throw err;
  }
}

export async function markCouponRedeemed(tx: Executor, args: { readonly couponId: string; readonly sessionId: string }): Promise<void> {
  await tx.updateTable('coupon_redemptions').set({ status: 'redeemed' }).where('coupon_id', '=', args.couponId).where('checkout_session_id', '=', args.sessionId).execute();
}

/** Gives a reservation back when its session expires or its payment is canceled. */
export async function releaseCoupon(tx: Executor, args: { readonly couponId: string; readonly sessionId: string }): Promise<void> {
  const deleted = await tx
    .deleteFrom('coupon_redemptions')
    .where('coupon_id', '=', args.couponId)
    .where('checkout_session_id', '=', args.sessionId)
    .where('status', '=', 'reserved')
    .executeTakeFirst();
  if (Number(deleted.numDeletedRows) === 1) {
    await tx.updateTable('coupons').set((eb) => ({ times_redeemed: eb('times_redeemed', '-', 1) })).where('id', '=', args.couponId).execute();
  }
}

export interface SeedResult {
  readonly products: number;
  readonly prices: number;
  readonly coupons: number;
  readonly taxRates: number;
}

/** Inserts the demo catalog where absent; running it twice changes nothing. */
export async function seedDemoCatalog(db: Db, now: number): Promise<SeedResult> {
  return db.transaction(async (tx) => {
    const has = async (table: 'products' | 'prices' | 'coupons', id: string) =>
      (await tx.selectFrom(table).select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
    let products = 0;
    let prices = 0;
    let coupons = 0;
    let taxRates = 0;
    for (const p of DEMO_PRODUCTS) {
      if (await has('products', p.id)) continue;
      await tx.insertInto('products').values({ id: p.id, name: p.name, description: p.description, kind: p.kind, resource: p.resource, grants: p.grants, active: 1, created_at: now }).execute();
      products++;
    }
    for (const p of DEMO_PRICES) {
      if (await has('prices', p.id)) continue;
      await tx
        .insertInto('prices')
        .values({
          id: p.id,
          product_id: p.productId,
          currency: p.currency,
          unit_amount: p.unitAmount,
          billing_interval: p.billingInterval,
          tax_behavior: p.taxBehavior,
          country: p.country,
          nickname: p.nickname,
          active: 1,
          created_at: now,
          trial_period_days: p.trialPeriodDays,
        })
        .execute();
      prices++;
    }
    for (const c of DEMO_COUPONS) {
      if (await has('coupons', c.id)) continue;
      await tx
        .insertInto('coupons')
        .values({
          id: c.id,
          code: c.code,
          kind: c.kind,
          percent_off_bps: c.percentOffBps,
          amount_off: c.amountOff,
          currency: c.currency,
          expires_at: c.expiresAt,
          max_redemptions: c.maxRedemptions,
          times_redeemed: 0,
          active: 1,
          created_at: now,
          duration: c.duration,
          duration_in_months: c.durationInMonths,
        })
        .execute();
      coupons++;
    }
    for (const t of DEMO_TAX_RATES) {
      const exists = await tx.selectFrom('tax_rates').select('country').where('country', '=', t.country).executeTakeFirst();
      if (exists) continue;
      await tx.insertInto('tax_rates').values({ country: t.country, rate_bps: t.rateBps, name: t.name, sample: 1, updated_at: now }).execute();
      taxRates++;
    }
    return { products, prices, coupons, taxRates };
  });
}

export function assertPriceId(id: string): void {
  if (!isCatalogId('price', id)) throw new ObolError('INVALID_ID', `"${id.slice(0, 80)}" is not a price id (price_…).`, { field: 'priceId' });
}
