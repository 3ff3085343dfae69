/**
 * The composition root: builds every context's dependencies from configuration. Nothing else
 * wires concrete adapters together, so tests build an App the same way production does.
 */
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../kernel/index.js';
import { checkoutPaymentHooks, type CheckoutDeps } from '../checkout/index.js';
import { hooksBySale, type PaymentHooks, type PaymentsDeps } from '../payments/index.js';
import { assertPolicy, subscriptionJobHandlers, subscriptionPaymentHooks, type SubscriptionsDeps } from '../subscriptions/index.js';
import { clockSource, createJobRunner, type JobRunner } from './jobs/index.js';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { createSandboxConnector, SandboxOptions } from '../payments/connectors/sandbox/index.js';
import { buildGateways, type Gateways } from './gateways.js';
import { seedDemoCatalog } from '../catalog/index.js';
import type { Config, LogModule } from './config.js';
import { moduleLogger } from './logging.js';
import { migrateToLatest, openDatabase, type Db } from './db/index.js';
import { deliverTraced, InProcessEventBus, type EventConsumer } from './events/index.js';
import { dynamoDbEntitlementReadModel, entitlementAccessTableSpec, entitlementsConsumer, sqlEntitlementReadModel, type EntitlementsDeps } from '../entitlements/index.js';
import { ensureDynamoDbTables, openDynamoDb, type DynamoDb, type DynamoDbTableSpec } from './dynamodb.js';
import { sqlIdempotencyStore, type IdempotencyStore } from './idempotency.js';
import { dynamoDbIdempotencyStore, idempotencyTableSpec } from './idempotency-dynamodb.js';
import { checkoutLimits } from './abuse/checkout-limits.js';
import { createTokenVerifier, type TokenVerifier } from './auth/index.js';
import { loadKeyring } from './crypto/keyring.js';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { pendingMigrations } from './db/index.js';
import { EVENT_TOPICS } from './events/index.js';
import { createMetrics, type ObolMetrics } from './observability/metrics.js';
import { createReadiness, type Readiness } from './observability/readiness.js';
import { databaseSources } from './observability/sources.js';

export interface App {
  readonly config: Config;
  readonly logger: Logger;
  /** A module's logger (its lines say `module`; LOG_MODULE_LEVELS may set its level apart). */
  logFor(module: LogModule): Logger;
  readonly clock: Clock;
  readonly db: Db;
  readonly bus: InProcessEventBus;
  readonly sandbox: ReturnType<typeof createSandboxConnector>;
  readonly payments: PaymentsDeps;
  readonly checkout: CheckoutDeps;
  readonly verifier: TokenVerifier;
  readonly entitlements: EntitlementsDeps;
  readonly subscriptions: SubscriptionsDeps;
  /** Durable jobs (renewals, dunning, revenue recognition); the worker runs the system clock's, test clocks run theirs when advanced. */
  readonly jobs: JobRunner;
  /** Where idempotency keys live (IDEMPOTENCY_STORE); pass it to runIdempotent. */
  readonly idempotency: IdempotencyStore;
  /** Every in-process event consumer (projections). Subscribed to `bus` here; a Kafka transport runs the same list. */
  readonly eventConsumers: readonly EventConsumer[];
  /** This app's Prometheus registry and recorders (served at /metrics). */
  readonly metrics: ObolMetrics;
  /** What /readyz asks: the database and its migrations, DynamoDB where configured; the worker adds Kafka. */
  readonly readiness: Readiness;
  close(): Promise<void>;
}

export interface CreateAppArgs {
  readonly config: Config;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Apply pending migrations at start (the embedded default does; production runs `obol migrate`). */
  readonly migrate?: boolean;
  /** Tests inject fault settings for the sandbox gateway. */
  readonly sandboxOptions?: SandboxOptions;
}

export async function createApp(args: CreateAppArgs): Promise<App> {
  const { config, logger: root } = args;
  const clock = args.clock ?? systemClock;
  const moduleLoggers = new Map<LogModule, Logger>();
  const logFor = (module: LogModule): Logger => {
    let found = moduleLoggers.get(module);
    if (found === undefined) moduleLoggers.set(module, (found = moduleLogger(root, module, config.logModuleLevels)));
    return found;
  };
  const logger = logFor('ops');
  const metrics = createMetrics({
    topics: EVENT_TOPICS,
    onSourceError: (err, source) => logger.warn({ err, source }, 'a metrics source failed; its gauge is empty in this scrape'),
  });
  const readiness = createReadiness({ onFailure: (check, err) => logger.warn({ err, check }, 'readiness check failed') });
  const db = openDatabase(config.database);
  try {
    if (args.migrate ?? true) {
      const applied = await migrateToLatest(db);
      if (applied.length > 0) logger.info({ migrations: applied, database: db.description }, 'database migrated');
    }
    if (config.seedDemoCatalog) {
      const seeded = await seedDemoCatalog(db, clock.now());
      if (seeded.products + seeded.prices + seeded.coupons + seeded.taxRates > 0) logger.info({ seeded }, 'demo catalog seeded (sample data)');
    }
  } catch (err) {
    await db.close();
    throw err;
  }
  let dynamoDb: DynamoDb | null = null;
  let dynamoDbTables: readonly string[] = [];
  try {
    const stores = await openDynamoDbStores(config);
    dynamoDb = stores?.dynamoDb ?? null;
    dynamoDbTables = stores?.tables ?? [];
  } catch (err) {
    await db.close();
    throw err;
  }
  let gateways: Gateways;
  try {
    gateways = buildGateways({ config, db, clock, observeCall: (sample) => metrics.gatewayCall(sample), ...(args.sandboxOptions ? { sandboxOptions: args.sandboxOptions } : {}) });
  } catch (err) {
    dynamoDb?.close();
    await db.close();
    throw err;
  }
  const { sandbox } = gateways;
  logger.info({ connectors: gateways.enabled }, 'payment connectors enabled');
  const checkoutHooks = checkoutPaymentHooks({ db });
  // Assigned below, before any payment can run: subscriptions' hooks need the payments deps.
  let invoiceHooks: PaymentHooks | undefined;
  const payments: PaymentsDeps = {
    db,
    clock,
    connectors: gateways.registry,
    // An invoice's payment reports to subscriptions, which need payments: bound once both exist.
    hooks: hooksBySale((kind) => {
      if (kind === 'checkout_session') return checkoutHooks;
      if (invoiceHooks === undefined) throw new Error('an invoice payment reached payments before subscriptions were wired');
      return invoiceHooks;
    }),
    maxFailedAttempts: config.paymentMaxFailedAttempts,
    acquirerCountries: config.acquirerCountries,
    supportRefundLimits: config.supportRefundLimits,
    onIncident: (err, context) => logFor('payments').warn({ err, ...context }, 'payment incident: needs attention if it persists'),
  };
  const clocks = clockSource({ db, system: clock });
  const subscriptions: SubscriptionsDeps = {
    db,
    clocks,
    payments,
    dunning: { retryDays: config.dunningRetryDays, graceDays: config.dunningGraceDays, onExhausted: config.dunningOnExhausted },
    invoicePrefix: config.invoiceNumberPrefix,
    incompleteExpiryMs: config.subscriptionIncompleteExpiryHours * 3_600_000,
    testClocksEnabled: config.testClocks,
  };
  assertPolicy(subscriptions.dunning);
  invoiceHooks = subscriptionPaymentHooks(subscriptions);
  const jobHandlers = subscriptionJobHandlers(subscriptions);
  const jobs = createJobRunner({
    db,
    system: clock,
    handlers: jobHandlers,
    owner: `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
    onError: (err, job) => logFor('jobs').warn({ err, job: { id: job.id, kind: job.kind, attempts: job.attempts } }, 'scheduled job failed; will retry'),
    observer: (run) => metrics.jobRun(run),
  });
  const keyring = await loadKeyring({ config });
  const checkout: CheckoutDeps = {
    db,
    clock,
    sessionTtlMs: config.checkoutSessionTtlSeconds * 1000,
    payments,
    limits: checkoutLimits({ db, clock, config }),
    keyring,
    metrics: { sessionCreated: (a) => metrics.checkoutSessionCreated(a), confirmed: (a) => metrics.checkoutConfirmed(a) },
  };
  const verifier = await createTokenVerifier({ config });
  const bus = new InProcessEventBus();
  // Entitlements: the write side lives in the main database; the read model there too by default.
  const readModel = config.entitlementReadModel === 'dynamodb' ? dynamoDbEntitlementReadModel({ dynamoDb: dynamoDb! }) : sqlEntitlementReadModel(db);
  const entitlements: EntitlementsDeps = { db, clock, readModel };
  const idempotency = config.idempotencyStore === 'dynamodb' ? dynamoDbIdempotencyStore({ dynamoDb: dynamoDb! }) : sqlIdempotencyStore(db);
  const eventConsumers: readonly EventConsumer[] = [entitlementsConsumer(entitlements)];
  subscribeConsumers({ bus, db, clock, consumers: eventConsumers });

  // Scrape-time gauges and readiness: what this process can be asked about its stores.
  metrics.declareConnectors(gateways.enabled);
  metrics.declareJobKinds(jobHandlers.map((h) => h.kind));
  metrics.setSources({ ...databaseSources({ db, clock }), gateways: gateways.health });
  readiness.add('database', async () => {
    await db.kysely.selectFrom('outbox').select('seq').limit(1).execute();
    return { ok: true, detail: 'ok' };
  });
  readiness.add('migrations', async () => {
    const pending = await pendingMigrations(db);
    return pending.length === 0 ? { ok: true, detail: 'current' } : { ok: false, detail: { pending } };
  });
  if (dynamoDb !== null) {
    const client = dynamoDb.client;
    readiness.add('dynamodb', async () => {
      for (const table of dynamoDbTables) {
        const described = await client.send(new DescribeTableCommand({ TableName: table }));
        if (described.Table?.TableStatus !== 'ACTIVE' && described.Table?.TableStatus !== 'UPDATING') return { ok: false, detail: 'tables not active' };
      }
      return { ok: true, detail: 'ok' };
    });
  }

  return {
    config,
    logger: root,
    logFor,
    clock,
    db,
    bus,
    sandbox,
    payments,
    checkout,
    verifier,
    entitlements,
    subscriptions,
    jobs,
    idempotency,
    eventConsumers,
    metrics,
    readiness,
    async close() {
      metrics.close();
      await bus.close();
      dynamoDb?.close();
      await db.close();
    },
  };
}

/**
 * The in-process transport for event consumers: each event a consumer wants is applied once
 * (deliverOnce). A failing consumer fails the publish, so the relay keeps the event and retries.
 */
function subscribeConsumers(args: { readonly bus: InProcessEventBus; readonly db: Db; readonly clock: Clock; readonly consumers: readonly EventConsumer[] }): void {
  const { bus, db, clock } = args;
  for (const consumer of args.consumers) {
    for (const type of consumer.types) {
      bus.subscribe(type, async (event, topic, headers) => {
        await deliverTraced({ db, consumer, event, now: clock.now(), topic, headers });
      });
    }
  }
}

/** The DynamoDB client and tables the configured stores need; null when every store is in SQL. */
async function openDynamoDbStores(config: Config): Promise<{ readonly dynamoDb: DynamoDb; readonly tables: readonly string[] } | null> {
  const specs: DynamoDbTableSpec[] = [];
  if (config.entitlementReadModel === 'dynamodb') specs.push(entitlementAccessTableSpec(config.dynamoDbTablePrefix));
  if (config.idempotencyStore === 'dynamodb') specs.push(idempotencyTableSpec(config.dynamoDbTablePrefix));
  if (specs.length === 0) return null;
  const dynamoDb = openDynamoDb(config);
  try {
    await ensureDynamoDbTables(dynamoDb.client, specs);
    return { dynamoDb, tables: specs.map((s) => s.name) };
  } catch (err) {
    dynamoDb.close();
    throw err;
  }
}
