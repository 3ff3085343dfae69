/**
 * Invariant 6, "No card data": Obol only ever sees gateway tokens, so anything shaped like a card
 * number is refused at the edge and scrubbed from logs, never stored or echoed.
 *
 * What counts as a card number: 13–19 digits passing the Luhn check, typed either contiguously or
 * in groups split by single spaces or dashes (`4242 4242 4242 4242`, `3782-822463-10005`).
 *
 * A contiguous digit run is atomic: a Luhn-valid stretch inside a longer unbroken run (an order
 * reference, a timestamp) is not a card, so false positives stay rare. Grouped numbers are
 * recognised as people type cards: groups of 3–6 digits (4-4-4-4, 4-6-5, 4-6-4, …; the last may
 * be shorter) joined by single spaces or dashes; any consecutive such groups adding up to 13–19
 * digits are checked,
 * because an expiry date or CVC typed right after the number ("4242 4242 4242 4242 12 27") must
 * not hide it. Groups glued to letters, or of other sizes, do not chain: that keeps identifiers
 * such as UUIDs (8-4-4-4-12 hex) from ever looking like cards.
 */
import { ObolError } from '../../kernel/index.js';

const MIN_DIGITS = 13;
const MAX_DIGITS = 19;

/** Digit groups joined by exactly one space or dash; anything else ends the run. */
const GROUPED_DIGITS = /\d+(?:[ -]\d+)*/g;
const GROUP = /\d+/g;

export const CARD_DATA_MESSAGE =
  "Card numbers must never be sent to Obol: send the gateway's payment-method token instead.";

export const CARD_REDACTED = '[card-redacted]';

export function passesLuhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

interface Span {
  readonly start: number;
  readonly end: number;
}

const MIN_GROUP = 3;
const MAX_GROUP = 6;
const ALNUM = /[A-Za-z0-9]/;

/** Card-like spans in `text`, left to right, non-overlapping. */
function* cardSpans(text: string): Generator<Span> {
  for (const run of text.matchAll(GROUPED_DIGITS)) {
    const runText = run[0];
    const runStart = run.index;
    if (runText.replace(/[ -]/g, '').length < MIN_DIGITS) continue;
    const groups = [...runText.matchAll(GROUP)].map((g) => ({ digits: g[0], start: g.index }));
    const gluedLeft = runStart > 0 && ALNUM.test(text[runStart - 1]!);
    const gluedRight = ALNUM.test(text[runStart + runText.length] ?? '');
    const chains = (k: number) =>
      groups[k]!.digits.length >= MIN_GROUP &&
      groups[k]!.digits.length <= MAX_GROUP &&
      !(k === 0 && gluedLeft) &&
      !(k === groups.length - 1 && gluedRight);
    let i = 0;
    while (i < groups.length) {
      const first = groups[i]!;
      // A whole contiguous run on its own.
      if (first.digits.length >= MIN_DIGITS && first.digits.length <= MAX_DIGITS && passesLuhn(first.digits)) {
        yield { start: runStart + first.start, end: runStart + first.start + first.digits.length };
        i++;
        continue;
      }
      let hit = -1;
      if (chains(i)) {
        let digits = '';
        for (let j = i; j < groups.length; j++) {
          // A short last group ends a chain ("3622 7206 2716 67"); it never links two others.
          const tail = j > i && groups[j]!.digits.length < MIN_GROUP && !(j === groups.length - 1 && gluedRight);
          if (!chains(j) && !tail) break;
          digits += groups[j]!.digits;
          if (digits.length > MAX_DIGITS) break;
          if (j > i && digits.length >= MIN_DIGITS && passesLuhn(digits)) {
            hit = j;
            break;
          }
          if (tail) break;
        }
      }
      if (hit >= 0) {
        const last = groups[hit]!;
        yield { start: runStart + first.start, end: runStart + last.start + last.digits.length };
        i = hit + 1;
      } else {
        i++;
      }
    }
  }
}

/** True when `text` holds something that looks like a card number (see the module comment). */
export function findCardNumber(text: string): boolean {
  return !cardSpans(text).next().done;
}

/** `text` with every card-like span replaced by `[card-redacted]`; for logs, the last line of defence. */
export function redactCardNumbers(text: string): string {
  let out = '';
  let from = 0;
  for (const span of cardSpans(text)) {
    out += text.slice(from, span.start) + CARD_REDACTED;
    from = span.end;
  }
  return from === 0 ? text : out + text.slice(from);
}

function numberLooksLikeCard(value: number | bigint): boolean {
  if (typeof value === 'number' && !Number.isInteger(value)) return false;
  // Integers from 1e21 up print in exponent form; the digit test below rejects them, rightly.
  const digits = (value < 0 ? -value : value).toString();
  return /^\d{13,19}$/.test(digits) && passesLuhn(digits);
}

function refuse(path: string): never {
  throw new ObolError('CARD_DATA_REFUSED', CARD_DATA_MESSAGE, { field: path === '' ? '(root)' : path });
}

function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

/**
 * Throws CARD_DATA_REFUSED if any string, integer, or object key anywhere in `value` looks like a
 * card number. The error names the field, never the value. Iterative, so deeply nested input
 * cannot overflow the stack; shared or cyclic references are visited once.
 */
export function assertNoCardData(value: unknown, path = ''): void {
  const stack: Array<{ value: unknown; path: string }> = [{ value, path }];
  const seen = new WeakSet<object>();
  while (stack.length > 0) {
    const item = stack.pop()!;
    const v = item.value;
    switch (typeof v) {
      case 'string':
        if (findCardNumber(v)) refuse(item.path);
        continue;
      case 'number':
      case 'bigint':
        if (numberLooksLikeCard(v)) refuse(item.path);
        continue;
      case 'object':
        break;
      default:
        continue;
    }
    if (v === null || seen.has(v)) continue;
    seen.add(v);
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], path: childPath(item.path, i) });
      continue;
    }
    if (v instanceof Map) {
      for (const [k, child] of v) {
        const key = String(k);
        if (findCardNumber(key)) refuse(item.path);
        stack.push({ value: child, path: childPath(item.path, key) });
      }
      continue;
    }
    if (v instanceof Set) {
      let i = 0;
      for (const child of v) stack.push({ value: child, path: childPath(item.path, i++) });
      continue;
    }
    // Keys are data too (free-form metadata maps): a card-shaped key is reported by its parent's
    // path, since the key itself must not appear in the error.
    const entries = Object.entries(v);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i]!;
      if (findCardNumber(key)) refuse(item.path);
      stack.push({ value: child, path: childPath(item.path, key) });
    }
  }
}
