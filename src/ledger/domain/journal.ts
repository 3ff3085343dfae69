import { money, type Money } from '../../money/index.js';

export const JOURNAL_KINDS = ['authorization', 'authorization_release', 'sale', 'refund', 'reversal'] as const;
export type JournalKind = (typeof JOURNAL_KINDS)[number];

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

export const debit = (account: string, amount: Money): JournalLine => ({ account, amount });
export const credit = (account: string, amount: Money): JournalLine => ({ account, amount: money(-amount.amount, amount.currency) });

/** Builds a draft, dropping zero lines (a zero discount is no entry). */
export function draft(args: Omit<JournalDraft, 'lines'> & { readonly lines: readonly JournalLine[] }): JournalDraft {
  return { ...args, lines: args.lines.filter((l) => l.amount.amount !== 0) };
}

/**
 * A journal transaction must sum to zero in each currency and have at least two lines. A draft
 * that does not is a bug in a posting rule, never a caller's mistake, so this throws.
 */
export function assertBalanced(d: JournalDraft): void {
  if (d.lines.length < 2) throw new Error(`journal ${d.kind} for ${d.referenceId} has fewer than two lines`);
  const sums = new Map<string, bigint>();
  for (const line of d.lines) {
    if (line.amount.amount === 0) throw new Error(`journal ${d.kind} has a zero line on ${line.account}`);
    sums.set(line.amount.currency, (sums.get(line.amount.currency) ?? 0n) + BigInt(line.amount.amount));
  }
  for (const [currency, total] of sums) {
    if (total !== 0n) throw new Error(`journal ${d.kind} for ${d.referenceId} is unbalanced in ${currency} by ${total}`);
  }
}

/** The posting that undoes `original` (entries are never updated or deleted, only reversed). */
export function reverse(original: JournalDraft & { readonly id: string }, description: string): JournalDraft {
  return {
    kind: 'reversal',
    referenceType: original.referenceType,
    referenceId: original.referenceId,
    description,
    reversesId: original.id,
    lines: original.lines.map((l) => ({ account: l.account, amount: money(-l.amount.amount, l.amount.currency) })),
  };
}
