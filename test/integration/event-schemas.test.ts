/**
 * The event contract, checked against what the app really writes: drive every flow that emits an
 * event (through GraphQL, the worker, and the dispute use case a webhook processor calls), then
 * validate every row of the outbox against its schema under schemas/. A use case that adds,
 * renames or drops a field, or an event type without a schema, fails here.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { money, parseCurrency, type CurrencyCode } from '../../src/money/index.js';
import { applyDisputeEvent } from '../../src/payments/disputes/index.js';
import { EVENT_TYPES, type EventType } from '../../src/platform/events/index.js';
import { loadEventSchemaFiles, validateEvent } from '../../src/platform/events/schemas.js';
import { describeEachDatabase } from '../support/databases.js';
import { key, startHarness, type Harness } from '../support/harness.js';
import { CAPTURE, COMPLETE_3DS, CONFIRM, CREATE, FAIL_3DS, REFUND, VOID } from './fragments.js';

const USD = parseCurrency('USD') as CurrencyCode;
const USD_CERT = 'price_ml_certificate_usd';
const EUR_PLUS = 'price_plus_monthly_eur';

/**
 * Event types no flow in the app can emit yet, each with the reason. Empty: every type is driven
 * below. A type added to EVENT_TYPES must get a flow here (or an entry with its reason).
 */
const NOT_YET_PRODUCIBLE: Partial<Record<EventType, string>> = {};

interface OutboxRow {
  readonly id: string;
  readonly topic: string;
  readonly type: string;
  readonly aggregate_id: string;
  readonly payload: string;
}

describeEachDatabase('every emitted event validates against its schema', (dialect) => {
  let h: Harness;
  let rows: readonly OutboxRow[] = [];
  let n = 0;

  const customer = () => `cus_schema_${dialect}_${++n}`;

  async function ok<T extends { errors?: unknown; data: any }>(res: Promise<T>): Promise<NonNullable<T['data']>> {
    const r = await res;
    expect(r.errors).toBeUndefined();
    return r.data;
  }
  const create = async (input: Record<string, unknown> = {}) =>
    (await ok(h.gql(CREATE, { input: { customerId: customer(), country: 'US', items: [{ priceId: USD_CERT, quantity: 1 }], idempotencyKey: key('create'), ...input } }))).createCheckoutSession
      .checkoutSession;
  const confirm = async (sessionId: string, token: string | null) => (await ok(h.gql(CONFIRM, { input: { sessionId, paymentMethodToken: token, idempotencyKey: key('confirm') } }))).confirmCheckoutSession;
  const refund = async (paymentId: string, amount: number) => (await ok(h.gql(REFUND, { input: { paymentId, amount, idempotencyKey: key('refund') } }))).refundPayment;

  /** Every flow that emits an event, each checked to have taken the path it is here for. */
  async function driveEveryEventKind(): Promise<void> {
    // Paid (EUR, tax inclusive), refunded in part and then in full: the full refund revokes the order.
    const paid = await create({ country: 'DE', items: [{ priceId: EUR_PLUS, quantity: 2 }] });
    const paidPayment = (await confirm(paid.id, 'tok_visa')).payment;
    expect(paidPayment.status).toBe('succeeded');
    expect((await refund(paidPayment.id, 500)).result).toBe('succeeded');
    expect((await refund(paidPayment.id, paidPayment.amountCaptured.amount - 500)).payment.amountRefundable.amount).toBe(0);

    // Free: a 100 % coupon completes without a payment.
    const free = await create({ couponCode: 'FREECERT' });
    expect(free.total.amount).toBe(0);
    const freeDone = await confirm(free.id, null);
    expect(freeDone.payment).toBeNull();
    expect(freeDone.checkoutSession.status).toBe('complete');

    // Manual capture, captured later (payment.succeeded without an attempt).
    const captured = await create({ captureMethod: 'manual' });
    const authorized = (await confirm(captured.id, 'tok_visa')).payment;
    expect(authorized.status).toBe('requires_capture');
    expect((await ok(h.gql(CAPTURE, { input: { paymentId: authorized.id, idempotencyKey: key('capture') } }))).capturePayment.result).toBe('succeeded');

    // Manual capture, voided: the payment and the checkout are canceled.
    const voided = await create({ captureMethod: 'manual' });
    const toVoid = (await confirm(voided.id, 'tok_visa')).payment;
    expect((await ok(h.gql(VOID, { input: { paymentId: toVoid.id, idempotencyKey: key('void') } }))).voidPayment.payment.status).toBe('canceled');

    // 3-D Secure: challenged, then authenticated; and challenged, then failed by the cardholder.
    const challenged = await create();
    const action = (await confirm(challenged.id, 'tok_threeDSecure2Required')).payment;
    expect(action.status).toBe('requires_action');
    expect((await ok(h.gql(COMPLETE_3DS, { input: { paymentId: action.id, outcome: 'authenticated', idempotencyKey: key('3ds') } }))).completeThreeDSecureChallenge.payment.status).toBe('succeeded');
    const failedChallenge = await create();
    const failing = (await confirm(failedChallenge.id, 'tok_threeDSecure2Required')).payment;
    expect((await ok(h.gql(FAIL_3DS, { input: { paymentId: failing.id, idempotencyKey: key('3ds-fail') } }))).failThreeDSecureChallenge.payment.lastError.declineClass).toBe('customer_action');

    // Declined until the attempts run out (PAYMENT_MAX_FAILED_ATTEMPTS=2): the checkout expires.
    const declined = await create();
    expect((await confirm(declined.id, 'tok_chargeDeclinedInsufficientFunds')).payment.status).toBe('requires_payment_method');
    const exhausted = await confirm(declined.id, 'tok_chargeDeclined');
    expect(exhausted.payment.status).toBe('failed');
    expect(exhausted.checkoutSession.status).toBe('expired');

    // A refund the gateway refuses: the money was already refunded at the gateway directly (as
    // from its dashboard), so the sandbox declines Obol's refund as too large.
    const refusedSale = await create();
    const refusedPayment = (await confirm(refusedSale.id, 'tok_visa')).payment;
    const attempt = await h.app.db.kysely.selectFrom('payment_attempts').select('gateway_reference').where('payment_id', '=', refusedPayment.id).executeTakeFirstOrThrow();
    const outOfBand = await h.app.sandbox.refund({ idempotencyKey: key('dashboard'), reference: attempt.gateway_reference!, amount: money(refusedPayment.amountCaptured.amount, USD) });
    expect(outOfBand.status).toBe('succeeded');
    const refused = await refund(refusedPayment.id, 100);
    expect(refused.result).toBe('failed');

    // Disputes, as a gateway's webhook processor reports them: opened then won; opened then lost
    // (which revokes the order); and an outcome that arrives before its opening.
    const disputed = async () => {
      const s = await create();
      const p = (await confirm(s.id, 'tok_visa')).payment;
      return { connector: 'sandbox', paymentId: p.id as string, amount: money(s.total.amount, USD), occurredAt: h.clock.now() };
    };
    const won = { ...(await disputed()), gatewayDisputeId: key('dp-won'), fee: money(1500, USD), reason: 'fraudulent' };
    expect((await applyDisputeEvent(h.app.payments, { ...won, kind: 'opened' })).applied).toBe(true);
    expect((await applyDisputeEvent(h.app.payments, { ...won, kind: 'won' })).applied).toBe(true);
    const lost = await disputed();
    const lostId = key('dp-lost');
    expect((await applyDisputeEvent(h.app.payments, { ...lost, gatewayDisputeId: lostId, kind: 'opened', fee: null, reason: null })).applied).toBe(true);
    expect((await applyDisputeEvent(h.app.payments, { ...lost, gatewayDisputeId: lostId, kind: 'lost', fee: null, reason: null })).applied).toBe(true);
    const early = await disputed();
    expect((await applyDisputeEvent(h.app.payments, { ...early, gatewayDisputeId: key('dp-early'), kind: 'won', fee: money(1500, USD), reason: 'product_not_received' })).applied).toBe(true);

    // Expiry: an abandoned 3-D Secure checkout (its payment is canceled) and an untouched one.
    const abandoned = await create();
    expect((await confirm(abandoned.id, 'tok_threeDSecure2Required')).payment.status).toBe('requires_action');
    const untouched = await create();
    h.clock.advance(h.app.config.checkoutSessionTtlSeconds * 1000);
    await h.runWorker();
    for (const id of [abandoned.id, untouched.id]) {
      expect((await ok(h.gql(`query($id: ID!) { checkoutSession(id: $id) { status } }`, { id }))).checkoutSession.status).toBe('expired');
    }
  }

  beforeAll(async () => {
    h = await startHarness(dialect, { PAYMENT_MAX_FAILED_ATTEMPTS: '2' });
    await driveEveryEventKind();
    rows = await h.app.db.kysely.selectFrom('outbox').select(['id', 'topic', 'type', 'aggregate_id', 'payload']).orderBy('seq').execute();
  });
  afterAll(async () => h?.close());

  const events = () => rows.map((r) => ({ row: r, event: JSON.parse(r.payload) as Record<string, any> }));

  it('validates every outbox row against the schema of its type', () => {
    expect(rows.length).toBeGreaterThan(EVENT_TYPES.length);
    const failures = events().flatMap(({ row, event }) => {
      const result = validateEvent(event);
      return result.ok ? [] : [{ type: row.type, id: row.id, errors: result.errors }];
    });
    expect(failures).toEqual([]);
  });

  it('emits every event type at least once, unless listed with the reason it cannot be produced yet', () => {
    const seen = new Set(rows.map((r) => r.type));
    const missing = EVENT_TYPES.filter((t) => !seen.has(t) && NOT_YET_PRODUCIBLE[t] === undefined);
    expect(missing).toEqual([]);
    // A listed type that is produced after all should leave the list.
    expect(Object.keys(NOT_YET_PRODUCIBLE).filter((t) => seen.has(t))).toEqual([]);
  });

  it('publishes each type on the topic its schema is filed under, keyed by the aggregate its envelope names', () => {
    const topicOf = new Map(loadEventSchemaFiles().map((f) => [f.type, f.topic]));
    const mismatches = events().flatMap(({ row, event }) => {
      const wrong: string[] = [];
      if (row.topic !== topicOf.get(row.type)) wrong.push(`${row.type} on ${row.topic}, schema under ${String(topicOf.get(row.type))}`);
      if (event.id !== row.id) wrong.push(`${row.id}: envelope id ${event.id}`);
      if (event.type !== row.type) wrong.push(`${row.id}: envelope type ${event.type}, row type ${row.type}`);
      if (event.subject !== row.aggregate_id || event.partitionkey !== row.aggregate_id) wrong.push(`${row.id}: subject ${event.subject} / partitionkey ${event.partitionkey}, aggregate ${row.aggregate_id}`);
      return wrong;
    });
    expect(mismatches).toEqual([]);
  });

  it('exercised the optional and conditional parts of the schemas, not only their common shape', () => {
    const all = events().map((e) => e.event);
    const some = (type: EventType, test: (data: Record<string, any>) => boolean) => all.some((e) => e.type === type && test(e.data));
    expect({
      freeCompletion: some('checkout.completed', (d) => d.paymentId === null && d.total === 0),
      paidCompletion: some('checkout.completed', (d) => typeof d.paymentId === 'string' && d.total > 0),
      capturedByAttempt: some('payment.succeeded', (d) => 'attemptId' in d),
      capturedLater: some('payment.succeeded', (d) => !('attemptId' in d)),
      voided: some('payment.canceled', (d) => d.reason === 'voided' && 'connector' in d),
      canceledByExpiry: some('payment.canceled', (d) => d.reason === 'checkout_expired'),
      expiredByTtl: some('checkout.expired', (d) => d.reason === 'ttl'),
      expiredByDeclines: some('checkout.expired', (d) => d.reason === 'payment_attempts_exhausted'),
      declinedNotFinal: some('payment.failed', (d) => d.final === false),
      declinedFinal: some('payment.failed', (d) => d.final === true),
      partialRefund: some('refund.succeeded', (d) => d.fullyRefunded === false),
      fullRefund: some('refund.succeeded', (d) => d.fullyRefunded === true),
      revokedByRefund: some('order.access_revoked', (d) => d.reason === 'refunded'),
      revokedByDispute: some('order.access_revoked', (d) => d.reason === 'dispute_lost'),
      disputeWithFee: some('dispute.opened', (d) => d.fee !== null && d.feeCurrency !== null),
      disputeWithoutFee: some('dispute.opened', (d) => d.fee === null && d.feeCurrency === null && d.reason === null),
      openedAfterOutcome: some('dispute.opened', (d) => d.status === 'won'),
    }).toEqual({
      freeCompletion: true,
      paidCompletion: true,
      capturedByAttempt: true,
      capturedLater: true,
      voided: true,
      canceledByExpiry: true,
      expiredByTtl: true,
      expiredByDeclines: true,
      declinedNotFinal: true,
      declinedFinal: true,
      partialRefund: true,
      fullRefund: true,
      revokedByRefund: true,
      revokedByDispute: true,
      disputeWithFee: true,
      disputeWithoutFee: true,
      openedAfterOutcome: true,
    });
  });
});
