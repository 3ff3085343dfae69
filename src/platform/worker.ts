/**
 * The worker role: relays the outbox to the bus, resolves unknown gateway outcomes, and expires
 * checkout sessions. Each loop finishes its current round before stopping (graceful shutdown).
 *
 * With EVENT_BUS=kafka the relay publishes to Kafka and the app's event consumers (entitlements…)
 * run here as Kafka consumer-group members; with the in-process bus they are called by the relay
 * itself. Either way each consumer applies an event once (platform/events/consumer.ts).
 */
import { expireCheckoutSessions } from '../checkout/index.js';
import { resolveUnknownOutcomes } from '../payments/index.js';
import type { App } from './app.js';
import { KafkaEventBus, relayOutboxOnce, releaseRelayShards, runKafkaConsumer, type EventBus, type KafkaConsumerRunner, type KafkaSettings } from './events/index.js';
import { processWebhooksOnce } from './webhooks/index.js';
import { purgeAbuseState } from './abuse/index.js';
import { resumeAdvances } from './jobs/index.js';

export interface Worker {
  /** Resolves when every loop has finished its current round. */
  stop(): Promise<void>;
  /** One round of everything, now (tests and `obol` tooling). */
  runOnce(): Promise<void>;
  /** Kafka consumer lag per group, topic and partition (empty with the in-process bus). */
  lag(): Promise<Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>>;
}

export function kafkaSettingsOf(app: App): KafkaSettings {
  const { config } = app;
  return { brokers: config.kafkaBrokers, clientId: config.kafkaClientId, partitions: config.kafkaTopicPartitions };
}

export async function startWorker(app: App): Promise<Worker> {
  const { config } = app;
  const logger = app.logFor('worker');
  const eventsLogger = app.logFor('events');
  const kafka = config.eventBus === 'kafka' ? kafkaSettingsOf(app) : null;
  const kafkaBus = kafka ? new KafkaEventBus(kafka) : null;
  const bus: EventBus = kafkaBus ?? app.bus;
  const consumers: KafkaConsumerRunner[] = [];
  if (kafka) {
    for (const consumer of app.eventConsumers) {
      consumers.push(
        await runKafkaConsumer({
          settings: kafka,
          db: app.db,
          clock: app.clock,
          consumer,
          onError: (err, context) => eventsLogger.warn({ err, group: consumer.group, ...context }, 'event consumer failed; retrying'),
          onDeadLetter: (info) => eventsLogger.error({ ...info, offset: String(info.offset) }, 'event dead-lettered: needs attention'),
        }),
      );
    }
  }
  let stopping = false;
  const loops: Promise<void>[] = [];
  const sleeps = new Set<() => void>();

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        sleeps.delete(wake);
        resolve();
      }, ms);
      const wake = () => {
        clearTimeout(t);
        resolve();
      };
      sleeps.add(wake);
    });

  const tasks = workerTasks(app, bus);

  function loop(name: keyof typeof tasks, intervalMs: number): Promise<void> {
    return (async () => {
      while (!stopping) {
        try {
          await tasks[name]();
        } catch (err) {
          logger.error({ err, task: name }, 'worker task failed; will retry');
        }
        if (!stopping) await sleep(intervalMs);
      }
    })();
  }

  const interval = config.workerPollIntervalMs;
  loops.push(
    loop('relay', interval),
    loop('webhooks', interval),
    loop('reconcile', Math.max(interval, 1000)),
    loop('expire', Math.max(interval * 4, 1000)),
    loop('purge', 60_000),
    loop('jobs', interval),
    loop('clocks', 10_000),
  );
  const lag = async () => {
    const out: Record<string, Record<string, string[]>> = {};
    for (const [i, c] of consumers.entries()) {
      const group = app.eventConsumers[i]?.group ?? String(i);
      out[group] = Object.fromEntries([...(await c.lag())].map(([topic, partitions]) => [topic, partitions.map(String)]));
    }
    return out;
  };
  // Lag is read when /metrics is scraped (obol_consumer_lag), and readiness asks whether the
  // Kafka clients are connected: the producer answers a metadata request, every consumer runs.
  const removeReadiness: (() => void)[] = [];
  if (kafkaBus) {
    app.metrics.setSource('consumerLag', lag);
    removeReadiness.push(
      app.readiness.add('kafka', async () => {
        await kafkaBus.ping();
        const down = consumers.flatMap((c, i) => (c.connected() ? [] : [app.eventConsumers[i]?.group ?? String(i)]));
        return down.length === 0 ? { ok: true, detail: 'ok' } : { ok: false, detail: { consumersNotConnected: down } };
      }),
    );
  }
  logger.info({ tasks: Object.keys(tasks), eventBus: config.eventBus, consumers: app.eventConsumers.map((c) => c.group) }, 'worker started');

  return {
    async stop() {
      stopping = true;
      for (const remove of removeReadiness) remove();
      if (kafkaBus) app.metrics.setSource('consumerLag', undefined);
      for (const wake of sleeps) wake();
      await Promise.all(loops);
      // Flush: publish what committed while we were stopping.
      await tasks.relay().catch((err: unknown) => logger.error({ err }, 'final outbox flush failed'));
      // Hand the outbox shards to the other copies now rather than after the lease expires.
      await releaseRelayShards({ db: app.db }).catch((err: unknown) => logger.error({ err }, 'releasing relay shards failed'));
      await Promise.all(consumers.map((c) => c.stop().catch((err: unknown) => logger.error({ err }, 'stopping an event consumer failed'))));
      if (bus !== app.bus) await bus.close().catch((err: unknown) => logger.error({ err }, 'closing the Kafka producer failed'));
      logger.info('worker stopped');
    },
    runOnce: () => runWorkerRound(app, bus),
    lag,
  };
}

const JOB_BATCH = 200;
const JOB_CONCURRENCY = 4;
const JOB_ROUNDS_PER_TASK = 10;

/** The worker's periodic tasks, each one round of work. */
export function workerTasks(app: App, bus: EventBus = app.bus) {
  return {
    relay: () => relayOutboxOnce({ db: app.db, bus, clock: app.clock, onPublished: (event) => app.metrics.eventPublished(event) }).then(() => undefined),
    reconcile: () => resolveUnknownOutcomes(app.payments, { olderThanMs: app.config.reconcileAfterSeconds * 1000 }).then(() => undefined),
    expire: () => expireCheckoutSessions(app.checkout).then(() => undefined),
    webhooks: () => processWebhooksOnce({ db: app.db, clock: app.clock, payments: app.payments, logger: app.logFor('webhooks') }).then(() => undefined),
    // Renewals, dunning, revenue recognition: due system-clock jobs, a few at a time, until none
    // are left due (a burst of renewals at one instant does not wait a poll interval per batch).
    jobs: async () => {
      for (let round = 0; round < JOB_ROUNDS_PER_TASK; round++) {
        if ((await app.jobs.runDue({ limit: JOB_BATCH, concurrency: JOB_CONCURRENCY })) < JOB_BATCH) return;
      }
    },
    // A test clock whose advance was cut off (its process died) is advanced to its target here.
    clocks: () => resumeAdvances({ db: app.db, runner: app.jobs, system: app.clock }).then(() => undefined),
    purge: async () => {
      // A DynamoDB store expires keys by its TTL attribute; its purge is a no-op.
      await app.idempotency.purge({});
      await purgeAbuseState(app.db, { now: app.clock.now() });
    },
  } as const;
}

/** One round of every task, in dependency order, without timers (tests and tooling). */
export async function runWorkerRound(app: App, bus: EventBus = app.bus): Promise<void> {
  const tasks = workerTasks(app, bus);
  await tasks.webhooks();
  await tasks.expire();
  await tasks.reconcile();
  await tasks.jobs();
  await tasks.relay();
}
