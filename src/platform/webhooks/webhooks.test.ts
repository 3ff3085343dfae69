import { createHash, createHmac } from 'node:crypto';
import braintree from 'braintree';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import Razorpay from 'razorpay';
import Stripe from 'stripe';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from '../../../test/support/databases.js';
import { ManualClock, ObolError } from '../../kernel/index.js';
import type { Db } from '../db/index.js';
import { findCardNumber } from '../security/card-guard.js';
import {
  claimWebhooks,
  markFailed,
  markProcessed,
  recordWebhook,
  registerWebhookRoutes,
  verifyBraintreeNotification,
  verifyRazorpaySignature,
  verifyStripeSignature,
  webhookRetryDelayMs,
  WebhookSignatureError,
  type BraintreeKey,
  type WebhookSecrets,
} from './index.js';

const stripe = new Stripe('sk_test_x');
const NOW = 1_790_000_000_000;
const NOW_S = NOW / 1000;
const OLD_SECRET = 'whsec_old_secret_value';
const NEW_SECRET = 'whsec_new_secret_value';

function stripeEvent(id: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    id,
    object: 'event',
    type: 'payment_intent.succeeded',
    created: NOW_S - 5,
    data: { object: { id: 'pi_3Nabc', amount: 4900, currency: 'usd', payment_method_details: { card: { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030 } }, ...extra } },
  });
}

function stripeHeader(payload: string, secret: string, timestamp = NOW_S): string {
  return stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });
}

/** Which refusal reason a call ends in (the client-facing message is always the same). */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof WebhookSignatureError) {
      expect(err.code).toBe('UNAUTHENTICATED');
      expect(err.message).toBe('The webhook signature is missing or invalid.');
      return err.reason;
    }
    if (err instanceof ObolError) return err.code;
    throw err;
  }
  return 'accepted';
}

describe('verifyStripeSignature', () => {
  const base = { toleranceSeconds: 300, now: NOW, secrets: [NEW_SECRET] };

  it('accepts a payload signed by the Stripe SDK, and returns the event', () => {
    const payload = stripeEvent('evt_1');
    const event = verifyStripeSignature({ ...base, rawBody: payload, header: stripeHeader(payload, NEW_SECRET) });
    expect(event).toMatchObject({ eventId: 'evt_1', type: 'payment_intent.succeeded', occurredAt: (NOW_S - 5) * 1000 });
    // Same verdict as the SDK's own verifier.
    expect(stripe.webhooks.constructEvent(payload, stripeHeader(payload, NEW_SECRET), NEW_SECRET, 300, undefined, NOW_S).id).toBe('evt_1');
  });

  it('accepts old and new secrets during rotation, and any of several v1 signatures', () => {
    const payload = stripeEvent('evt_2');
    const rotating = { ...base, secrets: [NEW_SECRET, OLD_SECRET] };
    expect(verifyStripeSignature({ ...rotating, rawBody: payload, header: stripeHeader(payload, OLD_SECRET) }).eventId).toBe('evt_2');
    expect(verifyStripeSignature({ ...rotating, rawBody: payload, header: stripeHeader(payload, NEW_SECRET) }).eventId).toBe('evt_2');
    // Stripe itself signs with both secrets while the old one is still live.
    const sigOld = stripeHeader(payload, OLD_SECRET).split(',').find((p) => p.startsWith('v1='))!;
    const both = `${stripeHeader(payload, 'whsec_someone_else')},${sigOld}`;
    expect(verifyStripeSignature({ ...base, secrets: [OLD_SECRET], rawBody: payload, header: both }).eventId).toBe('evt_2');
  });

  it('refuses a tampered body, a wrong secret, and missing or malformed headers', () => {
    const payload = stripeEvent('evt_3');
    const header = stripeHeader(payload, NEW_SECRET);
    expect(refusal(() => verifyStripeSignature({ ...base, rawBody: payload.replace('4900', '1'), header }))).toBe('bad_signature');
    expect(refusal(() => verifyStripeSignature({ ...base, rawBody: `${payload} `, header }))).toBe('bad_signature');
    expect(refusal(() => verifyStripeSignature({ ...base, secrets: [OLD_SECRET], rawBody: payload, header }))).toBe('bad_signature');
    expect(refusal(() => verifyStripeSignature({ ...base, rawBody: payload, header: undefined }))).toBe('missing_signature');
    expect(refusal(() => verifyStripeSignature({ ...base, rawBody: payload, header: 'v1=abc' }))).toBe('malformed_signature');
    expect(refusal(() => verifyStripeSignature({ ...base, rawBody: payload, header: `t=${NOW_S}` }))).toBe('malformed_signature');
    expect(refusal(() => verifyStripeSignature({ ...base, secrets: [], rawBody: payload, header }))).toBe('no_secret_configured');
  });

  it('refuses timestamps older than the tolerance and in the future beyond it', () => {
    const payload = stripeEvent('evt_4');
    const at = (t: number) => verifyStripeSignature({ ...base, rawBody: payload, header: stripeHeader(payload, NEW_SECRET, t) });
    expect(at(NOW_S - 300).eventId).toBe('evt_4');
    expect(at(NOW_S + 300).eventId).toBe('evt_4');
    expect(refusal(() => at(NOW_S - 301))).toBe('timestamp_too_old');
    expect(refusal(() => at(NOW_S + 301))).toBe('timestamp_in_future');
    // A re-signed timestamp without the secret fails on the signature, not on time.
    const header = stripeHeader(payload, NEW_SECRET, NOW_S - 1000).replace(`t=${NOW_S - 1000}`, `t=${NOW_S}`);
    expect(refusal(() => verifyStripeSignature({ ...base, rawBody: payload, header }))).toBe('bad_signature');
  });

  it('refuses a validly signed body that is not an event (400, not 401)', () => {
    const payload = JSON.stringify({ hello: 'world' });
    expect(refusal(() => verifyStripeSignature({ ...base, rawBody: payload, header: stripeHeader(payload, NEW_SECRET) }))).toBe('VALIDATION_FAILED');
    expect(refusal(() => verifyStripeSignature({ ...base, rawBody: 'nope', header: stripeHeader('nope', NEW_SECRET) }))).toBe('VALIDATION_FAILED');
  });

  it('never puts a secret in the error', () => {
    const payload = stripeEvent('evt_5');
    try {
      verifyStripeSignature({ ...base, rawBody: payload, header: stripeHeader(payload, OLD_SECRET) });
      expect.unreachable();
    } catch (err) {
      expect(JSON.stringify({ ...(err as object), message: (err as Error).message })).not.toContain('whsec_');
    }
  });
});

function btGateway(key: BraintreeKey) {
  return new braintree.BraintreeGateway({ environment: braintree.Environment.Sandbox, merchantId: 'merchant_x', publicKey: key.publicKey, privateKey: key.privateKey });
}
const BT_OLD: BraintreeKey = { publicKey: 'pub_old', privateKey: 'priv_old_secret' };
const BT_NEW: BraintreeKey = { publicKey: 'pub_new', privateKey: 'priv_new_secret' };

/** Braintree's scheme, for payloads the SDK's sample helper cannot produce (e.g. with a PAN). */
function btSign(payload: string, key: BraintreeKey): string {
  const hmacKey = createHash('sha1').update(key.privateKey).digest();
  return `${key.publicKey}|${createHmac('sha1', hmacKey).update(payload).digest('hex')}`;
}

describe('verifyBraintreeNotification', () => {
  it('accepts samples from the Braintree SDK and reads kind, timestamp and subject id', async () => {
    for (const kind of ['subscription_charged_successfully', 'dispute_opened', 'transaction_settled'] as const) {
      const sample = await btGateway(BT_NEW).webhookTesting.sampleNotification(kind, 'sub_123');
      const n = verifyBraintreeNotification({ btSignature: sample.bt_signature, btPayload: sample.bt_payload, keys: [BT_NEW] });
      expect(n.kind).toBe(kind);
      expect(n.type).toBe(kind);
      expect(n.subjectId).toBe('sub_123');
      expect(Math.abs(n.occurredAt! - Date.now())).toBeLessThan(60_000);
      expect(n.eventId).toMatch(/^bt_[0-9a-f]{64}$/);
      // The SDK's own parser agrees.
      const parsed = await btGateway(BT_NEW).webhookNotification.parse(sample.bt_signature, sample.bt_payload);
      expect(parsed.kind).toBe(kind);
    }
  });

  it('accepts both the old and the new key during rotation', async () => {
    const fromOld = await btGateway(BT_OLD).webhookTesting.sampleNotification('subscription_went_past_due', 'sub_1');
    const fromNew = await btGateway(BT_NEW).webhookTesting.sampleNotification('subscription_went_past_due', 'sub_1');
    for (const s of [fromOld, fromNew]) {
      expect(verifyBraintreeNotification({ btSignature: s.bt_signature, btPayload: s.bt_payload, keys: [BT_OLD, BT_NEW] }).subjectId).toBe('sub_1');
    }
    // A signature listing several pairs: the one for a key we hold is used.
    const multi = `pub_other|${'0'.repeat(40)}&${fromNew.bt_signature}`;
    expect(verifyBraintreeNotification({ btSignature: multi, btPayload: fromNew.bt_payload, keys: [BT_NEW] }).kind).toBe('subscription_went_past_due');
  });

  it('refuses tampered payloads, unknown or wrong keys, and missing fields', async () => {
    const s = await btGateway(BT_NEW).webhookTesting.sampleNotification('subscription_canceled', 'sub_9');
    const other = Buffer.from(Buffer.from(s.bt_payload, 'base64').toString('utf8').replace('sub_9', 'sub_8')).toString('base64');
    expect(refusal(() => verifyBraintreeNotification({ btSignature: s.bt_signature, btPayload: other, keys: [BT_NEW] }))).toBe('bad_signature');
    expect(refusal(() => verifyBraintreeNotification({ btSignature: s.bt_signature, btPayload: s.bt_payload, keys: [BT_OLD] }))).toBe('bad_signature');
    const wrongPriv = { publicKey: BT_NEW.publicKey, privateKey: 'nope' };
    expect(refusal(() => verifyBraintreeNotification({ btSignature: s.bt_signature, btPayload: s.bt_payload, keys: [wrongPriv] }))).toBe('bad_signature');
    expect(refusal(() => verifyBraintreeNotification({ btSignature: undefined, btPayload: s.bt_payload, keys: [BT_NEW] }))).toBe('missing_signature');
    expect(refusal(() => verifyBraintreeNotification({ btSignature: s.bt_signature, btPayload: '<xml>', keys: [BT_NEW] }))).toBe('malformed_signature');
    expect(refusal(() => verifyBraintreeNotification({ btSignature: 'garbage', btPayload: s.bt_payload, keys: [BT_NEW] }))).toBe('malformed_signature');
  });
});

const RZP_OLD = 'rzp_old_secret';
const RZP_NEW = 'rzp_new_secret';

function razorpayEvent(event = 'payment.captured', createdAt = NOW_S, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    entity: 'event',
    event,
    created_at: createdAt,
    payload: { payment: { entity: { id: 'pay_29QQoUBi66xm2f', amount: 50000, currency: 'INR', card: { last4: '1111', network: 'Visa' }, ...extra } } },
  });
}
const rzpSign = (body: string, secret: string) => createHmac('sha256', secret).update(body).digest('hex');

describe('verifyRazorpaySignature', () => {
  it('accepts an HMAC of the raw body (as Razorpay SDK validates it) with old and new secrets', () => {
    const body = razorpayEvent();
    for (const secret of [RZP_OLD, RZP_NEW]) {
      const signature = rzpSign(body, secret);
      expect(Razorpay.validateWebhookSignature(body, signature, secret)).toBe(true);
      const event = verifyRazorpaySignature({ rawBody: body, signature, eventId: 'evt_Rzp1', secrets: [RZP_NEW, RZP_OLD] });
      expect(event).toMatchObject({ eventId: 'evt_Rzp1', type: 'payment.captured', occurredAt: NOW });
    }
  });

  it('refuses a tampered body, a wrong secret, a missing signature; a missing event id is malformed', () => {
    const body = razorpayEvent();
    const signature = rzpSign(body, RZP_NEW);
    expect(refusal(() => verifyRazorpaySignature({ rawBody: body.replace('50000', '5'), signature, eventId: 'e1', secrets: [RZP_NEW] }))).toBe('bad_signature');
    expect(refusal(() => verifyRazorpaySignature({ rawBody: body, signature, eventId: 'e1', secrets: [RZP_OLD] }))).toBe('bad_signature');
    expect(refusal(() => verifyRazorpaySignature({ rawBody: body, signature: undefined, eventId: 'e1', secrets: [RZP_NEW] }))).toBe('missing_signature');
    expect(refusal(() => verifyRazorpaySignature({ rawBody: body, signature, eventId: undefined, secrets: [RZP_NEW] }))).toBe('VALIDATION_FAILED');
    expect(refusal(() => verifyRazorpaySignature({ rawBody: body, signature, eventId: '4242424242424242', secrets: [RZP_NEW] }))).toBe('VALIDATION_FAILED');
  });
});

describe('webhook routes', () => {
  let tdb: TestDatabase;
  let server: FastifyInstance;
  const clock = new ManualClock(NOW);
  const secrets: WebhookSecrets = { stripe: [NEW_SECRET, OLD_SECRET], braintree: [BT_NEW, BT_OLD], razorpay: [RZP_NEW] };

  beforeAll(async () => {
    tdb = await createTestDatabase('sqlite');
  });
  afterAll(async () => {
    await tdb.drop();
  });
  beforeEach(async () => {
    await tdb.db.kysely.deleteFrom('webhook_inbox').execute();
    server = Fastify({ logger: false });
    // The real server replaces the JSON parser with a card-guarding one; the webhook scope must
    // still get raw bytes under it.
    server.removeContentTypeParser('application/json');
    server.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => done(null, JSON.parse(String(body))));
    await registerWebhookRoutes(server, { db: tdb.db, clock, secrets, logger: pino({ level: 'silent' }) });
  });
  afterEach(async () => {
    await server.close();
  });

  const rows = () => tdb.db.kysely.selectFrom('webhook_inbox').selectAll().orderBy('received_at').orderBy('event_id').execute();
  const postStripe = (payload: string, secret = NEW_SECRET) =>
    server.inject({ method: 'POST', url: '/webhooks/stripe', headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': stripeHeader(payload, secret) }, payload });

  it('stores a Stripe event verbatim and acknowledges it; a redelivery is stored once', async () => {
    // Whitespace a JSON re-serialisation would lose: the signature is over these exact bytes.
    const payload = stripeEvent('evt_r1').replace('{', '{\n  ');
    const first = await postStripe(payload);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ received: true, duplicate: false });
    const again = await postStripe(payload, OLD_SECRET);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ received: true, duplicate: true });
    const stored = await rows();
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ gateway: 'stripe', event_id: 'evt_r1', event_type: 'payment_intent.succeeded', payload, status: 'received', attempts: 0 });
  });

  it('answers 401 on a bad signature and 400 on a malformed event, storing nothing', async () => {
    const payload = stripeEvent('evt_r2');
    const bad = await server.inject({ method: 'POST', url: '/webhooks/stripe', headers: { 'content-type': 'application/json', 'stripe-signature': stripeHeader(payload, 'whsec_wrong') }, payload });
    expect(bad.statusCode).toBe(401);
    expect(bad.json().errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect(bad.body).not.toContain('whsec_');
    const none = await server.inject({ method: 'POST', url: '/webhooks/stripe', headers: { 'content-type': 'application/json' }, payload });
    expect(none.statusCode).toBe(401);
    const notEvent = JSON.stringify({ id: 'evt with spaces', type: 'x' });
    expect((await postStripe(notEvent)).statusCode).toBe(400);
    const empty = await server.inject({ method: 'POST', url: '/webhooks/stripe', headers: { 'stripe-signature': stripeHeader('', NEW_SECRET) } });
    expect(empty.statusCode).toBe(400);
    expect(await rows()).toHaveLength(0);
  });

  it('refuses a full card number in a signed webhook body (400 CARD_DATA_REFUSED) but lets masked data through', async () => {
    const withPan = stripeEvent('evt_pan', { number: '4242 4242 4242 4242' });
    const res = await postStripe(withPan);
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0].extensions.code).toBe('CARD_DATA_REFUSED');
    expect(res.body).not.toContain('4242 4242');

    const rzp = razorpayEvent('payment.captured', NOW_S, { pan: 4111111111111111 });
    const rzpRes = await server.inject({ method: 'POST', url: '/webhooks/razorpay', headers: { 'content-type': 'application/json', 'x-razorpay-signature': rzpSign(rzp, RZP_NEW), 'x-razorpay-event-id': 'evt_pan' }, payload: rzp });
    expect(rzpRes.statusCode).toBe(400);
    expect(rzpRes.json().errors[0].extensions.code).toBe('CARD_DATA_REFUSED');

    // Inside Braintree's base64 payload, where a raw-body scan alone cannot see it.
    const xml = `<notification><timestamp type="datetime">2026-11-25T03:00:00Z</timestamp><kind>transaction_settled</kind><subject><transaction><id>tx_1</id><credit-card><number>4111111111111111</number></credit-card></transaction></subject></notification>`;
    const btPayload = Buffer.from(xml).toString('base64');
    const form = new URLSearchParams({ bt_signature: btSign(btPayload, BT_NEW), bt_payload: btPayload }).toString();
    const btRes = await server.inject({ method: 'POST', url: '/webhooks/braintree', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form });
    expect(btRes.statusCode).toBe(400);
    expect(btRes.json().errors[0].extensions.code).toBe('CARD_DATA_REFUSED');

    expect(await rows()).toHaveLength(0);
    // Masked card data (brand, last4, expiry) is what gateways legitimately send.
    expect((await postStripe(stripeEvent('evt_masked'))).statusCode).toBe(200);
    expect(await rows()).toHaveLength(1);
  });

  it('takes a Braintree delivery whose signature happens to hold a card-like digit run: hex and base64 are not typed card data', async () => {
    // Vary the notification until its HMAC's hex has a Luhn-valid 13–19 digit run (about 1 in 300).
    let found: { readonly form: string } | undefined;
    for (let i = 0; found === undefined && i < 20_000; i++) {
      const xml = `<notification><timestamp type="datetime">2026-11-25T03:00:00Z</timestamp><kind>check</kind><subject><check type="boolean">true</check><n>${i}</n></subject></notification>`;
      const btPayload = Buffer.from(xml).toString('base64');
      const signature = btSign(btPayload, BT_NEW);
      if (findCardNumber(signature)) found = { form: new URLSearchParams({ bt_signature: signature, bt_payload: btPayload }).toString() };
    }
    if (!found) throw new Error('no signature with a card-like run in 20,000 tries');
    const res = await server.inject({ method: 'POST', url: '/webhooks/braintree', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: found.form });
    expect(res.statusCode, res.body).toBe(200);
    expect(await rows()).toHaveLength(1);
  });

  it('stores out-of-order deliveries independently', async () => {
    const later = JSON.stringify({ id: 'evt_b', object: 'event', type: 'charge.refunded', created: NOW_S - 1, data: { object: { id: 'ch_1' } } });
    const earlier = JSON.stringify({ id: 'evt_a', object: 'event', type: 'charge.succeeded', created: NOW_S - 60, data: { object: { id: 'ch_1' } } });
    expect((await postStripe(later)).statusCode).toBe(200);
    clock.advance(1000);
    expect((await postStripe(earlier)).statusCode).toBe(200);
    const stored = await rows();
    expect(stored.map((r) => [r.event_id, r.occurred_at])).toEqual([
      ['evt_b', (NOW_S - 1) * 1000],
      ['evt_a', (NOW_S - 60) * 1000],
    ]);
    const claimed = await claimWebhooks(tdb.db, { limit: 10, now: clock.now() });
    expect(claimed.map((c) => c.eventId).sort()).toEqual(['evt_a', 'evt_b']);
  });

  it('takes Braintree form posts from the SDK sample helper, with key rotation, deduplicated', async () => {
    const sample = await btGateway(BT_OLD).webhookTesting.sampleNotification('subscription_charged_successfully', 'sub_42');
    const form = new URLSearchParams({ bt_signature: sample.bt_signature, bt_payload: sample.bt_payload }).toString();
    const post = () => server.inject({ method: 'POST', url: '/webhooks/braintree', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form });
    const first = await post();
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ received: true, duplicate: false });
    expect((await post()).json()).toEqual({ received: true, duplicate: true });
    const stored = await rows();
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ gateway: 'braintree', event_type: 'subscription_charged_successfully' });
    expect(stored[0]!.payload).toContain('<id>sub_42</id>');

    const forged = new URLSearchParams({ bt_signature: btSign(sample.bt_payload, { publicKey: BT_NEW.publicKey, privateKey: 'x' }), bt_payload: sample.bt_payload }).toString();
    expect((await server.inject({ method: 'POST', url: '/webhooks/braintree', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: forged })).statusCode).toBe(401);
  });

  it('takes Razorpay events keyed by x-razorpay-event-id', async () => {
    const body = razorpayEvent();
    const post = (eventId: string, signature = rzpSign(body, RZP_NEW)) =>
      server.inject({ method: 'POST', url: '/webhooks/razorpay', headers: { 'content-type': 'application/json', 'x-razorpay-signature': signature, 'x-razorpay-event-id': eventId }, payload: body });
    expect((await post('evt_R1')).json()).toEqual({ received: true, duplicate: false });
    expect((await post('evt_R1')).json()).toEqual({ received: true, duplicate: true });
    expect((await post('evt_R2', rzpSign(body, RZP_OLD))).statusCode).toBe(401);
    const stored = await rows();
    expect(stored.map((r) => [r.gateway, r.event_id, r.event_type, r.payload])).toEqual([['razorpay', 'evt_R1', 'payment.captured', body]]);
  });
});

describeEachDatabase('webhook inbox', (dialect) => {
  let tdb: TestDatabase;
  let db: Db;
  beforeAll(async () => {
    tdb = await createTestDatabase(dialect);
    db = tdb.db;
  });
  afterAll(async () => {
    await tdb.drop();
  });
  beforeEach(async () => {
    await db.kysely.deleteFrom('webhook_inbox').execute();
  });

  it('records an event once per (gateway, event id)', async () => {
    expect(await recordWebhook(db, { gateway: 'stripe', eventId: 'evt_1', type: 't', payload: '{}', now: NOW })).toEqual({ duplicate: false });
    expect(await recordWebhook(db, { gateway: 'stripe', eventId: 'evt_1', type: 't', payload: '{"other":1}', now: NOW + 1 })).toEqual({ duplicate: true });
    // The same id from another gateway is a different event.
    expect(await recordWebhook(db, { gateway: 'razorpay', eventId: 'evt_1', type: 't', payload: '{}', now: NOW })).toEqual({ duplicate: false });
    const rows = await db.kysely.selectFrom('webhook_inbox').selectAll().where('gateway', '=', 'stripe').execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.payload).toBe('{}');
  });

  it('stores payloads beyond 64 KiB', async () => {
    const payload = JSON.stringify({ lines: 'x'.repeat(200_000) });
    await recordWebhook(db, { gateway: 'stripe', eventId: 'evt_big', type: 't', payload, now: NOW });
    const [claimed] = await claimWebhooks(db, { limit: 1, now: NOW });
    expect(claimed!.payload).toBe(payload);
  });

  it('claims due events once, with a lease, and retries failures with backoff', async () => {
    await recordWebhook(db, { gateway: 'stripe', eventId: 'evt_a', type: 't', payload: '{}', occurredAt: NOW - 5, now: NOW });
    await recordWebhook(db, { gateway: 'braintree', eventId: 'bt_b', type: 't', payload: '<x/>', now: NOW + 1 });
    const [a, b] = await Promise.all([claimWebhooks(db, { limit: 10, now: NOW + 2 }), claimWebhooks(db, { limit: 10, now: NOW + 2 })]);
    // Two racing workers never get the same event.
    const all = [...a!, ...b!];
    expect(all.map((c) => c.eventId).sort()).toEqual(['bt_b', 'evt_a']);
    expect(all.every((c) => c.attempt === 1)).toBe(true);
    expect(all.find((c) => c.eventId === 'evt_a')!.occurredAt).toBe(NOW - 5);
    // Leased: nothing is due again until the lease runs out.
    expect(await claimWebhooks(db, { limit: 10, now: NOW + 3 })).toHaveLength(0);

    await markProcessed(db, { gateway: 'stripe', eventId: 'evt_a', now: NOW + 4 });
    expect(await markFailed(db, { gateway: 'braintree', eventId: 'bt_b', error: 'boom for card 4111 1111 1111 1111', now: NOW + 4 })).toEqual({ status: 'received' });
    const row = await db.kysely.selectFrom('webhook_inbox').selectAll().where('event_id', '=', 'bt_b').executeTakeFirstOrThrow();
    expect(row.last_error).toBe('boom for card [card-redacted]');
    expect(Number(row.next_attempt_at)).toBe(NOW + 4 + webhookRetryDelayMs(1));
    expect(await claimWebhooks(db, { limit: 10, now: NOW + 4 + webhookRetryDelayMs(1) - 1 })).toHaveLength(0);
    const retry = await claimWebhooks(db, { limit: 10, now: NOW + 4 + webhookRetryDelayMs(1) });
    expect(retry.map((c) => [c.eventId, c.attempt])).toEqual([['bt_b', 2]]);
    expect(await markFailed(db, { gateway: 'braintree', eventId: 'bt_b', error: 'again', now: NOW + 100_000, maxAttempts: 2 })).toEqual({ status: 'failed' });

    const final = await db.kysely.selectFrom('webhook_inbox').select(['event_id', 'status', 'processed_at', 'attempts']).orderBy('event_id').execute();
    expect(final.map((r) => ({ ...r, processed_at: r.processed_at === null ? null : Number(r.processed_at) }))).toEqual([
      { event_id: 'bt_b', status: 'failed', processed_at: null, attempts: 2 },
      { event_id: 'evt_a', status: 'processed', processed_at: NOW + 4, attempts: 1 },
    ]);
    // Parked and processed events are never claimed again.
    expect(await claimWebhooks(db, { limit: 10, now: NOW + 10 ** 9 })).toHaveLength(0);
  });

  it('backs off exponentially, capped', () => {
    expect(webhookRetryDelayMs(1)).toBe(30_000);
    expect(webhookRetryDelayMs(2)).toBe(60_000);
    expect(webhookRetryDelayMs(30)).toBe(6 * 60 * 60_000);
  });
});
