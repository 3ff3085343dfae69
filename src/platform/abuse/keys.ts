/** Guards shared by the abuse-limit functions. A violation is a bug in the caller, not bad input. */

/** Bucket and subject columns are varchar(191) (fits any utf8mb4 InnoDB index). */
export const ABUSE_KEY_MAX = 191;

export function assertKey(what: string, key: string): void {
  if (key.length === 0 || key.length > ABUSE_KEY_MAX) throw new Error(`${what} must be 1..${ABUSE_KEY_MAX} characters, got ${key.length}`);
}

export function assertPositiveInt(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${what} must be a positive integer, got ${n}`);
}

export function assertEpochMs(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${what} must be epoch milliseconds, got ${n}`);
}

/** Whole seconds until `until`, at least 1 so a client never retries immediately. */
export function secondsUntil(until: number, now: number): number {
  return Math.max(1, Math.ceil((until - now) / 1000));
}

/** COUNT(*) and similar come back as number, bigint or string depending on dialect and driver. */
export function toInt(value: unknown, what: string): number {
  const n = typeof value === 'bigint' || typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new Error(`${what} is not a safe integer: ${String(value)}`);
  return n;
}
