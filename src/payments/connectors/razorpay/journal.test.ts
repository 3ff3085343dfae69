/**
 * The durable journal against every database, and what it is for: a refund made by one connector
 * instance is found by `retrieve` in another (a restarted process), where the in-memory journal
 * would answer not_found and Obol would wrongly treat the refund as never made.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRazorpaySimulator, type RazorpaySimulator } from '../../../../test/simulators/razorpay.js';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from '../../../../test/support/databases.js';
import { systemClock } from '../../../kernel/index.js';
import { money, parseCurrency, type CurrencyCode } from '../../../money/index.js';
import { expectStatus } from '../conformance.js';
import { createRazorpayConnector, inMemoryRazorpayJournal, sqlRazorpayJournal, type RazorpayJournal } from './index.js';

const INR = parseCurrency('INR') as CurrencyCode;

describeEachDatabase('Razorpay journal in the database', (dialect) => {
  let t: TestDatabase;
  let sim: RazorpaySimulator;
  beforeAll(async () => {
    t = await createTestDatabase(dialect);
    sim = await startRazorpaySimulator();
  });
  afterAll(async () => {
    await sim?.close();
    await t?.drop();
  });

  const connectorWith = (journal: RazorpayJournal) => createRazorpayConnector({ keyId: sim.keyId, keySecret: sim.keySecret, baseUrl: sim.baseUrl, timeoutMs: 2_000, journal });

  it('keeps the first entry for a key and reads it back', async () => {
    const journal = sqlRazorpayJournal({ db: t.db, clock: systemClock });
    expect(await journal.get('k_absent')).toBeUndefined();
    await journal.put('k_1', { operation: 'refund', paymentId: 'pay_A', amount: 5_000 });
    await journal.put('k_1', { operation: 'capture', paymentId: 'pay_B', amount: 1 });
    expect(await journal.get('k_1')).toEqual({ operation: 'refund', paymentId: 'pay_A', amount: 5_000 });
  });

  it('lets a restarted connector retrieve a refund the previous one made; the in-memory journal could not', async () => {
    const before = connectorWith(sqlRazorpayJournal({ db: t.db, clock: systemClock }));
    const auth = expectStatus(
      await before.authorize({ idempotencyKey: `jr_auth_${dialect}_${Date.now()}`, amount: money(100_000, INR), paymentMethod: 'rzp_sim:success', captureMethod: 'automatic', customerId: 'cus_journal', description: 'journal test' }),
      'succeeded',
    );
    const refundKey = `jr_ref_${dialect}_${Date.now()}`;
    const refund = expectStatus(await before.refund({ idempotencyKey: refundKey, reference: auth.reference, amount: money(40_000, INR) }), 'succeeded');

    const restarted = connectorWith(sqlRazorpayJournal({ db: t.db, clock: systemClock }));
    expect(await restarted.retrieve({ idempotencyKey: refundKey, operation: 'refund' })).toEqual({ status: 'found', operation: 'refund', outcome: refund });
    expect(await connectorWith(inMemoryRazorpayJournal()).retrieve({ idempotencyKey: refundKey, operation: 'refund' })).toEqual({ status: 'not_found' });
  });
});
