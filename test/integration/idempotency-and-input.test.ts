/**
 * Replays, races and refusals: a replay returns the first response, a reused key with another
 * request is refused, parallel duplicates have one effect, and every bad input gets a typed
 * error while the database stays exactly as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachDatabase } from '../support/databases.js';
import { errorCode, key, startHarness, type Harness } from '../support/harness.js';
import { CONFIRM, CREATE, REFUND } from './fragments.js';

describeEachDatabase('idempotency, concurrency and bad input', (dialect) => {
  let h: Harness;
  let n = 0;
  beforeAll(async () => {
    h = await startHarness(dialect);
  });
  afterAll(async () => h?.close());
  const customer = () => `cus_idem_${dialect}_${++n}`;
  const createInput = (over: Record<string, unknown> = {}) => ({ customerId: customer(), country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }], idempotencyKey: key('c'), ...over });

  async function session() {
    const res = await h.gql(CREATE, { input: createInput() });
    expect(res.errors).toBeUndefined();
    return res.data!.createCheckoutSession.checkoutSession as { id: string; total: { amount: number } };
  }

  describe('idempotent replay', () => {
    it('returns the first response for a replayed createCheckoutSession and creates one session', async () => {
      const input = createInput();
      const first = await h.gql(CREATE, { input });
      const before = await h.snapshot();
      const second = await h.gql(CREATE, { input });
      expect(second).toEqual(first);
      expect(await h.snapshot()).toEqual(before);
    });

    it('returns the first response for a replayed confirmation, without a second charge', async () => {
      const s = await session();
      const input = { sessionId: s.id, paymentMethodToken: 'tok_visa', idempotencyKey: key('confirm') };
      const first = await h.gql(CONFIRM, { input });
      const charges = (await h.app.sandbox.chargeLog()).length;
      const second = await h.gql(CONFIRM, { input });
      expect(second.data).toEqual(first.data);
      expect((await h.app.sandbox.chargeLog()).length).toBe(charges);
    });

    it('refuses the same key with a different request, changing nothing', async () => {
      const input = createInput();
      await h.gql(CREATE, { input });
      const before = await h.snapshot();
      const other = await h.gql(CREATE, { input: { ...input, country: 'DE' } });
      expect(errorCode(other)).toBe('IDEMPOTENCY_KEY_REUSED');
      expect(await h.snapshot()).toEqual(before);
    });

    it('refuses a key reused across different mutations', async () => {
      const s = await session();
      const k = key('cross');
      await h.gql(CONFIRM, { input: { sessionId: s.id, paymentMethodToken: 'tok_visa', idempotencyKey: k } });
      const res = await h.gql(CREATE, { input: createInput({ idempotencyKey: k }) });
      expect(errorCode(res)).toBe('IDEMPOTENCY_KEY_REUSED');
    });
  });

  describe('concurrent duplicates', () => {
    it('charges once when one session is confirmed in parallel with different keys', async () => {
      const s = await session();
      const results = await Promise.all(Array.from({ length: 6 }, () => h.gql(CONFIRM, { input: { sessionId: s.id, paymentMethodToken: 'tok_visa', idempotencyKey: key('race') } })));
      const ok = results.filter((r) => r.errors === undefined);
      expect(ok).toHaveLength(1);
      for (const r of results.filter((r) => r.errors !== undefined)) expect(errorCode(r)).toBe('CHECKOUT_SESSION_NOT_OPEN');
      const paymentId = ok[0]!.data!.confirmCheckoutSession.payment.id;
      const attempts = await h.app.db.kysely.selectFrom('payment_attempts').select('idempotency_key').where('payment_id', '=', paymentId).execute();
      expect(attempts).toHaveLength(1);
      const charges = (await h.app.sandbox.chargeLog()).filter((c) => c.idempotencyKey === attempts[0]!.idempotency_key);
      expect(charges).toHaveLength(1);
    });

    it('gives every parallel duplicate with the same key the same single result', async () => {
      const s = await session();
      const input = { sessionId: s.id, paymentMethodToken: 'tok_visa', idempotencyKey: key('same') };
      const results = await Promise.all(Array.from({ length: 6 }, () => h.gql(CONFIRM, { input })));
      for (const r of results) expect(r.errors).toBeUndefined();
      const ids = new Set(results.map((r) => r.data!.confirmCheckoutSession.payment.id));
      expect(ids.size).toBe(1);
      const statuses = new Set(results.map((r) => r.data!.confirmCheckoutSession.payment.status));
      expect([...statuses]).toEqual(['succeeded']);
      const attempts = await h.app.db.kysely.selectFrom('payment_attempts').select('id').where('payment_id', '=', [...ids][0]!).execute();
      expect(attempts).toHaveLength(1);
    });

    it('never refunds more than was captured, even when refunds race', async () => {
      const s = await session();
      const payment = (await h.gql(CONFIRM, { input: { sessionId: s.id, paymentMethodToken: 'tok_visa', idempotencyKey: key('pay') } })).data!.confirmCheckoutSession.payment;
      const part = Math.floor(s.total.amount / 3) + 1;
      const results = await Promise.all(Array.from({ length: 5 }, () => h.gql(REFUND, { input: { paymentId: payment.id, amount: part, idempotencyKey: key('rr') } })));
      const ok = results.filter((r) => r.errors === undefined);
      expect(ok).toHaveLength(2);
      for (const r of results.filter((r) => r.errors !== undefined)) expect(errorCode(r)).toBe('REFUND_EXCEEDS_CAPTURED');
      const refunded = await h.app.db.kysely.selectFrom('payment_intents').select('amount_refunded').where('id', '=', payment.id).executeTakeFirstOrThrow();
      expect(Number(refunded.amount_refunded)).toBe(2 * part);
    });
  });

  describe('bad input: a typed error and no change', () => {
    async function expectRefused(mutation: string, input: Record<string, unknown>, code: string) {
      const before = await h.snapshot();
      const res = await h.gql(mutation, { input });
      expect(errorCode(res)).toBe(code);
      expect(res.data).toBeNull();
      expect(await h.snapshot()).toEqual(before);
      return res;
    }

    it('unknown price', () => expectRefused(CREATE, createInput({ items: [{ priceId: 'price_does_not_exist', quantity: 1 }] }), 'PRICE_NOT_FOUND'));
    it('currency mismatch between items', () =>
      expectRefused(CREATE, createInput({ items: [{ priceId: 'price_ml_certificate_usd', quantity: 1 }, { priceId: 'price_plus_monthly_eur', quantity: 1 }] }), 'CURRENCY_MISMATCH'));
    it('zero quantity', () => expectRefused(CREATE, createInput({ items: [{ priceId: 'price_ml_certificate_usd', quantity: 0 }] }), 'INVALID_QUANTITY'));
    it('negative quantity', () => expectRefused(CREATE, createInput({ items: [{ priceId: 'price_ml_certificate_usd', quantity: -3 }] }), 'INVALID_QUANTITY'));
    it('no items', () => expectRefused(CREATE, createInput({ items: [] }), 'VALIDATION_FAILED'));
    it('a country without tax configuration', () => expectRefused(CREATE, createInput({ country: 'ZZ' }), 'UNSUPPORTED_COUNTRY'));
    it('a malformed country', () => expectRefused(CREATE, createInput({ country: 'Germany' }), 'VALIDATION_FAILED'));
    it('a localized price bought from another country', () => expectRefused(CREATE, createInput({ country: 'US', items: [{ priceId: 'price_ml_certificate_usd_br', quantity: 1 }] }), 'PRICE_NOT_AVAILABLE_IN_COUNTRY'));
    it('an expired coupon', () => expectRefused(CREATE, createInput({ couponCode: 'EXPIRED20' }), 'COUPON_EXPIRED'));
    it('an unknown coupon', () => expectRefused(CREATE, createInput({ couponCode: 'NOPE' }), 'COUPON_NOT_FOUND'));
    it('a malformed customer id', () => expectRefused(CREATE, createInput({ customerId: 'robert"); DROP TABLE' }), 'INVALID_ID'));
    it('a malformed price id', () => expectRefused(CREATE, createInput({ items: [{ priceId: '../../etc/passwd', quantity: 1 }] }), 'INVALID_ID'));
    it('a missing idempotency key', () => expectRefused(CREATE, createInput({ idempotencyKey: '' }), 'IDEMPOTENCY_KEY_REQUIRED'));
    it('too many items', () =>
      expectRefused(CREATE, createInput({ items: Array.from({ length: 51 }, (_, i) => ({ priceId: `price_item_${i}`, quantity: 1 })) }), 'INPUT_TOO_LARGE'));
    it('a malformed session id', () => expectRefused(CONFIRM, { sessionId: 'cs_123', paymentMethodToken: 'tok_visa', idempotencyKey: key() }, 'INVALID_ID'));
    it('an unknown session', () => expectRefused(CONFIRM, { sessionId: 'cs_01JDZZZZZZZZZZZZZZZZZZZZZZ', paymentMethodToken: 'tok_visa', idempotencyKey: key() }, 'NOT_FOUND'));
    it('a card number where a token belongs', () => expectRefused(CONFIRM, { sessionId: 'cs_01JDZZZZZZZZZZZZZZZZZZZZZZ', paymentMethodToken: '4242 4242 4242 4242', idempotencyKey: key() }, 'CARD_DATA_REFUSED'));
    it('a card number in any field', () => expectRefused(CREATE, createInput({ couponCode: '4000056655665556' }), 'CARD_DATA_REFUSED'));
    it('a malformed payment id for a refund', () => expectRefused(REFUND, { paymentId: 'pay_x', amount: 100, idempotencyKey: key() }, 'INVALID_ID'));
    it('a zero refund', async () => {
      const s = await session();
      const payment = (await h.gql(CONFIRM, { input: { sessionId: s.id, paymentMethodToken: 'tok_visa', idempotencyKey: key() } })).data!.confirmCheckoutSession.payment;
      await expectRefused(REFUND, { paymentId: payment.id, amount: 0, idempotencyKey: key() }, 'AMOUNT_INVALID');
      await expectRefused(REFUND, { paymentId: payment.id, amount: -5, idempotencyKey: key() }, 'AMOUNT_INVALID');
    });
    it('an over-refund', async () => {
      const s = await session();
      const payment = (await h.gql(CONFIRM, { input: { sessionId: s.id, paymentMethodToken: 'tok_visa', idempotencyKey: key() } })).data!.confirmCheckoutSession.payment;
      await expectRefused(REFUND, { paymentId: payment.id, amount: s.total.amount + 1, idempotencyKey: key() }, 'REFUND_EXCEEDS_CAPTURED');
    });
    it('an expired session', async () => {
      const s = await session();
      h.clock.advance(h.app.config.checkoutSessionTtlSeconds * 1000 + 1);
      await expectRefused(CONFIRM, { sessionId: s.id, paymentMethodToken: 'tok_visa', idempotencyKey: key() }, 'CHECKOUT_SESSION_EXPIRED');
    });
    it('a confirmation with nothing to pay with', async () => {
      const s = await session();
      await expectRefused(CONFIRM, { sessionId: s.id, paymentMethodToken: null, idempotencyKey: key() }, 'PAYMENT_METHOD_REQUIRED');
    });

    it('an oversized request body is refused with 413 before it is read', async () => {
      const before = await h.snapshot();
      const res = await h.server.inject({ method: 'POST', url: '/graphql', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ query: CREATE, variables: { input: createInput({ couponCode: 'x'.repeat(200_000) }) } }) });
      expect(res.statusCode).toBe(413);
      expect(res.json().errors[0].extensions.code).toBe('INPUT_TOO_LARGE');
      expect(await h.snapshot()).toEqual(before);
    });

    it('an amount beyond the safe integer range is refused', async () => {
      const res = await h.gql(REFUND, { input: { paymentId: 'pay_01JDZZZZZZZZZZZZZZZZZZZZZZ', amount: '99999999999999999999', idempotencyKey: key() } });
      expect(res.errors?.[0]?.extensions?.code).toBeDefined();
      expect(res.data).toBeNull();
    });

    it('a query deeper than the configured limit is refused before it runs', async () => {
      let deep = 'id';
      for (let i = 0; i < 6; i++) deep = `checkoutSession { payment { ${deep} } }`;
      const res = await h.gql(`{ payment(id: "pay_01JDZZZZZZZZZZZZZZZZZZZZZZ") { ${deep} } }`);
      expect(res.data ?? null).toBeNull();
      expect(res.errors?.[0]?.message).toMatch(/depth/i);
    });

    it('a query with too many aliases is refused before it runs', async () => {
      const res = await h.gql(`{ ${Array.from({ length: 30 }, (_, i) => `a${i}: products { id }`).join(' ')} }`);
      expect(res.data ?? null).toBeNull();
      expect(res.errors?.[0]?.message).toMatch(/alias/i);
    });
  });

  it('answers /healthz and /readyz', async () => {
    expect((await h.server.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const ready = await h.server.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'ready', migrations: 'current' });
  });
});
