/**
 * The `obol` command: `serve`, `migrate`, `seed`, `token`, `reencrypt`, `rebuild-entitlements`, `--help`. Configuration comes from the
 * environment (see `obol --help`); a mistake is reported per variable before anything starts.
 */
import { parseArgs } from 'node:util';
import { seedDemoCatalog } from '../catalog/index.js';
import { isCustomerId, systemClock } from '../kernel/index.js';
import { rebuildEntitlementReadModel } from '../entitlements/index.js';
import { createApp } from '../platform/app.js';
import { AVAILABLE_ROLES, CONFIG_REFERENCE, ConfigError, loadConfig, redactConfig, type Config } from '../platform/config.js';
import { migrateToLatest, openDatabase } from '../platform/db/index.js';
import { createHttpServer } from '../platform/http/server.js';
import { OBOL_GRPC_SERVICES, startGrpcServer, type GrpcServer } from '../platform/grpc/server.js';
import { createLogger } from '../platform/logging.js';
import { loadKeyring } from '../platform/crypto/keyring.js';
import { reencryptPersonalData } from '../platform/crypto/reencrypt.js';
import { startWorker, type Worker } from '../platform/worker.js';
import { startOpsServer, type OpsServer } from '../platform/observability/ops-server.js';
import { TOKEN_USAGE, tokenCommand } from './token.js';
import { setupTracing, type TracingSettings } from '../platform/observability/tracing.js';
import { createRequire } from 'node:module';

/** The package's version, for the spans' service.version. */
const OBOL_VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

const COMMANDS = ['serve', 'migrate', 'seed', 'token', 'reencrypt', 'rebuild-entitlements', 'help'] as const;
type Command = (typeof COMMANDS)[number];

function usage(): string {
  const width = Math.max(...CONFIG_REFERENCE.map((e) => e.name.length));
  const vars = CONFIG_REFERENCE.map((e) => `  ${e.name.padEnd(width)}  ${e.description} (default: ${e.default})`).join('\n');
  return `obol — payments platform

Usage:
  obol serve [--roles ${AVAILABLE_ROLES.join(',')}]   run the given roles in this process (default: all available)
  obol migrate                       apply pending database migrations and exit
  obol seed                          load the demo catalog (sample prices, coupons, tax rates) and exit
  ${TOKEN_USAGE}
  obol reencrypt                     rewrite encrypted personal data under the active key (after a key rotation)
  obol rebuild-entitlements [--customer cus_…]
                                     rewrite the entitlement read model (SQL or DynamoDB, as configured) from
                                     the recorded grants: after restoring the database, switching
                                     ENTITLEMENT_READ_MODEL, or a DynamoDB write lost to a crash
  obol --help                        show this help

Configuration (environment variables):
${vars}
`;
}

function load(env: NodeJS.ProcessEnv): Config | undefined {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`obol: invalid configuration:\n${err.problems.map((p) => `  - ${p}`).join('\n')}\n`);
      return undefined;
    }
    throw err;
  }
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        roles: { type: 'string' },
        // `obol token` only:
        sub: { type: 'string' },
        role: { type: 'string', multiple: true },
        ttl: { type: 'string' },
        // `obol rebuild-entitlements` only:
        customer: { type: 'string' },
      },
    });
  } catch (err) {
    process.stderr.write(`obol: ${err instanceof Error ? err.message : String(err)}\n\n${usage()}`);
    return 2;
  }
  const command = (parsed.positionals[0] ?? (parsed.values.help ? 'help' : 'serve')) as string;
  if (parsed.values.help || command === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  if (!(COMMANDS as readonly string[]).includes(command)) {
    process.stderr.write(`obol: unknown command "${command}"\n\n${usage()}`);
    return 2;
  }
  const { sub, role, ttl } = parsed.values;
  const tokenOnly = [sub !== undefined && '--sub', role !== undefined && '--role', ttl !== undefined && '--ttl'].filter((o) => o !== false);
  if (command !== 'token' && tokenOnly.length > 0) {
    process.stderr.write(`obol: ${tokenOnly.join(', ')} can only be used with obol token\n\n${usage()}`);
    return 2;
  }
  if (command === 'token' && parsed.values.roles !== undefined) {
    // --roles picks the process roles of `serve`; here it is almost certainly a typo for --role.
    process.stderr.write('obol token: --roles is for obol serve; give each token role with --role (e.g. --role learner)\n');
    return 2;
  }
  if (command !== 'rebuild-entitlements' && parsed.values.customer !== undefined) {
    process.stderr.write(`obol: --customer can only be used with obol rebuild-entitlements\n\n${usage()}`);
    return 2;
  }
  const effectiveEnv = parsed.values.roles !== undefined ? { ...env, OBOL_ROLES: parsed.values.roles } : env;
  const config = load(effectiveEnv);
  if (!config) return 2;
  switch (command as Exclude<Command, 'help'>) {
    case 'migrate':
      return migrate(config);
    case 'seed':
      return seed(config);
    case 'serve':
      return serve(config);
    case 'token':
      return tokenCommand({ config, options: { sub, role, ttl } });
    case 'reencrypt':
      return reencrypt(config);
    case 'rebuild-entitlements':
      return rebuildEntitlements(config, parsed.values.customer);
  }
}

/**
 * The read model answers access checks; the grants and their history are the record. This
 * rewrites every (customer, resource) row of the configured read model from the record, under the
 * same key locks the projection takes, so it may run while the platform runs.
 */
async function rebuildEntitlements(config: Config, customerId: string | undefined): Promise<number> {
  const logger = createLogger({ level: config.logLevel, name: 'obol' });
  if (customerId !== undefined && !isCustomerId(customerId)) {
    process.stderr.write(`obol rebuild-entitlements: --customer must be a customer id such as cus_ada\n`);
    return 2;
  }
  const app = await createApp({ config, logger });
  try {
    const rebuilt = await rebuildEntitlementReadModel(app.entitlements, { ...(customerId !== undefined ? { customerId } : {}), now: systemClock.now() });
    logger.info({ database: app.db.description, readModel: config.entitlementReadModel, customerId: customerId ?? null, rebuilt }, 'entitlement read model rebuilt from the recorded grants');
    return 0;
  } catch (err) {
    logger.error({ err }, 'rebuilding the entitlement read model stopped; rows already rewritten are correct, run it again after fixing the cause');
    return 1;
  } finally {
    await app.close();
  }
}

/**
 * Key rotation, step two: after ENCRYPTION_KEYS lists the new key first (old ones still after
 * it), this rewrites every envelope under the new key. Remove an old key only once a run
 * reports `reencrypted: 0`.
 */
async function reencrypt(config: Config): Promise<number> {
  const logger = createLogger({ level: config.logLevel, name: 'obol' });
  const db = openDatabase(config.database);
  try {
    await migrateToLatest(db);
    const keyring = await loadKeyring({ config });
    const result = await reencryptPersonalData({ db, keyring });
    logger.info({ database: db.description, activeKeyId: keyring.activeKeyId, ...result }, result.reencrypted === 0 ? 'all personal data is under the active key' : 'personal data re-encrypted under the active key');
    return 0;
  } catch (err) {
    logger.error({ err }, 're-encryption stopped; rows already rewritten stay rewritten, run it again after fixing the cause');
    return 1;
  } finally {
    await db.close();
  }
}

async function migrate(config: Config): Promise<number> {
  const logger = createLogger({ level: config.logLevel, name: 'obol' });
  const db = openDatabase(config.database);
  try {
    const applied = await migrateToLatest(db);
    logger.info({ database: db.description, applied }, applied.length ? 'migrations applied' : 'schema already current');
    return 0;
  } finally {
    await db.close();
  }
}

async function seed(config: Config): Promise<number> {
  const logger = createLogger({ level: config.logLevel, name: 'obol' });
  const db = openDatabase(config.database);
  try {
    await migrateToLatest(db);
    const result = await seedDemoCatalog(db, systemClock.now());
    logger.info({ database: db.description, ...result }, 'demo catalog loaded (sample data, not tax advice)');
    return 0;
  } finally {
    await db.close();
  }
}

async function serve(config: Config): Promise<number> {
  // Before anything else, so every span and log line of this process belongs to its trace.
  const tracing = setupTracing({ settings: tracingSettings(config) });
  const code = await serveTraced(config);
  // Exports what is buffered; an unreachable collector must not hold the exit past the grace period.
  await Promise.race([tracing.shutdown().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, TRACES_FLUSH_MS).unref())]);
  return code;
}

const TRACES_FLUSH_MS = 3_000;

function tracingSettings(config: Config): TracingSettings {
  return {
    exporter: config.tracesExporter,
    otlpEndpoint: config.otlpTracesEndpoint,
    otlpHeaders: config.otlpHeaders,
    sampleRatio: config.tracesSampleRatio,
    serviceName: config.serviceName,
    serviceVersion: OBOL_VERSION,
  };
}

async function serveTraced(config: Config): Promise<number> {
  const logger = createLogger({ level: config.logLevel, name: 'obol' });
  logger.info({ config: redactConfig(config) }, 'starting obol');
  let app;
  try {
    app = await createApp({ config, logger });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`obol: invalid configuration:\n${err.problems.map((p) => `  - ${p}`).join('\n')}\n`);
      return 2;
    }
    throw err;
  }
  const roles = new Set(config.roles);
  // Not ready until every role of this process has started (the api role's port opens last).
  const starting = app.readiness.add('startup', async () => ({ ok: false, detail: 'starting' }));
  // Without the api role, /healthz, /readyz and /metrics get a small listener of their own.
  let ops: OpsServer | undefined;
  if (!roles.has('api')) {
    try {
      ops = await startOpsServer(app, { host: config.host, port: config.opsPort });
    } catch (err) {
      logger.error({ err, host: config.host, port: config.opsPort }, 'cannot start the ops listener (is OPS_PORT in use?)');
      await app.close();
      return 1;
    }
    logger.info({ port: ops.port, endpoints: ['/healthz', '/readyz', '/metrics'], roles: [...roles] }, 'obol ops endpoints are listening');
  }
  const server = roles.has('api') ? await createHttpServer(app) : undefined;
  let grpc: GrpcServer | undefined;
  try {
    grpc = roles.has('grpc') ? await startGrpcServer(app, { host: config.grpcHost, port: config.grpcPort }) : undefined;
  } catch (err) {
    logger.error({ err, host: config.grpcHost, port: config.grpcPort }, 'cannot start the gRPC server (is GRPC_PORT in use?)');
    await ops?.close();
    await app.close();
    return 1;
  }
  if (grpc) logger.info({ port: grpc.port, services: OBOL_GRPC_SERVICES }, 'obol grpc is listening');
  let worker: Worker | undefined;
  try {
    worker = roles.has('worker') ? await startWorker(app) : undefined;
  } catch (err) {
    // With EVENT_BUS=kafka the worker needs the brokers at start; an orchestrator restarts us.
    logger.error({ err, eventBus: config.eventBus }, 'cannot start the worker (is Kafka reachable?)');
    await grpc?.close({ graceMs: 0 });
    await ops?.close();
    await app.close();
    return 1;
  }
  if (server) {
    await server.listen({ port: config.port, host: config.host });
    const address = server.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    logger.info({ port, graphql: `http://localhost:${port}/graphql`, roles: [...roles], database: app.db.description }, 'obol is listening');
  }
  starting();
  logger.info({ roles: [...roles] }, 'obol is ready');

  return new Promise<number>((resolve) => {
    let shuttingDown = false;
    const shutdown = async (signal: string) => {
      if (shuttingDown) return;
      shuttingDown = true;
      logger.info({ signal }, 'shutting down: no new requests; finishing in-flight work');
      const force = setTimeout(() => {
        logger.error('shutdown timed out; exiting');
        resolve(1);
      }, config.shutdownTimeoutMs);
      force.unref();
      // Readiness fails at once, so load balancers stop sending work while in-flight work drains.
      app.readiness.add('shutdown', async () => ({ ok: false, detail: 'shutting_down' }));
      try {
        // Both front doors drain together: health turns NOT_SERVING, in-flight calls finish.
        await Promise.all([server?.close(), grpc?.close({ graceMs: config.shutdownTimeoutMs })]);
        await worker?.stop();
        // The ops listener answers probes and scrapes until the work is drained.
        await ops?.close();
        await app.close();
        logger.info('stopped cleanly');
        logger.flush?.();
        clearTimeout(force);
        resolve(0);
      } catch (err) {
        logger.error({ err }, 'error during shutdown');
        resolve(1);
      }
    };
    process.once('SIGTERM', () => void shutdown('SIGTERM'));
    process.once('SIGINT', () => void shutdown('SIGINT'));
  });
}
