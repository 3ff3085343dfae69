/**
 * The Razorpay connector against a local simulator of Razorpay's HTTP API, through the real SDK.
 *
 * The shared battery runs in razorpay-conformance.test.ts, in INR, with Razorpay's missing
 * capabilities declared (partial capture, void, server-side 3-D Secure). The "conformance (INR)"
 * block below goes further where Razorpay differs: it checks that partial capture and void are
 * declined as data rather than silently skipped.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Razorpay from 'razorpay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { money, parseCurrency, type CurrencyCode, type Money } from '../../../money/index.js';
import { expectStatus } from '../conformance.js';
import { CONNECTOR_OPERATIONS, ConnectorUnavailableError, ConnectorUnknownOutcomeError, type AuthorizeOutcome } from '../port.js';
import { startRazorpaySimulator, type RazorpaySimulator } from '../../../../test/simulators/razorpay.js';
import { checkoutToken, classifyReason, createRazorpayConnector, parseSavedPaymentMethod, RAZORPAY_DEFAULT_BASE_URL, RAZORPAY_SDK_VERSION, sdkHttpClient, type RazorpayConnector } from './index.js';
import { receiptFor } from './transformers.js';

function currency(code: string): CurrencyCode {
  const parsed = parseCurrency(code);
  if (parsed === undefined) throw new Error(`unknown currency ${code}`);
  return parsed;
}
const INR = currency('INR');
const inr = (paise: number): Money => money(paise, INR);

const key = (label: string): string => `rzp_${label}_${randomUUID()}`;

let sim: RazorpaySimulator;
let rzp: RazorpayConnector;

beforeAll(async () => {
  sim = await startRazorpaySimulator();
  rzp = createRazorpayConnector({ keyId: sim.keyId, keySecret: sim.keySecret, baseUrl: sim.baseUrl, timeoutMs: 2_000 });
});
afterAll(async () => {
  await sim.close();
});

const authorize = (props: { readonly token?: string; readonly captureMethod?: 'automatic' | 'manual'; readonly amount?: Money; readonly idempotencyKey?: string }): Promise<AuthorizeOutcome> =>
  rzp.authorize({
    idempotencyKey: props.idempotencyKey ?? key('auth'),
    amount: props.amount ?? inr(100_000),
    paymentMethod: props.token ?? 'rzp_sim:success',
    captureMethod: props.captureMethod ?? 'automatic',
    customerId: 'cus_razorpay',
    description: 'Obol Razorpay connector test',
  });

describe('conformance (INR)', () => {
  describe('authorization', () => {
    it('captures the full amount at once with automatic capture', async () => {
      const outcome = expectStatus(await authorize({}), 'succeeded');
      expect(outcome.reference).toMatch(/^pay_/);
      expect(outcome.captured).toEqual(inr(100_000));
    });

    it('holds the full amount with manual capture, and a full capture takes it', async () => {
      const auth = expectStatus(await authorize({ captureMethod: 'manual' }), 'requires_capture');
      expect(auth.authorized).toEqual(inr(100_000));
      expect(expectStatus(await rzp.capture({ idempotencyKey: key('cap'), reference: auth.reference, amount: inr(100_000) }), 'succeeded').captured).toEqual(inr(100_000));
    });

    // Shared case "captures part of an authorization, and only once" does not apply: Razorpay has no partial capture.
    it('declines a partial capture (Razorpay has none), after which a full capture still works', async () => {
      const auth = expectStatus(await authorize({ captureMethod: 'manual' }), 'requires_capture');
      const partial = expectStatus(await rzp.capture({ idempotencyKey: key('cap'), reference: auth.reference, amount: inr(60_000) }), 'declined');
      expect(partial.decline).toMatchObject({ code: 'BAD_REQUEST_ERROR', reason: 'invalid_request', declineClass: 'hard' });
      expect(partial.decline.message).toContain('equal to the amount authorized');
      expectStatus(await rzp.capture({ idempotencyKey: key('cap'), reference: auth.reference, amount: inr(100_000) }), 'succeeded');
      expectStatus(await rzp.capture({ idempotencyKey: key('cap'), reference: auth.reference, amount: inr(100_000) }), 'declined');
    });

    it('declines a capture above the authorized amount and changes nothing', async () => {
      const auth = expectStatus(await authorize({ captureMethod: 'manual' }), 'requires_capture');
      expectStatus(await rzp.capture({ idempotencyKey: key('cap'), reference: auth.reference, amount: inr(100_001) }), 'declined');
      expectStatus(await rzp.capture({ idempotencyKey: key('cap'), reference: auth.reference, amount: inr(100_000) }), 'succeeded');
    });

    // Shared case "keeps amounts exact in a zero-decimal currency" does not apply: INR only.
    it.each(['USD', 'JPY', 'EUR'])('declines %s as currency_not_supported (hard) without calling Razorpay', async (code) => {
      const before = sim.requests().length;
      const outcome = expectStatus(await authorize({ amount: money(1234, currency(code)) }), 'declined');
      expect(outcome.reference).toBeNull();
      expect(outcome.decline).toMatchObject({ code: 'currency_not_supported', reason: 'currency_not_supported', declineClass: 'hard' });
      const auth = expectStatus(await authorize({}), 'succeeded');
      expectStatus(await rzp.refund({ idempotencyKey: key('ref'), reference: auth.reference, amount: money(100, currency(code)) }), 'declined');
      expectStatus(await rzp.capture({ idempotencyKey: key('cap'), reference: auth.reference, amount: money(100, currency(code)) }), 'declined');
      // Only the INR authorization's calls reached the simulator.
      expect(sim.requests().slice(before).every((r) => !JSON.stringify(r.body).includes(code))).toBe(true);
    });

    it('keeps paise exact', async () => {
      const outcome = expectStatus(await authorize({ amount: inr(12_345) }), 'succeeded');
      expect(outcome.captured).toEqual(inr(12_345));
      expectStatus(await rzp.refund({ idempotencyKey: key('ref'), reference: outcome.reference, amount: inr(2_345) }), 'succeeded');
      expect(sim.requests().some((r) => r.path === '/v1/orders' && r.method === 'POST' && (r.body as { amount?: unknown }).amount === 12_345)).toBe(true);
    });
  });

  // Shared "void" cases do not apply as written: Razorpay cannot void; void is always void_not_supported.
  describe('void', () => {
    it('declines to void an uncaptured authorization as void_not_supported, sending nothing', async () => {
      const auth = expectStatus(await authorize({ captureMethod: 'manual' }), 'requires_capture');
      const before = sim.requests().length;
      const outcome = expectStatus(await rzp.void({ idempotencyKey: key('void'), reference: auth.reference }), 'declined');
      expect(outcome.decline).toMatchObject({ code: 'void_not_supported', reason: 'void_not_supported', declineClass: 'hard' });
      expect(sim.requests().length).toBe(before);
      // The authorization is untouched (Razorpay releases it by itself if never captured).
      expectStatus(await rzp.capture({ idempotencyKey: key('cap'), reference: auth.reference, amount: inr(100_000) }), 'succeeded');
    });

    it('declines to void a captured payment', async () => {
      const auth = expectStatus(await authorize({}), 'succeeded');
      expectStatus(await rzp.void({ idempotencyKey: key('void'), reference: auth.reference }), 'declined');
    });
  });

  describe('refund', () => {
    it('refunds part, then the rest, and declines anything beyond what was captured', async () => {
      const auth = expectStatus(await authorize({}), 'succeeded');
      const refund = (paise: number) => rzp.refund({ idempotencyKey: key('ref'), reference: auth.reference, amount: inr(paise) });
      const first = expectStatus(await refund(30_000), 'succeeded');
      expect(first.reference).toMatch(/^rfnd_/);
      expectStatus(await refund(70_001), 'declined');
      const rest = expectStatus(await refund(70_000), 'succeeded');
      expect(rest.reference).not.toBe(first.reference);
      expectStatus(await refund(100), 'declined');
    });

    it('declines refunding more than was captured in one go', async () => {
      const auth = expectStatus(await authorize({}), 'succeeded');
      expectStatus(await rzp.refund({ idempotencyKey: key('ref'), reference: auth.reference, amount: inr(100_001) }), 'declined');
    });

    // Shared "refunds no more than a partial capture took" does not apply (no partial capture); the full-capture variant:
    it('refunds no more than a manual capture took', async () => {
      const auth = expectStatus(await authorize({ captureMethod: 'manual' }), 'requires_capture');
      expectStatus(await rzp.capture({ idempotencyKey: key('cap'), reference: auth.reference, amount: inr(100_000) }), 'succeeded');
      expectStatus(await rzp.refund({ idempotencyKey: key('ref'), reference: auth.reference, amount: inr(100_001) }), 'declined');
      expectStatus(await rzp.refund({ idempotencyKey: key('ref'), reference: auth.reference, amount: inr(100_000) }), 'succeeded');
    });

    it('declines refunding an authorization that was never captured', async () => {
      const auth = expectStatus(await authorize({ captureMethod: 'manual' }), 'requires_capture');
      expectStatus(await rzp.refund({ idempotencyKey: key('ref'), reference: auth.reference, amount: inr(10_000) }), 'declined');
    });
  });

  describe('declines', () => {
    it.each([
      { scenario: 'card_declined', reason: 'generic_decline', declineClass: 'hard' },
      { scenario: 'payment_failed', reason: 'generic_decline', declineClass: 'hard' },
      { scenario: 'insufficient_funds', reason: 'insufficient_funds', declineClass: 'hard' },
      { scenario: 'gateway_technical_error', reason: 'processing_error', declineClass: 'soft' },
      { scenario: 'server_error', reason: 'processing_error', declineClass: 'soft' },
      { scenario: 'authentication_failed', reason: 'authentication_required', declineClass: 'customer_action' },
    ] as const)('returns rzp_sim:$scenario as data: reason $reason, class $declineClass', async ({ scenario, reason, declineClass }) => {
      const outcome = expectStatus(await authorize({ token: `rzp_sim:${scenario}` }), 'declined');
      expect(outcome.reference).toMatch(/^pay_/);
      expect(outcome.decline).toMatchObject({ code: scenario, reason, declineClass });
      expect(outcome.decline.message.length).toBeGreaterThan(0);
    });

    it('replays a declined authorization as the same decline', async () => {
      const idempotencyKey = key('auth');
      const first = await authorize({ token: 'rzp_sim:card_declined', idempotencyKey });
      expect(await authorize({ token: 'rzp_sim:card_declined', idempotencyKey })).toEqual(first);
    });
  });

  // Shared "3-D Secure" cases do not apply: Razorpay Checkout runs 3-D Secure in the browser, so the
  // server never sees requires_action; an authentication failure arrives as a failed payment (above).

  describe('unknown outcomes', () => {
    it('reports a lost response as an unknown outcome that retrieve then resolves by receipt', async () => {
      const idempotencyKey = key('auth');
      await expect(authorize({ token: 'rzp_sim:timeout', idempotencyKey })).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
      const found = await rzp.retrieve({ idempotencyKey, operation: 'authorize' });
      if (found.status !== 'found' || found.operation !== 'authorize') throw new Error(JSON.stringify(found));
      expect(expectStatus(found.outcome, 'succeeded').captured).toEqual(inr(100_000));
    });

    it.each(CONNECTOR_OPERATIONS)('retrieve of a %s key the gateway never saw is not_found', async (operation) => {
      expect(await rzp.retrieve({ idempotencyKey: key('never'), operation })).toEqual({ status: 'not_found' });
    });
  });

  describe('idempotency', () => {
    it('replays an authorization under the same key, without a second charge', async () => {
      const idempotencyKey = key('auth');
      const first = expectStatus(await authorize({ idempotencyKey }), 'succeeded');
      expect(await authorize({ idempotencyKey })).toEqual(first);
      expect(await rzp.retrieve({ idempotencyKey, operation: 'authorize' })).toEqual({ status: 'found', operation: 'authorize', outcome: first });
      expect(sim.requests().filter((r) => r.method === 'POST' && r.path === '/v1/orders' && (r.body as { receipt?: unknown }).receipt === receiptFor(idempotencyKey))).toHaveLength(1);
      expectStatus(await rzp.refund({ idempotencyKey: key('ref'), reference: first.reference, amount: inr(100_000) }), 'succeeded');
      expectStatus(await rzp.refund({ idempotencyKey: key('ref'), reference: first.reference, amount: inr(100) }), 'declined');
    });

    it('replays a refund under the same key, sending the same X-Refund-Idempotency header, without refunding twice', async () => {
      const auth = expectStatus(await authorize({}), 'succeeded');
      const idempotencyKey = key('ref');
      const first = expectStatus(await rzp.refund({ idempotencyKey, reference: auth.reference, amount: inr(60_000) }), 'succeeded');
      expect(await rzp.refund({ idempotencyKey, reference: auth.reference, amount: inr(60_000) })).toEqual(first);
      expect(await rzp.retrieve({ idempotencyKey, operation: 'refund' })).toEqual({ status: 'found', operation: 'refund', outcome: first });
      const sent = sim.requests().filter((r) => r.path === `/v1/payments/${auth.reference}/refund`);
      expect(sent).toHaveLength(2);
      expect(sent.map((r) => r.headers['x-refund-idempotency'])).toEqual([idempotencyKey, idempotencyKey]);
      expectStatus(await rzp.refund({ idempotencyKey: key('ref'), reference: auth.reference, amount: inr(40_000) }), 'succeeded');
      expectStatus(await rzp.refund({ idempotencyKey: key('ref'), reference: auth.reference, amount: inr(100) }), 'declined');
    });

    // Shared case uses a partial capture (500 of 1000); here the full amount.
    it('replays a capture under the same key', async () => {
      const auth = expectStatus(await authorize({ captureMethod: 'manual' }), 'requires_capture');
      const idempotencyKey = key('cap');
      const first = expectStatus(await rzp.capture({ idempotencyKey, reference: auth.reference, amount: inr(100_000) }), 'succeeded');
      expect(await rzp.capture({ idempotencyKey, reference: auth.reference, amount: inr(100_000) })).toEqual(first);
      expect(await rzp.retrieve({ idempotencyKey, operation: 'capture' })).toEqual({ status: 'found', operation: 'capture', outcome: first });
    });

    it('creates one order and one payment for ten concurrent authorizations under one key', async () => {
      const idempotencyKey = key('concurrent');
      const outcomes = await Promise.all(Array.from({ length: 10 }, () => authorize({ idempotencyKey })));
      const first = expectStatus(outcomes[0]!, 'succeeded');
      for (const outcome of outcomes) expect(outcome).toEqual(first);
      expect(sim.requests().filter((r) => r.method === 'POST' && r.path === '/v1/orders' && (r.body as { receipt?: unknown }).receipt === receiptFor(idempotencyKey))).toHaveLength(1);
    });

    it('refuses a key reused with a different amount as idempotency_key_reused, executing nothing', async () => {
      const idempotencyKey = key('reuse');
      const first = expectStatus(await authorize({ idempotencyKey }), 'succeeded');
      const reused = expectStatus(await authorize({ idempotencyKey, amount: inr(200_000) }), 'declined');
      expect(reused.reference).toBeNull();
      expect(reused.decline).toMatchObject({ code: 'idempotency_key_reused', declineClass: 'hard' });
      const refundKey = key('ref');
      expectStatus(await rzp.refund({ idempotencyKey: refundKey, reference: first.reference, amount: inr(100) }), 'succeeded');
      expect(expectStatus(await rzp.refund({ idempotencyKey: refundKey, reference: first.reference, amount: inr(200) }), 'declined').decline.code).toBe('idempotency_key_reused');
    });
  });
});

describe('Razorpay Checkout completion (rzp:<payment_id>:<order_id>:<signature>)', () => {
  const checkout = async (props: { readonly captureMethod: 'automatic' | 'manual'; readonly outcome?: 'success' | 'card_declined' }) => {
    const idempotencyKey = key('co');
    const order = await rzp.createCheckoutOrder({ idempotencyKey, amount: inr(50_000), captureMethod: props.captureMethod });
    if (order.status !== 'created') throw new Error(JSON.stringify(order));
    expect(order.keyId).toBe(sim.keyId);
    return { idempotencyKey, ...sim.completeCheckout({ orderId: order.orderId, outcome: props.outcome ?? 'success' }) };
  };

  it('verifies the signature, then maps an authorized payment to requires_capture', async () => {
    const done = await checkout({ captureMethod: 'manual' });
    const outcome = expectStatus(await authorize({ token: checkoutToken(done), idempotencyKey: done.idempotencyKey, amount: inr(50_000), captureMethod: 'manual' }), 'requires_capture');
    expect(outcome.reference).toBe(done.paymentId);
    expect(outcome.authorized).toEqual(inr(50_000));
    expect(await rzp.retrieve({ idempotencyKey: done.idempotencyKey, operation: 'authorize' })).toEqual({ status: 'found', operation: 'authorize', outcome });
  });

  it('captures an authorized payment when automatic capture was asked for', async () => {
    const done = await checkout({ captureMethod: 'manual' });
    const outcome = expectStatus(await authorize({ token: checkoutToken(done), idempotencyKey: done.idempotencyKey, amount: inr(50_000), captureMethod: 'automatic' }), 'succeeded');
    expect(outcome.captured).toEqual(inr(50_000));
    // Replaying finds it captured and does not capture again.
    expect(await authorize({ token: checkoutToken(done), idempotencyKey: done.idempotencyKey, amount: inr(50_000), captureMethod: 'automatic' })).toEqual(outcome);
  });

  it('maps a failed checkout payment to its decline even with a valid signature', async () => {
    const done = await checkout({ captureMethod: 'automatic', outcome: 'card_declined' });
    const outcome = expectStatus(await authorize({ token: checkoutToken(done), idempotencyKey: done.idempotencyKey, amount: inr(50_000) }), 'declined');
    expect(outcome.decline).toMatchObject({ code: 'card_declined', reason: 'generic_decline', declineClass: 'hard' });
  });

  it.each([
    ['a flipped signature digit', (s: string) => (s[0] === 'a' ? `b${s.slice(1)}` : `a${s.slice(1)}`)],
    ['a signature from another key', () => 'f'.repeat(64)],
  ])('declines %s as invalid_signature without calling Razorpay', async (_label, tamper) => {
    const done = await checkout({ captureMethod: 'manual' });
    const before = sim.requests().length;
    const outcome = expectStatus(await authorize({ token: checkoutToken({ ...done, signature: tamper(done.signature) }), idempotencyKey: done.idempotencyKey, amount: inr(50_000) }), 'declined');
    expect(outcome.reference).toBeNull();
    expect(outcome.decline).toMatchObject({ code: 'invalid_signature', declineClass: 'hard' });
    expect(sim.requests().length).toBe(before);
  });

  it('declines a signed payment of one order presented as another order', async () => {
    const a = await checkout({ captureMethod: 'manual' });
    const b = await checkout({ captureMethod: 'manual' });
    // Swapping ids breaks the signature, since it covers `order_id|payment_id`.
    expectStatus(await authorize({ token: checkoutToken({ ...a, orderId: b.orderId }), idempotencyKey: b.idempotencyKey, amount: inr(50_000) }), 'declined');
    // A genuine completion presented under another authorization's key is not that authorization's payment.
    const outcome = expectStatus(await authorize({ token: checkoutToken(a), idempotencyKey: b.idempotencyKey, amount: inr(50_000) }), 'declined');
    expect(outcome.decline.code).toBe('order_mismatch');
  });

  it('refuses tokens it does not know, without echoing them', async () => {
    const outcome = expectStatus(await authorize({ token: '4242 4242 4242 4242' }), 'declined');
    expect(outcome.decline.code).toBe('invalid_payment_method');
    expect(outcome.decline.message).not.toContain('4242');
  });

  it('declines amounts under ₹1 as amount_too_small', async () => {
    expect(expectStatus(await authorize({ amount: inr(99) }), 'declined').decline.code).toBe('amount_too_small');
  });
});

describe('transport failures', () => {
  it('reports a refused connection as ConnectorUnavailableError', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((r) => closed.close(() => r()));
    const down = createRazorpayConnector({ keyId: sim.keyId, keySecret: sim.keySecret, baseUrl: `http://127.0.0.1:${port}` });
    await expect(down.authorize({ idempotencyKey: key('down'), amount: inr(10_000), paymentMethod: 'rzp_sim:success', captureMethod: 'automatic', customerId: 'c', description: 'd' })).rejects.toBeInstanceOf(ConnectorUnavailableError);
  });

  it('reports bad API keys as ConnectorUnavailableError (Razorpay refused before executing)', async () => {
    const wrong = createRazorpayConnector({ keyId: sim.keyId, keySecret: 'wrong', baseUrl: sim.baseUrl });
    await expect(wrong.retrieve({ idempotencyKey: key('k'), operation: 'authorize' })).rejects.toBeInstanceOf(ConnectorUnavailableError);
  });

  it('reports a timeout as an unknown outcome', async () => {
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { port } = silent.address() as AddressInfo;
    try {
      const slow = createRazorpayConnector({ keyId: sim.keyId, keySecret: sim.keySecret, baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 150 });
      await expect(slow.capture({ idempotencyKey: key('cap'), reference: 'pay_x', amount: inr(10_000) })).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('dropped order response → unknown → retrieve by receipt finds the authorization; a retry reuses the order', async () => {
    const idempotencyKey = key('drop');
    sim.dropNextResponse({ method: 'POST', path: '/v1/orders' });
    await expect(authorize({ idempotencyKey, captureMethod: 'manual' })).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
    const found = await rzp.retrieve({ idempotencyKey, operation: 'authorize' });
    if (found.status !== 'found' || found.operation !== 'authorize') throw new Error(JSON.stringify(found));
    const auth = expectStatus(found.outcome, 'requires_capture');
    expect(auth.authorized).toEqual(inr(100_000));
    expect(expectStatus(await authorize({ idempotencyKey, captureMethod: 'manual' }), 'requires_capture').reference).toBe(auth.reference);
    expect(sim.requests().filter((r) => r.method === 'POST' && r.path === '/v1/orders' && (r.body as { receipt?: unknown }).receipt === receiptFor(idempotencyKey))).toHaveLength(1);
  });

  it('a 500 on order creation is an unknown outcome; retrieve then says not_found, and a retry authorizes', async () => {
    const idempotencyKey = key('fail');
    sim.failNextRequest({ method: 'POST', path: '/v1/orders' });
    await expect(authorize({ idempotencyKey })).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
    expect(await rzp.retrieve({ idempotencyKey, operation: 'authorize' })).toEqual({ status: 'not_found' });
    expectStatus(await authorize({ idempotencyKey }), 'succeeded');
  });

  it('retries a read that failed with a 500', async () => {
    sim.failNextRequest({ method: 'GET', path: '/v1/orders' });
    expect(await rzp.retrieve({ idempotencyKey: key('r'), operation: 'authorize' })).toEqual({ status: 'not_found' });
  });

  it('a dropped refund response is retried under the same X-Refund-Idempotency key and refunds once', async () => {
    const auth = expectStatus(await authorize({}), 'succeeded');
    const idempotencyKey = key('ref');
    sim.dropNextResponse();
    const refund = expectStatus(await rzp.refund({ idempotencyKey, reference: auth.reference, amount: inr(25_000) }), 'succeeded');
    const sent = sim.requests().filter((r) => r.path === `/v1/payments/${auth.reference}/refund`);
    expect(sent.map((r) => r.headers['x-refund-idempotency'])).toEqual([idempotencyKey, idempotencyKey]);
    expect(await rzp.retrieve({ idempotencyKey, operation: 'refund' })).toEqual({ status: 'found', operation: 'refund', outcome: refund });
    // One refund of 25,000 was made: 75,000 remain.
    expectStatus(await rzp.refund({ idempotencyKey: key('ref'), reference: auth.reference, amount: inr(75_001) }), 'declined');
    expectStatus(await rzp.refund({ idempotencyKey: key('ref'), reference: auth.reference, amount: inr(75_000) }), 'succeeded');
  });
});

describe('error reason classification', () => {
  it.each([
    ['gateway_technical_error', 'processing_error', 'soft'],
    ['bank_technical_error', 'processing_error', 'soft'],
    ['server_error', 'processing_error', 'soft'],
    ['payment_timed_out', 'processing_error', 'soft'],
    ['card_declined', 'generic_decline', 'hard'],
    ['payment_failed', 'generic_decline', 'hard'],
    ['insufficient_funds', 'insufficient_funds', 'hard'],
    ['incorrect_card_details', 'invalid_payment_method', 'hard'],
    ['authentication_failed', 'authentication_required', 'customer_action'],
    ['payment_cancelled', 'payment_cancelled', 'customer_action'],
    ['something_new', 'something_new', 'hard'],
    ['NA', 'generic_decline', 'hard'],
  ])('%s → %s (%s)', (razorpayReason, reason, declineClass) => {
    expect(classifyReason(razorpayReason)).toEqual({ reason, declineClass });
  });
});

describe('SDK pin and base-URL override', () => {
  it('is the pinned SDK version, pinned exactly in package.json', () => {
    expect(Razorpay.VERSION).toBe(RAZORPAY_SDK_VERSION);
    const pkg = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { dependencies?: Record<string, string> };
    expect(pkg.dependencies?.['razorpay']).toBe(RAZORPAY_SDK_VERSION);
  });

  it('still hard-codes the host and ignores a hostUrl option, so the override on api.rq is still needed and still there', () => {
    const options = { key_id: 'rzp_test_x', key_secret: 'secret', hostUrl: 'http://127.0.0.1:1' };
    const sdk = new Razorpay(options);
    const http = sdkHttpClient(sdk);
    expect(http.defaults.baseURL).toBe(RAZORPAY_DEFAULT_BASE_URL);
  });

  it('sends every call to the configured base URL', async () => {
    const before = sim.requests().length;
    await rzp.retrieve({ idempotencyKey: key('base'), operation: 'authorize' });
    expect(sim.requests().length).toBe(before + 1);
    expect(sim.requests().at(-1)).toMatchObject({ method: 'GET', path: '/v1/orders' });
  });
});

describe('saved payment methods (Razorpay Customers + recurring tokens) and off-session charges', () => {
  const customerDetails = async (customerId: string) => ({ name: 'Gaurav Kumar', email: `${customerId}@example.com`, contact: '+919000090000' });
  let saver: RazorpayConnector;
  let bigMandates: RazorpayConnector;
  beforeAll(() => {
    saver = createRazorpayConnector({ keyId: sim.keyId, keySecret: sim.keySecret, baseUrl: sim.baseUrl, timeoutMs: 2_000, customerDetails });
    bigMandates = createRazorpayConnector({ keyId: sim.keyId, keySecret: sim.keySecret, baseUrl: sim.baseUrl, timeoutMs: 2_000, customerDetails, cardMandateMaxAmountPaise: 5_000_000 });
  });

  const customer = (): string => `cus_${randomUUID().slice(0, 8)}`;
  const save = async (props: { readonly connector?: RazorpayConnector; readonly token?: string; readonly customerId: string; readonly idempotencyKey?: string }) =>
    (props.connector ?? saver).savePaymentMethod({ idempotencyKey: props.idempotencyKey ?? key('save'), paymentMethod: props.token ?? 'rzp_sim:success', customerId: props.customerId });
  const saved = async (customerId: string, connector?: RazorpayConnector): Promise<string> => expectStatus(await save({ customerId, ...(connector ? { connector } : {}) }), 'saved').savedPaymentMethod;
  const charge = (props: { readonly saved: string; readonly customerId: string; readonly amount?: Money; readonly idempotencyKey?: string; readonly connector?: RazorpayConnector }) =>
    (props.connector ?? saver).chargeOffSession({ idempotencyKey: props.idempotencyKey ?? key('mit'), amount: props.amount ?? inr(49_900), savedPaymentMethod: props.saved, customerId: props.customerId, description: 'Obol Plus monthly renewal' });
  const tokenOf = (savedMethod: string): string => {
    const parsed = parseSavedPaymentMethod(savedMethod);
    if (!parsed) throw new Error(`not a saved method: ${savedMethod}`);
    return parsed.tokenId;
  };
  const after = (before: number) => sim.requests().slice(before);

  describe('savePaymentMethod', () => {
    it('finds-or-creates the customer, then makes a ₹1 uncaptured authorization transaction with a card mandate, and returns <customer_id>:<token_id>', async () => {
      const customerId = customer();
      const before = sim.requests().length;
      const outcome = expectStatus(await save({ customerId }), 'saved');
      expect(outcome.savedPaymentMethod).toMatch(/^cust_[A-Za-z0-9]+:token_[A-Za-z0-9]+$/);
      const sent = after(before);
      const created = sent.find((r) => r.method === 'POST' && r.path === '/v1/customers');
      expect(created?.body).toEqual({ name: 'Gaurav Kumar', email: `${customerId}@example.com`, contact: '+919000090000', fail_existing: 0, notes: { obol_customer_id: customerId } });
      const order = sent.find((r) => r.method === 'POST' && r.path === '/v1/orders')?.body as Record<string, unknown>;
      const [razorpayCustomer] = outcome.savedPaymentMethod.split(':');
      expect(order).toMatchObject({ amount: 100, currency: 'INR', payment_capture: false, customer_id: razorpayCustomer, method: 'card', notes: { obol_operation: 'save_payment_method', obol_customer_id: customerId } });
      const mandate = order['token'] as { max_amount: number; expire_at: number; frequency: string };
      expect(mandate.max_amount).toBe(1_500_000);
      expect(mandate.frequency).toBe('as_presented');
      expect(mandate.expire_at).toBeGreaterThan(Date.now() / 1000 + 9 * 365 * 86_400);
      // The token is the customer's, confirmed for recurring use, with the mandate's ceiling.
      const sdk = new Razorpay({ key_id: sim.keyId, key_secret: sim.keySecret });
      sdkHttpClient(sdk).defaults.baseURL = sim.baseUrl;
      const tokens = (await sdk.customers.fetchTokens(razorpayCustomer!)) as unknown as { items: { id: string; recurring: boolean; recurring_details: { status: string }; max_amount: number }[] };
      expect(tokens.items).toEqual([expect.objectContaining({ id: tokenOf(outcome.savedPaymentMethod), recurring: true, recurring_details: expect.objectContaining({ status: 'confirmed' }), max_amount: 1_500_000 })]);
    });

    it('uses one Razorpay customer for one Obol customer, each save its own token', async () => {
      const customerId = customer();
      const a = await saved(customerId);
      const b = await saved(customerId);
      expect(a.split(':')[0]).toBe(b.split(':')[0]);
      expect(tokenOf(a)).not.toBe(tokenOf(b));
    });

    it('replays a save under the same key without a second authorization transaction', async () => {
      const customerId = customer();
      const idempotencyKey = key('save');
      const first = await save({ customerId, idempotencyKey });
      expect(await save({ customerId, idempotencyKey })).toEqual(first);
      expect(sim.requests().filter((r) => r.method === 'POST' && r.path === '/v1/orders' && (r.body as { receipt?: unknown }).receipt === receiptFor(idempotencyKey))).toHaveLength(1);
    });

    it.each([
      { scenario: 'card_declined', reason: 'generic_decline', declineClass: 'hard' },
      { scenario: 'insufficient_funds', reason: 'insufficient_funds', declineClass: 'hard' },
      { scenario: 'authentication_failed', reason: 'authentication_required', declineClass: 'customer_action' },
    ] as const)('declines a save whose authorization payment fails ($scenario) as data, saving nothing', async ({ scenario, reason, declineClass }) => {
      const outcome = expectStatus(await save({ customerId: customer(), token: `rzp_sim:${scenario}` }), 'declined');
      expect(outcome.decline).toMatchObject({ code: scenario, reason, declineClass });
    });

    it('declines to save without the customer contact details Razorpay needs, sending nothing', async () => {
      const before = sim.requests().length;
      const outcome = expectStatus(await rzp.savePaymentMethod({ idempotencyKey: key('save'), paymentMethod: 'rzp_sim:success', customerId: customer() }), 'declined');
      expect(outcome.decline).toMatchObject({ code: 'customer_details_unavailable', declineClass: 'hard' });
      const auth = expectStatus(await rzp.authorize({ idempotencyKey: key('auth'), amount: inr(10_000), paymentMethod: 'rzp_sim:success', captureMethod: 'automatic', customerId: customer(), description: 'd', savePaymentMethod: true }), 'declined');
      expect(auth.reference).toBeNull();
      expect(auth.decline.code).toBe('customer_details_unavailable');
      expect(after(before).some((r) => r.path === '/v1/customers')).toBe(false);
    });

    it('refuses tokens it does not know, without echoing them', async () => {
      const outcome = expectStatus(await save({ customerId: customer(), token: '4111 1111 1111 1111' }), 'declined');
      expect(outcome.decline.code).toBe('invalid_payment_method');
      expect(outcome.decline.message).not.toContain('1111');
    });
  });

  describe('Checkout authorization transactions (rzp:<payment_id>:<order_id>:<signature>)', () => {
    const checkout = async (props: { readonly customerId: string; readonly saveFor?: string; readonly outcome?: 'success' | 'card_declined'; readonly captureMethod?: 'automatic' | 'manual' }) => {
      const idempotencyKey = key('co');
      const order = await saver.createCheckoutOrder({ idempotencyKey, amount: inr(49_900), captureMethod: props.captureMethod ?? 'automatic', ...(props.saveFor ? { saveFor: { customerId: props.saveFor } } : {}) });
      if (order.status !== 'created') throw new Error(JSON.stringify(order));
      return { idempotencyKey, ...sim.completeCheckout({ orderId: order.orderId, outcome: props.outcome ?? 'success' }) };
    };

    it('authorize with savePaymentMethod returns the token of the paid payment, and savePaymentMethod of the same completion agrees', async () => {
      const customerId = customer();
      const done = await checkout({ customerId, saveFor: customerId });
      const auth = expectStatus(await saver.authorize({ idempotencyKey: done.idempotencyKey, amount: inr(49_900), paymentMethod: checkoutToken(done), captureMethod: 'automatic', customerId, description: 'd', savePaymentMethod: true }), 'succeeded');
      expect(auth.savedPaymentMethod).toMatch(/^cust_[A-Za-z0-9]+:token_[A-Za-z0-9]+$/);
      expect(auth.threeDSecure).toBeUndefined();
      expect(await saver.retrieve({ idempotencyKey: done.idempotencyKey, operation: 'authorize' })).toEqual({ status: 'found', operation: 'authorize', outcome: auth });
      const viaSave = expectStatus(await saver.savePaymentMethod({ idempotencyKey: key('save'), paymentMethod: checkoutToken(done), customerId }), 'saved');
      expect(viaSave.savedPaymentMethod).toBe(auth.savedPaymentMethod);
      expectStatus(await charge({ saved: viaSave.savedPaymentMethod, customerId }), 'succeeded');
    });

    it('declines to save a completion that was not an authorization transaction (no token)', async () => {
      const customerId = customer();
      const done = await checkout({ customerId });
      const outcome = expectStatus(await saver.savePaymentMethod({ idempotencyKey: key('save'), paymentMethod: checkoutToken(done), customerId }), 'declined');
      expect(outcome.decline).toMatchObject({ code: 'payment_method_not_saved', declineClass: 'hard' });
      const auth = expectStatus(await saver.authorize({ idempotencyKey: done.idempotencyKey, amount: inr(49_900), paymentMethod: checkoutToken(done), captureMethod: 'automatic', customerId, description: 'd', savePaymentMethod: true }), 'succeeded');
      expect(auth.savedPaymentMethod).toBeUndefined();
    });

    it('declines to save a failed authorization transaction as its decline', async () => {
      const customerId = customer();
      const done = await checkout({ customerId, saveFor: customerId, outcome: 'card_declined' });
      const outcome = expectStatus(await saver.savePaymentMethod({ idempotencyKey: key('save'), paymentMethod: checkoutToken(done), customerId }), 'declined');
      expect(outcome.decline).toMatchObject({ code: 'card_declined', reason: 'generic_decline', declineClass: 'hard' });
    });

    it('declines a tampered signature without calling Razorpay, and another customer\'s completion', async () => {
      const customerId = customer();
      const done = await checkout({ customerId, saveFor: customerId });
      const before = sim.requests().length;
      const forged = expectStatus(await saver.savePaymentMethod({ idempotencyKey: key('save'), paymentMethod: checkoutToken({ ...done, signature: 'f'.repeat(64) }), customerId }), 'declined');
      expect(forged.decline.code).toBe('invalid_signature');
      expect(sim.requests().length).toBe(before);
      const stolen = expectStatus(await saver.savePaymentMethod({ idempotencyKey: key('save'), paymentMethod: checkoutToken(done), customerId: customer() }), 'declined');
      expect(stolen.decline).toMatchObject({ code: 'customer_mismatch', declineClass: 'hard' });
    });
  });

  describe('chargeOffSession', () => {
    it('creates an auto-captured order for the debit, reads the customer, and sends a recurring payment with the token', async () => {
      const customerId = customer();
      const savedMethod = await saved(customerId);
      const [razorpayCustomer, token] = savedMethod.split(':');
      const idempotencyKey = key('mit');
      const before = sim.requests().length;
      const outcome = expectStatus(await charge({ saved: savedMethod, customerId, idempotencyKey, amount: inr(49_900) }), 'succeeded');
      expect(outcome.reference).toMatch(/^pay_/);
      expect(outcome.captured).toEqual(inr(49_900));
      expect(outcome.savedPaymentMethod).toBeUndefined();
      const sent = after(before);
      expect(sent.map((r) => `${r.method} ${r.path}`)).toEqual([
        'GET /v1/orders',
        'POST /v1/orders',
        expect.stringMatching(/^GET \/v1\/orders\/order_[A-Za-z0-9]+\/payments$/),
        `GET /v1/customers/${razorpayCustomer}`,
        'POST /v1/payments/create/recurring',
        `GET /v1/payments/${outcome.reference}`,
      ]);
      const order = sent[1]!.body as Record<string, unknown>;
      expect(order).toMatchObject({ amount: 49_900, currency: 'INR', payment_capture: true, receipt: receiptFor(idempotencyKey), notes: { obol_idempotency_key: idempotencyKey, obol_operation: 'charge_off_session', obol_saved_payment_method: savedMethod } });
      expect(order['customer_id']).toBeUndefined();
      expect(sent[4]!.body).toEqual({
        email: `${customerId}@example.com`,
        contact: '+919000090000',
        amount: 49_900,
        currency: 'INR',
        order_id: expect.stringMatching(/^order_/),
        customer_id: razorpayCustomer,
        token,
        recurring: '1',
        description: 'Obol Plus monthly renewal',
        notes: { obol_idempotency_key: idempotencyKey },
      });
      expect(await saver.retrieve({ idempotencyKey, operation: 'charge_off_session' })).toEqual({ status: 'found', operation: 'charge_off_session', outcome });
      // Not an authorization: the authorize lookup under the same key does not see it.
      expect(await saver.retrieve({ idempotencyKey, operation: 'authorize' })).toEqual({ status: 'not_found' });
    });

    it.each([
      { outcome: 'insufficient_funds', reason: 'insufficient_funds', declineClass: 'hard' },
      { outcome: 'card_declined', reason: 'generic_decline', declineClass: 'hard' },
      { outcome: 'payment_failed', reason: 'generic_decline', declineClass: 'hard' },
      { outcome: 'gateway_technical_error', reason: 'processing_error', declineClass: 'soft' },
      { outcome: 'server_error', reason: 'processing_error', declineClass: 'soft' },
      { outcome: 'authentication_failed', reason: 'authentication_required', declineClass: 'customer_action' },
    ] as const)('maps a refused debit ($outcome) through the reason table: $reason, $declineClass, replayed identically', async ({ outcome, reason, declineClass }) => {
      const customerId = customer();
      const savedMethod = await saved(customerId);
      sim.failRecurringDebits({ tokenId: tokenOf(savedMethod), outcome });
      const idempotencyKey = key('mit');
      const declined = expectStatus(await charge({ saved: savedMethod, customerId, idempotencyKey }), 'declined');
      expect(declined.reference).toMatch(/^pay_/);
      expect(declined.decline).toMatchObject({ code: outcome, reason, declineClass });
      expect(await charge({ saved: savedMethod, customerId, idempotencyKey })).toEqual(declined);
      expect(await saver.retrieve({ idempotencyKey, operation: 'charge_off_session' })).toEqual({ status: 'found', operation: 'charge_off_session', outcome: declined });
      // The replay read the failed payment; it did not debit again.
      expect(sim.requests().filter((r) => r.path === '/v1/payments/create/recurring' && (r.body as { notes?: { obol_idempotency_key?: string } }).notes?.obol_idempotency_key === idempotencyKey)).toHaveLength(1);
      // The issuer recovers: a new renewal (new key) goes through.
      sim.failRecurringDebits({ tokenId: tokenOf(savedMethod), outcome: 'success' });
      expectStatus(await charge({ saved: savedMethod, customerId }), 'succeeded');
    });

    it('a debit above ₹15,000 needs AFA the absent customer never gives: customer_action authentication_required, never requires_action', async () => {
      const customerId = customer();
      const savedMethod = await saved(customerId, bigMandates);
      const outcome = expectStatus(await charge({ connector: bigMandates, saved: savedMethod, customerId, amount: inr(1_500_100) }), 'declined');
      expect(outcome.reference).toMatch(/^pay_/);
      expect(outcome.decline).toMatchObject({ code: 'authentication_failed', reason: 'authentication_required', declineClass: 'customer_action' });
      expectStatus(await charge({ connector: bigMandates, saved: savedMethod, customerId, amount: inr(1_500_000) }), 'succeeded');
    });

    it('a debit above the mandate\'s max_amount is refused by Razorpay: a hard decline, nothing charged', async () => {
      const customerId = customer();
      const savedMethod = await saved(customerId);
      const outcome = expectStatus(await charge({ saved: savedMethod, customerId, amount: inr(1_500_100) }), 'declined');
      expect(outcome.reference).toBeNull();
      expect(outcome.decline).toMatchObject({ reason: 'invalid_request', declineClass: 'hard' });
      expect(outcome.decline.message).toContain('maximum amount');
    });

    it.each([
      ['an unknown token of a known customer', async (s: string) => `${s.split(':')[0]}:token_NoSuchToken000`],
      ['an unknown customer', async (s: string) => `cust_NoSuchCustomer00:${tokenOf(s)}`],
    ])('declines %s as a hard decline', async (_label, make) => {
      const customerId = customer();
      const savedMethod = await make(await saved(customerId));
      const outcome = expectStatus(await charge({ saved: savedMethod, customerId }), 'declined');
      expect(outcome.reference).toBeNull();
      expect(outcome.decline.declineClass).toBe('hard');
    });

    it('declines a malformed saved method without calling Razorpay, and another customer\'s token before debiting', async () => {
      const before = sim.requests().length;
      expect(expectStatus(await charge({ saved: 'token_x', customerId: customer() }), 'declined').decline).toMatchObject({ code: 'invalid_payment_method', declineClass: 'hard' });
      expect(sim.requests().length).toBe(before);
      const savedMethod = await saved(customer());
      const stolen = expectStatus(await charge({ saved: savedMethod, customerId: customer() }), 'declined');
      expect(stolen.decline).toMatchObject({ code: 'customer_mismatch', declineClass: 'hard' });
      expect(sim.requests().slice(before).some((r) => r.path === '/v1/payments/create/recurring')).toBe(false);
    });

    it('refuses a key reused for another saved method or amount as idempotency_key_reused', async () => {
      const customerId = customer();
      const savedMethod = await saved(customerId);
      const idempotencyKey = key('mit');
      expectStatus(await charge({ saved: savedMethod, customerId, idempotencyKey }), 'succeeded');
      expect(expectStatus(await charge({ saved: savedMethod, customerId, idempotencyKey, amount: inr(10_000) }), 'declined').decline.code).toBe('idempotency_key_reused');
      expect(expectStatus(await charge({ saved: await saved(customerId), customerId, idempotencyKey }), 'declined').decline.code).toBe('idempotency_key_reused');
    });

    it('declines non-INR and sub-₹1 debits without calling Razorpay', async () => {
      const before = sim.requests().length;
      expect(expectStatus(await charge({ saved: 'cust_a:token_b', customerId: customer(), amount: money(500, currency('USD')) }), 'declined').decline.code).toBe('currency_not_supported');
      expect(expectStatus(await charge({ saved: 'cust_a:token_b', customerId: customer(), amount: inr(99) }), 'declined').decline.code).toBe('amount_too_small');
      expect(sim.requests().length).toBe(before);
    });

    it('a lost recurring-payment response is an unknown outcome; retrieve finds the debit and a retry does not debit again', async () => {
      const customerId = customer();
      const savedMethod = await saved(customerId);
      const idempotencyKey = key('mit');
      sim.dropNextResponse({ method: 'POST', path: '/v1/payments/create/recurring' });
      await expect(charge({ saved: savedMethod, customerId, idempotencyKey })).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
      const found = await saver.retrieve({ idempotencyKey, operation: 'charge_off_session' });
      if (found.status !== 'found' || found.operation !== 'charge_off_session') throw new Error(JSON.stringify(found));
      const debit = expectStatus(found.outcome, 'succeeded');
      expect(await charge({ saved: savedMethod, customerId, idempotencyKey })).toEqual(debit);
      expect(sim.requests().filter((r) => r.path === '/v1/payments/create/recurring' && (r.body as { notes?: { obol_idempotency_key?: string } }).notes?.obol_idempotency_key === idempotencyKey)).toHaveLength(1);
    });

    it('a 500 before the debit executed is an unknown outcome; retrieve says not_found and a retry reuses the order', async () => {
      const customerId = customer();
      const savedMethod = await saved(customerId);
      const idempotencyKey = key('mit');
      sim.failNextRequest({ method: 'POST', path: '/v1/payments/create/recurring' });
      await expect(charge({ saved: savedMethod, customerId, idempotencyKey })).rejects.toBeInstanceOf(ConnectorUnknownOutcomeError);
      expect(await saver.retrieve({ idempotencyKey, operation: 'charge_off_session' })).toEqual({ status: 'not_found' });
      expectStatus(await charge({ saved: savedMethod, customerId, idempotencyKey }), 'succeeded');
      expect(sim.requests().filter((r) => r.method === 'POST' && r.path === '/v1/orders' && (r.body as { receipt?: unknown }).receipt === receiptFor(idempotencyKey))).toHaveLength(1);
    });

    it('creates one order and one debit for ten concurrent charges under one key', async () => {
      const customerId = customer();
      const savedMethod = await saved(customerId);
      const idempotencyKey = key('mit');
      const outcomes = await Promise.all(Array.from({ length: 10 }, () => charge({ saved: savedMethod, customerId, idempotencyKey })));
      const first = expectStatus(outcomes[0]!, 'succeeded');
      for (const o of outcomes) expect(o).toEqual(first);
      expect(sim.requests().filter((r) => r.path === '/v1/payments/create/recurring' && (r.body as { notes?: { obol_idempotency_key?: string } }).notes?.obol_idempotency_key === idempotencyKey)).toHaveLength(1);
    });
  });

  describe('authorize with savePaymentMethod and authentication requests', () => {
    it('makes the order an authorization transaction and returns its token; a replay and retrieve agree', async () => {
      const customerId = customer();
      const idempotencyKey = key('auth');
      const args = { idempotencyKey, amount: inr(49_900), paymentMethod: 'rzp_sim:success', captureMethod: 'automatic', customerId, description: 'd', savePaymentMethod: true } as const;
      const first = expectStatus(await saver.authorize(args), 'succeeded');
      expect(first.savedPaymentMethod).toMatch(/^cust_[A-Za-z0-9]+:token_[A-Za-z0-9]+$/);
      expect(await saver.authorize(args)).toEqual(first);
      expect(await saver.retrieve({ idempotencyKey, operation: 'authorize' })).toEqual({ status: 'found', operation: 'authorize', outcome: first });
      const order = sim.requests().find((r) => r.method === 'POST' && r.path === '/v1/orders' && (r.body as { receipt?: unknown }).receipt === receiptFor(idempotencyKey))?.body;
      expect(order).toMatchObject({ amount: 49_900, payment_capture: true, method: 'card', token: { max_amount: 1_500_000, frequency: 'as_presented' } });
      expectStatus(await charge({ saved: first.savedPaymentMethod ?? '', customerId }), 'succeeded');
    });

    it('saves nothing when the first payment is declined', async () => {
      const outcome = expectStatus(await saver.authorize({ idempotencyKey: key('auth'), amount: inr(49_900), paymentMethod: 'rzp_sim:card_declined', captureMethod: 'automatic', customerId: customer(), description: 'd', savePaymentMethod: true }), 'declined');
      expect(outcome.decline.code).toBe('card_declined');
    });

    it.each([{ kind: 'required' }, { kind: 'exemption', exemption: 'low_value' }, { kind: 'gateway_default' }] as const)(
      'accepts and ignores authentication $kind (AFA runs in Razorpay Checkout): same requests, no threeDSecure',
      async (authentication) => {
        const before = sim.requests().length;
        const outcome = expectStatus(await rzp.authorize({ idempotencyKey: key('auth'), amount: inr(10_000), paymentMethod: 'rzp_sim:success', captureMethod: 'automatic', customerId: 'c', description: 'd', authentication }), 'succeeded');
        expect(outcome.threeDSecure).toBeUndefined();
        const order = after(before).find((r) => r.method === 'POST' && r.path === '/v1/orders')?.body;
        expect(Object.keys(order as object).sort()).toEqual(['amount', 'currency', 'notes', 'payment_capture', 'receipt']);
      },
    );
  });
});
