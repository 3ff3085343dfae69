/**
 * Ledger storage. Journal rows are append-only; `ledger_accounts.balance` is maintained by every
 * posting in the same transaction, so reading a balance or the trial balance never sums entries.
 */
import { newId } from '../kernel/index.js';
import { isUniqueViolation, type Executor } from '../platform/db/index.js';
import { accountKind } from './domain/accounts.js';
import { assertBalanced, type JournalDraft } from './domain/journal.js';

export interface PostedEntry {
  readonly account: string;
  readonly currency: string;
  /** Positive = debit, negative = credit. */
  readonly amount: number;
}

export interface PostedJournal {
  readonly id: string;
  readonly kind: string;
  readonly referenceType: string;
  readonly referenceId: string;
  readonly description: string;
  readonly reversesId: string | null;
  readonly createdAt: number;
  readonly entries: readonly PostedEntry[];
}

/** Appends a balanced journal transaction and moves the balances it touches, in the caller's transaction. */
export async function postJournal(tx: Executor, d: JournalDraft, nowMs: number): Promise<PostedJournal> {
  assertBalanced(d);
  const id = newId('journalTransaction', nowMs);
  await tx
    .insertInto('journal_transactions')
    .values({ id, kind: d.kind, reference_type: d.referenceType, reference_id: d.referenceId, description: d.description.slice(0, 500), reverses_id: d.reversesId ?? null, created_at: nowMs })
    .execute();
  const entries: PostedEntry[] = d.lines.map((l) => ({ account: l.account, currency: l.amount.currency, amount: l.amount.amount }));
  await tx
    .insertInto('journal_entries')
    .values(entries.map((e) => ({ id: newId('journalEntry', nowMs), transaction_id: id, account_code: e.account, currency: e.currency, amount: e.amount, created_at: nowMs })))
    .execute();

  // One balance change per account and currency, applied in a fixed order so that concurrent
  // postings lock balance rows in the same order and cannot deadlock each other.
  const deltas = new Map<string, { account: string; currency: string; amount: number; count: number }>();
  for (const e of entries) {
    const k = `${e.account}\u0000${e.currency}`;
    const cur = deltas.get(k) ?? { account: e.account, currency: e.currency, amount: 0, count: 0 };
    deltas.set(k, { ...cur, amount: cur.amount + e.amount, count: cur.count + 1 });
  }
  const ordered = [...deltas.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  for (const delta of ordered) {
    await ensureAccount(tx, delta.account, delta.currency, nowMs);
    await tx
      .updateTable('ledger_accounts')
      .set((eb) => ({ balance: eb('balance', '+', delta.amount), entry_count: eb('entry_count', '+', delta.count), updated_at: nowMs }))
      .where('code', '=', delta.account)
      .where('currency', '=', delta.currency)
      .execute();
  }
  return { id, kind: d.kind, referenceType: d.referenceType, referenceId: d.referenceId, description: d.description, reversesId: d.reversesId ?? null, createdAt: nowMs, entries };
}

async function ensureAccount(tx: Executor, code: string, currency: string, nowMs: number): Promise<void> {
  const exists = await tx.selectFrom('ledger_accounts').select('code').where('code', '=', code).where('currency', '=', currency).executeTakeFirst();
  if (exists) return;
  try {
    await tx.insertInto('ledger_accounts').values({ code, currency, kind: accountKind(code), balance: 0, entry_count: 0, updated_at: nowMs }).execute();
  } catch (err) {
    // Another transaction opened the account first: that is exactly what we wanted.
    if (!isUniqueViolation(err)) throw err;
  }
}

export async function accountBalance(db: Executor, code: string, currency: string): Promise<number> {
  const row = await db.selectFrom('ledger_accounts').select('balance').where('code', '=', code).where('currency', '=', currency).executeTakeFirst();
  return row ? Number(row.balance) : 0;
}

export interface TrialBalanceAccount {
  readonly code: string;
  readonly kind: string;
  readonly debit: number;
  readonly credit: number;
  readonly balance: number;
}

export interface TrialBalanceCurrency {
  readonly currency: string;
  readonly accounts: readonly TrialBalanceAccount[];
  readonly totalDebits: number;
  readonly totalCredits: number;
  readonly balanced: boolean;
}

export interface TrialBalance {
  readonly currencies: readonly TrialBalanceCurrency[];
}

/** Every account's balance per currency, from the maintained balances (O(accounts)). */
export async function trialBalance(db: Executor): Promise<TrialBalance> {
  const rows = await db.selectFrom('ledger_accounts').selectAll().orderBy('currency').orderBy('code').execute();
  const byCurrency = new Map<string, TrialBalanceAccount[]>();
  for (const r of rows) {
    const balance = Number(r.balance);
    const list = byCurrency.get(r.currency) ?? [];
    list.push({ code: r.code, kind: r.kind, debit: balance > 0 ? balance : 0, credit: balance < 0 ? -balance : 0, balance });
    byCurrency.set(r.currency, list);
  }
  return {
    currencies: [...byCurrency.entries()].map(([currency, accounts]) => {
      const totalDebits = accounts.reduce((a, x) => a + x.debit, 0);
      const totalCredits = accounts.reduce((a, x) => a + x.credit, 0);
      return { currency, accounts, totalDebits, totalCredits, balanced: totalDebits === totalCredits };
    }),
  };
}

/** The journal transactions posted for one reference (a payment), oldest first, with their entries. */
export async function entriesForReference(db: Executor, referenceId: string): Promise<PostedJournal[]> {
  const txs = await db.selectFrom('journal_transactions').selectAll().where('reference_id', '=', referenceId).orderBy('created_at').orderBy('id').execute();
  if (txs.length === 0) return [];
  const entries = await db
    .selectFrom('journal_entries')
    .selectAll()
    .where(
      'transaction_id',
      'in',
      txs.map((t) => t.id),
    )
    .orderBy('id')
    .execute();
  return txs.map((t) => ({
    id: t.id,
    kind: t.kind,
    referenceType: t.reference_type,
    referenceId: t.reference_id,
    description: t.description,
    reversesId: t.reverses_id,
    createdAt: Number(t.created_at),
    entries: entries.filter((e) => e.transaction_id === t.id).map((e) => ({ account: e.account_code, currency: e.currency, amount: Number(e.amount) })),
  }));
}

/** Balances recomputed from the entries themselves: what the maintained balances must equal. */
export async function recomputeBalancesFromEntries(db: Executor): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('journal_entries')
    .select(['account_code', 'currency', (eb) => eb.fn.sum<number>('amount').as('total')])
    .groupBy(['account_code', 'currency'])
    .execute();
  return new Map(rows.map((r) => [`${r.account_code}:${r.currency}`, Number(r.total)]));
}

/** Journal transactions that do not sum to zero per currency (must always be empty). */
export async function unbalancedTransactions(db: Executor): Promise<string[]> {
  const rows = await db
    .selectFrom('journal_entries')
    .select(['transaction_id', 'currency', (eb) => eb.fn.sum<number>('amount').as('total')])
    .groupBy(['transaction_id', 'currency'])
    .execute();
  return rows.filter((r) => Number(r.total) !== 0).map((r) => r.transaction_id);
}
