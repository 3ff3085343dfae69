/**
 * The checkout load and the verdict shared by the fault suites that run a real `obol serve`
 * (crash, broker outage, database outage): clients that retry as real ones do, the worker's
 * resolution of what the faults left behind, and one judgement of the whole database against
 * the sandbox gateway's own charge log and the clients' confirmed answers.
 */
import { randomUUID } from 'node:crypto';
import { ManualClock } from '../../src/kernel/index.js';
import { PENDING_GRACE_MS } from '../../src/payments/reconcile.js';
import { createApp } from '../../src/platform/app.js';
import type { Config } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/logging.js';
import { runWorkerRound } from '../../src/platform/worker.js';
import type { TestDatabase } from '../support/databases.js';
import { between, errorCodeOf, field, postGraphql, sleep, type GraphQLAnswer } from './support.js';

export const PRICE = 'price_ml_certificate_usd';
export const RESOURCE = 'course:machine-learning';

/** Answers a real client retries under the same key: the request may or may not have happened. */
const RETRY_CODES = new Set(['IDEMPOTENCY_REQUEST_IN_PROGRESS', 'SERVICE_UNAVAILABLE', 'INTERNAL']);

const CREATE = `mutation($i: CreateCheckoutSessionInput!) { createCheckoutSession(input: $i) { checkoutSession { id } } }`;
const CONFIRM = `mutation($i: ConfirmCheckoutSessionInput!) { confirmCheckoutSession(input: $i) { checkoutSession { id status } payment { id status } } }`;

/** What one client learned about one checkout. */
export interface ClientRecord {
  readonly customerId: string;
  sessionId: string | null;
  paymentId: string | null;
  /** The payment status of the last answer, `error:<code>`, or `no_answer` (gave up retrying). */
  outcome: string;
}

export interface LoadStats {
  retries: number;
  /** Connections refused: nobody listened, nothing happened. */
  refused: number;
  /** Connections cut or failed otherwise: the request may have been executed. */
  cutOff: number;
  http5xx: number;
  /** Answers with the INTERNAL code: a fault must never surface as one. */
  internalErrors: number;
  inProgress: number;
  /** Error codes of answers that were retried, by code. */
  readonly retriedCodes: Map<string, number>;
}

export interface Load {
  readonly records: ClientRecord[];
  readonly stats: LoadStats;
  /** Answers (of any kind) received from `url` so far. */
  answered(url: string): number;
  /** Requests to `url` sent and not yet answered or failed. */
  inFlight(url: string): number;
  /** Stops starting new checkouts; clients still retrying get `graceMs` more to hear an answer. */
  stop(graceMs: number): Promise<void>;
}

/**
 * `clients` learners checking out one after another until stopped, through GraphQL at `urls`
 * (any copy may take any request, as behind a load balancer; a refused connection goes to the
 * next copy at once), as `token` (a service token: it checks out on each learner's behalf).
 */
export function startCheckoutLoad(args: { readonly urls: readonly string[]; readonly token: string; readonly clients: number; readonly label: string }): Load {
  const { urls, token } = args;
  const records: ClientRecord[] = [];
  const stats: LoadStats = { retries: 0, refused: 0, cutOff: 0, http5xx: 0, internalErrors: 0, inProgress: 0, retriedCodes: new Map() };
  let stopping = false;
  let stoppedAt = Infinity;
  let graceMs = 0;
  const answeredBy = new Map<string, number>();
  const inFlightAt = new Map<string, number>();
  const bump = (map: Map<string, number>, url: string, by: number): void => {
    map.set(url, (map.get(url) ?? 0) + by);
  };

  /** Sends until an answer that is not "try again" arrives, or the client is told to give up. */
  async function untilAnswered(query: string, input: Record<string, unknown>): Promise<GraphQLAnswer | null> {
    let next = between(0, urls.length - 1);
    for (;;) {
      const url = urls[next % urls.length]!;
      bump(inFlightAt, url, 1);
      try {
        const answer = await postGraphql(url, token, query, { i: input }).finally(() => bump(inFlightAt, url, -1));
        bump(answeredBy, url, 1);
        const code = errorCodeOf(answer);
        if (answer.httpStatus < 500 && (code === undefined || !RETRY_CODES.has(code))) return answer;
        if (answer.httpStatus >= 500) stats.http5xx += 1;
        if (code === 'INTERNAL') stats.internalErrors += 1;
        if (code === 'IDEMPOTENCY_REQUEST_IN_PROGRESS') stats.inProgress += 1;
        const seen = code ?? `http_${answer.httpStatus}`;
        stats.retriedCodes.set(seen, (stats.retriedCodes.get(seen) ?? 0) + 1);
      } catch (err) {
        if (causeCode(err) === 'ECONNREFUSED') {
          stats.refused += 1;
          next += 1;
          if (next % urls.length !== 0) continue;
        } else {
          stats.cutOff += 1;
        }
      }
      stats.retries += 1;
      if (stopping && performance.now() - stoppedAt > graceMs) return null;
      next = between(0, urls.length - 1);
      await sleep(between(50, 250));
    }
  }

  async function client(): Promise<void> {
    while (!stopping) {
      const record: ClientRecord = { customerId: `cus_${args.label}_${randomUUID().replaceAll('-', '').slice(0, 12)}`, sessionId: null, paymentId: null, outcome: 'no_answer' };
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

  const running = Array.from({ length: args.clients }, () => client());
  return {
    records,
    stats,
    answered: (url) => answeredBy.get(url) ?? 0,
    inFlight: (url) => inFlightAt.get(url) ?? 0,
    async stop(grace: number) {
      graceMs = grace;
      stopping = true;
      stoppedAt = performance.now();
      await Promise.all(running);
    },
  };
}

/** The system error code under a fetch failure (ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET…). */
function causeCode(err: unknown): string | undefined {
  const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined;
  return typeof cause?.code === 'string' ? cause.code : err instanceof Error ? err.name : undefined;
}

/**
 * Runs the worker's round against the database until nothing is outstanding, on a clock past
 * PENDING_GRACE_MS: an attempt committed as `pending` whose process died before the gateway's
 * answer was stored is reconciled only once it is that old (two minutes: longer than any
 * connector's client timeout, as it might still be in flight). With every Obol process stopped
 * nothing is in flight, so instead of waiting two minutes the same code runs now, against the
 * same database and gateway log, as the worker would run then. Returns the rounds it took.
 */
export async function resolveLeftovers(database: TestDatabase, config: Config): Promise<number> {
  const later = new ManualClock(Date.now() + PENDING_GRACE_MS + 60_000);
  const app = await createApp({ config, logger: createLogger({ level: 'silent' }), clock: later, migrate: false });
  try {
    for (let round = 1; round <= 20; round++) {
      await runWorkerRound(app);
      if ((await outstanding(database)) === 0) return round;
      later.advance(60_000);
    }
    return 20;
  } finally {
    await app.close();
  }
}

/** Work a fault left behind: gateway calls with an unknown outcome, unpublished events. */
export async function outstanding(database: TestDatabase): Promise<number> {
  const k = database.db.kysely;
  const attempts = await k.selectFrom('payment_attempts').select((eb) => eb.fn.countAll<number>().as('n')).where('status', 'in', ['pending', 'unknown']).executeTakeFirst();
  const events = await k.selectFrom('outbox').select((eb) => eb.fn.countAll<number>().as('n')).where('published_at', 'is', null).executeTakeFirst();
  return Number(attempts?.n ?? 0) + Number(events?.n ?? 0);
}

export interface Verdict {
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

export async function judge(database: TestDatabase, records: readonly ClientRecord[]): Promise<Verdict> {
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
