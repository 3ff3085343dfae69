/**
 * Crash: the real `obol serve` (every role) under checkout load is killed with SIGKILL at random
 * moments, at least 20 times, and started again each time on the same port and database. Two
 * copies run, as in production behind a load balancer, each killed on its own random schedule, so
 * a retry may land on the copy that did not crash (taking over its idempotency keys and relay
 * leases) or find both down. Clients behave as real ones do: after a transport failure, a 5xx or
 * "in progress" they send the same request again under the same idempotency key.
 *
 * Afterwards, once the unknown outcomes the crashes left have been resolved (see the resolution
 * phase below), nothing may be lost or doubled, judged against three independent records: the
 * sandbox gateway's own charge log (`sandbox_charges`), the clients' confirmed answers, and Obol's
 * tables (orders, ledger, outbox, consumer inbox, entitlements).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/kernel/index.js';
import { PENDING_GRACE_MS } from '../../src/payments/reconcile.js';
import { signDevelopmentToken } from '../../src/platform/auth/index.js';
import { createApp } from '../../src/platform/app.js';
import { loadConfig } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/logging.js';
import { runWorkerRound } from '../../src/platform/worker.js';
import { createTestDatabase, type TestDatabase, type TestDialect } from '../support/databases.js';
import { between, byProfile, errorCodeOf, field, freePort, ObolProcess, postGraphql, PROFILE, printFigures, sleep, warnSkipped, type GraphQLAnswer } from './support.js';

/** Kills in all, shared by the two copies. */
const KILLS = byProfile(20, 40);
const REPLICAS = 2;
/** How long the process runs (after it is ready) before each kill: a random moment in this window. */
const UPTIME_MS = byProfile([150, 1500] as const, [200, 4000] as const);
const CLIENTS = byProfile(8, 16);
/** After the last kill the load stops; clients still retrying get this long to hear an answer. */
const CLIENT_GRACE_MS = byProfile(20_000, 70_000);
const PRICE = 'price_ml_certificate_usd';
const RESOURCE = 'course:machine-learning';

/** Answers a real client retries under the same key: the request may or may not have happened. */
const RETRY_CODES = new Set(['IDEMPOTENCY_REQUEST_IN_PROGRESS', 'SERVICE_UNAVAILABLE', 'INTERNAL']);

const CREATE = `mutation($i: CreateCheckoutSessionInput!) { createCheckoutSession(input: $i) { checkoutSession { id } } }`;
const CONFIRM = `mutation($i: ConfirmCheckoutSessionInput!) { confirmCheckoutSession(input: $i) { checkoutSession { id status } payment { id status } } }`;

/** What one client learned about one checkout. */
interface ClientRecord {
  readonly customerId: string;
  sessionId: string | null;
  paymentId: string | null;
  /** The payment status of the last answer, `error:<code>`, or `no_answer` (gave up retrying). */
  outcome: string;
}

// MariaDB where it is available (as in production); SQLite otherwise, with a loud notice (CI has MariaDB).
const dialect: TestDialect = process.env.OBOL_TEST_MYSQL === '1' ? 'mysql' : 'sqlite';

describe(`faults: kill -9 under checkout load [${dialect}]`, () => {
  let database: TestDatabase;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const replicas: { readonly obol: ObolProcess; readonly url: string }[] = [];

  beforeAll(async () => {
    if (dialect === 'sqlite') warnSkipped('crash [mysql]', 'MariaDB is not reachable, so the crash test runs on SQLite only', 'Start MariaDB (see README) to run it on MariaDB.');
    database = await createTestDatabase(dialect);
    dir = mkdtempSync(join(tmpdir(), 'obol-faults-crash-'));
    env = {
      ...process.env,
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      DATABASE_URL: database.url,
      SEED_DEMO_CATALOG: 'true',
      HOST: '127.0.0.1',
      GRPC_PORT: '0',
      GRPC_HOST: '127.0.0.1',
      AUTH_DEV_KEY_FILE: join(dir, 'signing-key.json'),
      DEV_ENCRYPTION_KEY_FILE: join(dir, 'encryption-keys.json'),
      EVENT_BUS: 'inprocess',
      WORKER_POLL_INTERVAL_MS: '100',
      RECONCILE_AFTER_SECONDS: '1',
      // A gateway call that takes a little while widens the window in which a kill cuts one off.
      SANDBOX_LATENCY_MS: '25',
      // One client address and a few customers make a lot of checkouts here; the limits have their own suite.
      RATE_LIMIT_CHECKOUT_PER_CUSTOMER: '100000',
      RATE_LIMIT_CHECKOUT_PER_IP: '1000000',
      CARD_TESTING_MAX_FAILURES: '1000',
    };
    for (let i = 0; i < REPLICAS; i++) {
      const port = await freePort();
      replicas.push({ obol: new ObolProcess({ ...env, PORT: String(port) }, `crash-${i}`), url: `http://127.0.0.1:${port}/graphql` });
    }
  }, 120_000);

  afterAll(async () => {
    for (const r of replicas) await r.obol.stop();
    await database?.drop().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it(
    'loses and doubles no payment across 20+ kills: gateway log, client answers, orders, ledger, events and entitlements agree',
    async () => {
      const startedAt = performance.now();
      const config = loadConfig({ ...stringEnv(env) });
      const token = await signDevelopmentToken({ config, subject: 'svc_faults_checkout', roles: ['service'], ttlSeconds: 6 * 3600 });
      // One after the other: the first start seeds the empty database.
      for (const r of replicas) await r.obol.start();

      const records: ClientRecord[] = [];
      const stats = { retries: 0, refused: 0, cutOff: 0, http5xx: 0, internalErrors: 0, inProgress: 0 };
      let stopping = false;
      let stoppedAt = Infinity;

      /** Sends until an answer that is not "try again" arrives, or the client is told to give up. */
      async function untilAnswered(query: string, input: Record<string, unknown>): Promise<GraphQLAnswer | null> {
        // Any copy may take any request, as behind a load balancer; a refused connection goes to the next copy at once.
        let next = between(0, replicas.length - 1);
        for (;;) {
          const target = replicas[next % replicas.length]!;
          try {
            const answer = await postGraphql(target.url, token, query, { i: input });
            const code = errorCodeOf(answer);
            if (answer.httpStatus < 500 && (code === undefined || !RETRY_CODES.has(code))) return answer;
            if (answer.httpStatus >= 500) stats.http5xx += 1;
            if (code === 'INTERNAL') stats.internalErrors += 1;
            if (code === 'IDEMPOTENCY_REQUEST_IN_PROGRESS') stats.inProgress += 1;
          } catch (err) {
            // Refused: nobody listened, nothing happened. Anything else: the request may have been cut off mid-way.
            if (causeCode(err) === 'ECONNREFUSED') {
              stats.refused += 1;
              next += 1;
              if (next % replicas.length !== 0) continue;
            } else {
              stats.cutOff += 1;
            }
          }
          stats.retries += 1;
          if (stopping && performance.now() - stoppedAt > CLIENT_GRACE_MS) return null;
          next = between(0, replicas.length - 1);
          await sleep(between(50, 250));
        }
      }

      async function client(): Promise<void> {
        while (!stopping) {
          const record: ClientRecord = { customerId: `cus_crash_${randomUUID().replaceAll('-', '').slice(0, 12)}`, sessionId: null, paymentId: null, outcome: 'no_answer' };
          records.push(record);
          const created = await untilAnswered(CREATE, { customerId: record.customerId, country: 'US', items: [{ priceId: PRICE, quantity: 1 }], idempotencyKey: randomUUID() });
          const sessionId = field(created?.data, 'createCheckoutSession', 'checkoutSession', 'id');
          if (typeof sessionId !== 'string') {
            if (created !== null) record.outcome = `error:${errorCodeOf(created) ?? 'unknown'}`;
            continue;
          }
          record.sessionId = sessionId;
          const confirmed = await untilAnswered(CONFIRM, { sessionId, paymentMethodToken: 'tok_visa', idempotencyKey: randomUUID() });
          if (confirmed === null) continue;
          const status = field(confirmed.data, 'confirmCheckoutSession', 'payment', 'status');
          const paymentId = field(confirmed.data, 'confirmCheckoutSession', 'payment', 'id');
          record.paymentId = typeof paymentId === 'string' ? paymentId : null;
          record.outcome = typeof status === 'string' ? status : `error:${errorCodeOf(confirmed) ?? 'unknown'}`;
        }
      }

      const load = Array.from({ length: CLIENTS }, () => client());
      let kills = 0;
      /** Each copy dies at random moments of its own, until the kills are used up. */
      async function killer(obol: ObolProcess): Promise<void> {
        while (kills < KILLS) {
          await sleep(between(UPTIME_MS[0], UPTIME_MS[1]));
          if (kills >= KILLS) break;
          kills += 1;
          await obol.kill9();
          await obol.start();
        }
      }
      try {
        await Promise.all(replicas.map((r) => killer(r.obol)));
        // A little load on the last processes, so the final state includes ordinary traffic too.
        await sleep(1000);
      } finally {
        stopping = true;
        stoppedAt = performance.now();
      }
      await Promise.all(load);
      for (const r of replicas) await r.obol.stop();

      // ---- resolution -----------------------------------------------------------------------
      // An attempt committed as `pending` whose process died before the gateway's answer was
      // stored is resolved by the worker's reconciliation once it is older than PENDING_GRACE_MS
      // (two minutes: longer than any connector's client timeout, as it might still be in
      // flight). Nothing is in flight now (Obol is stopped), so instead of waiting two minutes the
      // worker's round runs here on a clock that far ahead: the same code, against the same
      // database and gateway log, as the worker would run then.
      const later = new ManualClock(Date.now() + PENDING_GRACE_MS + 60_000);
      const app = await createApp({ config, logger: createLogger({ level: 'silent' }), clock: later, migrate: false });
      let rounds = 0;
      try {
        for (; rounds < 20; rounds++) {
          await runWorkerRound(app);
          if ((await outstanding(database)) === 0) break;
          later.advance(60_000);
        }
      } finally {
        await app.close();
      }

      const verdict = await judge(database, records);
      printFigures(
        'crash',
        {
          attempted: verdict.attempted,
          succeeded: verdict.succeeded,
          lost: verdict.lost,
          doubled: verdict.doubled,
          kills,
          starts: replicas.reduce((n, r) => n + r.obol.starts, 0),
          meanStartMs: Math.round(mean(replicas.flatMap((r) => r.obol.startMs))),
          clientsConfirmed: verdict.clientConfirmed,
          clientProcessing: records.filter((r) => r.outcome === 'processing').length,
          clientNoAnswer: records.filter((r) => r.outcome === 'no_answer').length,
          resolvedAfterwards: verdict.resolvedAfterwards,
          gatewayCharges: verdict.gatewayCharges,
          retries: stats.retries,
          refused: stats.refused,
          cutOff: stats.cutOff,
          http5xx: stats.http5xx,
          inProgressAnswers: stats.inProgress,
          internalErrors: stats.internalErrors,
          resolutionRounds: rounds + 1,
        },
        startedAt,
      );
      expect(kills).toBeGreaterThanOrEqual(20);
      expect(verdict.problems).toEqual([]);
      expect(verdict.lost).toBe(0);
      expect(verdict.doubled).toBe(0);
      expect(verdict.ledgerBalanced).toBe(true);
      expect(verdict.succeeded).toBeGreaterThan(0);
      // A crash is not a server error: a client never sees INTERNAL for it (only cut-off connections).
      expect(stats.internalErrors).toBe(0);
    },
    byProfile(240_000, 900_000),
  );
});

/** The system error code under a fetch failure (ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET…). */
function causeCode(err: unknown): string | undefined {
  const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined;
  return typeof cause?.code === 'string' ? cause.code : err instanceof Error ? err.name : undefined;
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}

function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

/** Work the crashes left behind: gateway calls with an unknown outcome, unpublished events. */
async function outstanding(database: TestDatabase): Promise<number> {
  const k = database.db.kysely;
  const attempts = await k.selectFrom('payment_attempts').select((eb) => eb.fn.countAll<number>().as('n')).where('status', 'in', ['pending', 'unknown']).executeTakeFirst();
  const events = await k.selectFrom('outbox').select((eb) => eb.fn.countAll<number>().as('n')).where('published_at', 'is', null).executeTakeFirst();
  return Number(attempts?.n ?? 0) + Number(events?.n ?? 0);
}

interface Verdict {
  readonly attempted: number;
  readonly succeeded: number;
  readonly lost: number;
  readonly doubled: number;
  readonly clientConfirmed: number;
  readonly resolvedAfterwards: number;
  readonly gatewayCharges: number;
  readonly ledgerBalanced: boolean;
  /** Each finding, named, so a failure says what went wrong with which record. */
  readonly problems: readonly string[];
}

async function judge(database: TestDatabase, records: readonly ClientRecord[]): Promise<Verdict> {
  const k = database.db.kysely;
  const problems: string[] = [];
  let lost = 0;
  let doubled = 0;
  const lose = (what: string): void => {
    lost += 1;
    problems.push(`lost: ${what}`);
  };
  const double = (what: string): void => {
    doubled += 1;
    problems.push(`doubled: ${what}`);
  };

  const payments = await k.selectFrom('payment_intents').select(['id', 'checkout_session_id', 'customer_id', 'status', 'amount', 'amount_captured']).execute();
  const attempts = await k.selectFrom('payment_attempts').select(['id', 'payment_id', 'idempotency_key', 'status']).execute();
  const charges = await k.selectFrom('sandbox_charges').select(['id', 'idempotency_key', 'operation', 'status', 'amount']).execute();
  const orders = await k.selectFrom('orders').select(['id', 'checkout_session_id', 'customer_id', 'payment_id', 'status']).execute();
  const outbox = await k.selectFrom('outbox').select(['id', 'type', 'aggregate_id', 'published_at']).execute();
  const inbox = await k.selectFrom('consumer_inbox').select(['event_id', 'event_type']).where('consumer_group', '=', 'entitlements').execute();
  const grants = await k.selectFrom('entitlements').select(['customer_id', 'resource', 'source_kind', 'source_id', 'status']).execute();
  const sessions = await k.selectFrom('checkout_sessions').select(['id', 'customer_id', 'status']).execute();

  // 1. The gateway's log against Obol's payments: one successful charge per paid payment, none for any other.
  const paymentOfKey = new Map(attempts.map((a) => [a.idempotency_key, a.payment_id]));
  const successfulCharges = new Map<string, number>();
  let gatewayCharges = 0;
  for (const charge of charges) {
    if (charge.operation !== 'authorize' || charge.status !== 'succeeded') continue;
    gatewayCharges += 1;
    const paymentId = paymentOfKey.get(charge.idempotency_key);
    if (paymentId === undefined) {
      lose(`gateway charge ${charge.id} belongs to no payment attempt`);
      continue;
    }
    successfulCharges.set(paymentId, (successfulCharges.get(paymentId) ?? 0) + 1);
  }
  const paymentById = new Map(payments.map((p) => [p.id, p]));
  const succeeded = payments.filter((p) => p.status === 'succeeded');
  for (const p of payments) {
    const n = successfulCharges.get(p.id) ?? 0;
    if (n > 1) double(`payment ${p.id} was charged ${n} times by the gateway`);
    if (p.status === 'succeeded' && n === 0) lose(`payment ${p.id} is succeeded but the gateway has no charge for it`);
    if (p.status !== 'succeeded' && n > 0) lose(`the gateway charged payment ${p.id}, which Obol shows as ${p.status}`);
    if (p.status === 'succeeded' && Number(p.amount_captured) !== Number(p.amount)) lose(`payment ${p.id} captured ${p.amount_captured} of ${p.amount}`);
  }
  const unknown = attempts.filter((a) => a.status === 'pending' || a.status === 'unknown');
  for (const a of unknown) lose(`attempt ${a.id} still has an unknown outcome (${a.status})`);

  // 2. One paid payment, one order, per checkout session.
  const paidPerSession = new Map<string, number>();
  for (const p of succeeded) if (p.checkout_session_id !== null) paidPerSession.set(p.checkout_session_id, (paidPerSession.get(p.checkout_session_id) ?? 0) + 1);
  for (const [sessionId, n] of paidPerSession) if (n > 1) double(`session ${sessionId} has ${n} succeeded payments`);
  const ordersPerSession = new Map<string, number>();
  for (const o of orders) ordersPerSession.set(o.checkout_session_id, (ordersPerSession.get(o.checkout_session_id) ?? 0) + 1);
  for (const [sessionId, n] of ordersPerSession) if (n > 1) double(`session ${sessionId} has ${n} orders`);
  const orderOfPayment = new Map(orders.map((o) => [o.payment_id, o]));
  for (const p of succeeded) {
    const order = orderOfPayment.get(p.id);
    if (order?.status !== 'paid') lose(`succeeded payment ${p.id} has no paid order`);
  }
  for (const o of orders) if (o.payment_id === null || paymentById.get(o.payment_id)?.status !== 'succeeded') problems.push(`order ${o.id} is not backed by a succeeded payment`);
  const completeSessions = sessions.filter((s) => s.status === 'complete').length;
  if (completeSessions !== orders.length) problems.push(`${completeSessions} complete sessions but ${orders.length} orders`);

  // 3. What the clients were told: every confirmed success is a success in Obol.
  let clientConfirmed = 0;
  for (const r of records) {
    if (r.outcome !== 'succeeded') continue;
    clientConfirmed += 1;
    if (r.paymentId === null || paymentById.get(r.paymentId)?.status !== 'succeeded') lose(`client of ${r.customerId} was told ${r.paymentId ?? '?'} succeeded`);
  }
  const confirmedIds = new Set(records.filter((r) => r.outcome === 'succeeded').map((r) => r.paymentId));
  const resolvedAfterwards = succeeded.filter((p) => !confirmedIds.has(p.id)).length;

  // 4. The ledger balances, per currency and per transaction.
  const perCurrency = await k.selectFrom('journal_entries').select(['currency', (eb) => eb.fn.sum<number>('amount').as('total')]).groupBy('currency').execute();
  const unbalancedTx = await k
    .selectFrom('journal_entries')
    .select(['transaction_id', (eb) => eb.fn.sum<number>('amount').as('total')])
    .groupBy('transaction_id')
    .having((eb) => eb.fn.sum('amount'), '!=', 0)
    .execute();
  const ledgerBalanced = perCurrency.every((c) => Number(c.total) === 0) && unbalancedTx.length === 0;
  if (!ledgerBalanced) problems.push(`ledger unbalanced: ${JSON.stringify(perCurrency)} / ${unbalancedTx.length} transactions`);

  // 5. Every event published, and every sale's event consumed by the entitlements projection.
  for (const e of outbox) if (e.published_at === null) lose(`event ${e.id} (${e.type}) was never published`);
  const consumed = new Set(inbox.map((i) => i.event_id));
  for (const o of orders) {
    const completed = outbox.filter((e) => e.type === 'checkout.completed' && e.aggregate_id === o.checkout_session_id);
    if (completed.length !== 1) problems.push(`session ${o.checkout_session_id} emitted ${completed.length} checkout.completed events`);
    for (const e of completed) if (!consumed.has(e.id)) lose(`checkout.completed ${e.id} was not consumed by entitlements`);
  }

  // 6. Entitlements equal what was paid for: one active grant per paid order, none without one.
  const paidOrderIds = new Set(orders.filter((o) => o.status === 'paid').map((o) => o.id));
  const grantsPerOrder = new Map<string, number>();
  for (const g of grants) {
    if (g.source_kind !== 'order' || g.resource !== RESOURCE || g.status !== 'active') {
      problems.push(`unexpected grant ${JSON.stringify(g)}`);
      continue;
    }
    if (!paidOrderIds.has(g.source_id)) problems.push(`grant for unpaid order ${g.source_id}`);
    grantsPerOrder.set(g.source_id, (grantsPerOrder.get(g.source_id) ?? 0) + 1);
  }
  for (const id of paidOrderIds) {
    const n = grantsPerOrder.get(id) ?? 0;
    if (n === 0) lose(`paid order ${id} granted nothing`);
    if (n > 1) double(`paid order ${id} granted ${n} times`);
  }

  const attempted = records.filter((r) => r.sessionId !== null).length;
  return { attempted, succeeded: succeeded.length, lost, doubled, clientConfirmed, resolvedAfterwards, gatewayCharges, ledgerBalanced, problems };
}
