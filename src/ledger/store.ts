/**
 * Ledger storage. Journal rows are append-only (this module never updates or deletes them);
 * `ledger_accounts.balance` is moved by every posting in the caller's transaction, so reading a
 * balance or the trial balance never sums entries.
 */
import { MysqlAdapter, SqliteAdapter } from 'kysely';
import { newId } from '../kernel/index.js';
import { parseCurrency, type CurrencyCode } from '../money/index.js';
import type { Dialect, Executor } from '../platform/db/index.js';
import { accountKind, isAccountKind, type AccountKind } from './domain/accounts.js';
import { assertBalanced, isJournalKind, type JournalDraft, type PostedEntry, type PostedJournal } from './domain/journal.js';

export type { PostedEntry, PostedJournal } from './domain/journal.js';

const DESCRIPTION_MAX = 500; // journal_transactions.description is varchar(500)

/**
 * Which SQL the executor speaks. Postings run inside callers' transactions and receive only an
 * Executor, so the dialect is read from Kysely's adapter rather than threaded through every use
 * case. (`getExecutor` is public in Kysely's typings though documented as internal; if an
 * upgrade removes it, the fallback is a `dialect` argument on postJournal.)
 */
export function dialectOf(db: Executor): Dialect {
  const adapter = db.getExecutor().adapter;
  if (adapter instanceof MysqlAdapter) return 'mysql';
  if (adapter instanceof SqliteAdapter) return 'sqlite';
  throw new Error(`unsupported database adapter ${adapter.constructor.name}`);
}

/** BIGINT columns come back as numbers while safe; anything else means a balance outgrew JavaScript. */
function safeInt(value: unknown, what: string): number {
  const n = typeof value === 'bigint' ? Number(value) : typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new Error(`${what} is not a safe integer: ${String(value)}`);
  return n;
}

function currencyOf(value: string): CurrencyCode {
  const c = parseCurrency(value);
  if (!c) throw new Error(`ledger row has an unknown currency ${value}`);
  return c;
}

interface BalanceDelta {
  readonly account: string;
  readonly currency: CurrencyCode;
  readonly amount: number;
  readonly count: number;
}

/** One delta per (account, currency), sorted by code then currency. */
function balanceDeltas(entries: readonly PostedEntry[]): BalanceDelta[] {
  const byKey = new Map<string, BalanceDelta>();
  for (const e of entries) {
    // NUL sorts before every character a code can contain, so key order is (code, currency) order.
    const key = `${e.account}\u0000${e.currency}`;
    const cur = byKey.get(key) ?? { account: e.account, currency: e.currency, amount: 0, count: 0 };
    byKey.set(key, { ...cur, amount: safeInt(cur.amount + e.amount, `balance change of ${e.account}`), count: cur.count + 1 });
  }
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
}

/**
 * Appends a balanced journal transaction and moves the balances it touches, inside the caller's
 * transaction (so the posting commits or rolls back with the state change it books).
 */
export async function postJournal(tx: Executor, d: JournalDraft, nowMs: number): Promise<PostedJournal> {
  assertBalanced(d);
  for (const line of d.lines) accountKind(line.account); // an unknown account is a bug: refuse before writing
  const dialect = dialectOf(tx);
  const id = newId('journalTransaction', nowMs);
  const description = d.description.slice(0, DESCRIPTION_MAX);
  await tx
    .insertInto('journal_transactions')
    .values({ id, kind: d.kind, reference_type: d.referenceType, reference_id: d.referenceId, description, reverses_id: d.reversesId ?? null, created_at: nowMs })
    .execute();
  const entries: PostedEntry[] = d.lines.map((l) => ({ account: l.account, currency: l.amount.currency, amount: l.amount.amount }));
  await tx
    .insertInto('journal_entries')
    .values(entries.map((e) => ({ id: newId('journalEntry', nowMs), transaction_id: id, account_code: e.account, currency: e.currency, amount: e.amount, created_at: nowMs })))
    .execute();

  // Every posting locks its balance rows in the same (code, currency) order, so two postings
  // can wait on each other but never deadlock. Each row is created-or-moved in one upsert: on
  // MySQL, ON DUPLICATE KEY UPDATE takes an exclusive lock on an existing row, whereas
  // insert-then-catch-duplicate leaves a shared lock that two racing creators would both try to
  // upgrade — a deadlock on every account's first concurrent use.
  for (const delta of balanceDeltas(entries)) {
    const row = { code: delta.account, currency: delta.currency, kind: accountKind(delta.account), balance: delta.amount, entry_count: delta.count, updated_at: nowMs };
    const insert = tx.insertInto('ledger_accounts').values(row);
    if (dialect === 'mysql') {
      await insert
        .onDuplicateKeyUpdate((eb) => ({ balance: eb('balance', '+', delta.amount), entry_count: eb('entry_count', '+', delta.count), updated_at: nowMs }))
        .execute();
    } else {
      await insert
        .onConflict((oc) =>
          oc.columns(['code', 'currency']).doUpdateSet((eb) => ({
            balance: eb('ledger_accounts.balance', '+', delta.amount),
            entry_count: eb('ledger_accounts.entry_count', '+', delta.count),
            updated_at: nowMs,
          })),
        )
        .execute();
    }
  }
  return { id, kind: d.kind, referenceType: d.referenceType, referenceId: d.referenceId, description, reversesId: d.reversesId ?? null, createdAt: nowMs, entries };
}

/** One account's balance (debits − credits) in one currency: a single-row read. 0 if never posted. */
export async function accountBalance(db: Executor, code: string, currency: string): Promise<number> {
  const row = await db.selectFrom('ledger_accounts').select('balance').where('code', '=', code).where('currency', '=', currency).executeTakeFirst();
  return row ? safeInt(row.balance, `balance of ${code} ${currency}`) : 0;
}

export interface TrialBalanceAccount {
  readonly code: string;
  readonly kind: AccountKind;
  readonly debit: number;
  readonly credit: number;
  readonly balance: number;
}

export interface TrialBalanceCurrency {
  readonly currency: CurrencyCode;
  readonly accounts: readonly TrialBalanceAccount[];
  readonly totalDebits: number;
  readonly totalCredits: number;
  readonly balanced: boolean;
}

export interface TrialBalance {
  readonly currencies: readonly TrialBalanceCurrency[];
}

/** Every account's balance per currency, from the maintained balances: O(accounts), not O(entries). */
export async function trialBalance(db: Executor): Promise<TrialBalance> {
  const rows = await db.selectFrom('ledger_accounts').selectAll().orderBy('currency').orderBy('code').execute();
  const byCurrency = new Map<CurrencyCode, TrialBalanceAccount[]>();
  for (const r of rows) {
    const currency = currencyOf(r.currency);
    const balance = safeInt(r.balance, `balance of ${r.code} ${r.currency}`);
    const kind = isAccountKind(r.kind) ? r.kind : accountKind(r.code);
    const list = byCurrency.get(currency) ?? [];
    list.push({ code: r.code, kind, debit: balance > 0 ? balance : 0, credit: balance < 0 ? -balance : 0, balance });
    byCurrency.set(currency, list);
  }
  return {
    currencies: [...byCurrency.entries()].map(([currency, accounts]) => {
      const totalDebits = safeInt(accounts.reduce((a, x) => a + BigInt(x.debit), 0n), `total debits in ${currency}`);
      const totalCredits = safeInt(accounts.reduce((a, x) => a + BigInt(x.credit), 0n), `total credits in ${currency}`);
      return { currency, accounts, totalDebits, totalCredits, balanced: totalDebits === totalCredits };
    }),
  };
}

/** The journal transactions posted for one reference (a payment or order), oldest first, with their entries in line order. */
export async function entriesForReference(db: Executor, referenceId: string): Promise<PostedJournal[]> {
  const rows = await db
    .selectFrom('journal_transactions as t')
    .innerJoin('journal_entries as e', 'e.transaction_id', 't.id')
    .select([
      't.id',
      't.kind',
      't.reference_type',
      't.reference_id',
      't.description',
      't.reverses_id',
      't.created_at',
      'e.id as entry_id',
      'e.account_code',
      'e.currency',
      'e.amount',
    ])
    .where('t.reference_id', '=', referenceId)
    // ids are time-ordered and monotonic per process, so they break created_at ties in posting order
    .orderBy('t.created_at')
    .orderBy('t.id')
    .orderBy('e.id')
    .execute();
  const journals: { journal: Omit<PostedJournal, 'entries'>; entries: PostedEntry[] }[] = [];
  for (const r of rows) {
    let last = journals.at(-1);
    if (last?.journal.id !== r.id) {
      if (!isJournalKind(r.kind)) throw new Error(`journal transaction ${r.id} has an unknown kind ${r.kind}`);
      last = {
        journal: {
          id: r.id,
          kind: r.kind,
          referenceType: r.reference_type,
          referenceId: r.reference_id,
          description: r.description,
          reversesId: r.reverses_id,
          createdAt: safeInt(r.created_at, 'created_at'),
        },
        entries: [],
      };
      journals.push(last);
    }
    last.entries.push({ account: r.account_code, currency: currencyOf(r.currency), amount: safeInt(r.amount, `entry ${r.entry_id}`) });
  }
  return journals.map(({ journal, entries }) => ({ ...journal, entries }));
}

/** The key of a balance in recomputeBalancesFromEntries' map. */
export const balanceKey = (code: string, currency: string): string => `${code}:${currency}`;

async function sumsFromEntries(db: Executor): Promise<Map<string, { readonly total: number; readonly count: number }>> {
  const rows = await db
    .selectFrom('journal_entries')
    .select(['account_code', 'currency', (eb) => eb.fn.sum<number | string>('amount').as('total'), (eb) => eb.fn.countAll<number | string>().as('count')])
    .groupBy(['account_code', 'currency'])
    .execute();
  return new Map(
    rows.map((r) => [
      balanceKey(r.account_code, r.currency),
      { total: safeInt(r.total, `sum of ${r.account_code} ${r.currency}`), count: safeInt(r.count, `count of ${r.account_code} ${r.currency}`) },
    ]),
  );
}

/**
 * Balances recomputed from the entries themselves, keyed by balanceKey(code, currency): what
 * the maintained balances must equal. O(entries): for verification, never for serving reads.
 */
export async function recomputeBalancesFromEntries(db: Executor): Promise<Map<string, number>> {
  const sums = await sumsFromEntries(db);
  return new Map([...sums].map(([key, s]) => [key, s.total]));
}

/** Journal transactions that do not sum to zero per currency (must always be empty). */
export async function unbalancedTransactions(db: Executor): Promise<string[]> {
  const rows = await db
    .selectFrom('journal_entries')
    .select(['transaction_id', 'currency', (eb) => eb.fn.sum<number | string>('amount').as('total')])
    .groupBy(['transaction_id', 'currency'])
    .execute();
  return [...new Set(rows.filter((r) => Number(r.total) !== 0).map((r) => r.transaction_id))];
}

export interface BalanceDiscrepancy {
  readonly code: string;
  readonly currency: string;
  readonly balance: number;
  readonly entryCount: number;
  readonly sumOfEntries: number;
  readonly countOfEntries: number;
}

/**
 * Accounts whose maintained balance or entry count differs from their entries, including
 * entries with no account row (must always be empty). O(entries): for audits and tests.
 */
export async function balanceDiscrepancies(db: Executor): Promise<BalanceDiscrepancy[]> {
  const sums = await sumsFromEntries(db);
  const rows = await db.selectFrom('ledger_accounts').select(['code', 'currency', 'balance', 'entry_count']).execute();
  const out: BalanceDiscrepancy[] = [];
  const seen = new Set<string>();
  for (const r of rows) {
    const key = balanceKey(r.code, r.currency);
    seen.add(key);
    const balance = safeInt(r.balance, `balance of ${key}`);
    const entryCount = safeInt(r.entry_count, `entry count of ${key}`);
    const s = sums.get(key) ?? { total: 0, count: 0 };
    if (balance !== s.total || entryCount !== s.count) out.push({ code: r.code, currency: r.currency, balance, entryCount, sumOfEntries: s.total, countOfEntries: s.count });
  }
  for (const [key, s] of sums) {
    if (seen.has(key)) continue;
    // Currency codes are three letters and never contain ':', so the last ':' separates them.
    const at = key.lastIndexOf(':');
    out.push({ code: key.slice(0, at), currency: key.slice(at + 1), balance: 0, entryCount: 0, sumOfEntries: s.total, countOfEntries: s.count });
  }
  return out;
}
