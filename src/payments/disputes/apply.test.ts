import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { describeEachDatabase, createTestDatabase, type TestDatabase } from '../../../test/support/databases.js';
import { ManualClock, ObolError } from '../../kernel/index.js';
import { accountBalance, balanceDiscrepancies, entriesForReference, gatewayClearing, postJournal, salePosting, trialBalance, unbalancedTransactions } from '../../ledger/index.js';
import { CHARGEBACKS, DISPUTE_FEES } from '../../ledger/index.js';
import { money, parseCurrency, type CurrencyCode } from '../../money/index.js';
import type { PaymentsDeps } from '../deps.js';
import { applyDisputeEvent, type DisputeEventProps } from './apply.js';
import { listPaymentDisputes } from './records.js';

const EUR = parseCurrency('EUR') as CurrencyCode;
const USD = parseCurrency('USD') as CurrencyCode;
const CONNECTOR = 'sandbox';
const CAPTURED = 10_000;
const CLEARING = gatewayClearing(CONNECTOR);

describeEachDatabase('applyDisputeEvent', (dialect) => {
  let t: TestDatabase;
  let clock: ManualClock;
  let deps: PaymentsDeps;
  let incidents: unknown[];
  let revoked: string[];
  let seq = 0;

  beforeAll(async () => {
    t = await createTestDatabase(dialect);
  });
  afterAll(async () => {
    await t.drop();
  });
  beforeEach(() => {
    clock = new ManualClock(Date.UTC(2026, 0, 1) + seq * 1000);
    incidents = [];
    revoked = [];
    deps = {
      db: t.db,
      clock,
      // Disputes never call a gateway or the selling context: any use is a bug.
      connectors: {
        get: () => undefined,
        route: () => {
          throw new Error('no routing in dispute tests');
        },
        next: () => undefined,
        recordCall: () => undefined,
      },
      // Only a lost dispute reaches the selling context (to revoke what was bought); any other hook is a bug.
      hooks: new Proxy({} as PaymentsDeps['hooks'], {
        get: (_t, name) =>
          name === 'onDisputeLost'
            ? (_tx: unknown, intent: { readonly id: string }) => {
                revoked.push(intent.id);
                return Promise.resolve();
              }
            : () => Promise.reject(new Error(`hook ${String(name)} called`)),
      }),
      maxFailedAttempts: 3,
      acquirerCountries: {},
      supportRefundLimits: {},
      onIncident: (err) => incidents.push(err),
    };
  });

  /** A captured EUR payment of CAPTURED at the sandbox, with its sale booked. */
  async function capturedPayment(opts: { readonly status?: string; readonly captured?: number } = {}): Promise<string> {
    seq += 1;
    const id = `pay_dispute_test_${dialect}_${seq}`;
    const now = clock.now();
    const captured = opts.captured ?? CAPTURED;
    await t.db.kysely
      .insertInto('payment_intents')
      .values({
        id,
        checkout_session_id: `cs_dispute_test_${dialect}_${seq}`,
        invoice_id: null,
        initiator: 'customer',
        payment_method_id: null,
        customer_id: 'cus_disputer',
        currency: 'EUR',
        amount: CAPTURED,
        capture_method: 'automatic',
        status: opts.status ?? 'succeeded',
        connector: CONNECTOR,
        amount_authorized: CAPTURED,
        amount_captured: captured,
        amount_refunded: 0,
        failed_attempts: 0,
        last_error_code: null,
        last_error_reason: null,
        last_error_class: null,
        next_action: null,
        canceled_reason: null,
        created_at: now,
        updated_at: now,
        version: 3,
      })
      .execute();
    if (captured > 0) {
      await postJournal(
        t.db.kysely,
        salePosting({
          paymentId: id,
          connector: CONNECTOR,
          captured: money(captured, EUR),
          total: money(CAPTURED, EUR),
          sale: { currency: EUR, revenue: 8_000, deferredRevenue: 0, tax: 2_000, discount: 0 },
          taxCountry: 'DE',
        }),
        now,
      );
    }
    return id;
  }

  const event = (paymentId: string, kind: DisputeEventProps['kind'], over: Partial<DisputeEventProps> = {}): DisputeEventProps => ({
    connector: CONNECTOR,
    gatewayDisputeId: `dp_gw_${paymentId}`,
    paymentId,
    kind,
    amount: money(5_000, EUR),
    fee: money(1_500, EUR),
    reason: 'fraudulent',
    occurredAt: Date.UTC(2025, 11, 24),
    ...over,
  });

  async function disputeJournals(paymentId: string): Promise<string[]> {
    return (await entriesForReference(t.db.kysely, paymentId)).map((j) => j.kind).filter((k) => k.startsWith('dispute'));
  }

  async function events(paymentId: string): Promise<string[]> {
    const rows = await t.db.kysely.selectFrom('outbox').select(['type', 'payload']).where('aggregate_id', '=', paymentId).orderBy('seq').execute();
    return rows.map((r) => r.type);
  }

  async function expectLedgerSound(): Promise<void> {
    const tb = await trialBalance(t.db.kysely);
    for (const c of tb.currencies) expect(c.balanced).toBe(true);
    expect(await unbalancedTransactions(t.db.kysely)).toEqual([]);
    expect(await balanceDiscrepancies(t.db.kysely)).toEqual([]);
  }

  async function intentSnapshot(paymentId: string) {
    return t.db.kysely.selectFrom('payment_intents').select(['status', 'amount_captured', 'amount_refunded', 'version']).where('id', '=', paymentId).executeTakeFirstOrThrow();
  }

  it('opened → won: clearing drops by amount + fee, then the amount comes back; the fee stays', async () => {
    const pay = await capturedPayment();
    const clearingBefore = await accountBalance(t.db.kysely, CLEARING, 'EUR');
    const chargebacksBefore = await accountBalance(t.db.kysely, CHARGEBACKS, 'EUR');
    const feesBefore = await accountBalance(t.db.kysely, DISPUTE_FEES, 'EUR');
    const intentBefore = await intentSnapshot(pay);

    const opened = await applyDisputeEvent(deps, event(pay, 'opened'));
    expect(opened.applied).toBe(true);
    expect(opened.dispute).toMatchObject({ paymentId: pay, status: 'opened', amount: 5_000, currency: 'EUR', fee: 1_500, feeCurrency: 'EUR', reason: 'fraudulent', resolvedAt: null });
    expect(opened.dispute.id).toMatch(/^dp_[0-9A-Z]{26}$/);
    expect(await accountBalance(t.db.kysely, CLEARING, 'EUR')).toBe(clearingBefore - 6_500);
    expect(await accountBalance(t.db.kysely, CHARGEBACKS, 'EUR')).toBe(chargebacksBefore + 5_000);
    expect(await accountBalance(t.db.kysely, DISPUTE_FEES, 'EUR')).toBe(feesBefore + 1_500);
    await expectLedgerSound();

    clock.advance(60_000);
    const won = await applyDisputeEvent(deps, event(pay, 'won', { occurredAt: Date.UTC(2026, 0, 20) }));
    expect(won.applied).toBe(true);
    expect(won.dispute).toMatchObject({ id: opened.dispute.id, status: 'won', resolvedAt: Date.UTC(2026, 0, 20) });
    expect(await accountBalance(t.db.kysely, CLEARING, 'EUR')).toBe(clearingBefore - 1_500);
    expect(await accountBalance(t.db.kysely, CHARGEBACKS, 'EUR')).toBe(chargebacksBefore);
    expect(await accountBalance(t.db.kysely, DISPUTE_FEES, 'EUR')).toBe(feesBefore + 1_500);
    await expectLedgerSound();

    expect(await disputeJournals(pay)).toEqual(['dispute_opened', 'dispute_won']);
    expect(await events(pay)).toEqual(['dispute.opened', 'dispute.won']);
    // Disputes hang off the payment; its state machine and amounts are untouched.
    expect(await intentSnapshot(pay)).toEqual(intentBefore);
    expect((await listPaymentDisputes(t.db.kysely, pay)).map((d) => d.status)).toEqual(['won']);
  });

  it('opened → lost: the loss posts nothing more and emits dispute.lost with what revocation needs', async () => {
    const pay = await capturedPayment();
    const clearingBefore = await accountBalance(t.db.kysely, CLEARING, 'EUR');
    const chargebacksBefore = await accountBalance(t.db.kysely, CHARGEBACKS, 'EUR');
    await applyDisputeEvent(deps, event(pay, 'opened'));
    const lost = await applyDisputeEvent(deps, event(pay, 'lost'));
    expect(lost).toMatchObject({ applied: true, dispute: { status: 'lost' } });
    expect(await accountBalance(t.db.kysely, CLEARING, 'EUR')).toBe(clearingBefore - 6_500);
    expect(await accountBalance(t.db.kysely, CHARGEBACKS, 'EUR')).toBe(chargebacksBefore + 5_000);
    expect(await disputeJournals(pay)).toEqual(['dispute_opened']);
    expect(await events(pay)).toEqual(['dispute.opened', 'dispute.lost']);
    expect(revoked).toEqual([pay]);
    const row = await t.db.kysely.selectFrom('outbox').select('payload').where('aggregate_id', '=', pay).where('type', '=', 'dispute.lost').executeTakeFirstOrThrow();
    const envelope = JSON.parse(row.payload) as { type: string; partitionkey: string; data: Record<string, unknown> };
    expect(envelope.type).toBe('dispute.lost');
    expect(envelope.partitionkey).toBe(pay);
    expect(envelope.data).toMatchObject({ paymentId: pay, customerId: 'cus_disputer', amount: 5_000, currency: 'EUR', disputeId: lost.dispute.id, status: 'lost' });
    await expectLedgerSound();
  });

  it('applies each event once however often it is delivered', async () => {
    const pay = await capturedPayment();
    const first = await applyDisputeEvent(deps, event(pay, 'opened'));
    const again = await applyDisputeEvent(deps, event(pay, 'opened'));
    expect(again).toEqual({ applied: false, dispute: first.dispute });
    const won = await applyDisputeEvent(deps, event(pay, 'won'));
    expect(won.applied).toBe(true);
    for (const kind of ['won', 'opened', 'won'] as const) expect((await applyDisputeEvent(deps, event(pay, kind))).applied).toBe(false);
    expect(await disputeJournals(pay)).toEqual(['dispute_opened', 'dispute_won']);
    expect(await events(pay)).toEqual(['dispute.opened', 'dispute.won']);
    expect(await t.db.kysely.selectFrom('disputes').select('id').where('payment_id', '=', pay).execute()).toHaveLength(1);
    expect(incidents).toEqual([]);
    await expectLedgerSound();
  });

  it('an outcome before its opening performs both legs; the late opening is a no-op', async () => {
    const pay = await capturedPayment();
    const clearingBefore = await accountBalance(t.db.kysely, CLEARING, 'EUR');
    const won = await applyDisputeEvent(deps, event(pay, 'won'));
    expect(won).toMatchObject({ applied: true, dispute: { status: 'won', fee: 1_500 } });
    expect(await disputeJournals(pay)).toEqual(['dispute_opened', 'dispute_won']);
    expect(await events(pay)).toEqual(['dispute.opened', 'dispute.won']);
    expect(await accountBalance(t.db.kysely, CLEARING, 'EUR')).toBe(clearingBefore - 1_500);
    expect((await applyDisputeEvent(deps, event(pay, 'opened'))).applied).toBe(false);
    expect(await events(pay)).toEqual(['dispute.opened', 'dispute.won']);

    // Lost first, too: opened's posting, then the (empty) loss, both events.
    const pay2 = await capturedPayment();
    const lost = await applyDisputeEvent(deps, event(pay2, 'lost'));
    expect(lost).toMatchObject({ applied: true, dispute: { status: 'lost' } });
    expect(await disputeJournals(pay2)).toEqual(['dispute_opened']);
    expect(await events(pay2)).toEqual(['dispute.opened', 'dispute.lost']);
    await expectLedgerSound();
  });

  it('keeps the first outcome when the gateway contradicts it, and reports an incident', async () => {
    const pay = await capturedPayment();
    await applyDisputeEvent(deps, event(pay, 'won'));
    const contradicted = await applyDisputeEvent(deps, event(pay, 'lost'));
    expect(contradicted).toMatchObject({ applied: false, dispute: { status: 'won' } });
    expect(incidents).toHaveLength(1);
    expect(await events(pay)).toEqual(['dispute.opened', 'dispute.won']);
  });

  it('books a fee charged in another currency in that currency, balanced', async () => {
    const pay = await capturedPayment();
    const usdBefore = await accountBalance(t.db.kysely, CLEARING, 'USD');
    await applyDisputeEvent(deps, event(pay, 'opened', { fee: money(1_700, USD) }));
    expect(await accountBalance(t.db.kysely, CLEARING, 'USD')).toBe(usdBefore - 1_700);
    await expectLedgerSound();
  });

  async function expectRefusedWithNothingWritten(props: DisputeEventProps, code: string): Promise<void> {
    const count = async (table: 'disputes' | 'outbox' | 'journal_transactions') =>
      Number((await t.db.kysely.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    const before = [await count('disputes'), await count('outbox'), await count('journal_transactions')];
    const err = await applyDisputeEvent(deps, props).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObolError);
    expect((err as ObolError).code).toBe(code);
    expect([await count('disputes'), await count('outbox'), await count('journal_transactions')]).toEqual(before);
  }

  it('refuses a dispute on an unknown payment, or one another connector took, with NOT_FOUND', async () => {
    await expectRefusedWithNothingWritten(event('pay_does_not_exist', 'opened'), 'NOT_FOUND');
    await expectRefusedWithNothingWritten(event('pay_does_not_exist', 'won'), 'NOT_FOUND');
    const pay = await capturedPayment();
    await expectRefusedWithNothingWritten(event(pay, 'opened', { connector: 'stripe' }), 'NOT_FOUND');
  });

  it('refuses a currency mismatch, an amount beyond the capture, a payment with nothing captured, and bad amounts', async () => {
    const pay = await capturedPayment();
    await expectRefusedWithNothingWritten(event(pay, 'opened', { amount: money(5_000, USD) }), 'CURRENCY_MISMATCH');
    await expectRefusedWithNothingWritten(event(pay, 'opened', { amount: money(CAPTURED + 1, EUR) }), 'AMOUNT_TOO_LARGE');
    await expectRefusedWithNothingWritten(event(pay, 'opened', { amount: money(0, EUR) }), 'AMOUNT_INVALID');
    await expectRefusedWithNothingWritten(event(pay, 'opened', { fee: money(-1, EUR) }), 'AMOUNT_INVALID');
    await expectRefusedWithNothingWritten(event(pay, 'opened', { gatewayDisputeId: '' }), 'VALIDATION_FAILED');
    const uncaptured = await capturedPayment({ status: 'requires_capture', captured: 0 });
    await expectRefusedWithNothingWritten(event(uncaptured, 'opened'), 'ILLEGAL_STATE_TRANSITION');
  });

  it('refuses a gateway dispute id reused for another payment', async () => {
    const pay = await capturedPayment();
    const other = await capturedPayment();
    await applyDisputeEvent(deps, event(pay, 'opened', { gatewayDisputeId: 'dp_gw_shared' }));
    await expectRefusedWithNothingWritten(event(other, 'won', { gatewayDisputeId: 'dp_gw_shared' }), 'VALIDATION_FAILED');
  });
});
