import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from '../../test/support/databases.js';
import { money, parseCurrency, type CurrencyCode } from '../money/index.js';
import type { Tx } from '../platform/db/index.js';
import { accountKind, authorizationHolds, gatewayClearing, taxPayable } from './domain/accounts.js';
import { reverse, type JournalDraft } from './domain/journal.js';
import { authorizationPosting, authorizationReleasePosting, refundPosting, salePosting, saleTotal, type SaleBreakdown } from './domain/postings.js';
import {
  accountBalance,
  balanceDiscrepancies,
  balanceKey,
  dialectOf,
  entriesForReference,
  postJournal,
  recomputeBalancesFromEntries,
  trialBalance,
  unbalancedTransactions,
} from './store.js';

const cur = (code: string): CurrencyCode => parseCurrency(code) as CurrencyCode;
const USD = cur('USD');
const JPY = cur('JPY');
const EUR = cur('EUR');

/** One checkout as the payment flows drive it, reduced to what the ledger sees. */
const checkoutArb = fc.record({
  currency: fc.constantFrom(USD, EUR, JPY),
  connector: fc.constantFrom('sandbox', 'stripe'),
  country: fc.constantFrom('US', 'DE', 'IN'),
  revenue: fc.integer({ min: 0, max: 200_000 }),
  deferredRevenue: fc.integer({ min: 0, max: 200_000 }),
  taxBps: fc.constantFrom(0, 700, 1900, 2000),
  discountPct: fc.constantFrom(0, 0, 10, 33, 100),
  manual: fc.boolean(),
  then: fc.constantFrom('capture_full', 'capture_part', 'void', 'leave_open'),
  capturePermille: fc.integer({ min: 1, max: 999 }),
  refundPcts: fc.array(fc.integer({ min: 1, max: 100 }), { maxLength: 4 }),
});
type Checkout = typeof checkoutArb extends fc.Arbitrary<infer T> ? T : never;

function saleOf(c: Checkout): SaleBreakdown {
  const goods = c.revenue + c.deferredRevenue;
  const discount = Math.floor((goods * c.discountPct) / 100);
  return { currency: c.currency, revenue: c.revenue, deferredRevenue: c.deferredRevenue, discount, tax: Math.floor(((goods - discount) * c.taxBps) / 10_000) };
}

describeEachDatabase('ledger store', (dialect) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(dialect);
  });
  afterAll(async () => t?.drop());

  /** Runs fn in one transaction; counts attempts, because Db.transaction retries deadlocks silently. */
  async function inTx<T>(fn: (tx: Tx) => Promise<T>, attempts?: { n: number }): Promise<T> {
    return t.db.transaction((tx) => {
      if (attempts) attempts.n++;
      return fn(tx);
    });
  }

  it('reads the dialect from the executor, inside and outside a transaction', async () => {
    expect(dialectOf(t.db.kysely)).toBe(dialect);
    expect(await inTx(async (tx) => dialectOf(tx))).toBe(dialect);
  });

  it('maintains balances under concurrent postings that create the same accounts', async () => {
    const sale: SaleBreakdown = { currency: USD, revenue: 1000, deferredRevenue: 0, tax: 80, discount: 0 };
    const attempts = { n: 0 };
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        inTx((tx) => postJournal(tx, salePosting({ paymentId: `pay_c${i}`, connector: 'sandbox', captured: money(1080, USD), total: money(1080, USD), sale, taxCountry: 'US' }), Date.now()), attempts),
      ),
    );
    // No deadlock was retried: first use of an account by racing postings is an upsert, not a shared-lock upgrade.
    expect(attempts.n).toBe(20);
    expect(await accountBalance(t.db.kysely, 'gateway_clearing:sandbox', 'USD')).toBe(20 * 1080);
    expect(await accountBalance(t.db.kysely, 'revenue', 'USD')).toBe(-20 * 1000);
    expect(await accountBalance(t.db.kysely, 'tax_payable:US', 'USD')).toBe(-20 * 80);
    const sums = await recomputeBalancesFromEntries(t.db.kysely);
    expect(sums.get(balanceKey('gateway_clearing:sandbox', 'USD'))).toBe(20 * 1080);
    expect(await balanceDiscrepancies(t.db.kysely)).toEqual([]);
  });

  it('never deadlocks when concurrent postings touch overlapping accounts in different line orders', async () => {
    const drafts: JournalDraft[] = [];
    for (let i = 0; i < 24; i++) {
      const connector = i % 2 === 0 ? 'alpha' : 'beta';
      const amount = money(100 + i, EUR);
      const sale: SaleBreakdown = { currency: EUR, revenue: 100 + i - 10, deferredRevenue: 0, tax: 10, discount: 0 };
      const s = salePosting({ paymentId: `pay_o${i}`, connector, captured: amount, total: amount, sale, taxCountry: i % 3 === 0 ? 'FR' : 'DE' });
      // Reversed line order on every other posting: lock order must come from the store, not the caller.
      drafts.push(i % 4 < 2 ? s : { ...s, lines: [...s.lines].reverse() });
      drafts.push(authorizationPosting({ paymentId: `pay_o${i}`, connector, amount }));
    }
    const attempts = { n: 0 };
    await Promise.all(drafts.map((d) => inTx((tx) => postJournal(tx, d, Date.now()), attempts)));
    expect(attempts.n).toBe(drafts.length);
    const expected = new Map<string, number>();
    for (const d of drafts) for (const l of d.lines) expected.set(l.account, (expected.get(l.account) ?? 0) + l.amount.amount);
    for (const [account, amount] of expected) expect(await accountBalance(t.db.kysely, account, 'EUR')).toBe(amount);
    expect(await balanceDiscrepancies(t.db.kysely)).toEqual([]);
  });

  it('keeps currencies apart in the trial balance', async () => {
    await inTx((tx) => postJournal(tx, authorizationPosting({ paymentId: 'pay_jpy', connector: 'sandbox', amount: money(5000, JPY) }), Date.now()));
    const tb = await trialBalance(t.db.kysely);
    expect(tb.currencies.map((c) => c.currency)).toEqual(['EUR', 'JPY', 'USD']);
    for (const c of tb.currencies) expect(c.balanced).toBe(true);
    const jpy = tb.currencies.find((c) => c.currency === 'JPY')!;
    expect(jpy.accounts).toEqual([
      { code: 'authorization_holds:sandbox', kind: 'memo', debit: 5000, credit: 0, balance: 5000 },
      { code: 'authorization_holds_contra', kind: 'memo', debit: 0, credit: 5000, balance: -5000 },
    ]);
    expect(await unbalancedTransactions(t.db.kysely)).toEqual([]);
  });

  it('reads a reference back in posting order, and reverses a posted journal', async () => {
    const now = Date.now();
    const sale: SaleBreakdown = { currency: USD, revenue: 900, deferredRevenue: 0, tax: 100, discount: 0 };
    const posted = await inTx(async (tx) => {
      const hold = await postJournal(tx, authorizationPosting({ paymentId: 'pay_read', connector: 'sandbox', amount: money(1000, USD) }), now);
      await postJournal(tx, authorizationReleasePosting({ paymentId: 'pay_read', connector: 'sandbox', amount: money(1000, USD) }), now);
      const s = await postJournal(tx, salePosting({ paymentId: 'pay_read', connector: 'sandbox', captured: money(1000, USD), total: money(1000, USD), sale, taxCountry: 'US' }), now);
      return { hold, s };
    });
    const before = await accountBalance(t.db.kysely, 'revenue', 'USD');
    const reversal = await inTx((tx) => postJournal(tx, reverse(posted.s, 'captured twice by mistake'), now + 1));
    expect(await accountBalance(t.db.kysely, 'revenue', 'USD')).toBe(before + 900);
    const read = await entriesForReference(t.db.kysely, 'pay_read');
    expect(read.map((j) => j.kind)).toEqual(['authorization', 'authorization_release', 'sale', 'reversal']);
    expect(read[0]).toEqual(posted.hold);
    expect(read[2]).toEqual(posted.s);
    expect(read[3]).toEqual(reversal);
    expect(read[3]!.reversesId).toBe(posted.s.id);
    expect(await entriesForReference(t.db.kysely, 'pay_nothing')).toEqual([]);
    expect(await accountBalance(t.db.kysely, 'revenue', 'XTS')).toBe(0);
  });

  it('refuses an unbalanced draft or an unknown account and writes nothing', async () => {
    const before = await recomputeBalancesFromEntries(t.db.kysely);
    const base = { kind: 'sale', referenceType: 'payment', referenceId: 'pay_bad', description: 'bad' } as const;
    await expect(inTx((tx) => postJournal(tx, { ...base, lines: [{ account: 'revenue', amount: money(-5, USD) }, { account: 'discounts', amount: money(4, USD) }] }, Date.now()))).rejects.toThrow(/unbalanced/);
    await expect(inTx((tx) => postJournal(tx, { ...base, lines: [{ account: 'cash', amount: money(-5, USD) }, { account: 'discounts', amount: money(5, USD) }] }, Date.now()))).rejects.toThrow(/unknown ledger account/);
    expect(await recomputeBalancesFromEntries(t.db.kysely)).toEqual(before);
    expect(await entriesForReference(t.db.kysely, 'pay_bad')).toEqual([]);
  });

  it('rolls back entries and balances together when the transaction fails', async () => {
    const before = await accountBalance(t.db.kysely, 'gateway_clearing:sandbox', 'USD');
    const sale: SaleBreakdown = { currency: USD, revenue: 10, deferredRevenue: 0, tax: 0, discount: 0 };
    await expect(
      inTx(async (tx) => {
        await postJournal(tx, salePosting({ paymentId: 'pay_rollback', connector: 'sandbox', captured: money(10, USD), total: money(10, USD), sale, taxCountry: 'US' }), Date.now());
        throw new Error('later step failed');
      }),
    ).rejects.toThrow('later step failed');
    expect(await accountBalance(t.db.kysely, 'gateway_clearing:sandbox', 'USD')).toBe(before);
    expect(await entriesForReference(t.db.kysely, 'pay_rollback')).toEqual([]);
  });

  it('keeps every transaction balanced and every balance equal to its entries under random money movements', async () => {
    const db = t.db.kysely;
    // The model: maintained balances must move by exactly what was posted (and committed).
    const start = new Map<string, number>();
    for (const c of (await trialBalance(db)).currencies) for (const a of c.accounts) start.set(balanceKey(a.code, c.currency), a.balance);
    const model = new Map(start);
    let n = 0;

    async function post(drafts: readonly JournalDraft[]): Promise<void> {
      await inTx(async (tx) => {
        for (const d of drafts) await postJournal(tx, d, Date.now());
      });
      // After commit only: a deadlock retry re-runs the function and must not count twice.
      for (const d of drafts) for (const l of d.lines) model.set(balanceKey(l.account, l.amount.currency), (model.get(balanceKey(l.account, l.amount.currency)) ?? 0) + l.amount.amount);
    }

    /** Drives one checkout; returns what the payment should show afterwards. */
    async function run(c: Checkout): Promise<{ id: string; captured: number; refunded: number; openHold: number; taxCountry: string; sale: SaleBreakdown }> {
      const id = `pay_p${dialect}_${++n}`;
      const sale = saleOf(c);
      const total = money(saleTotal(sale), c.currency);
      const outcome = { id, captured: 0, refunded: 0, openHold: 0, taxCountry: c.country, sale };
      if (total.amount === 0) {
        // A 100 % coupon: nothing charged, the giveaway still booked (or nothing at all for free goods).
        if (sale.discount > 0) await post([salePosting({ paymentId: id, referenceType: 'order', connector: 'none', captured: total, total, sale, taxCountry: c.country })]);
        return outcome;
      }
      let captured = total.amount;
      if (c.manual) {
        await post([authorizationPosting({ paymentId: id, connector: c.connector, amount: total })]);
        if (c.then === 'leave_open') return { ...outcome, openHold: total.amount };
        const release = authorizationReleasePosting({ paymentId: id, connector: c.connector, amount: total });
        if (c.then === 'void') {
          await post([release]);
          return outcome;
        }
        if (c.then === 'capture_part') captured = Math.max(1, Math.floor((total.amount * c.capturePermille) / 1000));
        await post([release, salePosting({ paymentId: id, connector: c.connector, captured: money(captured, c.currency), total, sale, taxCountry: c.country })]);
      } else {
        await post([salePosting({ paymentId: id, connector: c.connector, captured: total, total, sale, taxCountry: c.country })]);
      }
      let refunded = 0;
      for (const pct of c.refundPcts) {
        const remaining = captured - refunded;
        if (remaining <= 0) break;
        const amount = pct === 100 ? remaining : Math.max(1, Math.floor((remaining * pct) / 100));
        await post([
          refundPosting({
            paymentId: id,
            refundId: `re_${n}_${refunded}`,
            connector: c.connector,
            refund: money(amount, c.currency),
            capturedTotal: money(captured, c.currency),
            refundedBefore: money(refunded, c.currency),
            sale,
            total,
            taxCountry: c.country,
          }),
        ]);
        refunded += amount;
      }
      return { ...outcome, captured, refunded };
    }

    await fc.assert(
      fc.asyncProperty(fc.array(checkoutArb, { minLength: 1, maxLength: 5 }), async (checkouts) => {
        // Checkouts run side by side, as they would on several API instances.
        const outcomes = await Promise.all(checkouts.map(run));

        expect(await unbalancedTransactions(db)).toEqual([]);
        expect(await balanceDiscrepancies(db)).toEqual([]);
        const tb = await trialBalance(db);
        const sums = await recomputeBalancesFromEntries(db);
        for (const c of tb.currencies) {
          expect(c.balanced).toBe(true);
          expect(c.totalDebits).toBe(c.totalCredits);
          for (const a of c.accounts) {
            expect(a.kind).toBe(accountKind(a.code));
            expect(a.balance).toBe(sums.get(balanceKey(a.code, c.currency)) ?? 0);
            expect(a.balance).toBe(model.get(balanceKey(a.code, c.currency)) ?? 0);
          }
        }

        for (const o of outcomes) {
          const journals = await entriesForReference(db, o.id);
          const net = new Map<string, number>();
          for (const j of journals) {
            const perCurrency = new Map<string, number>();
            for (const e of j.entries) {
              perCurrency.set(e.currency, (perCurrency.get(e.currency) ?? 0) + e.amount);
              net.set(e.account, (net.get(e.account) ?? 0) + e.amount);
            }
            for (const s of perCurrency.values()) expect(s).toBe(0);
          }
          const connectorOf = journals.flatMap((j) => j.entries).find((e) => e.account.startsWith('gateway_clearing:') || e.account.startsWith('authorization_holds:'));
          if (!connectorOf) continue;
          const connector = connectorOf.account.slice(connectorOf.account.indexOf(':') + 1);
          expect(net.get(gatewayClearing(connector)) ?? 0).toBe(o.captured - o.refunded);
          expect(net.get(authorizationHolds(connector)) ?? 0).toBe(o.openHold);
          if (o.captured > 0 && o.refunded === o.captured) expect(net.get(taxPayable(o.taxCountry)) ?? 0).toBe(0);
        }
      }),
      { numRuns: 25 },
    );
  });
});
