/**
 * Webhook storm: gateways deliver at least once, in any order, and replay old deliveries. Here
 * every event of a set of Stripe and Razorpay disputes (opened, then won or lost) plus payment
 * notifications and events Obol ignores is delivered several times, shuffled (a dispute's close
 * often before its opening), in waves with the worker running between them, so later waves replay
 * what was already applied. Deliveries are signed as the gateways sign them (Stripe's SDK test
 * helper; Razorpay's HMAC-SHA256 over the body, checked with Razorpay's own SDK validator).
 *
 * Afterwards each event was applied exactly once: one inbox row per event id, one dispute per
 * gateway dispute with its final status, one `dispute.*` event and one ledger posting per
 * transition, access revoked once per lost dispute, and the ledger balanced.
 */
import { createHmac, randomUUID } from 'node:crypto';
import Razorpay from 'razorpay';
import Stripe from 'stripe';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRazorpaySimulator, type RazorpaySimulator } from '../simulators/razorpay.js';
import { startStripeSimulator, type StripeSimulator } from '../simulators/stripe.js';
import { describeEachDatabase } from '../support/databases.js';
import { startHarness, type Harness } from '../support/harness.js';
import { between, byProfile, printFigures } from './support.js';

const STRIPE_SECRET = 'whsec_faults_storm';
const RAZORPAY_SECRET = 'rzp_faults_storm_secret';
const PAYMENTS_PER_GATEWAY = byProfile(12, 150);
/** Each event is delivered between 1 and this many times. */
const MAX_COPIES = 5;
const WAVES = 3;

interface Delivery {
  readonly gateway: 'stripe' | 'razorpay';
  readonly eventId: string;
  readonly body: string;
}

interface Paid {
  readonly gateway: 'stripe' | 'razorpay';
  readonly paymentId: string;
  readonly reference: string;
  readonly amount: number;
  readonly currency: string;
  readonly outcome: 'won' | 'lost';
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = between(0, i);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** Every event of one payment's dispute story, plus noise, each with its own event id. */
function eventsFor(p: Paid, n: number): Delivery[] {
  const created = Math.floor(Date.now() / 1000);
  if (p.gateway === 'stripe') {
    const dispute = { id: `dp_storm_${n}`, object: 'dispute', payment_intent: p.reference, amount: p.amount, currency: p.currency.toLowerCase(), reason: 'fraudulent', status: 'needs_response', balance_transactions: [{ fee: 1500, currency: 'eur' }] };
    const stripeEvent = (id: string, type: string, object: Record<string, unknown>) => ({ gateway: 'stripe' as const, eventId: id, body: JSON.stringify({ id, object: 'event', created, type, data: { object } }) });
    return [
      stripeEvent(`evt_storm_open_${n}`, 'charge.dispute.created', dispute),
      stripeEvent(`evt_storm_close_${n}`, 'charge.dispute.closed', { ...dispute, status: p.outcome }),
      stripeEvent(`evt_storm_pi_${n}`, 'payment_intent.succeeded', { id: p.reference, object: 'payment_intent', status: 'succeeded' }),
      stripeEvent(`evt_storm_noise_${n}`, 'customer.created', { id: `cus_storm_${n}`, object: 'customer' }),
    ];
  }
  const dispute = { id: `disp_storm_${n}`, entity: 'dispute', payment_id: p.reference, amount: p.amount, currency: p.currency, reason_code: 'chargeback' };
  const razorpayEvent = (id: string, event: string, payload: Record<string, unknown>) => ({ gateway: 'razorpay' as const, eventId: id, body: JSON.stringify({ entity: 'event', event, payload, created_at: created }) });
  return [
    razorpayEvent(`evt_rzp_storm_open_${n}`, 'payment.dispute.created', { dispute: { entity: dispute } }),
    razorpayEvent(`evt_rzp_storm_close_${n}`, `payment.dispute.${p.outcome}`, { dispute: { entity: dispute } }),
    razorpayEvent(`evt_rzp_storm_captured_${n}`, 'payment.captured', { payment: { entity: { id: p.reference, entity: 'payment', status: 'captured' } } }),
    razorpayEvent(`evt_rzp_storm_noise_${n}`, 'order.paid', { order: { entity: { id: `order_storm_${n}` } } }),
  ];
}

describeEachDatabase('faults: a storm of duplicated, shuffled and replayed gateway webhooks', (dialect) => {
  let h: Harness;
  let stripe: StripeSimulator;
  let razorpay: RazorpaySimulator;
  const stripeSdk = new Stripe('sk_test_storm');

  beforeAll(async () => {
    stripe = await startStripeSimulator();
    razorpay = await startRazorpaySimulator();
    h = await startHarness(dialect, {
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_API_URL: `http://127.0.0.1:${stripe.port}`,
      RAZORPAY_KEY_ID: razorpay.keyId,
      RAZORPAY_KEY_SECRET: razorpay.keySecret,
      RAZORPAY_API_URL: razorpay.baseUrl,
      STRIPE_WEBHOOK_SECRETS: STRIPE_SECRET,
      RAZORPAY_WEBHOOK_SECRETS: RAZORPAY_SECRET,
      LOG_LEVEL: 'warn',
      ROUTING_CONFIG: JSON.stringify({
        rules: [
          { id: 'eur', match: { currencies: ['EUR'] }, connectors: [{ connector: 'stripe', weight: 1 }] },
          { id: 'inr', match: { currencies: ['INR'] }, connectors: [{ connector: 'razorpay', weight: 1 }] },
        ],
      }),
    });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await stripe?.close();
    await razorpay?.close();
  }, 60_000);

  async function pay(gateway: 'stripe' | 'razorpay', outcome: 'won' | 'lost'): Promise<Paid> {
    const [country, priceId, token] = gateway === 'stripe' ? ['DE', 'price_ml_certificate_eur', 'pm_card_visa'] : ['IN', 'price_plus_monthly_inr', 'rzp_sim:success'];
    const customerId = `cus_storm_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const s = await h.gql(`mutation($i: CreateCheckoutSessionInput!) { createCheckoutSession(input: $i) { checkoutSession { id } } }`, {
      i: { customerId, country, items: [{ priceId, quantity: 1 }], idempotencyKey: randomUUID() },
    });
    const res = await h.gql(`mutation($i: ConfirmCheckoutSessionInput!) { confirmCheckoutSession(input: $i) { payment { id status amountCaptured { amount currency } attempts { gatewayReference } } } }`, {
      i: { sessionId: s.data!.createCheckoutSession.checkoutSession.id, paymentMethodToken: token, idempotencyKey: randomUUID() },
    });
    const payment = res.data!.confirmCheckoutSession.payment;
    expect(payment.status).toBe('succeeded');
    return { gateway, paymentId: payment.id, reference: payment.attempts[0].gatewayReference, amount: payment.amountCaptured.amount, currency: payment.amountCaptured.currency, outcome };
  }

  async function deliver(d: Delivery): Promise<number> {
    if (d.gateway === 'stripe') {
      const header = stripeSdk.webhooks.generateTestHeaderString({ payload: d.body, secret: STRIPE_SECRET });
      const res = await h.server.inject({ method: 'POST', url: '/webhooks/stripe', headers: { 'content-type': 'application/json', 'stripe-signature': header }, payload: d.body });
      return res.statusCode;
    }
    const signature = createHmac('sha256', RAZORPAY_SECRET).update(d.body).digest('hex');
    // The signature is Razorpay's scheme exactly: its own SDK accepts it.
    expect(Razorpay.validateWebhookSignature(d.body, signature, RAZORPAY_SECRET)).toBe(true);
    const res = await h.server.inject({ method: 'POST', url: '/webhooks/razorpay', headers: { 'content-type': 'application/json', 'x-razorpay-signature': signature, 'x-razorpay-event-id': d.eventId }, payload: d.body });
    return res.statusCode;
  }

  it(
    'applies every event exactly once, whatever the copies, order and replays',
    async () => {
      const startedAt = performance.now();
      const paid: Paid[] = [];
      for (let i = 0; i < PAYMENTS_PER_GATEWAY; i++) {
        paid.push(await pay('stripe', i % 2 === 0 ? 'lost' : 'won'));
        paid.push(await pay('razorpay', i % 2 === 0 ? 'won' : 'lost'));
      }
      const events = paid.flatMap((p, n) => eventsFor(p, n));
      // Every event at least once, in a random wave; extra copies in random waves, so some replay an event already applied.
      const waves: Delivery[][] = Array.from({ length: WAVES }, () => []);
      for (const e of events) {
        const copies = between(1, MAX_COPIES);
        for (let c = 0; c < copies; c++) waves[between(0, WAVES - 1)]!.push(e);
      }
      let deliveries = 0;
      const statuses = new Map<number, number>();
      for (const wave of waves) {
        // Concurrent copies of one event race each other in the intake, as parallel deliveries do.
        const batch = shuffle(wave);
        for (let i = 0; i < batch.length; i += 8) {
          const codes = await Promise.all(batch.slice(i, i + 8).map(deliver));
          for (const code of codes) statuses.set(code, (statuses.get(code) ?? 0) + 1);
        }
        deliveries += batch.length;
        await h.runWorker();
      }
      // A worker round takes a batch of the inbox; rounds go on until it is empty (or stops shrinking).
      const waiting = async (): Promise<number> => Number((await h.app.db.kysely.selectFrom('webhook_inbox').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'received').executeTakeFirst())?.n ?? 0);
      for (let left = await waiting(), stalled = 0; left > 0 && stalled < 5; ) {
        await h.runWorker();
        const now = await waiting();
        stalled = now < left ? 0 : stalled + 1;
        left = now;
      }

      const k = h.app.db.kysely;
      const problems: string[] = [];
      const inbox = await k.selectFrom('webhook_inbox').select(['gateway', 'event_id', 'status']).execute();
      const ids = new Set(events.map((e) => e.eventId));
      const inboxIds = inbox.map((r) => r.event_id).filter((id) => ids.has(id));
      if (inboxIds.length !== ids.size || new Set(inboxIds).size !== ids.size) problems.push(`${inboxIds.length} inbox rows for ${ids.size} events`);
      for (const r of inbox) if (ids.has(r.event_id) && r.status !== 'processed') problems.push(`event ${r.event_id} is ${r.status}`);

      let doubled = 0;
      let lost = 0;
      for (const p of paid) {
        const disputes = await k.selectFrom('disputes').select(['id', 'status']).where('payment_id', '=', p.paymentId).execute();
        if (disputes.length !== 1) {
          (disputes.length > 1 ? () => (doubled += 1) : () => (lost += 1))();
          problems.push(`payment ${p.paymentId} has ${disputes.length} disputes`);
          continue;
        }
        if (disputes[0]!.status !== p.outcome) problems.push(`dispute on ${p.paymentId} is ${disputes[0]!.status}, expected ${p.outcome}`);
        const types = (await k.selectFrom('outbox').select('type').where('aggregate_id', '=', p.paymentId).execute()).map((e) => e.type).filter((t) => t.startsWith('dispute.'));
        const expected = ['dispute.opened', `dispute.${p.outcome}`];
        for (const t of expected) {
          const n = types.filter((x) => x === t).length;
          if (n > 1) doubled += 1;
          if (n === 0) lost += 1;
          if (n !== 1) problems.push(`payment ${p.paymentId} emitted ${t} ${n} times`);
        }
        const postings = await k.selectFrom('journal_transactions').select('kind').where('reference_type', '=', 'payment').where('reference_id', '=', p.paymentId).execute();
        const disputePostings = postings.map((t) => t.kind).filter((kind) => kind.startsWith('dispute'));
        const expectedPostings = p.outcome === 'won' ? 2 : 1;
        if (disputePostings.length !== expectedPostings) {
          if (disputePostings.length > expectedPostings) doubled += 1;
          else lost += 1;
          problems.push(`payment ${p.paymentId} has dispute postings ${disputePostings.join(',')}`);
        }
      }
      // Access follows the money: a lost dispute revoked what the order granted, once; a won one left it.
      for (const p of paid) {
        const order = await k.selectFrom('orders').select('id').where('payment_id', '=', p.paymentId).executeTakeFirstOrThrow();
        const grants = await k.selectFrom('entitlements').select(['id', 'status']).where('source_kind', '=', 'order').where('source_id', '=', order.id).execute();
        if (grants.length === 0) problems.push(`order ${order.id} granted nothing`);
        for (const g of grants) {
          const want = p.outcome === 'lost' ? 'revoked' : 'active';
          if (g.status !== want) problems.push(`grant ${g.id} of a ${p.outcome} dispute is ${g.status}`);
          const revocations = await k.selectFrom('entitlement_history').select('seq').where('entitlement_id', '=', g.id).where('action', '=', 'revoked').execute();
          if (revocations.length !== (p.outcome === 'lost' ? 1 : 0)) {
            if (revocations.length > 1) doubled += 1;
            problems.push(`grant ${g.id} was revoked ${revocations.length} times`);
          }
        }
      }
      const balanced = (await h.gql(`{ trialBalance { balanced } }`)).data?.trialBalance?.balanced;
      if (balanced !== true) problems.push('the ledger does not balance');
      const non200 = [...statuses].filter(([code]) => code !== 200);
      if (non200.length > 0) problems.push(`deliveries answered ${JSON.stringify(non200)}`);

      printFigures(
        `webhook-storm[${dialect}]`,
        { attempted: deliveries, succeeded: statuses.get(200) ?? 0, lost, doubled, events: ids.size, disputes: paid.length, duplicates: deliveries - ids.size, waves: WAVES },
        startedAt,
      );
      expect(problems).toEqual([]);
      expect(lost).toBe(0);
      expect(doubled).toBe(0);
    },
    byProfile(120_000, 600_000),
  );
});
