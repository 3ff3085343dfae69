/**
 * PSD2 strong customer authentication in the live flow, with the sandbox as an Irish acquirer:
 * each attempt records what Obol asked the gateway about 3-D Secure, why, and what happened; the
 * low-value exemption keeps its 5-payments / EUR 100 counters; an issuer that refuses an
 * exemption gets a step-up to 3-D Secure instead of a failed payment.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachDatabase } from '../support/databases.js';
import { key, startHarness, type Harness } from '../support/harness.js';
import { COMPLETE_3DS, CREATE, FAIL_3DS } from './fragments.js';

const CONFIRM_SCA = `mutation($input: ConfirmCheckoutSessionInput!) {
  confirmCheckoutSession(input: $input) {
    payment { id status failedAttempts nextAction { challengeId } attempts { connector status declineCode declineClass authentication scaDecision threeDSecure } }
  }
}`;
const ATTEMPTS = 'attempts { connector status declineCode declineClass authentication scaDecision threeDSecure }';

interface Attempt {
  readonly connector: string;
  readonly status: string;
  readonly declineCode: string | null;
  readonly declineClass: string | null;
  readonly authentication: string | null;
  readonly scaDecision: string | null;
  readonly threeDSecure: string | null;
}

/** 15.00 EUR: within the low-value limit. */
const LOW_VALUE_PRICE = 'price_sca_low_value_eur';

describeEachDatabase('strong customer authentication', (dialect) => {
  let h: Harness;
  let customers = 0;
  beforeAll(async () => {
    h = await startHarness(dialect);
    await h.app.db.kysely
      .insertInto('prices')
      .values({ id: LOW_VALUE_PRICE, product_id: 'prod_ml_certificate', currency: 'EUR', unit_amount: 1500, billing_interval: null, tax_behavior: 'inclusive', country: null, nickname: 'Low-value test (EUR)', active: 1, created_at: 0 })
      .execute();
  });
  afterAll(async () => h?.close());

  const newCustomer = () => `cus_sca_${dialect}_${++customers}`;

  async function pay(args: { readonly customerId: string; readonly priceId: string; readonly token: string; readonly cardCountry?: string; readonly quantity?: number }) {
    const s = (await h.gql(CREATE, { input: { customerId: args.customerId, country: 'DE', items: [{ priceId: args.priceId, quantity: args.quantity ?? 1 }], idempotencyKey: key() } })).data!.createCheckoutSession
      .checkoutSession;
    const res = await h.gql(CONFIRM_SCA, { input: { sessionId: s.id, paymentMethodToken: args.token, idempotencyKey: key(), ...(args.cardCountry ? { cardCountry: args.cardCountry } : {}) } });
    expect(res.errors).toBeUndefined();
    return res.data!.confirmCheckoutSession.payment as { id: string; status: string; failedAttempts: number; nextAction: { challengeId: string } | null; attempts: Attempt[] };
  }

  const counters = (customerId: string) => h.app.db.kysely.selectFrom('sca_low_value_counters').select(['consecutive', 'cumulative_eur']).where('customer_id', '=', customerId).executeTakeFirst();

  describe('decisions on the attempt', () => {
    it('asks for 3-D Secure above the low-value limit with an EEA card, and records a frictionless authentication', async () => {
      const payment = await pay({ customerId: newCustomer(), priceId: 'price_ml_certificate_eur', token: 'tok_visa', cardCountry: 'DE' });
      expect(payment.status).toBe('succeeded');
      const [attempt] = payment.attempts;
      expect(attempt).toMatchObject({ authentication: 'required', threeDSecure: 'frictionless' });
      expect(attempt!.scaDecision).toMatch(/acquirer country IE is in the EEA SCA regime; issuer country DE is in the same regime;.*exceeds the low-value limit.*authentication required/);
    });

    it('requests the low-value exemption for a small EEA payment, and the attempt shows it was exempted', async () => {
      const customerId = newCustomer();
      const payment = await pay({ customerId, priceId: LOW_VALUE_PRICE, token: 'tok_visa', cardCountry: 'FR' });
      expect(payment.status).toBe('succeeded');
      expect(payment.attempts[0]).toMatchObject({ authentication: 'exemption:low_value', threeDSecure: 'exempted' });
      expect(payment.attempts[0]!.scaDecision).toMatch(/exemption 1 of 5, cumulative EUR 1500 cents: exempt/);
      expect(await counters(customerId)).toEqual({ consecutive: 1, cumulative_eur: 1500 });
    });

    it('leaves 3-D Secure to the gateway for a card issued outside the EEA (one leg out)', async () => {
      const payment = await pay({ customerId: newCustomer(), priceId: 'price_ml_certificate_eur', token: 'tok_visa', cardCountry: 'US' });
      expect(payment.attempts[0]).toMatchObject({ authentication: 'gateway_default', threeDSecure: 'not_attempted' });
      expect(payment.attempts[0]!.scaDecision).toMatch(/issuer country US is outside the acquirer's regime/);
    });

    it('authenticates when the card country is unknown, rather than risk a soft decline', async () => {
      const payment = await pay({ customerId: newCustomer(), priceId: LOW_VALUE_PRICE, token: 'tok_visa' });
      // Unknown issuer counts as in scope; the amount is low, so the exemption is still asked for.
      expect(payment.attempts[0]).toMatchObject({ authentication: 'exemption:low_value' });
      expect(payment.attempts[0]!.scaDecision).toMatch(/issuer country unknown: treated as in scope/);
    });

    it('refuses a malformed card country as a typed error and changes nothing', async () => {
      const s = (await h.gql(CREATE, { input: { customerId: newCustomer(), country: 'DE', items: [{ priceId: LOW_VALUE_PRICE, quantity: 1 }], idempotencyKey: key() } })).data!.createCheckoutSession
        .checkoutSession;
      for (const cardCountry of ['de', 'DEU', '4242']) {
        const res = await h.gql(CONFIRM_SCA, { input: { sessionId: s.id, paymentMethodToken: 'tok_visa', cardCountry, idempotencyKey: key() } });
        expect(res.errors?.[0]?.extensions?.code, cardCountry).toMatch(/VALIDATION_FAILED|INPUT_TOO_LARGE/);
      }
      const session = await h.app.db.kysely.selectFrom('checkout_sessions').select(['status', 'payment_id']).where('id', '=', s.id).executeTakeFirstOrThrow();
      expect(session).toEqual({ status: 'open', payment_id: null });
    });
  });

  describe('low-value counters (PSD2 RTS art. 16)', () => {
    it('allows five exemptions in a row, then authenticates the sixth, which resets the count', async () => {
      const customerId = newCustomer();
      const asked: string[] = [];
      for (let i = 0; i < 7; i++) {
        const payment = await pay({ customerId, priceId: LOW_VALUE_PRICE, token: 'tok_visa', cardCountry: 'IE' });
        expect(payment.status).toBe('succeeded');
        asked.push(payment.attempts[0]!.authentication!);
      }
      // 5 × 15.00 = 75.00 EUR stays under the cumulative EUR 100.
      expect(asked).toEqual(['exemption:low_value', 'exemption:low_value', 'exemption:low_value', 'exemption:low_value', 'exemption:low_value', 'required', 'exemption:low_value']);
      expect(await counters(customerId)).toEqual({ consecutive: 1, cumulative_eur: 1500 });
    });

    it('stops exempting once the cumulative amount would pass EUR 100', async () => {
      const customerId = newCustomer();
      const asked: string[] = [];
      // 2 × 30.00 = 60.00, then a third 30.00 would make 90.00 (allowed), a fourth 120.00 (not).
      for (let i = 0; i < 4; i++) {
        const payment = await pay({ customerId, priceId: LOW_VALUE_PRICE, token: 'tok_visa', cardCountry: 'NL', quantity: 2 });
        asked.push(payment.attempts[0]!.authentication!);
      }
      expect(asked).toEqual(['exemption:low_value', 'exemption:low_value', 'exemption:low_value', 'required']);
      expect(await counters(customerId)).toEqual({ consecutive: 0, cumulative_eur: 0 });
    });
  });

  describe('the issuer has the last word', () => {
    it('steps up to 3-D Secure when the issuer refuses the exemption: a second attempt, no failure for the learner', async () => {
      const payment = await pay({ customerId: newCustomer(), priceId: LOW_VALUE_PRICE, token: 'tok_visaExemptionRefused', cardCountry: 'DE' });
      expect(payment.status).toBe('succeeded');
      expect(payment.failedAttempts).toBe(0);
      expect(payment.attempts.map((a) => [a.connector, a.status, a.authentication, a.declineCode, a.declineClass, a.threeDSecure])).toEqual([
        ['sandbox', 'failed', 'exemption:low_value', 'authentication_required', 'customer_action', null],
        ['sandbox', 'captured', 'required', null, null, 'frictionless'],
      ]);
      expect(payment.attempts[1]!.scaDecision).toMatch(/^step-up/);
    });

    it('carries a challenge to the client and records it once the cardholder authenticates', async () => {
      const customerId = newCustomer();
      const payment = await pay({ customerId, priceId: 'price_ml_certificate_eur', token: 'tok_threeDSecure2Required', cardCountry: 'DE' });
      expect(payment.status).toBe('requires_action');
      expect(payment.attempts[0]).toMatchObject({ status: 'requires_action', authentication: 'required', threeDSecure: 'challenge' });
      const done = await h.gql(COMPLETE_3DS, { input: { paymentId: payment.id, idempotencyKey: key() } });
      expect(done.data!.completeThreeDSecureChallenge.payment.status).toBe('succeeded');
      const view = await h.gql(`query($id: ID!) { payment(id: $id) { ${ATTEMPTS} } }`, { id: payment.id });
      expect(view.data!.payment.attempts[0]).toMatchObject({ status: 'captured', threeDSecure: 'challenge' });
      // A strong authentication resets the low-value counters.
      expect(await counters(customerId)).toEqual({ consecutive: 0, cumulative_eur: 0 });
    });

    it('records a failed challenge as failed 3-D Secure and a customer-action decline', async () => {
      const payment = await pay({ customerId: newCustomer(), priceId: 'price_ml_certificate_eur', token: 'tok_threeDSecure2Required', cardCountry: 'DE' });
      const failed = await h.gql(FAIL_3DS, { input: { paymentId: payment.id, idempotencyKey: key() } });
      expect(failed.errors).toBeUndefined();
      const view = await h.gql(`query($id: ID!) { payment(id: $id) { status ${ATTEMPTS} } }`, { id: payment.id });
      expect(view.data!.payment.status).toBe('requires_payment_method');
      expect(view.data!.payment.attempts).toHaveLength(1);
      expect(view.data!.payment.attempts[0]).toMatchObject({ status: 'failed', declineClass: 'customer_action', threeDSecure: 'failed' });
    });
  });
});

describeEachDatabase('strong customer authentication switched off', (dialect) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(dialect, { ACQUIRER_COUNTRIES: 'none' });
  });
  afterAll(async () => h?.close());

  it('leaves 3-D Secure to the gateway when no acquirer country is configured, and says so', async () => {
    const s = (await h.gql(CREATE, { input: { customerId: `cus_sca_off_${dialect}`, country: 'DE', items: [{ priceId: 'price_ml_certificate_eur', quantity: 1 }], idempotencyKey: key() } })).data!
      .createCheckoutSession.checkoutSession;
    const res = await h.gql(CONFIRM_SCA, { input: { sessionId: s.id, paymentMethodToken: 'tok_visa', cardCountry: 'DE', idempotencyKey: key() } });
    const attempt = res.data!.confirmCheckoutSession.payment.attempts[0];
    expect(attempt).toMatchObject({ authentication: 'gateway_default', threeDSecure: 'not_attempted' });
    expect(attempt.scaDecision).toMatch(/no acquirer country configured/);
  });
});
