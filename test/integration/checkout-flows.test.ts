/**
 * Whole checkouts through GraphQL, for every sandbox token, on every database: the money lands
 * on a balanced ledger, events leave through the outbox, and nothing is ever charged twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachDatabase } from '../support/databases.js';
import { errorCode, key, startHarness, type Harness } from '../support/harness.js';
import { CAPTURE, COMPLETE_3DS, CONFIRM, CREATE, FAIL_3DS, PAYMENT, REFUND, TRIAL_BALANCE, VOID } from './fragments.js';

const USD_CERT = 'price_ml_certificate_usd';
const EUR_PLUS = 'price_plus_monthly_eur';

describeEachDatabase('checkout → payment → ledger → events', (dialect) => {
  let h: Harness;
  let customer = 0;
  beforeAll(async () => {
    h = await startHarness(dialect);
  });
  afterAll(async () => h?.close());

  const nextCustomer = () => `cus_flow_${dialect}_${++customer}`;

  async function createSession(input: Record<string, unknown> = {}) {
    const res = await h.gql(CREATE, { input: { customerId: nextCustomer(), country: 'US', items: [{ priceId: USD_CERT, quantity: 1 }], idempotencyKey: key('create'), ...input } });
    expect(res.errors).toBeUndefined();
    return res.data!.createCheckoutSession.checkoutSession;
  }

  async function confirm(sessionId: string, token: string | null, idempotencyKey = key('confirm')) {
    return h.gql(CONFIRM, { input: { sessionId, paymentMethodToken: token, idempotencyKey } });
  }

  async function chargesFor(paymentId: string) {
    const attempts = await h.app.db.kysely.selectFrom('payment_attempts').select('idempotency_key').where('payment_id', '=', paymentId).execute();
    const keys = new Set(attempts.map((a) => a.idempotency_key));
    return (await h.app.sandbox.chargeLog()).filter((c) => c.operation === 'authorize' && keys.has(c.idempotencyKey));
  }

  async function expectLedgerBalanced() {
    const tb = await h.gql(TRIAL_BALANCE);
    expect(tb.errors).toBeUndefined();
    expect(tb.data!.trialBalance.balanced).toBe(true);
    for (const c of tb.data!.trialBalance.currencies) expect(c.totalDebits).toBe(c.totalCredits);
  }

  async function eventTypes(aggregateId: string) {
    const rows = await h.app.db.kysely.selectFrom('outbox').select('type').where('aggregate_id', '=', aggregateId).orderBy('seq').execute();
    return rows.map((r) => r.type);
  }

  describe('prices and totals', () => {
    it('lists the demo catalog in USD, EUR, INR and JPY, with localized prices only for their country', async () => {
      const all = await h.gql(`{ prices { id currency country unitAmount { amount currency decimal } } }`);
      const currencies = new Set(all.data!.prices.map((p: { currency: string }) => p.currency));
      for (const c of ['USD', 'EUR', 'INR', 'JPY']) expect(currencies).toContain(c);
      const inIndia = await h.gql(`{ prices(country: "IN") { id country } }`);
      const countries = new Set(inIndia.data!.prices.map((p: { country: string | null }) => p.country));
      expect([...countries].every((c) => c === null || c === 'IN')).toBe(true);
      expect(countries).toContain('IN');
    });

    it('prices an EU VAT-inclusive cart: the tax is contained in the price', async () => {
      const s = await createSession({ country: 'DE', items: [{ priceId: EUR_PLUS, quantity: 1 }] });
      expect(s.currency).toBe('EUR');
      const line = s.lines[0];
      expect(line.taxBehavior).toBe('inclusive');
      expect(s.total.amount).toBe(line.amountGross.amount);
      // 19 % contained: tax = round_half_up(total × 1900 / 11900)
      expect(s.taxTotal.amount).toBe(Math.floor((s.total.amount * 1900 * 2 + 11900) / (11900 * 2)));
    });

    it('prices a US tax-exclusive cart with a percent coupon', async () => {
      const s = await createSession({ couponCode: 'WELCOME10' });
      expect(s.discountTotal.amount).toBe(Math.round(s.subtotal.amount / 10));
      expect(s.total.amount).toBe(s.subtotal.amount - s.discountTotal.amount + s.taxTotal.amount);
    });
  });

  it('succeeds with tok_visa: payment captured, session complete, ledger balanced, events emitted', async () => {
    const s = await createSession();
    const res = await confirm(s.id, 'tok_visa');
    expect(res.errors).toBeUndefined();
    const { payment, checkoutSession } = res.data!.confirmCheckoutSession;
    expect(payment.status).toBe('succeeded');
    expect(payment.amountCaptured.amount).toBe(s.total.amount);
    expect(checkoutSession.status).toBe('complete');
    expect(checkoutSession.orderId).toMatch(/^ord_/);
    expect(await chargesFor(payment.id)).toHaveLength(1);

    const detail = await h.gql(PAYMENT, { id: payment.id });
    const txs = detail.data!.payment.ledgerTransactions;
    expect(txs.map((t: { kind: string }) => t.kind)).toContain('sale');
    for (const t of txs) {
      const sum = t.entries.reduce((a: number, e: { debit: number; credit: number }) => a + e.debit - e.credit, 0);
      expect(sum).toBe(0);
    }
    await expectLedgerBalanced();
    expect(await eventTypes(payment.id)).toEqual(['payment.succeeded']);
    expect(await eventTypes(s.id)).toEqual(['checkout.session_created', 'checkout.completed']);
  });

  it.each([
    ['tok_chargeDeclined', 'card_declined', 'generic_decline', 'hard'],
    ['tok_chargeDeclinedInsufficientFunds', 'card_declined', 'insufficient_funds', 'hard'],
    ['tok_chargeDeclinedProcessingError', 'processing_error', 'processing_error', 'soft'],
  ])('%s is declined as data (%s/%s, %s) and the learner can retry on the same session', async (token, code, reason, declineClass) => {
    const s = await createSession();
    const res = await confirm(s.id, token);
    expect(res.errors).toBeUndefined();
    const { payment, checkoutSession } = res.data!.confirmCheckoutSession;
    expect(payment.status).toBe('requires_payment_method');
    expect(payment.lastError).toEqual({ code, reason, declineClass });
    expect(payment.attempts[0]).toMatchObject({ status: 'failed', declineCode: code, declineClass });
    expect(checkoutSession.status).toBe('open');
    expect(await eventTypes(payment.id)).toEqual(['payment.failed']);

    const retry = await confirm(s.id, 'tok_visa');
    const again = retry.data!.confirmCheckoutSession;
    expect(again.payment.id).toBe(payment.id);
    expect(again.payment.status).toBe('succeeded');
    expect(again.payment.attempts.map((a: { status: string }) => a.status)).toEqual(['failed', 'captured']);
    await expectLedgerBalanced();
  });

  it('3-D Secure completed: requires_action, then succeeded after the challenge', async () => {
    const s = await createSession();
    const res = await confirm(s.id, 'tok_threeDSecure2Required');
    const { payment, checkoutSession } = res.data!.confirmCheckoutSession;
    expect(payment.status).toBe('requires_action');
    expect(payment.nextAction.type).toBe('three_d_secure_challenge');
    expect(checkoutSession.status).toBe('processing');
    const done = await h.gql(COMPLETE_3DS, { input: { paymentId: payment.id, outcome: 'authenticated', idempotencyKey: key('3ds') } });
    expect(done.errors).toBeUndefined();
    expect(done.data!.completeThreeDSecureChallenge.payment.status).toBe('succeeded');
    expect(await chargesFor(payment.id)).toHaveLength(1);
    const session = await h.gql(`query($id: ID!) { checkoutSession(id: $id) { status } }`, { id: s.id });
    expect(session.data!.checkoutSession.status).toBe('complete');
    await expectLedgerBalanced();
  });

  it('3-D Secure failed: the attempt fails as customer_action and the session reopens', async () => {
    const s = await createSession();
    const res = await confirm(s.id, 'tok_threeDSecure2Required');
    const payment = res.data!.confirmCheckoutSession.payment;
    const failed = await h.gql(FAIL_3DS, { input: { paymentId: payment.id, idempotencyKey: key('3ds-fail') } });
    expect(failed.errors).toBeUndefined();
    const after = failed.data!.failThreeDSecureChallenge.payment;
    expect(after.status).toBe('requires_payment_method');
    expect(after.lastError.declineClass).toBe('customer_action');
    const session = await h.gql(`query($id: ID!) { checkoutSession(id: $id) { status } }`, { id: s.id });
    expect(session.data!.checkoutSession.status).toBe('open');
    const again = await h.gql(COMPLETE_3DS, { input: { paymentId: payment.id, idempotencyKey: key('3ds-late') } });
    expect(errorCode(again)).toBe('NO_ACTION_REQUIRED');
  });

  it('a gateway timeout is recorded as unknown and resolved by asking the gateway, never guessed', async () => {
    const s = await createSession();
    const res = await confirm(s.id, 'tok_timeout');
    expect(res.errors).toBeUndefined();
    const payment = res.data!.confirmCheckoutSession.payment;
    expect(payment.status).toBe('processing');
    expect(payment.attempts[0].status).toBe('unknown');
    // The gateway did charge; Obol must find that out rather than charge again or give up.
    expect(await chargesFor(payment.id)).toHaveLength(1);
    await h.runWorker();
    const after = await h.gql(PAYMENT, { id: payment.id });
    expect(after.data!.payment.status).toBe('succeeded');
    expect(after.data!.payment.attempts[0].status).toBe('captured');
    expect(await chargesFor(payment.id)).toHaveLength(1);
    await expectLedgerBalanced();
  });

  it('manual capture: authorize, capture part, and the rest is released', async () => {
    const s = await createSession({ captureMethod: 'manual' });
    const res = await confirm(s.id, 'tok_visa');
    const payment = res.data!.confirmCheckoutSession.payment;
    expect(payment.status).toBe('requires_capture');
    expect(payment.amountAuthorized.amount).toBe(s.total.amount);
    // An authorization alone grants nothing: consumers hear checkout.completed only once paid.
    expect(await eventTypes(s.id)).toEqual(['checkout.session_created']);
    const part = s.total.amount - 100;
    const cap = await h.gql(CAPTURE, { input: { paymentId: payment.id, amount: part, idempotencyKey: key('cap') } });
    expect(cap.errors).toBeUndefined();
    expect(cap.data!.capturePayment.result).toBe('succeeded');
    expect(cap.data!.capturePayment.payment.status).toBe('succeeded');
    expect(cap.data!.capturePayment.payment.amountCaptured.amount).toBe(part);
    expect(await eventTypes(s.id)).toEqual(['checkout.session_created', 'checkout.completed']);
    expect(await eventTypes(payment.id)).toEqual(['payment.authorized', 'payment.succeeded']);
    const again = await h.gql(CAPTURE, { input: { paymentId: payment.id, idempotencyKey: key('cap2') } });
    expect(errorCode(again)).toBe('ILLEGAL_STATE_TRANSITION');
    await expectLedgerBalanced();
  });

  it('void releases an authorization and cancels the payment', async () => {
    const s = await createSession({ captureMethod: 'manual' });
    const payment = (await confirm(s.id, 'tok_visa')).data!.confirmCheckoutSession.payment;
    const voided = await h.gql(VOID, { input: { paymentId: payment.id, idempotencyKey: key('void') } });
    expect(voided.errors).toBeUndefined();
    expect(voided.data!.voidPayment.payment.status).toBe('canceled');
    const detail = await h.gql(PAYMENT, { id: payment.id });
    const kinds = detail.data!.payment.ledgerTransactions.map((t: { kind: string }) => t.kind);
    expect(kinds).toEqual(['authorization', 'authorization_release']);
    expect(await eventTypes(s.id)).toEqual(['checkout.session_created', 'checkout.canceled']);
    const refund = await h.gql(REFUND, { input: { paymentId: payment.id, idempotencyKey: key('refund-void') } });
    expect(errorCode(refund)).toBe('ILLEGAL_STATE_TRANSITION');
    await expectLedgerBalanced();
  });

  it('partial and full refunds never exceed the captured amount', async () => {
    const s = await createSession({ country: 'DE', items: [{ priceId: EUR_PLUS, quantity: 2 }] });
    const payment = (await confirm(s.id, 'tok_visa')).data!.confirmCheckoutSession.payment;
    const total = payment.amountCaptured.amount as number;
    const first = await h.gql(REFUND, { input: { paymentId: payment.id, amount: 500, idempotencyKey: key('r1') } });
    expect(first.errors).toBeUndefined();
    expect(first.data!.refundPayment.result).toBe('succeeded');
    expect(first.data!.refundPayment.payment.amountRefunded.amount).toBe(500);

    const before = await h.snapshot();
    const over = await h.gql(REFUND, { input: { paymentId: payment.id, amount: total, idempotencyKey: key('r-over') } });
    expect(errorCode(over)).toBe('REFUND_EXCEEDS_CAPTURED');
    expect(await h.snapshot()).toEqual(before);

    const rest = await h.gql(REFUND, { input: { paymentId: payment.id, idempotencyKey: key('r2') } });
    expect(rest.errors).toBeUndefined();
    const after = rest.data!.refundPayment.payment;
    expect(after.amountRefunded.amount).toBe(total);
    expect(after.amountRefundable.amount).toBe(0);
    expect(after.refunds).toHaveLength(2);

    // The full refund gives back exactly the tax that was booked.
    const tb = await h.gql(TRIAL_BALANCE);
    const eur = tb.data!.trialBalance.currencies.find((c: { currency: string }) => c.currency === 'EUR');
    const tax = eur.accounts.find((a: { code: string }) => a.code === 'tax_payable:DE');
    expect(tax.balance).toBe(0);
    expect(await eventTypes(payment.id)).toEqual(['payment.succeeded', 'refund.succeeded', 'refund.succeeded']);
    await expectLedgerBalanced();
  });

  it('a 100 % coupon completes without a charge', async () => {
    const s = await createSession({ couponCode: 'FREECERT' });
    expect(s.total.amount).toBe(0);
    const chargesBefore = (await h.app.sandbox.chargeLog()).length;
    const res = await confirm(s.id, null);
    expect(res.errors).toBeUndefined();
    expect(res.data!.confirmCheckoutSession.payment).toBeNull();
    expect(res.data!.confirmCheckoutSession.checkoutSession.status).toBe('complete');
    expect((await h.app.sandbox.chargeLog()).length).toBe(chargesBefore);
    await expectLedgerBalanced();
  });

  it('relays committed events to bus subscribers and marks them published', async () => {
    const seen: string[] = [];
    const off = h.app.bus.subscribe('*', async (e) => {
      seen.push(e.type);
    });
    const s = await createSession();
    await confirm(s.id, 'tok_visa');
    await h.runWorker();
    off();
    expect(seen).toEqual(expect.arrayContaining(['checkout.session_created', 'payment.succeeded', 'checkout.completed']));
    const pending = await h.app.db.kysely.selectFrom('outbox').select('id').where('published_at', 'is', null).execute();
    expect(pending).toHaveLength(0);
  });

  it("pages through a customer's payments newest first", async () => {
    const customerId = nextCustomer();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await createSession({ customerId });
      ids.push((await confirm(s.id, 'tok_visa')).data!.confirmCheckoutSession.payment.id);
    }
    const q = `query($c: ID!, $after: String) { customerPayments(customerId: $c, first: 2, after: $after) { nodes { id } pageInfo { endCursor hasNextPage } } }`;
    const p1 = await h.gql(q, { c: customerId });
    expect(p1.data!.customerPayments.nodes.map((n: { id: string }) => n.id)).toEqual([ids[2], ids[1]]);
    expect(p1.data!.customerPayments.pageInfo.hasNextPage).toBe(true);
    const p2 = await h.gql(q, { c: customerId, after: p1.data!.customerPayments.pageInfo.endCursor });
    expect(p2.data!.customerPayments.nodes.map((n: { id: string }) => n.id)).toEqual([ids[0]]);
    expect(p2.data!.customerPayments.pageInfo.hasNextPage).toBe(false);
  });

  it('carries amounts beyond GraphQL Int (2^31) exactly', async () => {
    const now = Date.now();
    await h.app.db.kysely
      .insertInto('prices')
      .values({ id: 'price_big_jpy', product_id: 'prod_obol_plus', currency: 'JPY', unit_amount: 3_000_000_000, billing_interval: null, tax_behavior: 'inclusive', country: null, nickname: 'big', active: 1, created_at: now })
      .execute();
    const s = await createSession({ country: 'JP', items: [{ priceId: 'price_big_jpy', quantity: 2 }] });
    expect(s.total.amount).toBe(6_000_000_000);
    const payment = (await confirm(s.id, 'tok_visa')).data!.confirmCheckoutSession.payment;
    expect(payment.amountCaptured.amount).toBe(6_000_000_000);
    expect(payment.amountCaptured.decimal).toBe('6000000000');
  });
});
