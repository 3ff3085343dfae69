/**
 * The worker role: relays the outbox to the bus, resolves unknown gateway outcomes, and expires
 * checkout sessions. Each loop finishes its current round before stopping (graceful shutdown).
 */
import { expireCheckoutSessions } from '../checkout/index.js';
import { resolveUnknownOutcomes } from '../payments/index.js';
import type { App } from './app.js';
import { relayOutboxOnce } from './events/index.js';
import { purgeIdempotencyKeys } from './idempotency.js';
import { processWebhooksOnce } from './webhooks/index.js';
import { purgeAbuseState } from './abuse/index.js';

export interface Worker {
  /** Resolves when every loop has finished its current round. */
  stop(): Promise<void>;
  /** One round of everything, now (tests and `obol` tooling). */
  runOnce(): Promise<void>;
}

export function startWorker(app: App): Worker {
  const { config, logger } = app;
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

  const tasks = workerTasks(app);

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
  );
  logger.info({ tasks: Object.keys(tasks) }, 'worker started');

  return {
    async stop() {
      stopping = true;
      for (const wake of sleeps) wake();
      await Promise.all(loops);
      // Flush: publish what committed while we were stopping.
      await tasks.relay().catch((err: unknown) => logger.error({ err }, 'final outbox flush failed'));
      logger.info('worker stopped');
    },
    runOnce: () => runWorkerRound(app),
  };
}

/** The worker's periodic tasks, each one round of work. */
export function workerTasks(app: App) {
  return {
    relay: () => relayOutboxOnce({ db: app.db, bus: app.bus, clock: app.clock }).then(() => undefined),
    reconcile: () => resolveUnknownOutcomes(app.payments, { olderThanMs: app.config.reconcileAfterSeconds * 1000 }).then(() => undefined),
    expire: () => expireCheckoutSessions(app.checkout).then(() => undefined),
    webhooks: () => processWebhooksOnce({ db: app.db, clock: app.clock, payments: app.payments, logger: app.logger }).then(() => undefined),
    purge: async () => {
      await purgeIdempotencyKeys(app.db);
      await purgeAbuseState(app.db, { now: app.clock.now() });
    },
  } as const;
}

/** One round of every task, in dependency order, without timers (tests and tooling). */
export async function runWorkerRound(app: App): Promise<void> {
  const tasks = workerTasks(app);
  await tasks.webhooks();
  await tasks.expire();
  await tasks.reconcile();
  await tasks.relay();
}
