/**
 * Gateway webhooks through the real server: a delivery signed by the gateway's own SDK helper is
 * stored once in the inbox; a forged one is refused and stores nothing.
 */
import Stripe from 'stripe';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../support/databases.js';
import { startHarness, type Harness } from '../support/harness.js';

describeEachDatabase('gateway webhooks', (dialect) => {
  let h: Harness;
  const secret = 'whsec_test_obol';
  beforeAll(async () => {
    h = await startHarness(dialect, { STRIPE_WEBHOOK_SECRETS: `whsec_previous,${secret}` });
  });
  afterAll(async () => h?.close());

  const inbox = () => h.app.db.kysely.selectFrom('webhook_inbox').select(['gateway', 'event_id', 'event_type']).execute();

  it('stores a Stripe delivery signed with the SDK helper once, however often it is delivered', async () => {
    const payload = JSON.stringify({ id: 'evt_1Obol', object: 'event', type: 'payment_intent.succeeded', created: Math.floor(Date.now() / 1000), data: { object: { id: 'pi_1', object: 'payment_intent' } } });
    const header = new Stripe('sk_test_x').webhooks.generateTestHeaderString({ payload, secret });
    for (let i = 0; i < 2; i++) {
      const res = await h.server.inject({ method: 'POST', url: '/webhooks/stripe', headers: { 'content-type': 'application/json', 'stripe-signature': header }, payload });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ received: true, duplicate: i === 1 });
    }
    expect(await inbox()).toEqual([{ gateway: 'stripe', event_id: 'evt_1Obol', event_type: 'payment_intent.succeeded' }]);
  });

  it('refuses a delivery signed with another secret and stores nothing', async () => {
    const payload = JSON.stringify({ id: 'evt_forged', object: 'event', type: 'charge.dispute.created', created: Math.floor(Date.now() / 1000), data: { object: {} } });
    const header = new Stripe('sk_test_x').webhooks.generateTestHeaderString({ payload, secret: 'whsec_attacker' });
    const before = (await inbox()).length;
    const res = await h.server.inject({ method: 'POST', url: '/webhooks/stripe', headers: { 'content-type': 'application/json', 'stripe-signature': header }, payload });
    expect(res.statusCode).toBe(401);
    expect((await inbox()).length).toBe(before);
  });

  it('leaves GraphQL parsing as it was', async () => {
    expect((await h.gql(`{ viewer { subject } }`)).data!.viewer.subject).toBe('staff_test_admin');
  });
});
