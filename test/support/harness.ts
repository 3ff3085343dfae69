/**
 * A whole Obol (the api role's HTTP server and the worker's tasks) on a fresh test database,
 * driven through GraphQL exactly as a client would, with a clock the test can move.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { pino, type DestinationStream } from 'pino';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { AccessRole } from '../../src/kernel/index.js';
import { signDevelopmentToken } from '../../src/platform/auth/index.js';
import { ManualClock } from '../../src/kernel/index.js';
import { createApp, type App } from '../../src/platform/app.js';
import { loadConfig } from '../../src/platform/config.js';
import { createHttpServer } from '../../src/platform/http/server.js';
import { createLogger } from '../../src/platform/logging.js';
import { runWorkerRound } from '../../src/platform/worker.js';
import { createTestDatabase, type TestDatabase, type TestDialect } from './databases.js';

export interface GraphQLResult<T = Record<string, any>> {
  readonly status: number;
  readonly data: T | null;
  readonly errors: readonly { message: string; extensions?: { code?: string; details?: Record<string, unknown> } }[] | undefined;
}

/** Who a request is sent as: a token, `anonymous`, or (default) an admin. */
export interface As {
  readonly as?: string | 'anonymous';
  readonly headers?: Record<string, string>;
}

export interface Harness {
  readonly app: App;
  readonly server: FastifyInstance;
  readonly clock: ManualClock;
  readonly database: TestDatabase;
  gql<T = Record<string, any>>(query: string, variables?: Record<string, unknown>, options?: As): Promise<GraphQLResult<T>>;
  /** A development token for this instance. */
  token(args: { readonly sub: string; readonly roles: readonly AccessRole[]; readonly ttlSeconds?: number }): Promise<string>;
  /** One round of the worker: expire sessions, reconcile unknown outcomes, relay the outbox. */
  runWorker(): Promise<void>;
  /** Row counts of every table: "changes nothing" means this snapshot is unchanged. */
  snapshot(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

const TABLES = [
  'checkout_sessions',
  'checkout_session_lines',
  'orders',
  'payment_intents',
  'payment_attempts',
  'payment_operations',
  'refunds',
  'ledger_accounts',
  'journal_transactions',
  'journal_entries',
  'outbox',
  'idempotency_keys',
  'sandbox_charges',
  'coupon_redemptions',
  'subscriptions',
  'invoices',
  'invoice_lines',
  'revenue_schedules',
  'payment_methods',
  'scheduled_jobs',
] as const;

export interface HarnessOptions {
  /** Where the app's log lines go (a test that reads them); the run's log directory otherwise. */
  readonly logDestination?: DestinationStream;
}

export async function startHarness(dialect: TestDialect, env: Record<string, string> = {}, options: HarnessOptions = {}): Promise<Harness> {
  const database = await createTestDatabase(dialect);
  const keys = mkdtempSync(join(tmpdir(), 'obol-keys-'));
  const config = loadConfig({
    AUTH_DEV_KEY_FILE: join(keys, 'signing-key.json'),
    DEV_ENCRYPTION_KEY_FILE: join(keys, 'encryption-keys.json'),
    // Tests share one client address; limits get their own suite.
    RATE_LIMIT_CHECKOUT_PER_CUSTOMER: '100000',
    RATE_LIMIT_CHECKOUT_PER_IP: '1000000',
    CARD_TESTING_MAX_FAILURES: '1000',
    NODE_ENV: 'test',
    DATABASE_URL: database.url,
    SEED_DEMO_CATALOG: 'true',
    LOG_LEVEL: process.env.OBOL_TEST_LOG_LEVEL ?? 'debug',
    RECONCILE_AFTER_SECONDS: '0',
    ...env,
  });
  const clock = new ManualClock(Date.now());
  // Every line the app logs goes to the run's log directory; global teardown scans it for leaks.
  const logDir = process.env.OBOL_TEST_LOG_DIR;
  const destination = options.logDestination ?? (logDir ? pino.destination({ dest: join(logDir, `${dialect}-${process.pid}-${randomUUID()}.log`), sync: true }) : undefined);
  const logger = createLogger({ level: config.logLevel, name: 'obol-test', ...(destination ? { destination } : {}) });
  const app = await createApp({ config, logger, clock });
  const server = await createHttpServer(app);
  await server.ready();
  const token = (args: { readonly sub: string; readonly roles: readonly AccessRole[]; readonly ttlSeconds?: number }) =>
    signDevelopmentToken({ config, subject: args.sub, roles: args.roles, ...(args.ttlSeconds !== undefined ? { ttlSeconds: args.ttlSeconds } : {}) });
  const admin = await token({ sub: 'staff_test_admin', roles: ['admin'] });
  return {
    app,
    server,
    clock,
    database,
    token,
    async gql(query, variables, options) {
      const bearer = options?.as === 'anonymous' ? undefined : (options?.as ?? admin);
      const headers: Record<string, string> = { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...options?.headers };
      const res = await server.inject({ method: 'POST', url: '/graphql', payload: { query, variables: variables ?? {} }, headers });
      const body = res.json() as { data?: unknown; errors?: GraphQLResult['errors'] };
      return { status: res.statusCode, data: (body.data ?? null) as never, errors: body.errors };
    },
    runWorker: () => runWorkerRound(app),
    async snapshot() {
      const out: Record<string, number> = {};
      for (const table of TABLES) {
        const row = await app.db.kysely
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirst();
        out[table] = Number(row?.n ?? 0);
      }
      const coupons = await app.db.kysely.selectFrom('coupons').select(['id', 'times_redeemed']).orderBy('id').execute();
      for (const c of coupons) out[`coupon:${c.id}`] = Number(c.times_redeemed);
      return out;
    },
    async close() {
      await server.close();
      await app.close().catch(() => undefined);
      await database.drop().catch(() => undefined);
      rmSync(keys, { recursive: true, force: true });
    },
  };
}

/** The error code of the first GraphQL error, for terse assertions. */
export function errorCode(result: GraphQLResult): string | undefined {
  return result.errors?.[0]?.extensions?.code;
}

/** A fresh idempotency key: a UUID, as clients are advised to use (never mistaken for a card). */
export function key(label = 'k'): string {
  return `${label}-${randomUUID()}`;
}
