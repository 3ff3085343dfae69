/** What a price is, as every context that reads prices sees it. */
export const TAX_BEHAVIORS = ['inclusive', 'exclusive'] as const;
/** inclusive: the price contains its tax (EU VAT style); exclusive: tax is added (US style). */
export type TaxBehavior = (typeof TAX_BEHAVIORS)[number];
export function isTaxBehavior(v: unknown): v is TaxBehavior {
  return typeof v === 'string' && (TAX_BEHAVIORS as readonly string[]).includes(v);
}

export const BILLING_INTERVALS = ['month', 'year'] as const;
export type BillingInterval = (typeof BILLING_INTERVALS)[number];
export function isBillingInterval(v: unknown): v is BillingInterval {
  return typeof v === 'string' && (BILLING_INTERVALS as readonly string[]).includes(v);
}
