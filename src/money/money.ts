import { currencyExponent, isCurrencyCode, type CurrencyCode } from './currency.js';

/**
 * An amount of money: integer minor units (cents, yen, fils) with its currency. Never a float.
 * `amount` is a JavaScript safe integer (|amount| ≤ 2^53 − 1); arithmetic that would leave that
 * range throws instead of silently losing precision.
 */
export interface Money {
  readonly amount: number;
  readonly currency: CurrencyCode;
}

export class CurrencyMismatchError extends Error {
  constructor(a: CurrencyCode, b: CurrencyCode) {
    super(`currency mismatch: ${a} vs ${b}`);
    this.name = 'CurrencyMismatchError';
  }
}

function checked(amount: number): number {
  if (!Number.isSafeInteger(amount)) throw new RangeError(`amount is not a safe integer: ${amount}`);
  return amount;
}

export function money(amount: number, currency: CurrencyCode): Money {
  if (!isCurrencyCode(currency)) throw new RangeError(`unknown currency ${String(currency)}`);
  return Object.freeze({ amount: checked(amount), currency });
}

export function zero(currency: CurrencyCode): Money {
  return money(0, currency);
}

function sameCurrency(a: Money, b: Money): void {
  if (a.currency !== b.currency) throw new CurrencyMismatchError(a.currency, b.currency);
}

export function add(a: Money, b: Money): Money {
  sameCurrency(a, b);
  return money(checked(a.amount + b.amount), a.currency);
}

export function subtract(a: Money, b: Money): Money {
  sameCurrency(a, b);
  return money(checked(a.amount - b.amount), a.currency);
}

export function sum(currency: CurrencyCode, items: readonly Money[]): Money {
  return items.reduce((acc, m) => add(acc, m), zero(currency));
}

export function negate(a: Money): Money {
  return money(a.amount === 0 ? 0 : -a.amount, a.currency);
}

export function multiply(a: Money, factor: number): Money {
  if (!Number.isSafeInteger(factor)) throw new RangeError('factor must be an integer');
  return money(checked(a.amount * factor), a.currency);
}

export function compare(a: Money, b: Money): -1 | 0 | 1 {
  sameCurrency(a, b);
  return a.amount < b.amount ? -1 : a.amount > b.amount ? 1 : 0;
}

export function equals(a: Money, b: Money): boolean {
  return a.currency === b.currency && a.amount === b.amount;
}

export function isZero(a: Money): boolean {
  return a.amount === 0;
}

export function min(a: Money, b: Money): Money {
  return compare(a, b) <= 0 ? a : b;
}

/**
 * Splits `total` into parts proportional to `weights` so that the parts sum exactly to `total`
 * (largest-remainder method; ties go to the earlier weight). Weights are non-negative integers
 * with a positive sum.
 */
export function allocate(total: Money, weights: readonly number[]): Money[] {
  if (weights.length === 0) throw new RangeError('allocate needs at least one weight');
  let weightSum = 0n;
  for (const w of weights) {
    if (!Number.isSafeInteger(w) || w < 0) throw new RangeError('weights must be non-negative integers');
    weightSum += BigInt(w);
  }
  if (weightSum === 0n) throw new RangeError('weights must not all be zero');
  const totalBig = BigInt(total.amount);
  const sign = totalBig < 0n ? -1n : 1n;
  const absTotal = totalBig * sign;
  const shares = weights.map((w) => (absTotal * BigInt(w)) / weightSum);
  const remainders = weights.map((w, i) => ({ i, r: (absTotal * BigInt(w)) % weightSum }));
  let leftover = absTotal - shares.reduce((a, b) => a + b, 0n);
  remainders.sort((x, y) => (x.r === y.r ? x.i - y.i : x.r > y.r ? -1 : 1));
  for (const { i } of remainders) {
    if (leftover === 0n) break;
    shares[i] = shares[i]! + 1n;
    leftover -= 1n;
  }
  return shares.map((s) => money(Number(s * sign), total.currency));
}

/** "19.99" for 1999 USD, "500" for 500 JPY, "1.250" for 1250 KWD. Exact, no floats. */
export function toDecimalString(m: Money): string {
  const exp = currencyExponent(m.currency);
  const negative = m.amount < 0;
  const digits = Math.abs(m.amount).toString().padStart(exp + 1, '0');
  const body = exp === 0 ? digits : `${digits.slice(0, digits.length - exp)}.${digits.slice(digits.length - exp)}`;
  return negative ? `-${body}` : body;
}

/** Parses "19.99" into 1999 minor units of USD; refuses more fraction digits than the currency has. */
export function fromDecimalString(value: string, currency: CurrencyCode): Money | undefined {
  const exp = currencyExponent(currency);
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(value);
  if (!match) return undefined;
  const [, sign, whole, fraction = ''] = match;
  if (fraction.length > exp) return undefined;
  const minor = BigInt(`${whole}${fraction.padEnd(exp, '0')}`) * (sign === '-' ? -1n : 1n);
  const asNumber = Number(minor);
  if (!Number.isSafeInteger(asNumber)) return undefined;
  return money(asNumber, currency);
}
