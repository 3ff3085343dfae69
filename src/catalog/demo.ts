/**
 * SAMPLE DATA: the demo catalog of a fictional online-learning company, used to seed a laptop
 * install and by tests. Nothing here is a real price list, and the tax rates are illustrative
 * only, NOT tax advice: real rates depend on the product, the buyer and the date.
 *
 * Amounts are integer minor units (cents, paise, yen). Global prices (country null) exist for
 * every product in USD (tax exclusive, as US shoppers expect), EUR, INR and JPY (tax inclusive,
 * as those markets expect); localized prices (country set) are cheaper prices for one country.
 */
import { parseCurrency } from '../money/index.js';
import type { CurrencyCode } from '../money/index.js';
import type { BillingInterval, TaxBehavior } from './domain/price.js';
import type { Coupon } from './domain/coupon.js';

export interface DemoProduct {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly kind: 'one_time' | 'recurring';
  /** A label for what the product is about (free text, kept for compatibility). */
  readonly resource: string;
  /**
   * What buying it grants (entitlements): `course:<slug>`, `specialization:<slug>` or
   * `catalog:all`; null when it grants no access.
   */
  readonly grants: string | null;
}

export interface DemoPrice {
  readonly id: string;
  readonly productId: string;
  readonly currency: CurrencyCode;
  readonly unitAmount: number;
  readonly billingInterval: BillingInterval | null;
  readonly taxBehavior: TaxBehavior;
  /** ISO 3166-1 alpha-2; null means offered everywhere the currency is. */
  readonly country: string | null;
  readonly nickname: string;
  /** The plan's default free trial in days (recurring prices); null: none. */
  readonly trialPeriodDays: number | null;
}

/** Obol Plus monthly comes with a 7-day free trial; nothing else does. */
const TRIAL_DAYS: Readonly<Record<string, number>> = { prod_obol_plus: 7 };

export type DemoCoupon = Omit<Coupon, 'timesRedeemed' | 'active'>;

export interface DemoTaxRate {
  readonly country: string;
  readonly rateBps: number;
  readonly name: string;
}

function currency(code: string): CurrencyCode {
  const parsed = parseCurrency(code);
  if (parsed === undefined) throw new Error(`demo catalog uses unknown currency ${code}`);
  return parsed;
}

/** Demo rows are shared by every caller in the process, so none of them may be mutated. */
function frozen<T extends object>(rows: readonly T[]): readonly T[] {
  return Object.freeze(rows.map((row) => Object.freeze(row)));
}

const USD = currency('USD');
const EUR = currency('EUR');
const INR = currency('INR');
const JPY = currency('JPY');

export const DEMO_PRODUCTS: readonly DemoProduct[] = frozen<DemoProduct>([
  {
    id: 'prod_ml_certificate',
    name: 'Machine Learning — Course Certificate',
    description: 'A shareable certificate for completing the Machine Learning course, with graded assignments.',
    kind: 'one_time',
    resource: 'course:machine-learning',
    grants: 'course:machine-learning',
  },
  {
    id: 'prod_data_science_specialization',
    name: 'Data Science Specialization',
    description: 'Monthly access to every course, project and certificate in the Data Science specialization.',
    kind: 'recurring',
    resource: 'specialization:data-science',
    grants: 'specialization:data-science',
  },
  {
    id: 'prod_obol_plus',
    name: 'Obol Plus',
    description: 'All-access subscription: unlimited courses, specializations and certificates.',
    kind: 'recurring',
    resource: 'catalog:all',
    grants: 'catalog:all',
  },
]);

type PriceRow = readonly [
  id: string,
  productId: string,
  currency: CurrencyCode,
  unitAmount: number,
  billingInterval: BillingInterval | null,
  taxBehavior: TaxBehavior,
  country: string | null,
  nickname: string,
];

// A table reads better than forty object literals; the mapping below names every column.
const PRICE_ROWS: readonly PriceRow[] = [
  // ML certificate, one-time
  ['price_ml_certificate_usd', 'prod_ml_certificate', USD, 4900, null, 'exclusive', null, 'Certificate (USD)'],
  ['price_ml_certificate_eur', 'prod_ml_certificate', EUR, 4900, null, 'inclusive', null, 'Certificate (EUR)'],
  ['price_ml_certificate_inr', 'prod_ml_certificate', INR, 399900, null, 'inclusive', null, 'Certificate (INR)'],
  ['price_ml_certificate_jpy', 'prod_ml_certificate', JPY, 6800, null, 'inclusive', null, 'Certificate (JPY)'],
  ['price_ml_certificate_inr_in', 'prod_ml_certificate', INR, 199900, null, 'inclusive', 'IN', 'Certificate (India)'],
  ['price_ml_certificate_usd_br', 'prod_ml_certificate', USD, 2900, null, 'exclusive', 'BR', 'Certificate (Brazil)'],
  // Data Science specialization, monthly
  ['price_data_science_monthly_usd', 'prod_data_science_specialization', USD, 3900, 'month', 'exclusive', null, 'Specialization monthly (USD)'],
  ['price_data_science_monthly_eur', 'prod_data_science_specialization', EUR, 3900, 'month', 'inclusive', null, 'Specialization monthly (EUR)'],
  ['price_data_science_monthly_inr', 'prod_data_science_specialization', INR, 329900, 'month', 'inclusive', null, 'Specialization monthly (INR)'],
  ['price_data_science_monthly_jpy', 'prod_data_science_specialization', JPY, 5800, 'month', 'inclusive', null, 'Specialization monthly (JPY)'],
  ['price_data_science_monthly_inr_in', 'prod_data_science_specialization', INR, 149900, 'month', 'inclusive', 'IN', 'Specialization monthly (India)'],
  ['price_data_science_monthly_usd_br', 'prod_data_science_specialization', USD, 1900, 'month', 'exclusive', 'BR', 'Specialization monthly (Brazil)'],
  // Obol Plus, monthly and annual
  ['price_plus_monthly_usd', 'prod_obol_plus', USD, 5900, 'month', 'exclusive', null, 'Plus monthly (USD)'],
  ['price_plus_monthly_eur', 'prod_obol_plus', EUR, 5900, 'month', 'inclusive', null, 'Plus monthly (EUR)'],
  ['price_plus_monthly_inr', 'prod_obol_plus', INR, 499900, 'month', 'inclusive', null, 'Plus monthly (INR)'],
  ['price_plus_monthly_jpy', 'prod_obol_plus', JPY, 8800, 'month', 'inclusive', null, 'Plus monthly (JPY)'],
  ['price_plus_annual_usd', 'prod_obol_plus', USD, 39900, 'year', 'exclusive', null, 'Plus annual (USD)'],
  ['price_plus_annual_eur', 'prod_obol_plus', EUR, 39900, 'year', 'inclusive', null, 'Plus annual (EUR)'],
  ['price_plus_annual_inr', 'prod_obol_plus', INR, 3499900, 'year', 'inclusive', null, 'Plus annual (INR)'],
  ['price_plus_annual_jpy', 'prod_obol_plus', JPY, 59800, 'year', 'inclusive', null, 'Plus annual (JPY)'],
  ['price_plus_monthly_inr_in', 'prod_obol_plus', INR, 199900, 'month', 'inclusive', 'IN', 'Plus monthly (India)'],
  ['price_plus_annual_inr_in', 'prod_obol_plus', INR, 1499900, 'year', 'inclusive', 'IN', 'Plus annual (India)'],
  ['price_plus_monthly_usd_br', 'prod_obol_plus', USD, 2900, 'month', 'exclusive', 'BR', 'Plus monthly (Brazil)'],
  ['price_plus_annual_usd_br', 'prod_obol_plus', USD, 19900, 'year', 'exclusive', 'BR', 'Plus annual (Brazil)'],
];

export const DEMO_PRICES: readonly DemoPrice[] = frozen<DemoPrice>(
  PRICE_ROWS.map(([id, productId, cur, unitAmount, billingInterval, taxBehavior, country, nickname]) => ({
    id,
    productId,
    currency: cur,
    unitAmount,
    billingInterval,
    taxBehavior,
    country,
    nickname,
    trialPeriodDays: billingInterval === 'month' ? (TRIAL_DAYS[productId] ?? null) : null,
  })),
);

export const DEMO_COUPONS: readonly DemoCoupon[] = frozen<DemoCoupon>([
  {
    id: 'coupon_welcome10',
    code: 'WELCOME10',
    kind: 'percent',
    percentOffBps: 1000,
    amountOff: null,
    currency: null,
    expiresAt: null,
    maxRedemptions: null,
    duration: 'once',
    durationInMonths: null,
  },
  {
    id: 'coupon_freecert',
    code: 'FREECERT',
    kind: 'percent',
    percentOffBps: 10_000,
    amountOff: null,
    currency: null,
    expiresAt: null,
    maxRedemptions: 1000,
    duration: 'once',
    durationInMonths: null,
  },
  {
    id: 'coupon_save5usd',
    code: 'SAVE5USD',
    kind: 'amount',
    percentOffBps: null,
    amountOff: 500,
    currency: USD,
    expiresAt: null,
    maxRedemptions: null,
    duration: 'once',
    durationInMonths: null,
  },
  {
    id: 'coupon_expired20',
    code: 'EXPIRED20',
    kind: 'percent',
    percentOffBps: 2000,
    amountOff: null,
    currency: null,
    // 2020-12-31T23:59:59Z: long past, so the coupon demonstrates COUPON_EXPIRED.
    expiresAt: Date.UTC(2020, 11, 31, 23, 59, 59),
    maxRedemptions: null,
    duration: 'once',
    durationInMonths: null,
  },
  {
    // For subscriptions: half price for the first three months of billing.
    id: 'coupon_intro3',
    code: 'INTRO3',
    kind: 'percent',
    percentOffBps: 5000,
    amountOff: null,
    currency: null,
    expiresAt: null,
    maxRedemptions: null,
    duration: 'repeating',
    durationInMonths: 3,
  },
]);

/** SAMPLE rates, not tax advice. */
export const DEMO_TAX_RATES: readonly DemoTaxRate[] = frozen<DemoTaxRate>([
  { country: 'DE', rateBps: 1900, name: 'VAT (Germany, sample)' },
  { country: 'FR', rateBps: 2000, name: 'VAT (France, sample)' },
  { country: 'NL', rateBps: 2100, name: 'VAT (Netherlands, sample)' },
  { country: 'IE', rateBps: 2300, name: 'VAT (Ireland, sample)' },
  { country: 'ES', rateBps: 2100, name: 'VAT (Spain, sample)' },
  { country: 'IT', rateBps: 2200, name: 'VAT (Italy, sample)' },
  { country: 'GB', rateBps: 2000, name: 'VAT (United Kingdom, sample)' },
  { country: 'IN', rateBps: 1800, name: 'GST (India, sample)' },
  { country: 'US', rateBps: 0, name: 'No sales tax collected (United States, sample)' },
  { country: 'JP', rateBps: 1000, name: 'Consumption tax (Japan, sample)' },
  { country: 'BR', rateBps: 0, name: 'No tax collected (Brazil, sample)' },
]);
