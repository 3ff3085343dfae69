import { randomBytes } from 'node:crypto';

/**
 * Identifiers are `<prefix>_<ulid>`: the prefix tells a human (and a validator) what kind of
 * object an id names, and the ULID sorts by creation time, which keeps cursor pagination and
 * B-tree inserts cheap.
 */
export const ID_PREFIXES = {
  checkoutSession: 'cs',
  order: 'ord',
  payment: 'pay',
  attempt: 'att',
  refund: 're',
  operation: 'op',
  journalTransaction: 'jtx',
  journalEntry: 'je',
  event: 'evt',
  coupon: 'coupon',
  customer: 'cus',
  product: 'prod',
  price: 'price',
  sandboxCharge: 'sbch',
  sandboxPaymentMethod: 'sbpm',
  challenge: 'tds',
  dispute: 'dp',
  subscription: 'sub',
  invoice: 'in',
  invoiceLine: 'il',
  paymentMethod: 'spm',
  testClock: 'clock',
  job: 'job',
  revenueSchedule: 'rs',
} as const;

export type IdKind = keyof typeof ID_PREFIXES;

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function encodeTime(ms: number): string {
  let out = '';
  let rest = ms;
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[rest % 32] + out;
    rest = Math.floor(rest / 32);
  }
  return out;
}

function encodeRandom(value: bigint): string {
  let out = '';
  let rest = value;
  for (let i = 0; i < 16; i++) {
    out = CROCKFORD[Number(rest % 32n)] + out;
    rest /= 32n;
  }
  return out;
}

function randomBits80(): bigint {
  const bytes = randomBytes(10);
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

const MAX_80 = (1n << 80n) - 1n;
let lastTime = -1;
let lastRandom = 0n;

/**
 * Monotonic within a process: ids made in the same millisecond (or under a clock that stands
 * still, as test clocks do) still sort in creation order, because the random part is incremented.
 */
export function newId(kind: IdKind, nowMs: number = Date.now()): string {
  let time = nowMs;
  if (time <= lastTime) {
    time = lastTime;
    lastRandom = lastRandom === MAX_80 ? 0n : lastRandom + 1n;
    if (lastRandom === 0n) time = ++lastTime;
  } else {
    lastTime = time;
    lastRandom = randomBits80();
  }
  return `${ID_PREFIXES[kind]}_${encodeTime(time)}${encodeRandom(lastRandom)}`;
}

const ID_BODY = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** True when `value` is a well-formed id of the given kind (demo catalog ids use a readable body). */
export function isId(kind: IdKind, value: string): boolean {
  const prefix = `${ID_PREFIXES[kind]}_`;
  if (!value.startsWith(prefix)) return false;
  const body = value.slice(prefix.length);
  return ID_BODY.test(body);
}

/**
 * A customer id as callers send it: `cus_` and 1–60 letters, digits, `_` or `-` (the business's
 * own customer ids, which learners' tokens carry as their subject).
 */
const CUSTOMER_ID = /^cus_[A-Za-z0-9_-]{1,60}$/;

export function isCustomerId(value: string): boolean {
  return CUSTOMER_ID.test(value);
}

/** Catalog objects (products, prices, coupons' ids) may carry readable slugs: `price_plus_monthly_usd`. */
const SLUG_BODY = /^[a-z0-9][a-z0-9_]{0,62}$/;

export function isCatalogId(kind: 'product' | 'price' | 'coupon' | 'customer', value: string): boolean {
  const prefix = `${ID_PREFIXES[kind]}_`;
  if (!value.startsWith(prefix)) return false;
  const body = value.slice(prefix.length);
  return SLUG_BODY.test(body) || ID_BODY.test(body);
}
