import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStripeSimulator, type StripeSimulator } from '../../../../test/simulators/stripe.js';
import { money, parseCurrency, type CurrencyCode, type Money } from '../../../money/index.js';
import { connectorConformanceSuite, expectStatus } from '../conformance.js';
import {
  ConnectorUnavailableError,
  ConnectorUnknownOutcomeError,
  type AuthenticationRequest,
  type AuthorizeOutcome,
  type ChallengeSimulator,
  type Connector,
  type SavePaymentMethodOutcome,
} from '../port.js';
import {
  createStripeConnector,
  declineClassOf,
  fromStripeAmount,
  parseSavedPaymentMethod,
  reasonOf,
  STRIPE_CONFORMANCE_TOKENS,
  STRIPE_OFF_SESSION_AUTHENTICATION_REQUIRED_TOKEN,
  stripeAuthenticationOf,
  StripeIdempotencyKeyReusedError,
  threeDsOutcomeOf,
  toStripeAmount,
} from './index.js';

function currency(code: string): CurrencyCode {
  const parsed = parseCurrency(code);
  if (parsed === undefined) throw new Error(code);
  return parsed;
}
const usd = (amount: number): Money => money(amount, currency('USD'));
const key = (label: string): string => `stripe_${label}_${randomUUID()}`;

/** The real connector plus the simulator playing the cardholder (the challenge id is the PaymentIntent id). */
function withChallenges(connector: Connector, sim: StripeSimulator): Connector & ChallengeSimulator {
  return {
    ...connector,
    completeChallenge: async ({ challengeId, outcome }) => sim.completeChallenge(challengeId, outcome),
  };
}

const connectorFor = (sim: StripeSimulator, timeoutMs = 5_000): Connector =>
  createStripeConnector({ secretKey: sim.secretKey, host: '127.0.0.1', port: sim.port, protocol: 'http', timeoutMs });

connectorConformanceSuite({
  name: 'stripe',
  setup: async () => {
    // The battery saves 4000002760003184 server-side, which Stripe only lets through after the customer
    // authenticated the setup (in Stripe.js); the simulator plays that part here. What the battery checks
    // is the off-session charge afterwards, which this card fails with authentication_required regardless.
    const sim = await startStripeSimulator({ setupAuthentication: 'completed_by_customer' });
    return {
      connector: withChallenges(connectorFor(sim), sim),
      tokens: STRIPE_CONFORMANCE_TOKENS,
      offSessionAuthenticationRequired: { token: STRIPE_OFF_SESSION_AUTHENTICATION_REQUIRED_TOKEN },
      teardown: () => sim.close(),
    };
  },
});

describe('stripe transformers', () => {
  it('sends JPY as is, KWD in thousandths only when the last digit is 0, and ISK/UGX as two-decimal', () => {
    expect(toStripeAmount(money(1234, currency('JPY')))).toEqual({ ok: true, amount: 1234, currency: 'jpy' });
    expect(toStripeAmount(money(1230, currency('KWD')))).toEqual({ ok: true, amount: 1230, currency: 'kwd' });
    expect(toStripeAmount(money(1234, currency('KWD')))).toMatchObject({ ok: false, decline: { code: 'invalid_amount', declineClass: 'hard' } });
    expect(toStripeAmount(money(5, currency('ISK')))).toEqual({ ok: true, amount: 500, currency: 'isk' });
    expect(toStripeAmount(money(1000, currency('HUF')))).toEqual({ ok: true, amount: 1000, currency: 'huf' });
    expect(fromStripeAmount(500, 'ugx')).toEqual(money(5, currency('UGX')));
    expect(fromStripeAmount(1234, 'jpy')).toEqual(money(1234, currency('JPY')));
  });

  it.each([
    [{ type: 'card_error', code: 'card_declined', decline_code: 'generic_decline' }, 'generic_decline', 'hard'],
    [{ type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds' }, 'insufficient_funds', 'hard'],
    [{ type: 'card_error', code: 'processing_error' }, 'processing_error', 'soft'],
    [{ type: 'card_error', code: 'card_declined', decline_code: 'authentication_required' }, 'authentication_required', 'customer_action'],
    [{ type: 'card_error', code: 'payment_intent_authentication_failure' }, 'authentication_required', 'customer_action'],
    [{ type: 'card_error', code: 'card_declined', decline_code: 'generic_decline', advice_code: 'try_again_later' }, 'generic_decline', 'soft'],
    [{ type: 'card_error', code: 'card_declined', decline_code: 'do_not_honor', advice_code: 'confirm_card_data' }, 'do_not_honor', 'customer_action'],
    [{ type: 'card_error', code: 'card_declined', decline_code: 'issuer_not_available', advice_code: 'do_not_try_again' }, 'issuer_not_available', 'hard'],
    [{ type: 'invalid_request_error', code: 'amount_too_large' }, 'amount_too_large', 'hard'],
  ] as const)('maps %o to %s / %s', (error, reason, declineClass) => {
    expect(reasonOf(error)).toBe(reason);
    expect(declineClassOf(error)).toBe(declineClass);
  });

  it('asks Stripe for 3-D Secure only when Obol requires it, and only records a requested exemption', () => {
    expect(stripeAuthenticationOf(undefined)).toEqual({ requestThreeDSecure: 'automatic', exemption: null });
    expect(stripeAuthenticationOf({ kind: 'gateway_default' })).toEqual({ requestThreeDSecure: 'automatic', exemption: null });
    expect(stripeAuthenticationOf({ kind: 'required' })).toEqual({ requestThreeDSecure: 'any', exemption: null });
    expect(stripeAuthenticationOf({ kind: 'exemption', exemption: 'low_value' })).toEqual({ requestThreeDSecure: 'automatic', exemption: 'low_value' });
    expect(stripeAuthenticationOf({ kind: 'exemption', exemption: 'fixed_amount_recurring' })).toEqual({ requestThreeDSecure: 'automatic', exemption: 'fixed_amount_recurring' });
  });

  it.each([
    [{ result: 'authenticated', authentication_flow: 'challenge' }, 'challenge'],
    [{ result: 'authenticated', authentication_flow: 'frictionless' }, 'frictionless'],
    [{ result: 'authenticated', authentication_flow: null }, undefined],
    [{ result: 'exempted', authentication_flow: null }, 'exempted'],
    [{ result: 'failed', authentication_flow: 'challenge' }, 'failed'],
    [{ result: 'processing_error', authentication_flow: null }, 'failed'],
    [{ result: 'not_supported', authentication_flow: null }, 'not_attempted'],
    [{ result: 'attempt_acknowledged', authentication_flow: null }, 'not_attempted'],
    [{ result: 'data_share_only', authentication_flow: null }, 'not_attempted'],
    [{ result: null, authentication_flow: null }, undefined],
    [{ result: 'something_new', authentication_flow: null }, undefined],
    [null, undefined],
  ] as const)('maps three_d_secure %o to %s', (tds, expected) => {
    expect(threeDsOutcomeOf(tds)).toBe(expected);
  });

  it('keeps both halves of a saved reference, and hands anything else to Stripe as it is', () => {
    expect(parseSavedPaymentMethod('cus_1/pm_2')).toEqual({ customer: 'cus_1', paymentMethod: 'pm_2' });
    expect(parseSavedPaymentMethod('pm_2')).toEqual({ customer: null, paymentMethod: 'pm_2' });
    expect(parseSavedPaymentMethod('a/b/c')).toEqual({ customer: null, paymentMethod: 'a/b/c' });
    expect(parseSavedPaymentMethod('/pm_2')).toEqual({ customer: null, paymentMethod: '/pm_2' });
  });
});

describe('stripe connector against the simulator', () => {
  let sim: StripeSimulator;
  let stripe: Connector;
  beforeAll(async () => {
    sim = await startStripeSimulator();
    stripe = connectorFor(sim);
  });
  afterAll(async () => sim?.close());

  const authorize = (
    paymentMethod: string,
    props: { idempotencyKey?: string; amount?: Money; captureMethod?: 'automatic' | 'manual'; connector?: Connector; authentication?: AuthenticationRequest; savePaymentMethod?: boolean } = {},
  ): Promise<AuthorizeOutcome> =>
    (props.connector ?? stripe).authorize({
      idempotencyKey: props.idempotencyKey ?? key('auth'),
      amount: props.amount ?? usd(1000),
      paymentMethod,
      captureMethod: props.captureMethod ?? 'automatic',
      customerId: 'cus_obol_test',
      description: 'stripe test',
      ...(props.authentication !== undefined ? { authentication: props.authentication } : {}),
      ...(props.savePaymentMethod !== undefined ? { savePaymentMethod: props.savePaymentMethod } : {}),
    });
  const save = (paymentMethod: string, idempotencyKey: string = key('save')): Promise<SavePaymentMethodOutcome> =>
    stripe.savePaymentMethod({ idempotencyKey, paymentMethod, customerId: 'cus_obol_test' });
  const chargeOffSession = (savedPaymentMethod: string, idempotencyKey: string = key('mit'), amount: Money = usd(1000)): Promise<AuthorizeOutcome> =>
    stripe.chargeOffSession({ idempotencyKey, amount, savedPaymentMethod, customerId: 'cus_obol_test', description: 'stripe renewal' });
  const requestsWith = (idempotencyKey: string) => sim.requests().filter((r) => r.idempotencyKey === idempotencyKey);

  it('sends Obol’s Idempotency-Key on every mutating call, and the same key again on a retry', async () => {
    const authKey = key('auth');
    const auth = expectStatus(await authorize('pm_card_visa', { idempotencyKey: authKey, captureMethod: 'manual' }), 'requires_capture');
    const capKey = key('cap');
    expectStatus(await stripe.capture({ idempotencyKey: capKey, reference: auth.reference, amount: usd(800) }), 'succeeded');
    const refKey = key('ref');
    expectStatus(await stripe.refund({ idempotencyKey: refKey, reference: auth.reference, amount: usd(300) }), 'succeeded');
    const held = expectStatus(await authorize('pm_card_visa', { captureMethod: 'manual' }), 'requires_capture');
    const voidKey = key('void');
    expectStatus(await stripe.void({ idempotencyKey: voidKey, reference: held.reference }), 'succeeded');

    const posts = sim.requests().filter((r) => r.method === 'POST');
    expect(posts.every((r) => r.idempotencyKey !== null && r.idempotencyKey.length > 0)).toBe(true);
    expect(requestsWith(authKey).map((r) => r.path)).toEqual(['/v1/payment_intents']);
    expect(requestsWith(authKey)[0]?.params).toMatchObject({ confirm: 'true', capture_method: 'manual', amount: '1000', currency: 'usd', 'metadata[obol_idempotency_key]': authKey });
    expect(requestsWith(capKey).map((r) => [r.path, r.params['amount_to_capture']])).toEqual([[`/v1/payment_intents/${auth.reference}/capture`, '800']]);
    expect(requestsWith(refKey).map((r) => [r.path, r.params['amount']])).toEqual([['/v1/refunds', '300']]);
    expect(requestsWith(voidKey).map((r) => r.path)).toEqual([`/v1/payment_intents/${held.reference}/cancel`]);

    // A retry by Obol reuses the key, and Stripe replays instead of charging again.
    const again = await authorize('pm_card_visa', { idempotencyKey: authKey, captureMethod: 'manual' });
    expect(again).toEqual(auth);
    expect(requestsWith(authKey)).toHaveLength(2);
    expect(new Set(sim.requests().filter((r) => r.method === 'POST' && r.path === '/v1/payment_intents' && r.params['metadata[obol_idempotency_key]'] === authKey).map((r) => r.idempotencyKey))).toEqual(new Set([authKey]));
  });

  it('surfaces a key reused with different parameters as an error, not a decline, and executes nothing', async () => {
    const idempotencyKey = key('reuse');
    const first = expectStatus(await authorize('pm_card_visa', { idempotencyKey }), 'succeeded');
    await expect(authorize('pm_card_visa', { idempotencyKey, amount: usd(2000) })).rejects.toBeInstanceOf(StripeIdempotencyKeyReusedError);
    expect(await stripe.retrieve({ idempotencyKey, operation: 'authorize' })).toEqual({ status: 'found', operation: 'authorize', outcome: first });
    // Still exactly one charge of 1000 behind the key.
    expectStatus(await stripe.refund({ idempotencyKey: key('ref'), reference: first.reference, amount: usd(1000) }), 'succeeded');
  });

  it('maps a 402 card_error to a decline with the decline_code, keeping the PaymentIntent as reference', async () => {
    const idempotencyKey = key('decline');
    const outcome = expectStatus(await authorize('pm_card_chargeDeclinedInsufficientFunds', { idempotencyKey }), 'declined');
    expect(outcome.decline).toEqual({ code: 'card_declined', reason: 'insufficient_funds', declineClass: 'hard', message: 'Your card has insufficient funds.' });
    expect(outcome.reference).toMatch(/^pi_/);
    // The PaymentIntent stays behind in requires_payment_method, and retrieve reads the same decline from last_payment_error.
    expect(await stripe.retrieve({ idempotencyKey, operation: 'authorize' })).toEqual({ status: 'found', operation: 'authorize', outcome });
  });

  it('reports a 3-D Secure challenge with the PaymentIntent as challenge id and Stripe’s redirect URL', async () => {
    const outcome = expectStatus(await authorize('pm_card_threeDSecure2Required'), 'requires_action');
    expect(outcome.action).toEqual({ type: 'three_d_secure_challenge', challengeId: outcome.reference, redirectUrl: expect.stringMatching(/^https:\/\/hooks\.stripe\.com\/3d_secure_2\//) });
    sim.completeChallenge(outcome.reference, 'failed');
    const resumed = expectStatus(await stripe.resume({ idempotencyKey: key('resume'), reference: outcome.reference, captureMethod: 'automatic' }), 'declined');
    expect(resumed.decline).toMatchObject({ code: 'payment_intent_authentication_failure', reason: 'authentication_required', declineClass: 'customer_action' });
  });

  it('reports a dropped response as an unknown outcome, and retrieve finds the charge', async () => {
    const idempotencyKey = key('dropped');
    // Two drops: the SDK retries a reset connection once (under the same key) even with retries off.
    sim.dropNextResponse();
    sim.dropNextResponse();
    await expect(authorize('pm_card_visa', { idempotencyKey, captureMethod: 'manual' })).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
    expect(requestsWith(idempotencyKey).map((r) => r.idempotencyKey)).toEqual([idempotencyKey, idempotencyKey]);
    const found = await stripe.retrieve({ idempotencyKey, operation: 'authorize' });
    if (found.status !== 'found' || found.operation !== 'authorize') throw new Error(JSON.stringify(found));
    const auth = expectStatus(found.outcome, 'requires_capture');
    expect(auth.authorized).toEqual(usd(1000));
    // Exactly one PaymentIntent carries the key.
    expect(sim.requests().filter((r) => r.method === 'POST' && r.path === '/v1/payment_intents' && r.idempotencyKey === idempotencyKey)).toHaveLength(2);
  });

  it('lets the SDK’s single reset-retry resolve a dropped response, without a second charge', async () => {
    const idempotencyKey = key('dropped_once');
    sim.dropNextResponse();
    const outcome = expectStatus(await authorize('pm_card_visa', { idempotencyKey }), 'succeeded');
    expectStatus(await stripe.refund({ idempotencyKey: key('ref'), reference: outcome.reference, amount: usd(1000) }), 'succeeded');
    expectStatus(await stripe.refund({ idempotencyKey: key('ref'), reference: outcome.reference, amount: usd(1) }), 'declined');
  });

  it('resolves a refund whose response was lost with retrieve, and a replay under the key refunds nothing more', async () => {
    const auth = expectStatus(await authorize('pm_card_visa'), 'succeeded');
    const refundKey = key('lost_ref');
    // The lookup tag goes through; both attempts of the refund itself (the SDK's reset-retry included) lose their answer.
    const isRefund = (r: { readonly path: string; readonly idempotencyKey: string | null }): boolean => r.path === '/v1/refunds' && r.idempotencyKey === refundKey;
    sim.dropNextResponse(isRefund);
    sim.dropNextResponse(isRefund);
    await expect(stripe.refund({ idempotencyKey: refundKey, reference: auth.reference, amount: usd(250) })).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
    const found = await stripe.retrieve({ idempotencyKey: refundKey, operation: 'refund' });
    if (found.status !== 'found' || found.operation !== 'refund') throw new Error(JSON.stringify(found));
    const refund = expectStatus(found.outcome, 'succeeded');
    expect(await stripe.refund({ idempotencyKey: refundKey, reference: auth.reference, amount: usd(250) })).toEqual(refund);
    // 250 refunded once: 750 remain.
    expectStatus(await stripe.refund({ idempotencyKey: key('ref'), reference: auth.reference, amount: usd(751) }), 'declined');
    expectStatus(await stripe.refund({ idempotencyKey: key('ref'), reference: auth.reference, amount: usd(750) }), 'succeeded');
    // The key names a refund, so it says nothing about a capture.
    expect(await stripe.retrieve({ idempotencyKey: refundKey, operation: 'capture' })).toEqual({ status: 'not_found' });
  });

  it('retrieve says not_found for a refund whose tag was written but which never ran', async () => {
    const auth = expectStatus(await authorize('pm_card_visa', { captureMethod: 'manual' }), 'requires_capture');
    const refundKey = key('ref_uncaptured');
    expectStatus(await stripe.refund({ idempotencyKey: refundKey, reference: auth.reference, amount: usd(100) }), 'declined');
    expect(await stripe.retrieve({ idempotencyKey: refundKey, operation: 'refund' })).toEqual({ status: 'not_found' });
  });

  it('reports a request that timed out as an unknown outcome, without the SDK retrying it', async () => {
    const idempotencyKey = key('stalled');
    const impatient = connectorFor(sim, 300);
    sim.stallNextResponse((r) => r.idempotencyKey === idempotencyKey);
    await expect(authorize('pm_card_visa', { idempotencyKey, connector: impatient })).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
    expect(requestsWith(idempotencyKey)).toHaveLength(1);
    const found = await stripe.retrieve({ idempotencyKey, operation: 'authorize' });
    expect(found).toMatchObject({ status: 'found', operation: 'authorize', outcome: { status: 'succeeded' } });
  });

  it('reports a 5xx as an unknown outcome, without the SDK retrying it', async () => {
    const auth = expectStatus(await authorize('pm_card_visa', { captureMethod: 'manual' }), 'requires_capture');
    const capKey = key('cap_5xx');
    sim.failNextRequest((r) => r.idempotencyKey === capKey);
    await expect(stripe.capture({ idempotencyKey: capKey, reference: auth.reference, amount: usd(1000) })).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
    expect(requestsWith(capKey)).toHaveLength(1);
    // This 500 executed nothing, so retrieve says so and a retry under the same key captures.
    expect(await stripe.retrieve({ idempotencyKey: capKey, operation: 'capture' })).toEqual({ status: 'not_found' });
    expectStatus(await stripe.capture({ idempotencyKey: capKey, reference: auth.reference, amount: usd(1000) }), 'succeeded');
  });

  it('finds captures and voids by their keys', async () => {
    const auth = expectStatus(await authorize('pm_card_visa', { captureMethod: 'manual' }), 'requires_capture');
    const capKey = key('cap');
    const cap = await stripe.capture({ idempotencyKey: capKey, reference: auth.reference, amount: usd(400) });
    expect(await stripe.retrieve({ idempotencyKey: capKey, operation: 'capture' })).toEqual({ status: 'found', operation: 'capture', outcome: cap });
    const held = expectStatus(await authorize('pm_card_visa', { captureMethod: 'manual' }), 'requires_capture');
    const voidKey = key('void');
    await stripe.void({ idempotencyKey: voidKey, reference: held.reference });
    expect(await stripe.retrieve({ idempotencyKey: voidKey, operation: 'void' })).toEqual({ status: 'found', operation: 'void', outcome: { status: 'succeeded' } });
  });

  it('declines a KWD amount Stripe cannot charge without calling Stripe', async () => {
    const idempotencyKey = key('kwd');
    const outcome = expectStatus(await authorize('pm_card_visa', { idempotencyKey, amount: money(1234, currency('KWD')) }), 'declined');
    expect(outcome.decline.code).toBe('invalid_amount');
    expect(requestsWith(idempotencyKey)).toHaveLength(0);
    expectStatus(await authorize('pm_card_visa', { amount: money(1230, currency('KWD')) }), 'succeeded');
  });

  it('reports a refused connection as unavailable', async () => {
    // A port that was just free: nothing listens there, so the connection is refused before sending.
    const port = await new Promise<number>((resolve) => {
      const probe = createServer();
      probe.listen(0, '127.0.0.1', () => {
        const p = (probe.address() as AddressInfo).port;
        probe.close(() => resolve(p));
      });
    });
    const down = createStripeConnector({ secretKey: sim.secretKey, host: '127.0.0.1', port, protocol: 'http', timeoutMs: 2_000 });
    await expect(authorize('pm_card_visa', { connector: down })).rejects.toBeInstanceOf(ConnectorUnavailableError);
    await expect(down.retrieve({ idempotencyKey: key('x'), operation: 'authorize' })).rejects.toBeInstanceOf(ConnectorUnavailableError);
  });

  it('reports a wrong secret key as unavailable (Stripe executed nothing)', async () => {
    const wrong = createStripeConnector({ secretKey: 'sk_test_wrong', host: '127.0.0.1', port: sim.port, protocol: 'http' });
    await expect(authorize('pm_card_visa', { connector: wrong })).rejects.toBeInstanceOf(ConnectorUnavailableError);
  });

  describe('strong customer authentication', () => {
    it('sends request_three_d_secure=any when Obol requires authentication, and reports the frictionless result', async () => {
      const idempotencyKey = key('sca_required');
      const outcome = expectStatus(await authorize('pm_card_visa', { idempotencyKey, authentication: { kind: 'required' } }), 'succeeded');
      expect(outcome.threeDSecure).toBe('frictionless');
      expect(requestsWith(idempotencyKey)[0]?.params).toMatchObject({ 'payment_method_options[card][request_three_d_secure]': 'any', 'expand[0]': 'latest_charge' });
      // retrieve reads the same result from the charge.
      expect(await stripe.retrieve({ idempotencyKey, operation: 'authorize' })).toEqual({ status: 'found', operation: 'authorize', outcome });
    });

    it('leaves 3-D Secure to Stripe for an exemption request, recording the exemption in metadata', async () => {
      const idempotencyKey = key('sca_exempt');
      const outcome = expectStatus(await authorize('pm_card_visa', { idempotencyKey, authentication: { kind: 'exemption', exemption: 'low_value' } }), 'succeeded');
      // Stripe ran no 3DS and said nothing about it: Obol records what it asked for.
      expect(outcome).not.toHaveProperty('threeDSecure');
      expect(requestsWith(idempotencyKey)[0]?.params).toMatchObject({
        'payment_method_options[card][request_three_d_secure]': 'automatic',
        'metadata[obol_sca_exemption_requested]': 'low_value',
      });
    });

    it('sends automatic for gateway_default and when nothing was asked', async () => {
      const asked = key('sca_default');
      const unasked = key('sca_unasked');
      expectStatus(await authorize('pm_card_visa', { idempotencyKey: asked, authentication: { kind: 'gateway_default' } }), 'succeeded');
      expectStatus(await authorize('pm_card_visa', { idempotencyKey: unasked }), 'succeeded');
      for (const k of [asked, unasked]) {
        const params = requestsWith(k)[0]?.params ?? {};
        expect(params['payment_method_options[card][request_three_d_secure]']).toBe('automatic');
        expect(params['metadata[obol_sca_exemption_requested]']).toBeUndefined();
      }
    });

    it('reports a completed challenge as challenge on resume', async () => {
      const outcome = expectStatus(await authorize('pm_card_threeDSecure2Required', { authentication: { kind: 'exemption', exemption: 'low_value' } }), 'requires_action');
      sim.completeChallenge(outcome.reference, 'authenticated');
      const resumed = expectStatus(await stripe.resume({ idempotencyKey: key('resume'), reference: outcome.reference, captureMethod: 'automatic' }), 'succeeded');
      expect(resumed.threeDSecure).toBe('challenge');
    });
  });

  describe('saved payment methods', () => {
    it('saves with a confirmed off-session SetupIntent for a Customer made under a key derived from the call’s', async () => {
      const idempotencyKey = key('save');
      const saved = expectStatus(await save('pm_card_visa', idempotencyKey), 'saved');
      const { customer, paymentMethod } = parseSavedPaymentMethod(saved.savedPaymentMethod);
      expect(customer).toMatch(/^cus_/);
      expect(paymentMethod).toMatch(/^pm_/);
      // Stripe made a PaymentMethod from the test token and attached it to the Customer.
      expect(paymentMethod).not.toBe('pm_card_visa');
      expect(sim.paymentMethodCustomer(paymentMethod)).toBe(customer);

      const customerCall = requestsWith(`${idempotencyKey}:customer`);
      expect(customerCall.map((r) => [r.method, r.path])).toEqual([['POST', '/v1/customers']]);
      expect(customerCall[0]?.params).toMatchObject({ 'metadata[obol_customer_id]': 'cus_obol_test' });
      const setup = requestsWith(idempotencyKey);
      expect(setup.map((r) => [r.method, r.path])).toEqual([['POST', '/v1/setup_intents']]);
      expect(setup[0]?.params).toMatchObject({ customer, payment_method: 'pm_card_visa', usage: 'off_session', confirm: 'true', 'metadata[obol_save_idempotency_key]': idempotencyKey });

      // A replay under the same key reaches the same Customer and SetupIntent: no second Customer, the same saved method.
      expect(await save('pm_card_visa', idempotencyKey)).toEqual(saved);
      expect(requestsWith(`${idempotencyKey}:customer`)).toHaveLength(2);
    });

    it('declines saving a card the issuer refuses, with Stripe’s codes', async () => {
      const outcome = expectStatus(await save('pm_card_chargeDeclined'), 'declined');
      expect(outcome.decline).toEqual({ code: 'card_declined', reason: 'generic_decline', declineClass: 'hard', message: 'Your card was declined.' });
    });

    it('declines saving a card whose setup needs the customer to authenticate, pointing to a customer-present checkout', async () => {
      const outcome = expectStatus(await save(STRIPE_OFF_SESSION_AUTHENTICATION_REQUIRED_TOKEN), 'declined');
      expect(outcome.decline).toMatchObject({ code: 'authentication_required', reason: 'authentication_required', declineClass: 'customer_action' });
      expect(outcome.decline.message).toMatch(/customer-present checkout/);
    });

    it('saves from a customer-present payment with setup_future_usage=off_session and a Customer', async () => {
      const idempotencyKey = key('auth_save');
      const outcome = expectStatus(await authorize('pm_card_visa', { idempotencyKey, savePaymentMethod: true, captureMethod: 'manual' }), 'requires_capture');
      const saved = parseSavedPaymentMethod(outcome.savedPaymentMethod ?? '');
      expect(saved.customer).toMatch(/^cus_/);
      expect(requestsWith(`${idempotencyKey}:customer`).map((r) => r.path)).toEqual(['/v1/customers']);
      expect(requestsWith(idempotencyKey)[0]?.params).toMatchObject({ customer: saved.customer, setup_future_usage: 'off_session', payment_method: 'pm_card_visa' });
      expect(sim.paymentMethodCustomer(saved.paymentMethod)).toBe(saved.customer);
      expect(await stripe.retrieve({ idempotencyKey, operation: 'authorize' })).toEqual({ status: 'found', operation: 'authorize', outcome });
    });

    it('charges off-session with off_session=true, the Customer and the PaymentMethod, under Obol’s key, captured at once', async () => {
      const saved = expectStatus(await save('pm_card_visa'), 'saved');
      const { customer, paymentMethod } = parseSavedPaymentMethod(saved.savedPaymentMethod);
      const idempotencyKey = key('mit');
      const charge = expectStatus(await chargeOffSession(saved.savedPaymentMethod, idempotencyKey, usd(1999)), 'succeeded');
      expect(charge.captured).toEqual(usd(1999));
      expect(charge).not.toHaveProperty('savedPaymentMethod');
      const calls = requestsWith(idempotencyKey);
      expect(calls.map((r) => [r.method, r.path])).toEqual([['POST', '/v1/payment_intents']]);
      expect(calls[0]?.idempotencyKey).toBe(idempotencyKey);
      expect(calls[0]?.params).toMatchObject({
        off_session: 'true',
        confirm: 'true',
        capture_method: 'automatic',
        customer,
        payment_method: paymentMethod,
        amount: '1999',
        currency: 'usd',
        'metadata[obol_idempotency_key]': idempotencyKey,
        'metadata[obol_operation]': 'charge_off_session',
      });
      // The key names an off-session charge, not an authorization.
      expect(await stripe.retrieve({ idempotencyKey, operation: 'charge_off_session' })).toEqual({ status: 'found', operation: 'charge_off_session', outcome: charge });
      expect(await stripe.retrieve({ idempotencyKey, operation: 'authorize' })).toEqual({ status: 'not_found' });
    });

    it('maps Stripe’s off-session authentication_required to a customer-action decline, for a card saved after a challenge at checkout', async () => {
      // The faithful path for 4000002760003184: the customer authenticates at a checkout that saves the card…
      const first = expectStatus(await authorize(STRIPE_OFF_SESSION_AUTHENTICATION_REQUIRED_TOKEN, { savePaymentMethod: true }), 'requires_action');
      sim.completeChallenge(first.reference, 'authenticated');
      const paid = expectStatus(await stripe.resume({ idempotencyKey: key('resume'), reference: first.reference, captureMethod: 'automatic' }), 'succeeded');
      expect(paid.threeDSecure).toBe('challenge');
      const savedPaymentMethod = paid.savedPaymentMethod ?? '';
      expect(savedPaymentMethod).toMatch(/^cus_[^/]+\/pm_/);
      // …and the issuer still demands authentication for the renewal.
      const idempotencyKey = key('mit_auth');
      const outcome = expectStatus(await chargeOffSession(savedPaymentMethod, idempotencyKey), 'declined');
      expect(outcome.decline).toEqual({
        code: 'authentication_required',
        reason: 'authentication_required',
        declineClass: 'customer_action',
        message: 'Your card was declined. This transaction requires authentication.',
      });
      expect(outcome.reference).toMatch(/^pi_/);
      // The PaymentIntent stays in requires_payment_method, and retrieve reads the same decline from last_payment_error.
      expect(await stripe.retrieve({ idempotencyKey, operation: 'charge_off_session' })).toEqual({ status: 'found', operation: 'charge_off_session', outcome });
    });

    it('declines, hard, an off-session charge of a saved method Stripe does not know (resource_missing)', async () => {
      const unknownPaymentMethod = expectStatus(await chargeOffSession('pm_does_not_exist'), 'declined');
      expect(unknownPaymentMethod.decline).toMatchObject({ code: 'resource_missing', declineClass: 'hard' });
      const saved = expectStatus(await save('pm_card_visa'), 'saved');
      const { paymentMethod } = parseSavedPaymentMethod(saved.savedPaymentMethod);
      const unknownCustomer = expectStatus(await chargeOffSession(`cus_does_not_exist/${paymentMethod}`), 'declined');
      expect(unknownCustomer.decline).toMatchObject({ code: 'resource_missing', declineClass: 'hard' });
    });

    it('declines an off-session charge of a card that saves but whose charges fail', async () => {
      const saved = expectStatus(await save('pm_card_chargeCustomerFail'), 'saved');
      const outcome = expectStatus(await chargeOffSession(saved.savedPaymentMethod), 'declined');
      expect(outcome.decline).toMatchObject({ code: 'card_declined', reason: 'generic_decline', declineClass: 'hard' });
    });

    it('reports a lost off-session response as an unknown outcome that retrieve resolves, and a replay charges nothing more', async () => {
      const saved = expectStatus(await save('pm_card_visa'), 'saved');
      const idempotencyKey = key('mit_lost');
      sim.dropNextResponse((r) => r.idempotencyKey === idempotencyKey);
      sim.dropNextResponse((r) => r.idempotencyKey === idempotencyKey);
      await expect(chargeOffSession(saved.savedPaymentMethod, idempotencyKey)).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
      const found = await stripe.retrieve({ idempotencyKey, operation: 'charge_off_session' });
      if (found.status !== 'found' || found.operation !== 'charge_off_session') throw new Error(JSON.stringify(found));
      const charge = expectStatus(found.outcome, 'succeeded');
      expect(await chargeOffSession(saved.savedPaymentMethod, idempotencyKey)).toEqual(charge);
      expectStatus(await stripe.refund({ idempotencyKey: key('ref'), reference: charge.reference, amount: usd(1000) }), 'succeeded');
      expectStatus(await stripe.refund({ idempotencyKey: key('ref'), reference: charge.reference, amount: usd(1) }), 'declined');
    });
  });
});
