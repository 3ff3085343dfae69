/**
 * A Braintree chargeback, end to end: a checkout paid through the Braintree connector (the real
 * SDK against the Braintree simulator), then Braintree's signed dispute notifications posted to
 * /webhooks/braintree → inbox → worker → dispute on the payment, ledger booked, events emitted;
 * duplicates and unrelated notifications change nothing.
 *
 * Why most notifications here are built rather than taken from the SDK's sample helper:
 * `webhookTesting.sampleNotification(kind, id)` fills the dispute with fixed sample data — the
 * dispute id and the disputed transaction's id are both `id`, and the amount is always 250.00 USD
 * — so it cannot describe a chargeback of this payment's full amount under its own dispute id.
 * `disputeNotification` writes the same XML shape the SDK's helper writes (its
 * `subjectXmlForDisputeOpened`) and signs it with the SDK's scheme, bt_signature =
 * `publicKey|hex(HMAC-SHA1(key = SHA1(privateKey), payload))`; the test checks that the SDK's own
 * `webhookNotification.parse` accepts the result and reads the same dispute from it. The last test
 * does use the sample helper as is, on a payment large enough for its 250.00 USD.
 */
import { createHash, createHmac } from 'node:crypto';
import braintree from 'braintree';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startBraintreeSimulator, SIMULATOR_MERCHANT_ID, SIMULATOR_PRIVATE_KEY, SIMULATOR_PUBLIC_KEY, type BraintreeSimulator } from '../simulators/braintree.js';
import { describeEachDatabase } from '../support/databases.js';
import { key, startHarness, type Harness } from '../support/harness.js';
import { CREATE, TRIAL_BALANCE } from './fragments.js';

// Braintree signs webhooks with the merchant's API key pair; a retired pair stays listed while rotating.
const OLD_KEY = { publicKey: 'bt_public_retired', privateKey: 'bt_private_retired' };
const KEYS = `${SIMULATOR_PUBLIC_KEY}:${SIMULATOR_PRIVATE_KEY},${OLD_KEY.publicKey}:${OLD_KEY.privateKey}`;

const sdkGateway = (publicKey = SIMULATOR_PUBLIC_KEY, privateKey = SIMULATOR_PRIVATE_KEY) =>
  new braintree.BraintreeGateway({ environment: braintree.Environment.Sandbox, merchantId: SIMULATOR_MERCHANT_ID, publicKey, privateKey });

interface DisputeArgs {
  readonly kind: string;
  readonly disputeId: string;
  readonly transactionId: string;
  /** Braintree's decimal string, e.g. "49.00". */
  readonly amount: string;
  readonly currency: string;
  readonly status: string;
  readonly timestamp: Date;
}

/** The notification XML, in the shape of the SDK's WebhookTestingGateway.subjectXmlForDispute*. */
function disputeXml(a: DisputeArgs): string {
  const day = a.timestamp.toISOString().slice(0, 10);
  return `<notification>
    <timestamp type="datetime">${a.timestamp.toISOString().replace(/\.\d{3}Z$/, 'Z')}</timestamp>
    <kind>${a.kind}</kind>
    <subject><dispute>
  <amount>${a.amount}</amount>
  <amount-disputed>${a.amount}</amount-disputed>
  <amount-won>0.00</amount-won>
  <currency-iso-code>${a.currency}</currency-iso-code>
  <received-date type="date">${day}</received-date>
  <reply-by-date type="date">${day}</reply-by-date>
  <kind>chargeback</kind>
  <status>${a.status}</status>
  <reason>fraud</reason>
  <id>${a.disputeId}</id>
  <transaction>
    <id>${a.transactionId}</id>
    <amount>${a.amount}</amount>
  </transaction>
  <date-opened type="date">${day}</date-opened>
</dispute></subject>
</notification>`;
}

/** Signed as the SDK signs (WebhookTestingGateway.sampleNotification): base64 payload with a trailing newline. */
function sign(xml: string, keyPair = { publicKey: SIMULATOR_PUBLIC_KEY, privateKey: SIMULATOR_PRIVATE_KEY }) {
  const btPayload = `${Buffer.from(xml, 'utf8').toString('base64')}\n`;
  const hmacKey = createHash('sha1').update(keyPair.privateKey, 'utf8').digest();
  const btSignature = `${keyPair.publicKey}|${createHmac('sha1', hmacKey).update(btPayload, 'utf8').digest('hex')}`;
  return { bt_signature: btSignature, bt_payload: btPayload };
}

describeEachDatabase('Braintree dispute webhooks processed by the worker', (dialect) => {
  let h: Harness;
  let sim: BraintreeSimulator | undefined;
  beforeAll(async () => {
    sim = await startBraintreeSimulator();
    h = await startHarness(dialect, {
      BRAINTREE_MERCHANT_ID: SIMULATOR_MERCHANT_ID,
      BRAINTREE_PUBLIC_KEY: SIMULATOR_PUBLIC_KEY,
      BRAINTREE_PRIVATE_KEY: SIMULATOR_PRIVATE_KEY,
      BRAINTREE_ENVIRONMENT: `http://127.0.0.1:${sim.port}`,
      BRAINTREE_WEBHOOK_KEYS: KEYS,
      ROUTING_CONFIG: JSON.stringify({
        rules: [
          { id: 'dollars', match: { currencies: ['USD'] }, connectors: [{ connector: 'braintree', weight: 1 }] },
          { id: 'rest', match: {}, connectors: [{ connector: 'sandbox', weight: 1 }] },
        ],
      }),
    });
  });
  afterAll(async () => {
    await h?.close();
    await sim?.close();
  });

  async function paid(quantity = 1) {
    const s = (await h.gql(CREATE, { input: { customerId: `cus_btd_${dialect}`, country: 'US', items: [{ priceId: 'price_ml_certificate_usd', quantity }], idempotencyKey: key() } })).data!
      .createCheckoutSession.checkoutSession;
    const res = await h.gql(
      `mutation($input: ConfirmCheckoutSessionInput!) { confirmCheckoutSession(input: $input) { payment { id status connector amountCaptured { amount currency decimal } attempts { gatewayReference } } } }`,
      { input: { sessionId: s.id, paymentMethodToken: 'fake-valid-nonce', idempotencyKey: key() } },
    );
    expect(res.errors).toBeUndefined();
    const payment = res.data!.confirmCheckoutSession.payment;
    expect(payment).toMatchObject({ status: 'succeeded', connector: 'braintree' });
    const reference = payment.attempts[0].gatewayReference as string;
    // The simulator holds the sale Braintree would dispute.
    expect(sim!.transactions().find((t) => t.id === reference)?.status).toBe('settled');
    return { id: payment.id as string, reference, amount: payment.amountCaptured.amount as number, decimal: payment.amountCaptured.decimal as string };
  }

  const disputesOf = async (id: string) =>
    (await h.gql(`query($id: ID!) { payment(id: $id) { status disputes { status reason amount { amount currency } fee { amount } } } }`, { id })).data!.payment;

  async function post(form: { bt_signature: string; bt_payload: string }) {
    const res = await h.server.inject({
      method: 'POST',
      url: '/webhooks/braintree',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(form).toString(),
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { received: boolean; duplicate: boolean };
  }

  const usdBalances = async () => {
    const tb = (await h.gql(TRIAL_BALANCE)).data!.trialBalance;
    const usd = tb.currencies.find((c: { currency: string }) => c.currency === 'USD');
    const balance = (code: string): number | undefined => usd.accounts.find((a: { code: string }) => a.code === code)?.balance;
    return { balanced: tb.balanced as boolean, chargebacks: balance('chargebacks'), fees: balance('dispute_fees') };
  };

  const outboxTypes = async (paymentId: string) =>
    (await h.app.db.kysely.selectFrom('outbox').select('type').where('aggregate_id', '=', paymentId).orderBy('seq').execute()).map((e) => e.type);

  it('books a chargeback opened then lost, once, however often it is delivered', async () => {
    const payment = await paid();
    const chargebacksBefore = (await usdBalances()).chargebacks ?? 0;
    const t0 = new Date(h.clock.now());
    const base = { disputeId: `bt_dp_${dialect}_1`, transactionId: payment.reference, amount: payment.decimal, currency: 'USD', timestamp: t0 };
    const opened = sign(disputeXml({ ...base, kind: 'dispute_opened', status: 'open' }));

    // What we built is a genuine Braintree notification to the SDK: it verifies and reads the same dispute.
    const parsed = (await sdkGateway().webhookNotification.parse(opened.bt_signature, opened.bt_payload)) as braintree.DisputeNotification;
    expect(parsed.kind).toBe('dispute_opened');
    expect([parsed.dispute.id, parsed.dispute.transaction.id, parsed.dispute.amountDisputed, parsed.dispute.currencyIsoCode]).toEqual([base.disputeId, payment.reference, payment.decimal, 'USD']);

    expect(await post(opened)).toEqual({ received: true, duplicate: false });
    // Braintree retries an unacknowledged delivery with the same payload: stored once (by digest).
    expect(await post(opened)).toEqual({ received: true, duplicate: true });
    // Signed with the retired key during rotation: still accepted, and the same notification.
    expect(await post(sign(disputeXml({ ...base, kind: 'dispute_opened', status: 'open' }), OLD_KEY))).toEqual({ received: true, duplicate: true });
    // Unrelated and no-money notifications are acknowledged and change nothing.
    const unrelated = await sdkGateway().webhookTesting.sampleNotification('subscription_charged_successfully', 'sub_btd');
    expect(await post(unrelated)).toEqual({ received: true, duplicate: false });
    expect(await post(sign(disputeXml({ ...base, kind: 'dispute_under_review', status: 'under_review', timestamp: new Date(t0.getTime() + 1000) })))).toEqual({
      received: true,
      duplicate: false,
    });
    await h.runWorker();

    expect(await disputesOf(payment.id)).toEqual({ status: 'succeeded', disputes: [{ status: 'opened', reason: 'fraud', amount: { amount: payment.amount, currency: 'USD' }, fee: null }] });
    expect(await outboxTypes(payment.id)).toEqual(['payment.succeeded', 'dispute.opened']);
    const afterOpened = await usdBalances();
    expect(afterOpened.balanced).toBe(true);
    expect(afterOpened.chargebacks).toBe(chargebacksBefore + payment.amount);

    // The same dispute reported again in a new notification (a new timestamp, so a new digest and
    // a new inbox row): processed, and nothing changes.
    const snapshot = await h.snapshot();
    expect(await post(sign(disputeXml({ ...base, kind: 'dispute_opened', status: 'open', timestamp: new Date(t0.getTime() + 2000) })))).toEqual({ received: true, duplicate: false });
    await h.runWorker();
    expect(await h.snapshot()).toEqual(snapshot);
    expect((await disputesOf(payment.id)).disputes).toHaveLength(1);

    const lost = sign(disputeXml({ ...base, kind: 'dispute_lost', status: 'lost', timestamp: new Date(t0.getTime() + 3000) }));
    expect(await post(lost)).toEqual({ received: true, duplicate: false });
    await h.runWorker();
    expect((await disputesOf(payment.id)).disputes).toEqual([{ status: 'lost', reason: 'fraud', amount: { amount: payment.amount, currency: 'USD' }, fee: null }]);
    expect(await outboxTypes(payment.id)).toEqual(['payment.succeeded', 'dispute.opened', 'dispute.lost']);
    const afterLost = await usdBalances();
    expect(afterLost.balanced).toBe(true);
    // A loss moves nothing more: the opened posting already booked the amount.
    expect(afterLost.chargebacks).toBe(chargebacksBefore + payment.amount);

    // A late redelivery of the loss, and a late accept, change nothing either.
    const settled = await h.snapshot();
    expect(await post(lost)).toEqual({ received: true, duplicate: true });
    expect(await post(sign(disputeXml({ ...base, kind: 'dispute_accepted', status: 'accepted', timestamp: new Date(t0.getTime() + 4000) })))).toEqual({ received: true, duplicate: false });
    await h.runWorker();
    expect(await h.snapshot()).toEqual(settled);

    const inbox = await h.app.db.kysely.selectFrom('webhook_inbox').select(['event_type', 'status', 'last_error']).where('gateway', '=', 'braintree').orderBy('received_at').orderBy('event_type').execute();
    expect(inbox.every((r) => r.status === 'processed' && r.last_error === null), JSON.stringify(inbox)).toBe(true);
    expect(inbox.map((r) => r.event_type).sort()).toEqual(['dispute_accepted', 'dispute_lost', 'dispute_opened', 'dispute_opened', 'dispute_under_review', 'subscription_charged_successfully']);
  });

  it('books the SDK sample helper’s own dispute notifications against the transaction they name', async () => {
    // The sample is 250.00 USD of transaction `id` under dispute id `id`: a payment of 6 × 49.00 covers it.
    const payment = await paid(6);
    expect(payment.amount).toBeGreaterThanOrEqual(25000);
    const chargebacksBefore = (await usdBalances()).chargebacks ?? 0;
    const opened = await sdkGateway().webhookTesting.sampleNotification('dispute_opened', payment.reference);
    expect(await post(opened)).toEqual({ received: true, duplicate: false });
    await h.runWorker();
    expect((await disputesOf(payment.id)).disputes).toEqual([{ status: 'opened', reason: 'fraud', amount: { amount: 25000, currency: 'USD' }, fee: null }]);
    expect((await usdBalances()).chargebacks).toBe(chargebacksBefore + 25000);

    const won = await sdkGateway(OLD_KEY.publicKey, OLD_KEY.privateKey).webhookTesting.sampleNotification('dispute_won', payment.reference);
    expect(await post(won)).toEqual({ received: true, duplicate: false });
    await h.runWorker();
    expect((await disputesOf(payment.id)).disputes).toEqual([{ status: 'won', reason: 'fraud', amount: { amount: 25000, currency: 'USD' }, fee: null }]);
    expect(await outboxTypes(payment.id)).toEqual(['payment.succeeded', 'dispute.opened', 'dispute.won']);
    const balances = await usdBalances();
    expect(balances.balanced).toBe(true);
    // A win returns what the chargeback withdrew.
    expect(balances.chargebacks).toBe(chargebacksBefore);
  });

  it('keeps a dispute for a transaction Obol does not know for a retry instead of dropping it', async () => {
    const xml = disputeXml({ kind: 'dispute_opened', status: 'open', disputeId: `bt_dp_orphan_${dialect}`, transactionId: 'txn_unknown', amount: '10.00', currency: 'USD', timestamp: new Date(h.clock.now()) });
    await post(sign(xml));
    await h.runWorker();
    const row = await h.app.db.kysely.selectFrom('webhook_inbox').select(['status', 'attempts', 'last_error']).where('gateway', '=', 'braintree').where('payload', '=', xml).executeTakeFirstOrThrow();
    expect(row.status).toBe('received');
    expect(Number(row.attempts)).toBe(1);
    expect(row.last_error).toMatch(/no braintree payment txn_unknown/);
  });
});
