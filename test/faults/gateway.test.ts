/**
 * Gateway faults: checkouts while the gateway times out, fails, resets connections and answers
 * slowly. Afterwards (once the faults stop and the worker's reconciliation has run) no payment is
 * charged twice, none is left with an unknown outcome, and Obol's view of every payment equals the
 * gateway's own record of it.
 *
 * - The sandbox gateway (in process) with its fault knobs: SANDBOX_TIMEOUT_RATE (executed, answer
 *   lost), SANDBOX_FAILURE_RATE (a soft processing_error decline) and SANDBOX_LATENCY_MS. Judged
 *   against its own log, `sandbox_charges`.
 * - The Stripe connector (the real `stripe` SDK) through a fault-injecting HTTP proxy in front of
 *   the Stripe simulator: connection resets before the request reaches Stripe and after Stripe
 *   executed it, HTTP 500 before and 502 after execution, slow answers and (full profile) answers
 *   that never come, so the SDK's own timeout fires. Judged against the simulator's own
 *   PaymentIntents, read directly (not through the proxy).
 */
import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PENDING_GRACE_MS } from '../../src/payments/reconcile.js';
import { DEFAULT_BREAKER_CONFIG } from '../../src/payments/routing/circuit-breaker.js';
import { startStripeSimulator, type StripeSimulator } from '../simulators/stripe.js';
import { describeEachDatabase } from '../support/databases.js';
import { errorCode, startHarness, type Harness } from '../support/harness.js';
import { between, byProfile, printFigures, sleep } from './support.js';

const CHECKOUTS = byProfile(60, 1000);
const CONCURRENCY = 8;
/** A declined payment reopens its session; the learner tries again, at most this often. */
const MAX_TRIES = 6;
/** Open-breaker refusals one checkout waits out before giving up. */
const MAX_BREAKER_REFUSALS = 50;
/** Longer than the circuit breaker's cool-down (DEFAULT_BREAKER_CONFIG.coolDownMs). */
const BREAKER_WAIT_MS = DEFAULT_BREAKER_CONFIG.coolDownMs + 1000;

const CREATE = `mutation($i: CreateCheckoutSessionInput!) { createCheckoutSession(input: $i) { checkoutSession { id } } }`;
const CONFIRM = `mutation($i: ConfirmCheckoutSessionInput!) { confirmCheckoutSession(input: $i) { payment { id status } } }`;

interface Outcome {
  readonly paymentId: string | null;
  /** The status of the last answer the client got (succeeded, processing, requires_payment_method…), or `error:<code>`. */
  readonly status: string;
}

/** Confirmations refused with GATEWAY_UNAVAILABLE (the connector's circuit breaker was open), per harness. */
const breakerRefusals = new WeakMap<Harness, number>();

/**
 * One learner's checkout as a client makes it: a confirmation declined (here: a soft failure) is
 * tried again under a new key; one whose outcome is unknown answers `processing`, and the client
 * waits for the result rather than paying again (the session refuses a second confirmation). A
 * GATEWAY_UNAVAILABLE refusal (the breaker opened: a third of all calls failing is a sick
 * gateway) is tried again once the breaker's cool-down has passed on the harness clock.
 */
async function checkout(h: Harness, args: { readonly country: string; readonly priceId: string; readonly token: string }): Promise<Outcome> {
  const customerId = `cus_gwf_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const created = await h.gql(CREATE, { i: { customerId, country: args.country, items: [{ priceId: args.priceId, quantity: 1 }], idempotencyKey: randomUUID() } });
  const sessionId = created.data?.createCheckoutSession?.checkoutSession?.id as string | undefined;
  if (sessionId === undefined) return { paymentId: null, status: `error:${errorCode(created) ?? 'create'}` };
  let last: Outcome = { paymentId: null, status: 'not_sent' };
  // A refusal by an open breaker is not a try: the client waits out the cool-down and sends again
  // (bounded, so a breaker that never closes still ends the test).
  let refusals = 0;
  for (let i = 0; i < MAX_TRIES && refusals < MAX_BREAKER_REFUSALS; i++) {
    const confirmed = await h.gql(CONFIRM, { i: { sessionId, paymentMethodToken: args.token, idempotencyKey: randomUUID() } });
    const payment = confirmed.data?.confirmCheckoutSession?.payment as { id: string; status: string } | undefined;
    last = payment === undefined ? { paymentId: last.paymentId, status: `error:${errorCode(confirmed) ?? 'confirm'}` } : { paymentId: payment.id, status: payment.status };
    if (last.status === 'error:GATEWAY_UNAVAILABLE') {
      breakerRefusals.set(h, (breakerRefusals.get(h) ?? 0) + 1);
      h.clock.advance(BREAKER_WAIT_MS);
      refusals += 1;
      i -= 1;
      continue;
    }
    if (last.status !== 'requires_payment_method') break;
  }
  return last;
}

async function runLoad(h: Harness, count: number, args: Parameters<typeof checkout>[1]): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        next += 1;
        outcomes.push(await checkout(h, args));
      }
    }),
  );
  return outcomes;
}

/** Worker rounds until no gateway call has an unknown outcome (or the rounds run out); returns how many ran. */
async function resolveAll(h: Harness): Promise<number> {
  // Calls cut off mid-flight stay `pending` for PENDING_GRACE_MS before reconciliation looks at them.
  h.clock.advance(PENDING_GRACE_MS + 1000);
  for (let round = 1; round <= 30; round++) {
    await h.runWorker();
    if ((await unknownCount(h)) === 0) return round;
    h.clock.advance(1000);
  }
  return 30;
}

async function unknownCount(h: Harness): Promise<number> {
  const k = h.app.db.kysely;
  const attempts = await k.selectFrom('payment_attempts').select((eb) => eb.fn.countAll<number>().as('n')).where('status', 'in', ['pending', 'unknown']).executeTakeFirst();
  const payments = await k.selectFrom('payment_intents').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'processing').executeTakeFirst();
  return Number(attempts?.n ?? 0) + Number(payments?.n ?? 0);
}

interface Judgement {
  readonly lost: number;
  readonly doubled: number;
  readonly succeeded: number;
  readonly unknownLeft: number;
  readonly problems: readonly string[];
}

/**
 * Obol's payments against the gateway's successful charges, keyed by the payment each charge was
 * made for (`chargesByPayment`; `orphanCharges` belong to no attempt Obol knows), and against what
 * the clients were told.
 */
async function judge(h: Harness, chargesByPayment: ReadonlyMap<string, number>, orphanCharges: number, outcomes: readonly Outcome[]): Promise<Judgement> {
  const problems: string[] = [];
  let lost = orphanCharges;
  let doubled = 0;
  if (orphanCharges > 0) problems.push(`${orphanCharges} gateway charges belong to no attempt`);
  const payments = await h.app.db.kysely.selectFrom('payment_intents').select(['id', 'status', 'amount', 'amount_captured']).execute();
  const byId = new Map(payments.map((p) => [p.id, p]));
  for (const p of payments) {
    const charged = chargesByPayment.get(p.id) ?? 0;
    if (charged > 1) {
      doubled += 1;
      problems.push(`payment ${p.id} charged ${charged} times`);
    }
    if (p.status === 'succeeded' && charged === 0) {
      lost += 1;
      problems.push(`payment ${p.id} succeeded without a gateway charge`);
    }
    if (p.status !== 'succeeded' && charged > 0) {
      lost += 1;
      problems.push(`payment ${p.id} is ${p.status} but the gateway charged it`);
    }
  }
  for (const o of outcomes) {
    if (o.status === 'succeeded' && (o.paymentId === null || byId.get(o.paymentId)?.status !== 'succeeded')) {
      lost += 1;
      problems.push(`client told ${o.paymentId ?? '?'} succeeded`);
    }
  }
  const errors = outcomes.filter((o) => o.status.startsWith('error:'));
  if (errors.length > 0) problems.push(`${errors.length} checkouts ended in an error: ${[...new Set(errors.map((o) => o.status))].join(', ')}`);
  const unknownLeft = await unknownCount(h);
  const balanced = (await h.gql(`{ trialBalance { balanced } }`)).data?.trialBalance?.balanced as boolean | undefined;
  if (balanced !== true) problems.push('ledger does not balance');
  return { lost, doubled, succeeded: payments.filter((p) => p.status === 'succeeded').length, unknownLeft, problems };
}

describeEachDatabase('faults: sandbox gateway timeouts, soft failures and latency', (dialect) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(dialect, { SANDBOX_TIMEOUT_RATE: '0.2', SANDBOX_FAILURE_RATE: '0.15', SANDBOX_LATENCY_MS: '3', LOG_LEVEL: 'warn' });
  }, 60_000);
  afterAll(async () => h?.close(), 60_000);

  it(
    'charges no payment twice and leaves none unknown once reconciliation has run, matching the sandbox log',
    async () => {
      const startedAt = performance.now();
      const outcomes = await runLoad(h, CHECKOUTS, { country: 'US', priceId: 'price_ml_certificate_usd', token: 'tok_visa' });
      const unknownAtEnd = await unknownCount(h);
      const rounds = await resolveAll(h);

      const attempts = await h.app.db.kysely.selectFrom('payment_attempts').select(['idempotency_key', 'payment_id']).execute();
      const paymentOfKey = new Map(attempts.map((a) => [a.idempotency_key, a.payment_id]));
      const chargesByPayment = new Map<string, number>();
      let orphans = 0;
      for (const charge of await h.app.sandbox.chargeLog()) {
        if (charge.operation !== 'authorize' || charge.status !== 'succeeded') continue;
        const paymentId = paymentOfKey.get(charge.idempotencyKey);
        if (paymentId === undefined) orphans += 1;
        else chargesByPayment.set(paymentId, (chargesByPayment.get(paymentId) ?? 0) + 1);
      }
      const verdict = await judge(h, chargesByPayment, orphans, outcomes);
      printFigures(
        `gateway-sandbox[${dialect}]`,
        {
          attempted: outcomes.length,
          succeeded: verdict.succeeded,
          lost: verdict.lost,
          doubled: verdict.doubled,
          answeredProcessing: outcomes.filter((o) => o.status === 'processing').length,
          unknownBeforeResolution: unknownAtEnd,
          unknownAfterResolution: verdict.unknownLeft,
          breakerRefusals: breakerRefusals.get(h) ?? 0,
          resolutionRounds: rounds,
        },
        startedAt,
      );
      expect(verdict.problems).toEqual([]);
      expect(verdict.lost).toBe(0);
      expect(verdict.doubled).toBe(0);
      expect(verdict.unknownLeft).toBe(0);
      // The faults really happened: some answers were lost and resolved later.
      expect(unknownAtEnd).toBeGreaterThan(0);
      expect(verdict.succeeded).toBeGreaterThan(0);
    },
    byProfile(120_000, 600_000),
  );
});

type Fault = 'none' | 'reset_before' | 'error_500_before' | 'reset_after' | 'error_502_after' | 'slow' | 'stall';

/**
 * An HTTP proxy that injects faults between the Stripe SDK and the simulator. It reads every
 * upstream answer in full, so it knows each PaymentIntent Stripe created even when the client
 * never hears of it.
 */
async function startFaultProxy(upstreamPort: number, pick: () => Fault): Promise<{ readonly port: number; readonly counts: Record<Fault, number>; readonly createdIntents: Set<string>; faultsOn: boolean; close(): Promise<void> }> {
  const counts: Record<Fault, number> = { none: 0, reset_before: 0, error_500_before: 0, reset_after: 0, error_502_after: 0, slow: 0, stall: 0 };
  const createdIntents = new Set<string>();
  const stalled: ServerResponse[] = [];
  const state = { faultsOn: true };
  const forward = (req: IncomingMessage, body: Buffer): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const up = httpRequest({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      up.on('error', reject);
      up.end(body);
    });
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const fault = state.faultsOn ? pick() : 'none';
    counts[fault] += 1;
    if (fault === 'reset_before') {
      req.socket.destroy();
      return;
    }
    if (fault === 'error_500_before') {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { type: 'api_error', message: 'Injected fault: the request never reached Stripe.' } }));
      return;
    }
    let upstream: Awaited<ReturnType<typeof forward>>;
    try {
      upstream = await forward(req, body);
    } catch {
      req.socket.destroy();
      return;
    }
    if (req.method === 'POST' && req.url?.startsWith('/v1/payment_intents') === true) {
      try {
        const id = (JSON.parse(upstream.body.toString()) as { id?: unknown }).id;
        if (typeof id === 'string' && id.startsWith('pi_')) createdIntents.add(id);
      } catch {
        /* an error body: no intent */
      }
    }
    if (fault === 'reset_after') {
      req.socket.destroy();
      return;
    }
    if (fault === 'error_502_after') {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html><body>502 Bad Gateway (injected after Stripe executed the request)</body></html>');
      return;
    }
    if (fault === 'stall') {
      stalled.push(res);
      return;
    }
    if (fault === 'slow') await sleep(between(100, 600));
    const { 'content-length': _length, 'transfer-encoding': _encoding, connection: _connection, ...headers } = upstream.headers;
    res.writeHead(upstream.status, headers);
    res.end(upstream.body);
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    counts,
    createdIntents,
    get faultsOn() {
      return state.faultsOn;
    },
    set faultsOn(on: boolean) {
      state.faultsOn = on;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of stalled) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Each fault's share of requests while faults are on; the rest pass untouched. */
const FAULT_RATES: readonly (readonly [Fault, number])[] = [
  ['reset_before', 0.07],
  ['error_500_before', 0.07],
  ['reset_after', 0.08],
  ['error_502_after', 0.07],
  ['slow', 0.1],
  // A stall costs the SDK's whole timeout (20 s), so only the full profile has them.
  ['stall', byProfile(0, 0.01)],
];

function pickFault(): Fault {
  let r = Math.random();
  for (const [fault, rate] of FAULT_RATES) {
    if (r < rate) return fault;
    r -= rate;
  }
  return 'none';
}

describeEachDatabase('faults: Stripe behind a proxy that resets, fails and slows its answers', (dialect) => {
  let h: Harness;
  let stripe: StripeSimulator;
  let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
  beforeAll(async () => {
    stripe = await startStripeSimulator();
    proxy = await startFaultProxy(stripe.port, pickFault);
    h = await startHarness(dialect, {
      STRIPE_SECRET_KEY: stripe.secretKey,
      STRIPE_API_URL: `http://127.0.0.1:${proxy.port}`,
      ROUTING_CONFIG: JSON.stringify({ rules: [{ id: 'all', match: {}, connectors: [{ connector: 'stripe', weight: 1 }] }] }),
      LOG_LEVEL: 'warn',
    });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await proxy?.close();
    await stripe?.close();
  }, 60_000);

  it(
    'charges no payment twice and leaves none unknown once reconciliation has run, matching the simulator\'s own PaymentIntents',
    async () => {
      const startedAt = performance.now();
      const outcomes = await runLoad(h, CHECKOUTS, { country: 'DE', priceId: 'price_ml_certificate_eur', token: 'pm_card_visa' });
      const unknownAtEnd = await unknownCount(h);
      // The outage ends; the worker's reconciliation then finds out what happened.
      proxy.faultsOn = false;
      const rounds = await resolveAll(h);

      const attempts = await h.app.db.kysely.selectFrom('payment_attempts').select(['idempotency_key', 'payment_id']).execute();
      const paymentOfKey = new Map(attempts.map((a) => [a.idempotency_key, a.payment_id]));
      const chargesByPayment = new Map<string, number>();
      let orphans = 0;
      // Stripe's side, read from the simulator itself, bypassing the proxy.
      for (const id of proxy.createdIntents) {
        const res = await fetch(`http://127.0.0.1:${stripe.port}/v1/payment_intents/${id}`, { headers: { authorization: `Bearer ${stripe.secretKey}` } });
        const pi = (await res.json()) as { status: string; amount_received: number; metadata: Record<string, string> };
        if (pi.status !== 'succeeded' && pi.status !== 'requires_capture') continue;
        const paymentId = paymentOfKey.get(pi.metadata['obol_idempotency_key'] ?? '');
        if (paymentId === undefined) orphans += 1;
        else chargesByPayment.set(paymentId, (chargesByPayment.get(paymentId) ?? 0) + 1);
      }
      const verdict = await judge(h, chargesByPayment, orphans, outcomes);
      const { none, ...faults } = proxy.counts;
      printFigures(
        `gateway-stripe[${dialect}]`,
        {
          attempted: outcomes.length,
          succeeded: verdict.succeeded,
          lost: verdict.lost,
          doubled: verdict.doubled,
          stripeCalls: none + Object.values(faults).reduce((a, b) => a + b, 0),
          ...Object.fromEntries(Object.entries(faults).map(([k, v]) => [k.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()), v])),
          answeredProcessing: outcomes.filter((o) => o.status === 'processing').length,
          breakerRefusals: breakerRefusals.get(h) ?? 0,
          unknownBeforeResolution: unknownAtEnd,
          unknownAfterResolution: verdict.unknownLeft,
          resolutionRounds: rounds,
        },
        startedAt,
      );
      expect(verdict.problems).toEqual([]);
      expect(verdict.lost).toBe(0);
      expect(verdict.doubled).toBe(0);
      expect(verdict.unknownLeft).toBe(0);
      expect(unknownAtEnd).toBeGreaterThan(0);
      expect(verdict.succeeded).toBeGreaterThan(0);
    },
    byProfile(150_000, 900_000),
  );
});
