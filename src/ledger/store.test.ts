import { afterAll, beforeAll, expect, it } from 'vitest';
import { money, parseCurrency, type CurrencyCode } from '../money/index.js';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from '../../test/support/databases.js';
import { authorizationPosting, salePosting, type SaleBreakdown } from './domain/postings.js';
import { accountBalance, entriesForReference, postJournal, recomputeBalancesFromEntries, trialBalance, unbalancedTransactions } from './store.js';

const USD = parseCurrency('USD') as CurrencyCode;
const JPY = parseCurrency('JPY') as CurrencyCode;

describeEachDatabase('ledger store', (dialect) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(dialect);
  });
  afterAll(async () => t?.drop());

  it('maintains balances under concurrent postings to the same accounts', async () => {
    const sale: SaleBreakdown = { currency: USD, revenue: 1000, deferredRevenue: 0, tax: 80, discount: 0 };
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        t.db.transaction((tx) => postJournal(tx, salePosting({ paymentId: `pay_c${i}`, connector: 'sandbox', captured: money(1080, USD), total: money(1080, USD), sale, taxCountry: 'US' }), Date.now())),
      ),
    );
    expect(await accountBalance(t.db.kysely, 'gateway_clearing:sandbox', 'USD')).toBe(20 * 1080);
    expect(await accountBalance(t.db.kysely, 'revenue', 'USD')).toBe(-20 * 1000);
    expect(await accountBalance(t.db.kysely, 'tax_payable:US', 'USD')).toBe(-20 * 80);
    const sums = await recomputeBalancesFromEntries(t.db.kysely);
    expect(sums.get('gateway_clearing:sandbox:USD')).toBe(20 * 1080);
  });

  it('keeps currencies apart in the trial balance', async () => {
    await t.db.transaction((tx) => postJournal(tx, authorizationPosting({ paymentId: 'pay_jpy', connector: 'sandbox', amount: money(5000, JPY) }), Date.now()));
    const tb = await trialBalance(t.db.kysely);
    expect(tb.currencies.map((c) => c.currency)).toEqual(['JPY', 'USD']);
    for (const c of tb.currencies) expect(c.balanced).toBe(true);
    expect(await unbalancedTransactions(t.db.kysely)).toEqual([]);
  });

  it('rolls back entries and balances together when the transaction fails', async () => {
    const before = await accountBalance(t.db.kysely, 'gateway_clearing:sandbox', 'USD');
    const sale: SaleBreakdown = { currency: USD, revenue: 10, deferredRevenue: 0, tax: 0, discount: 0 };
    await expect(
      t.db.transaction(async (tx) => {
        await postJournal(tx, salePosting({ paymentId: 'pay_rollback', connector: 'sandbox', captured: money(10, USD), total: money(10, USD), sale, taxCountry: 'US' }), Date.now());
        throw new Error('later step failed');
      }),
    ).rejects.toThrow('later step failed');
    expect(await accountBalance(t.db.kysely, 'gateway_clearing:sandbox', 'USD')).toBe(before);
    expect(await entriesForReference(t.db.kysely, 'pay_rollback')).toEqual([]);
  });
});
