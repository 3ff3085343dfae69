import { money, negate, type CurrencyCode, type Money } from '../../money/index.js';

export const JOURNAL_KINDS = ['authorization', 'authorization_release', 'sale', 'refund', 'reversal', 'dispute_opened', 'dispute_won', 'revenue_recognition'] as const;
export type JournalKind = (typeof JOURNAL_KINDS)[number];

export function isJournalKind(value: unknown): value is JournalKind {
  return typeof value === 'string' && (JOURNAL_KINDS as readonly string[]).includes(value);
}

/** One side of a posting: positive amounts are debits, negative amounts credits. */
export interface JournalLine {
  readonly account: string;
  readonly amount: Money;
}

export interface JournalDraft {
  readonly kind: JournalKind;
  readonly referenceType: string;
  readonly referenceId: string;
  readonly description: string;
  readonly lines: readonly JournalLine[];
  readonly reversesId?: string;
}

export interface PostedEntry {
  readonly account: string;
  readonly currency: CurrencyCode;
  /** Positive = debit, negative = credit. */
  readonly amount: number;
}

/** A journal transaction as stored: immutable once written. */
export interface PostedJournal {
  readonly id: string;
  readonly kind: JournalKind;
  readonly referenceType: string;
  readonly referenceId: string;
  readonly description: string;
  readonly reversesId: string | null;
  readonly createdAt: number;
  readonly entries: readonly PostedEntry[];
}

export const debit = (account: string, amount: Money): JournalLine => ({ account, amount });
export const credit = (account: string, amount: Money): JournalLine => ({ account, amount: negate(amount) });

/** Builds a draft, dropping zero lines: a zero discount is no entry rather than a noisy one. */
export function draft(args: JournalDraft): JournalDraft {
  return { ...args, lines: args.lines.filter((l) => l.amount.amount !== 0) };
}

/**
 * A journal transaction must sum to zero in each currency and have at least two lines. A draft
 * that does not is a bug in a posting rule, never a caller's mistake, so this throws a plain
 * Error rather than an ObolError.
 */
export function assertBalanced(d: JournalDraft): void {
  if (d.lines.length < 2) throw new Error(`journal ${d.kind} for ${d.referenceId} has fewer than two lines`);
  // BigInt: a sum of safe integers need not be safe, and an overflowed float could look balanced.
  const sums = new Map<string, bigint>();
  for (const line of d.lines) {
    if (!Number.isSafeInteger(line.amount.amount)) throw new Error(`journal ${d.kind} has a non-integer amount on ${line.account}`);
    if (line.amount.amount === 0) throw new Error(`journal ${d.kind} has a zero line on ${line.account}`);
    sums.set(line.amount.currency, (sums.get(line.amount.currency) ?? 0n) + BigInt(line.amount.amount));
  }
  for (const [currency, total] of sums) {
    if (total !== 0n) throw new Error(`journal ${d.kind} for ${d.referenceId} is unbalanced in ${currency} by ${total}`);
  }
}

function isPosted(j: JournalDraft | PostedJournal): j is PostedJournal {
  return 'entries' in j;
}

/**
 * The posting that undoes `original`: entries are never updated or deleted, only reversed. A
 * posted original is linked through `reversesId`; a draft's own `reversesId` is not inherited
 * (reversing a reversal is a new reversal of it, not of what it reversed).
 */
export function reverse(original: JournalDraft | PostedJournal, description?: string): JournalDraft {
  const lines = isPosted(original)
    ? original.entries.map((e) => ({ account: e.account, amount: money(-e.amount, e.currency) }))
    : original.lines.map((l) => ({ account: l.account, amount: negate(l.amount) }));
  const reversed: JournalDraft = {
    kind: 'reversal',
    referenceType: original.referenceType,
    referenceId: original.referenceId,
    description: description ?? `reversal of ${original.description}`,
    lines,
  };
  return isPosted(original) ? { ...reversed, reversesId: original.id } : reversed;
}
