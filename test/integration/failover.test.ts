/**
 * Failover where no issuer decided anything: with Stripe unreachable, a payment moves to the next
 * connector its routing rule lists, every attempt keeps its connector and the reason, nothing is
 * charged twice, and after repeated failures the circuit breaker sends payments straight to the
 * fallback until Stripe recovers.
 */
import { connect, createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStripeSimulator, type StripeSimulator } from '../simulators/stripe.js';
import { describeEachDatabase } from '../support/databases.js';
import { key, startHarness, type Harness } from '../support/harness.js';
import { CREATE } from './fragments.js';

/** A port on which nothing listens: connections are refused, so nothing can reach a gateway. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const CONFIRM_WITH_ROUTING = `mutation($input: ConfirmCheckoutSessionInput!) { confirmCheckoutSession(input: $input) { payment { id status connector failedAttempts attempts { connector status declineCode routing } } } }`;

describeEachDatabase('failover across connectors', (dialect) => {
  let h: Harness;
  beforeAll(async () => {
    const port = await closedPort();
    h = await startHarness(dialect, {
      STRIPE_SECRET_KEY: 'sk_test_unreachable',
      STRIPE_API_URL: `http://127.0.0.1:${port}`,
      // Stripe takes euro card payments; the sandbox (weight 0) is only ever a fallback.
      ROUTING_CONFIG: JSON.stringify({
        rules: [
          { id: 'europe', match: { currencies: ['EUR'] }, connectors: [{ connector: 'stripe', weight: 1 }, { connector: 'sandbox', weight: 0 }] },
          // yen: the sandbox first, Stripe listed as a fallback, so a wrongful failover would show
          { id: 'yen', match: { currencies: ['JPY'] }, connectors: [{ connector: 'sandbox', weight: 1 }, { connector: 'stripe', weight: 0 }] },
          { id: 'rest', match: {}, connectors: [{ connector: 'sandbox', weight: 1 }] },
        ],
      }),
    });
  });
  afterAll(async () => h?.close());

  async function pay() {
    const s = (await h.gql(CREATE, { input: { customerId: `cus_fo_${dialect}`, country: 'DE', items: [{ priceId: 'price_plus_monthly_eur', quantity: 1 }], idempotencyKey: key() } })).data!.createCheckoutSession.checkoutSession;
    const res = await h.gql(CONFIRM_WITH_ROUTING, { input: { sessionId: s.id, paymentMethodToken: 'pm_card_visa', idempotencyKey: key() } });
    expect(res.errors).toBeUndefined();
    return res.data!.confirmCheckoutSession.payment;
  }

  it('moves a payment to the next connector when the first cannot be reached, and says why', async () => {
    const payment = await pay();
    expect(payment.status).toBe('succeeded');
    expect(payment.connector).toBe('sandbox');
    expect(payment.failedAttempts).toBe(0); // an unreachable gateway is not the learner's failure
    expect(payment.attempts.map((a: { connector: string; status: string }) => [a.connector, a.status])).toEqual([
      ['stripe', 'failed'],
      ['sandbox', 'captured'],
    ]);
    expect(payment.attempts[0].declineCode).toBe('gateway_unavailable');
    expect(payment.attempts[0].routing).toMatch(/europe/);
    expect(payment.attempts[1].routing).toMatch(/^gateway_unavailable at stripe; failover after stripe/);
    const charges = (await h.app.sandbox.chargeLog()).filter((c) => c.operation === 'authorize');
    const mine = await h.app.db.kysely.selectFrom('payment_attempts').select('idempotency_key').where('payment_id', '=', payment.id).execute();
    expect(charges.filter((c) => mine.some((m) => m.idempotency_key === c.idempotencyKey))).toHaveLength(1);
  });

  it('opens the breaker after repeated failures: later payments go straight to the fallback', async () => {
    for (let i = 0; i < 5; i++) await pay();
    const payment = await pay();
    expect(payment.attempts.map((a: { connector: string }) => a.connector)).toEqual(['sandbox']);
    // after the cool-down a trial call goes to Stripe again (and fails over again)
    h.clock.advance(31_000);
    const trial = await pay();
    expect(trial.attempts.map((a: { connector: string }) => a.connector)).toEqual(['stripe', 'sandbox']);
  });

  // Soft declines that may fail over are tested against a reachable second gateway (soft-decline-failover.test.ts).
  it.each(['tok_chargeDeclined', 'tok_chargeDeclinedInsufficientFunds'])('never fails over a hard decline by the issuer (%s)', async (token) => {
    const s = (await h.gql(CREATE, { input: { customerId: `cus_fo_${dialect}`, country: 'JP', items: [{ priceId: 'price_plus_annual_jpy', quantity: 1 }], idempotencyKey: key() } })).data!.createCheckoutSession.checkoutSession;
    const res = await h.gql(CONFIRM_WITH_ROUTING, { input: { sessionId: s.id, paymentMethodToken: token, idempotencyKey: key() } });
    const payment = res.data!.confirmCheckoutSession.payment;
    expect(payment.status).toBe('requires_payment_method');
    expect(payment.attempts.map((a: { connector: string }) => a.connector)).toEqual(['sandbox']);
  });
});

/**
 * A TCP door in front of a gateway simulator: closed, connections are refused (nothing reaches
 * the gateway); open again, on the same port, traffic flows as before.
 */
async function gatewayDoor(target: number): Promise<{ readonly port: number; close(): Promise<void>; open(): Promise<void>; shutdown(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return {
    port,
    close,
    open: () => new Promise<void>((r) => server.listen(port, '127.0.0.1', r)),
    shutdown: async () => {
      if (server.listening) await close();
    },
  };
}

describeEachDatabase('circuit breaker around a gateway that goes down and comes back', (dialect) => {
  let h: Harness;
  let stripe: StripeSimulator;
  let door: Awaited<ReturnType<typeof gatewayDoor>>;
  beforeAll(async () => {
    stripe = await startStripeSimulator();
    door = await gatewayDoor(stripe.port);
    h = await startHarness(dialect, {
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_API_URL: `http://127.0.0.1:${door.port}`,
      ROUTING_CONFIG: JSON.stringify({ rules: [{ id: 'europe', match: {}, connectors: [{ connector: 'stripe', weight: 1 }, { connector: 'sandbox', weight: 0 }] }] }),
    });
  });
  afterAll(async () => {
    await h?.close();
    await door?.shutdown();
    await stripe?.close();
  });

  async function connectorsTried(): Promise<string[]> {
    const s = (await h.gql(CREATE, { input: { customerId: `cus_cb_${dialect}`, country: 'DE', items: [{ priceId: 'price_plus_monthly_eur', quantity: 1 }], idempotencyKey: key() } })).data!.createCheckoutSession.checkoutSession;
    const payment = (await h.gql(CONFIRM_WITH_ROUTING, { input: { sessionId: s.id, paymentMethodToken: 'pm_card_visa', idempotencyKey: key() } })).data!.confirmCheckoutSession.payment;
    expect(payment.status).toBe('succeeded');
    return payment.attempts.map((a: { connector: string }) => a.connector);
  }

  it('opens while the gateway is down, then closes again after successful trials once it is back', async () => {
    expect(await connectorsTried()).toEqual(['stripe']);
    await door.close();
    for (let i = 0; i < 5; i++) expect(await connectorsTried()).toEqual(['stripe', 'sandbox']);
    // Open: Stripe is not even tried.
    expect(await connectorsTried()).toEqual(['sandbox']);

    await door.open();
    h.clock.advance(31_000);
    // Half-open: one trial at a time goes to Stripe; three successes close the breaker.
    for (let i = 0; i < 3; i++) expect(await connectorsTried()).toEqual(['stripe']);
    // Closed, not still half-open: a single failure would reopen a half-open breaker, whereas a
    // closed one keeps sending to Stripe until failures pile up again.
    await door.close();
    expect(await connectorsTried()).toEqual(['stripe', 'sandbox']);
    expect(await connectorsTried()).toEqual(['stripe', 'sandbox']);
    await door.open();
    expect(await connectorsTried()).toEqual(['stripe']);
  });
});
