import cc from 'currency-codes';

/**
 * Currencies and their minor-unit exponents come from the `currency-codes` package, which tracks
 * the ISO 4217 maintenance agency's list (publish date exposed as `ISO_4217_PUBLISHED`), so we
 * never hand-maintain "JPY has 0 digits, KWD has 3".
 */
export type CurrencyCode = string & { readonly __brand: 'CurrencyCode' };

/** Fund codes, precious metals and testing codes are not money a learner can pay with. */
const NON_TENDER = new Set(['XAU', 'XAG', 'XPT', 'XPD', 'XTS', 'XXX', 'XDR', 'XSU', 'XUA', 'XBA', 'XBB', 'XBC', 'XBD', 'BOV', 'CHE', 'CHW', 'CLF', 'COU', 'MXV', 'USN', 'UYI', 'UYW']);

const EXPONENTS: ReadonlyMap<string, number> = new Map(
  cc
    .codes()
    .filter((code) => !NON_TENDER.has(code))
    .map((code) => [code, cc.code(code)?.digits ?? 0] as const),
);

export const ISO_4217_PUBLISHED: string = cc.publishDate;

export function isCurrencyCode(value: unknown): value is CurrencyCode {
  return typeof value === 'string' && EXPONENTS.has(value);
}

/** Parses an ISO 4217 alphabetic code; returns undefined for anything else (case-sensitive). */
export function parseCurrency(value: string): CurrencyCode | undefined {
  return isCurrencyCode(value) ? value : undefined;
}

export function currencyExponent(currency: CurrencyCode): number {
  const digits = EXPONENTS.get(currency);
  if (digits === undefined) throw new Error(`unknown currency ${currency}`);
  return digits;
}

export function allCurrencies(): readonly CurrencyCode[] {
  return [...EXPONENTS.keys()] as CurrencyCode[];
}
