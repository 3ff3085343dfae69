import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIMULATOR_MERCHANT_ID, SIMULATOR_PRIVATE_KEY, SIMULATOR_PUBLIC_KEY, startBraintreeSimulator, type BraintreeSimulator } from '../../../../test/simulators/braintree.js';
import { money, parseCurrency, type CurrencyCode, type Money } from '../../../money/index.js';
import { connectorConformanceSuite, expectStatus, type ConformanceTokens } from '../conformance.js';
import { ConnectorUnavailableError, ConnectorUnknownOutcomeError, type AuthenticationRequest, type AuthorizeOutcome, type Connector } from '../port.js';
import { createBraintreeConnector, type BraintreeConnectorArgs } from './connector.js';
import { braintreeCustomerId, classifyProcessorResponse, fromBraintreeAmount, savedMethodToken, threeDsOutcomeOf, toBraintreeAmount } from './transformers.js';

function currency(code: string): CurrencyCode {
  const parsed = parseCurrency(code);
  if (parsed === undefined) throw new Error(code);
  return parsed;
}
const USD = currency('USD');
const JPY = currency('JPY');
const KWD = currency('KWD');
const usd = (amount: number): Money => money(amount, USD);
const key = (label: string): string => `bt_${label}_${randomUUID()}`;

/**
 * Real Braintree drives sandbox declines by amount (2000.00–2999.99 → that processor code), but
 * Obol's battery charges a fixed 10.00 and picks the outcome by payment method, so each part is a
 * simulator-only nonce that forces the code whatever the amount. 3-D Secure: Braintree runs it in
 * the client SDK, so the connector can only report a `three_d_secure` rejection as requires_action
 * pointing at Obol's 3DS page (`threeDSecureUrl`, configured here); the connector is no
 * ChallengeSimulator, so the battery skips the tests that complete a challenge.
 */
export const BRAINTREE_CONFORMANCE_TOKENS: ConformanceTokens = {
  success: 'fake-valid-nonce',
  // 2044 "Declined – Call Issuer": Braintree's hard decline without a stated reason.
  genericDecline: 'fake-processor-declined-2044-nonce',
  // 2001 is soft in Braintree's documented list; the battery expects hard (see the report).
  insufficientFunds: 'fake-processor-declined-2001-nonce',
  processingError: 'fake-processor-declined-3000-nonce',
  threeDSecure: 'fake-three-d-secure-required-nonce',
  timeout: 'fake-timeout-nonce',
};

const connectorArgs = (port: number, extra: Partial<BraintreeConnectorArgs> = {}): BraintreeConnectorArgs => ({
  merchantId: SIMULATOR_MERCHANT_ID,
  publicKey: SIMULATOR_PUBLIC_KEY,
  privateKey: SIMULATOR_PRIVATE_KEY,
  environment: { host: '127.0.0.1', port, ssl: false },
  timeoutMs: 5_000,
  merchantAccountIds: { USD: 'obol_usd', JPY: 'obol_jpy', KWD: 'obol_kwd' },
  threeDSecureUrl: 'https://checkout.obol.test/3ds',
  ...extra,
});

connectorConformanceSuite({
  name: 'braintree',
  setup: async () => {
    const sim = await startBraintreeSimulator();
    return {
      connector: createBraintreeConnector(connectorArgs(sim.port)),
      tokens: BRAINTREE_CONFORMANCE_TOKENS,
      declineClasses: { insufficientFunds: 'soft' },
      // Braintree's sandbox answers 2099.00 with processor response 2099 "Cardholder Authentication Required".
      offSessionAuthenticationRequired: { token: 'fake-valid-nonce', amount: 209_900 },
      teardown: () => sim.close(),
    };
  },
});

describe('braintree connector', () => {
  let sim: BraintreeSimulator;
  let bt: Connector;
  beforeAll(async () => {
    sim = await startBraintreeSimulator();
    bt = createBraintreeConnector(connectorArgs(sim.port));
  });
  afterAll(async () => sim?.close());

  const authorize = (
    paymentMethod: string,
    props: { idempotencyKey?: string; amount?: Money; captureMethod?: 'automatic' | 'manual'; connector?: Connector; authentication?: AuthenticationRequest; savePaymentMethod?: boolean; customerId?: string } = {},
  ): Promise<AuthorizeOutcome> =>
    (props.connector ?? bt).authorize({
      idempotencyKey: props.idempotencyKey ?? key('auth'),
      amount: props.amount ?? usd(1000),
      paymentMethod,
      captureMethod: props.captureMethod ?? 'automatic',
      customerId: props.customerId ?? 'cus_bt',
      description: 'braintree test',
      ...(props.authentication ? { authentication: props.authentication } : {}),
      ...(props.savePaymentMethod ? { savePaymentMethod: true } : {}),
    });
  const save = (paymentMethod: string, props: { idempotencyKey?: string; customerId?: string } = {}) =>
    bt.savePaymentMethod({ idempotencyKey: props.idempotencyKey ?? key('save'), paymentMethod, customerId: props.customerId ?? 'cus_bt' });
  const chargeOffSession = (savedPaymentMethod: string, props: { idempotencyKey?: string; amount?: Money } = {}): Promise<AuthorizeOutcome> =>
    bt.chargeOffSession({ idempotencyKey: props.idempotencyKey ?? key('mit'), amount: props.amount ?? usd(1000), savedPaymentMethod, customerId: 'cus_bt', description: 'braintree renewal' });
  /** The JSON body of the one sale Braintree received under this orderId, as the SDK sent it. */
  const saleSent = (orderId: string): Record<string, unknown> => {
    const sales = sim.requests().filter((r) => r.method === 'POST' && r.path.endsWith('/transactions') && (r.body.transaction as { order_id?: unknown } | undefined)?.order_id === orderId);
    expect(sales).toHaveLength(1);
    return sales[0]?.body.transaction as Record<string, unknown>;
  };

  describe('amounts', () => {
    it.each([
      [money(1999, USD), '19.99'],
      [money(500, JPY), '500'],
      [money(1250, KWD), '1.250'],
      [money(5, USD), '0.05'],
    ])('sends %o as %s', (amount, expected) => {
      expect(toBraintreeAmount(amount)).toBe(expected);
    });

    it('reads Braintree amounts exactly, tolerating zero padding only', () => {
      expect(fromBraintreeAmount('19.99', 'USD')).toEqual(money(1999, USD));
      expect(fromBraintreeAmount('500.00', 'JPY')).toEqual(money(500, JPY));
      expect(fromBraintreeAmount('1.250', 'KWD')).toEqual(money(1250, KWD));
      expect(() => fromBraintreeAmount('1.2505', 'KWD')).toThrow();
      expect(() => fromBraintreeAmount('12,00', 'USD')).toThrow();
    });

    it('charges KWD with three decimals end to end', async () => {
      const idempotencyKey = key('kwd');
      const outcome = expectStatus(await authorize('fake-valid-nonce', { idempotencyKey, amount: money(1250, KWD) }), 'succeeded');
      expect(outcome.captured).toEqual(money(1250, KWD));
      expect(sim.transactions().find((t) => t.orderId === idempotencyKey)).toMatchObject({ currency: 'KWD', amount: 1250n });
    });

    it('declines a currency without a merchant account before sending anything', async () => {
      const idempotencyKey = key('eur');
      const outcome = expectStatus(await authorize('fake-valid-nonce', { idempotencyKey, amount: money(1000, currency('EUR')) }), 'declined');
      expect(outcome.decline).toMatchObject({ reason: 'currency_not_supported', declineClass: 'hard' });
      expect(sim.transactions().filter((t) => t.orderId === idempotencyKey)).toHaveLength(0);
    });
  });

  describe('processor responses', () => {
    it.each([
      ['2000', 'do_not_honor', 'soft'],
      ['2001', 'insufficient_funds', 'soft'],
      ['2002', 'limit_exceeded', 'soft'],
      ['2004', 'expired_card', 'hard'],
      ['2005', 'incorrect_number', 'hard'],
      ['2014', 'fraudulent', 'hard'],
      ['2015', 'transaction_not_allowed', 'hard'],
      ['2038', 'generic_decline', 'soft'],
      ['2044', 'generic_decline', 'hard'],
      ['2046', 'generic_decline', 'soft'],
      ['2047', 'pickup_card', 'hard'],
      ['2099', 'authentication_required', 'customer_action'],
      ['3000', 'processing_error', 'soft'],
    ] as const)('classifies %s as %s / %s', (code, reason, declineClass) => {
      expect(classifyProcessorResponse(code, null)).toEqual({ reason, declineClass });
    });

    it('falls back to the processorResponseType Braintree sent for codes it does not list', () => {
      expect(classifyProcessorResponse('2101', 'soft_declined').declineClass).toBe('soft');
      expect(classifyProcessorResponse('2101', 'hard_declined').declineClass).toBe('hard');
      expect(classifyProcessorResponse('2101', null).declineClass).toBe('hard');
    });

    it('declines by amount as the sandbox does: 2001.00 is Insufficient Funds', async () => {
      const outcome = expectStatus(await authorize('fake-valid-nonce', { amount: usd(200_100) }), 'declined');
      expect(outcome.reference).toEqual(expect.any(String));
      expect(outcome.decline).toEqual({ code: '2001', reason: 'insufficient_funds', declineClass: 'soft', message: 'Insufficient Funds' });
    });

    it('declines 2046 Declined as a soft generic decline', async () => {
      const outcome = expectStatus(await authorize('fake-valid-nonce', { amount: usd(204_600) }), 'declined');
      expect(outcome.decline).toMatchObject({ code: '2046', reason: 'generic_decline', declineClass: 'soft' });
    });
  });

  describe('gateway rejections', () => {
    it.each([
      ['fraud', 'fraudulent', 'hard'],
      ['duplicate', 'duplicate_transaction', 'hard'],
      ['cvv', 'incorrect_cvc', 'customer_action'],
      ['avs', 'incorrect_address', 'customer_action'],
    ] as const)('maps %s to %s / %s', async (rejection, reason, declineClass) => {
      const outcome = expectStatus(await authorize(`fake-gateway-rejected-${rejection}-nonce`), 'declined');
      expect(outcome.decline).toMatchObject({ code: `gateway_rejected:${rejection}`, reason, declineClass });
    });

    it('declines a failed 3-D Secure authentication for the customer to act', async () => {
      const outcome = expectStatus(await authorize('fake-three-d-secure-failed-nonce'), 'declined');
      expect(outcome.decline).toMatchObject({ reason: 'authentication_required', declineClass: 'customer_action' });
    });

    it('without a 3-D Secure page, a 3DS rejection is a customer_action decline rather than an action', async () => {
      const plain = createBraintreeConnector(connectorArgs(sim.port, { threeDSecureUrl: undefined }));
      const outcome = expectStatus(await authorize('fake-three-d-secure-required-nonce', { connector: plain }), 'declined');
      expect(outcome.decline.declineClass).toBe('customer_action');
    });

    it('declines an unknown nonce as invalid_payment_method with no reference', async () => {
      const outcome = expectStatus(await authorize('not-a-nonce'), 'declined');
      expect(outcome.reference).toBeNull();
      expect(outcome.decline).toMatchObject({ code: '91565', reason: 'invalid_payment_method', declineClass: 'hard' });
    });
  });

  describe('vaulted payment methods', () => {
    it('charges a vaulted token', async () => {
      expectStatus(await authorize('token:token-visa'), 'succeeded');
    });
    it('declines an unknown vaulted token', async () => {
      expect(expectStatus(await authorize('token:nope'), 'declined').decline.reason).toBe('invalid_payment_method');
    });
  });

  describe('idempotency through orderId', () => {
    it('turns a dropped sale response into an unknown outcome, finds the sale by orderId, and never charges twice', async () => {
      const idempotencyKey = key('drop');
      sim.dropNextResponse();
      await expect(authorize('fake-valid-nonce', { idempotencyKey })).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
      expect(sim.transactions().filter((t) => t.orderId === idempotencyKey)).toHaveLength(1);
      const found = await bt.retrieve({ idempotencyKey, operation: 'authorize' });
      if (found.status !== 'found' || found.operation !== 'authorize') throw new Error(JSON.stringify(found));
      const sale = expectStatus(found.outcome, 'succeeded');
      expect(sale.captured).toEqual(usd(1000));
      // The retry Obol makes after an unknown outcome answers from the sale already made.
      expect(await authorize('fake-valid-nonce', { idempotencyKey })).toEqual(sale);
      expect(sim.transactions().filter((t) => t.orderId === idempotencyKey)).toHaveLength(1);
    });

    it('resolves dropped capture and refund responses through retrieve, and their retries do not repeat them', async () => {
      const auth = expectStatus(await authorize('fake-valid-nonce', { captureMethod: 'manual' }), 'requires_capture');
      const capKey = key('cap');
      sim.dropNextResponse();
      await expect(bt.capture({ idempotencyKey: capKey, reference: auth.reference, amount: usd(800) })).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
      expect(await bt.retrieve({ idempotencyKey: capKey, operation: 'capture' })).toEqual({ status: 'found', operation: 'capture', outcome: { status: 'succeeded', captured: usd(800) } });
      expect(await bt.capture({ idempotencyKey: capKey, reference: auth.reference, amount: usd(800) })).toEqual({ status: 'succeeded', captured: usd(800) });

      const refKey = key('ref');
      sim.dropNextResponse();
      await expect(bt.refund({ idempotencyKey: refKey, reference: auth.reference, amount: usd(500) })).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
      const found = await bt.retrieve({ idempotencyKey: refKey, operation: 'refund' });
      expect(found).toMatchObject({ status: 'found', operation: 'refund', outcome: { status: 'succeeded' } });
      expect(await bt.refund({ idempotencyKey: refKey, reference: auth.reference, amount: usd(500) })).toEqual(found.status === 'found' ? found.outcome : undefined);
      expect(sim.transactions().filter((t) => t.type === 'credit' && t.refundedTransactionId === auth.reference)).toHaveLength(1);
    });

    it('finds a capture by its key in the sale orderId, and keeps the sale findable by its authorize key', async () => {
      const authKey = key('auth');
      const auth = expectStatus(await authorize('fake-valid-nonce', { idempotencyKey: authKey, captureMethod: 'manual' }), 'requires_capture');
      const capKey = key('cap');
      expectStatus(await bt.capture({ idempotencyKey: capKey, reference: auth.reference, amount: usd(700) }), 'succeeded');
      expect(await bt.retrieve({ idempotencyKey: capKey, operation: 'capture' })).toEqual({ status: 'found', operation: 'capture', outcome: { status: 'succeeded', captured: usd(700) } });
      expect(await bt.retrieve({ idempotencyKey: authKey, operation: 'authorize' })).toMatchObject({ status: 'found', outcome: { status: 'succeeded', reference: auth.reference } });
      // A repeat authorize under the captured sale's key still answers from that sale.
      expect((await authorize('fake-valid-nonce', { idempotencyKey: authKey, captureMethod: 'manual' })).status).toBe('succeeded');
      expect(sim.transactions().filter((t) => t.orderId?.startsWith(authKey))).toHaveLength(1);
    });

    it('refuses a refund key reused for another sale', async () => {
      const a = expectStatus(await authorize('fake-valid-nonce'), 'succeeded');
      const b = expectStatus(await authorize('fake-valid-nonce'), 'succeeded');
      const refundKey = key('ref');
      expectStatus(await bt.refund({ idempotencyKey: refundKey, reference: a.reference, amount: usd(100) }), 'succeeded');
      const reused = expectStatus(await bt.refund({ idempotencyKey: refundKey, reference: b.reference, amount: usd(100) }), 'declined');
      expect(reused.decline.code).toBe('idempotency_key_reused');
    });

    it('replays a void as succeeded', async () => {
      const auth = expectStatus(await authorize('fake-valid-nonce', { captureMethod: 'manual' }), 'requires_capture');
      const voidKey = key('void');
      expectStatus(await bt.void({ idempotencyKey: voidKey, reference: auth.reference }), 'succeeded');
      expectStatus(await bt.void({ idempotencyKey: voidKey, reference: auth.reference }), 'succeeded');
    });

    it('declines operations on an unknown reference as resource_missing', async () => {
      expect(expectStatus(await bt.capture({ idempotencyKey: key('cap'), reference: 'nope1234', amount: usd(100) }), 'declined').decline.reason).toBe('resource_missing');
      expect(expectStatus(await bt.refund({ idempotencyKey: key('ref'), reference: 'nope1234', amount: usd(100) }), 'declined').decline.reason).toBe('resource_missing');
      expect(expectStatus(await bt.void({ idempotencyKey: key('void'), reference: 'nope1234' }), 'declined').decline.reason).toBe('resource_missing');
    });
  });

  describe('strong customer authentication', () => {
    it('sends required authentication as options.threeDSecure.required and reports the frictionless 3DS2 lookup', async () => {
      const idempotencyKey = key('sca');
      const outcome = expectStatus(await authorize('fake-valid-nonce', { idempotencyKey, authentication: { kind: 'required' } }), 'succeeded');
      expect(saleSent(idempotencyKey)).toMatchObject({ options: { submit_for_settlement: true, three_d_secure: { required: true } } });
      expect(saleSent(idempotencyKey)).not.toHaveProperty('sca_exemption');
      expect(outcome.threeDSecure).toBe('frictionless');
      // Read back from the transaction, a replay and retrieve say the same.
      expect(await authorize('fake-valid-nonce', { idempotencyKey, authentication: { kind: 'required' } })).toEqual(outcome);
      expect(await bt.retrieve({ idempotencyKey, operation: 'authorize' })).toEqual({ status: 'found', operation: 'authorize', outcome });
    });

    it('still asks a card that requires 3-D Secure for the challenge when authentication is required', async () => {
      const outcome = expectStatus(await authorize('fake-three-d-secure-required-nonce', { authentication: { kind: 'required' } }), 'requires_action');
      expect(outcome.action.type).toBe('three_d_secure_challenge');
    });

    it('sends a low-value exemption as scaExemption low_value, and reports no 3-D Secure it did not see', async () => {
      const idempotencyKey = key('lv');
      const outcome = expectStatus(await authorize('fake-valid-nonce', { idempotencyKey, amount: usd(1500), authentication: { kind: 'exemption', exemption: 'low_value' } }), 'succeeded');
      const sent = saleSent(idempotencyKey);
      expect(sent.sca_exemption).toBe('low_value');
      expect(sent.options).not.toHaveProperty('three_d_secure');
      expect(outcome).not.toHaveProperty('threeDSecure');
      expect(sim.transactions().find((t) => t.orderId === idempotencyKey)?.scaExemptionRequested).toBe('low_value');
    });

    it.each([
      ['fixed_amount_recurring', { kind: 'exemption', exemption: 'fixed_amount_recurring' }],
      ['gateway_default', { kind: 'gateway_default' }],
    ] as const)('sends nothing about authentication for %s (Braintree has no recurring exemption)', async (_name, authentication) => {
      const idempotencyKey = key('none');
      expectStatus(await authorize('fake-valid-nonce', { idempotencyKey, authentication }), 'succeeded');
      const sent = saleSent(idempotencyKey);
      expect(sent).not.toHaveProperty('sca_exemption');
      expect(sent).not.toHaveProperty('transaction_source');
      expect(sent.options).not.toHaveProperty('three_d_secure');
    });

    it.each([
      ['authenticate_successful', 'Y', 'frictionless'],
      ['authenticate_successful', 'C', 'challenge'],
      ['authenticate_successful', null, 'challenge'],
      ['authenticate_frictionless', null, 'frictionless'],
      ['authenticate_attempt_successful', null, 'frictionless'],
      ['authenticate_failed', null, 'failed'],
      ['authenticate_frictionless_failed', null, 'failed'],
      ['authenticate_rejected', null, 'failed'],
      ['lookup_not_enrolled', null, 'not_attempted'],
      ['authentication_unavailable', null, 'not_attempted'],
      ['lookup_error', null, 'not_attempted'],
      ['authenticate_unable_to_authenticate', null, 'not_attempted'],
      ['unsupported_card', null, 'not_attempted'],
      ['challenge_required', null, undefined],
      ['some_future_status', null, undefined],
      [null, null, undefined],
    ] as const)('maps threeDSecureInfo status %s (lookup %s) to %s', (status, lookup, expected) => {
      expect(threeDsOutcomeOf({ threeDSecureStatus: status, threeDSecureLookupTransStatus: lookup })).toBe(expected);
    });
  });

  describe('saved payment methods', () => {
    it('vaults with paymentMethod.create and verifyCard under a token derived from the key, creating the customer when Braintree lacks it', async () => {
      const customerId = `cus_${randomUUID()}`;
      const btCustomer = braintreeCustomerId(customerId);
      const idempotencyKey = key('save');
      const from = sim.requests().length;
      const saved = expectStatus(await save('fake-valid-nonce', { idempotencyKey, customerId }), 'saved');
      expect(saved.savedPaymentMethod).toBe(savedMethodToken(idempotencyKey));
      const sent = { payment_method: { customer_id: btCustomer, payment_method_nonce: 'fake-valid-nonce', token: saved.savedPaymentMethod, options: { verify_card: true } } };
      // find (404), create (93105: no such customer), customer.create, create again.
      expect(sim.requests().slice(from).map((r) => [r.method, r.path.replace(/^\/merchants\/[^/]+/, ''), r.body])).toEqual([
        ['GET', `/payment_methods/any/${saved.savedPaymentMethod}`, {}],
        ['POST', '/payment_methods', sent],
        ['POST', '/customers', { customer: { id: btCustomer } }],
        ['POST', '/payment_methods', sent],
      ]);
      // The customer exists now: a second save goes straight to paymentMethod.create.
      const next = sim.requests().length;
      expectStatus(await save('fake-valid-nonce', { customerId }), 'saved');
      expect(sim.requests().slice(next).map((r) => `${r.method} ${r.path.replace(/^\/merchants\/[^/]+/, '').replace(/any\/.*$/, 'any')}`)).toEqual(['GET /payment_methods/any', 'POST /payment_methods']);
      expect(sim.vaultedMethods().filter((m) => m.customerId === btCustomer)).toHaveLength(2);
    });

    it('replays a save under the same key as the same token, without vaulting twice', async () => {
      const idempotencyKey = key('save');
      const first = expectStatus(await save('fake-valid-nonce', { idempotencyKey }), 'saved');
      expect(await save('fake-valid-nonce', { idempotencyKey })).toEqual(first);
      expect(sim.vaultedMethods().filter((m) => m.token === first.savedPaymentMethod)).toHaveLength(1);
    });

    it('resolves a save whose answer was lost by sending it again under the same key', async () => {
      const idempotencyKey = key('save');
      sim.dropNextResponse();
      await expect(save('fake-valid-nonce', { idempotencyKey })).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
      const again = expectStatus(await save('fake-valid-nonce', { idempotencyKey }), 'saved');
      expect(again.savedPaymentMethod).toBe(savedMethodToken(idempotencyKey));
      expect(sim.vaultedMethods().filter((m) => m.token === again.savedPaymentMethod)).toHaveLength(1);
    });

    it('refuses a save key reused for another customer', async () => {
      const idempotencyKey = key('save');
      expectStatus(await save('fake-valid-nonce', { idempotencyKey, customerId: 'cus_a' }), 'saved');
      expect(expectStatus(await save('fake-valid-nonce', { idempotencyKey, customerId: 'cus_b' }), 'declined').decline.code).toBe('idempotency_key_reused');
    });

    it.each([
      ['fake-processor-declined-visa-nonce', { code: '2000', reason: 'do_not_honor', declineClass: 'soft', message: 'Do Not Honor' }],
      ['fake-processor-declined-2004-nonce', { code: '2004', reason: 'expired_card', declineClass: 'hard', message: 'Expired Card' }],
      ['fake-processor-declined-2044-nonce', { code: '2044', reason: 'generic_decline', declineClass: 'hard', message: 'Declined - Call Issuer' }],
      ['fake-gateway-rejected-cvv-nonce', { code: 'gateway_rejected:cvv', reason: 'incorrect_cvc', declineClass: 'customer_action' }],
    ] as const)('declines a failed verification of %s with Braintree\'s processor response, storing nothing', async (nonce, decline) => {
      const idempotencyKey = key('save');
      expect(expectStatus(await save(nonce, { idempotencyKey }), 'declined').decline).toMatchObject(decline);
      expect(sim.vaultedMethods().filter((m) => m.token === savedMethodToken(idempotencyKey))).toHaveLength(0);
    });

    it('vaults on a customer-present sale with storeInVaultOnSuccess, flagged as the first of a recurring series', async () => {
      const customerId = `cus_${randomUUID()}`;
      const idempotencyKey = key('auth');
      const outcome = expectStatus(await authorize('fake-valid-nonce', { idempotencyKey, customerId, savePaymentMethod: true }), 'succeeded');
      // The first sale names a customer Braintree lacks (91510, nothing created); the connector creates it and sends the sale again.
      const sales = sim.requests().filter((r) => r.path.endsWith('/transactions') && (r.body.transaction as { order_id?: unknown }).order_id === `${idempotencyKey}|vault`);
      expect(sales).toHaveLength(2);
      expect(sim.transactions().filter((t) => t.orderId === `${idempotencyKey}|vault`)).toHaveLength(1);
      expect(sales[1]?.body.transaction).toMatchObject({ customer_id: braintreeCustomerId(customerId), transaction_source: 'recurring_first', options: { submit_for_settlement: true, store_in_vault_on_success: true } });
      const vaulted = sim.vaultedMethods().find((m) => m.token === outcome.savedPaymentMethod);
      expect(vaulted?.customerId).toBe(braintreeCustomerId(customerId));
      expect(await authorize('fake-valid-nonce', { idempotencyKey, customerId, savePaymentMethod: true })).toEqual(outcome);
      expect(await bt.retrieve({ idempotencyKey, operation: 'authorize' })).toEqual({ status: 'found', operation: 'authorize', outcome });
    });

    it('reports no saved method for a sale on an already vaulted token that was not asked to save', async () => {
      const idempotencyKey = key('auth');
      const outcome = expectStatus(await authorize('token:token-visa', { idempotencyKey }), 'succeeded');
      expect(outcome).not.toHaveProperty('savedPaymentMethod');
      expect(await bt.retrieve({ idempotencyKey, operation: 'authorize' })).toEqual({ status: 'found', operation: 'authorize', outcome });
    });

    it('leaves the vault alone when a saving sale is declined', async () => {
      const idempotencyKey = key('auth');
      const before = sim.vaultedMethods().length;
      expectStatus(await authorize('fake-processor-declined-2044-nonce', { idempotencyKey, savePaymentMethod: true }), 'declined');
      expect(sim.vaultedMethods()).toHaveLength(before);
    });
  });

  describe('off-session charges', () => {
    it('sells the vaulted token as a recurring, merchant-initiated charge, submitted for settlement', async () => {
      const saved = expectStatus(await save('fake-valid-nonce'), 'saved');
      const idempotencyKey = key('mit');
      const outcome = expectStatus(await chargeOffSession(saved.savedPaymentMethod, { idempotencyKey, amount: usd(1999) }), 'succeeded');
      expect(outcome.captured).toEqual(usd(1999));
      expect(outcome).not.toHaveProperty('savedPaymentMethod');
      const sent = saleSent(`${idempotencyKey}|mit`);
      expect(sent).toMatchObject({ amount: '19.99', payment_method_token: saved.savedPaymentMethod, transaction_source: 'recurring', options: { submit_for_settlement: true } });
      expect(sent).not.toHaveProperty('payment_method_nonce');
    });

    it('declines processor response 2099 Cardholder Authentication Required for the customer to authenticate', async () => {
      const saved = expectStatus(await save('fake-valid-nonce'), 'saved');
      const idempotencyKey = key('mit');
      const outcome = expectStatus(await chargeOffSession(saved.savedPaymentMethod, { idempotencyKey, amount: usd(209_900) }), 'declined');
      expect(outcome.reference).toEqual(expect.any(String));
      expect(outcome.decline).toEqual({ code: '2099', reason: 'authentication_required', declineClass: 'customer_action', message: 'Cardholder Authentication Required' });
      expect(await bt.retrieve({ idempotencyKey, operation: 'charge_off_session' })).toEqual({ status: 'found', operation: 'charge_off_session', outcome });
    });

    it('declines an unknown token hard, with Braintree\'s validation code', async () => {
      const outcome = expectStatus(await chargeOffSession('obol_no_such_token'), 'declined');
      expect(outcome.decline).toMatchObject({ code: '91518', reason: 'invalid_payment_method', declineClass: 'hard' });
    });

    it('keeps authorize and off-session keys apart in retrieve', async () => {
      const saved = expectStatus(await save('fake-valid-nonce'), 'saved');
      const mitKey = key('mit');
      expectStatus(await chargeOffSession(saved.savedPaymentMethod, { idempotencyKey: mitKey }), 'succeeded');
      expect(await bt.retrieve({ idempotencyKey: mitKey, operation: 'authorize' })).toEqual({ status: 'not_found' });
      const authKey = key('auth');
      expectStatus(await authorize('fake-valid-nonce', { idempotencyKey: authKey }), 'succeeded');
      expect(await bt.retrieve({ idempotencyKey: authKey, operation: 'charge_off_session' })).toEqual({ status: 'not_found' });
    });

    it('resolves a lost off-session answer through retrieve, and the retry does not charge again', async () => {
      const saved = expectStatus(await save('fake-valid-nonce'), 'saved');
      const idempotencyKey = key('mit');
      sim.dropNextResponse();
      await expect(chargeOffSession(saved.savedPaymentMethod, { idempotencyKey })).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
      const found = await bt.retrieve({ idempotencyKey, operation: 'charge_off_session' });
      if (found.status !== 'found' || found.operation !== 'charge_off_session') throw new Error(JSON.stringify(found));
      expect(await chargeOffSession(saved.savedPaymentMethod, { idempotencyKey })).toEqual(found.outcome);
      expect(sim.transactions().filter((t) => t.orderId === `${idempotencyKey}|mit`)).toHaveLength(1);
    });
  });

  describe('transport', () => {
    let hanging: Server;
    beforeAll(async () => {
      // Accepts requests and never answers: the SDK's timeout must turn that into an unknown outcome.
      hanging = createServer(() => undefined);
      await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    });
    afterAll(async () => {
      hanging.closeAllConnections();
      await new Promise<void>((resolve) => hanging.close(() => resolve()));
    });

    it('reports a refused connection as unavailable: nothing was sent', async () => {
      const closed = await startBraintreeSimulator();
      const port = closed.port;
      await closed.close();
      await expect(authorize('fake-valid-nonce', { connector: createBraintreeConnector(connectorArgs(port)) })).rejects.toBeInstanceOf(ConnectorUnavailableError);
    });

    it('reports bad credentials as unavailable: Braintree refused before acting', async () => {
      const wrong = createBraintreeConnector(connectorArgs(sim.port, { privateKey: 'wrong' }));
      await expect(authorize('fake-valid-nonce', { connector: wrong })).rejects.toBeInstanceOf(ConnectorUnavailableError);
    });

    it('reports a write that gets no answer as an unknown outcome after timeoutMs, without re-sending it', async () => {
      const { port } = hanging.address() as AddressInfo;
      const slow = createBraintreeConnector(connectorArgs(port, { timeoutMs: 150 }));
      const started = performance.now();
      await expect(slow.void({ idempotencyKey: key('void'), reference: 'abc123' })).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(140);
      expect(elapsed).toBeLessThan(290);
    });

    it('retries a read that gets no answer twice before reporting an unknown outcome', async () => {
      const { port } = hanging.address() as AddressInfo;
      const slow = createBraintreeConnector(connectorArgs(port, { timeoutMs: 100 }));
      const started = performance.now();
      await expect(slow.retrieve({ idempotencyKey: key('auth'), operation: 'authorize' })).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
      // Three attempts of 100 ms plus 50 + 100 ms of backoff.
      expect(performance.now() - started).toBeGreaterThanOrEqual(430);
    });
  });
});
