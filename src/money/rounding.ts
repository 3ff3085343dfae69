/**
 * Every division of money goes through `divideRounded`, which is exact (BigInt) and names its
 * rounding rule. Obol's rule for tax and discounts is HALF_UP: halves round away from zero
 * ("commercial rounding"), applied once per line (see checkout/domain/totals.ts).
 */
export const ROUNDING_MODES = ['half_up', 'half_even', 'down', 'up'] as const;
export type RoundingMode = (typeof ROUNDING_MODES)[number];

/** round(numerator / denominator) with the given mode; all arguments integers, denominator > 0. */
export function divideRounded(numerator: bigint, denominator: bigint, mode: RoundingMode): bigint {
  if (denominator <= 0n) throw new RangeError('denominator must be positive');
  const negative = numerator < 0n;
  const abs = negative ? -numerator : numerator;
  const quotient = abs / denominator;
  const remainder = abs % denominator;
  let magnitude = quotient;
  if (remainder !== 0n) {
    switch (mode) {
      case 'down':
        break;
      case 'up':
        magnitude += 1n;
        break;
      case 'half_up':
        if (remainder * 2n >= denominator) magnitude += 1n;
        break;
      case 'half_even': {
        const twice = remainder * 2n;
        if (twice > denominator || (twice === denominator && quotient % 2n === 1n)) magnitude += 1n;
        break;
      }
      default: {
        const unreachable: never = mode;
        throw new Error(`unknown rounding mode ${String(unreachable)}`);
      }
    }
  }
  return negative ? -magnitude : magnitude;
}

/** amount × numerator / denominator, rounded; exact for any safe-integer inputs. */
export function mulDivRounded(amount: number, numerator: number, denominator: number, mode: RoundingMode): number {
  for (const v of [amount, numerator, denominator]) {
    if (!Number.isSafeInteger(v)) throw new RangeError(`not a safe integer: ${v}`);
  }
  const result = divideRounded(BigInt(amount) * BigInt(numerator), BigInt(denominator), mode);
  const asNumber = Number(result);
  if (!Number.isSafeInteger(asNumber)) throw new RangeError('result exceeds safe integer range');
  return asNumber;
}
