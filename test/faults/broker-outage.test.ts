/**
 * Broker outage: a real `obol serve` (every role) on EVENT_BUS=kafka under checkout load while its
 * Kafka broker is stopped for a while (60 s in the full profile) and started again with its data.
 * Checkouts keep working through the outage (events wait in the transactional outbox), and once
 * the broker is back no event is lost: every outbox row is published, every sale's
 * `checkout.completed` is consumed by the entitlements consumer group, and every paid order
 * granted its access once.
 *
 * The broker is a private one (scripts/services/services.mjs on ports of its own, with
 * OBOL_SERVICES_KEEP_DATA so that a stop and start is a restart, not a new empty broker): the
 * shared broker the rest of the suite uses is never touched.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signDevelopmentToken } from '../../src/platform/auth/index.js';
import { loadConfig } from '../../src/platform/config.js';
import { createTestDatabase, type TestDatabase, type TestDialect } from '../support/databases.js';
import { judge, outstanding, startCheckoutLoad, type Verdict } from './checkout-load.js';
import { byProfile, freePort, isCi, ObolProcess, printFigures, sleep, stringEnv, warnSkipped, obolServeEnv } from './support.js';

const OUTAGE_MS = byProfile(10_000, 60_000);
const CLIENTS = byProfile(4, 8);
/** How long, after the broker is back, the outbox and the consumers get to catch up… */
const DRAIN_MS = byProfile(90_000, 300_000);
/** …unless they stop making progress for this long. */
const STALL_MS = byProfile(20_000, 60_000);
const SERVICES_SCRIPT = new URL('../../scripts/services/services.mjs', import.meta.url).pathname;

const dialect: TestDialect = process.env.OBOL_TEST_MYSQL === '1' ? 'mysql' : 'sqlite';

/** A finding that an event published after the outage was never consumed (or so never granted). */
function isConsumerLoss(problem: string): boolean {
  return /was not consumed by entitlements|granted nothing/.test(problem);
}

/** Runs the services script for the private broker; resolves with its output, rejects on failure. */
function brokerCommand(command: 'start' | 'stop', env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVICES_SCRIPT, command, 'kafka'], { env });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(`services.mjs ${command} kafka exited ${code}:\n${output}`))));
  });
}

describe(`faults: the Kafka broker stops under checkout load [${dialect}]`, () => {
  let database: TestDatabase;
  let dir: string;
  let brokerEnv: NodeJS.ProcessEnv;
  let obolEnv: NodeJS.ProcessEnv;
  let obol: ObolProcess;
  let url: string;
  /** Why the private broker could not start, if it could not. */
  let unavailable: string | null = null;
  /** The first test's verdict, which the second examines. */
  let result: Verdict | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'obol-faults-broker-'));
    const kafkaPort = await freePort();
    brokerEnv = {
      ...process.env,
      OBOL_KAFKA_PORT: String(kafkaPort),
      OBOL_KAFKA_CONTROLLER_PORT: String(await freePort()),
      OBOL_SERVICES_RUN: join(dir, 'services'),
      OBOL_SERVICES_KEEP_DATA: '1',
    };
    try {
      await brokerCommand('start', brokerEnv);
    } catch (err) {
      unavailable = err instanceof Error ? err.message.split('\n').slice(0, 6).join(' ') : String(err);
      return;
    }
    database = await createTestDatabase(dialect);
    const port = await freePort();
    url = `http://127.0.0.1:${port}/graphql`;
    obolEnv = obolServeEnv(
      { databaseUrl: database.url, dir, port },
      { EVENT_BUS: 'kafka', KAFKA_BROKERS: `127.0.0.1:${kafkaPort}`, KAFKA_CLIENT_ID: 'obol-faults-broker', KAFKA_TOPIC_PARTITIONS: '2' },
    );
    obol = new ObolProcess(obolEnv, 'broker');
  }, 180_000);

  afterAll(async () => {
    await obol?.stop();
    // Without KEEP_DATA the stop also removes the broker's data.
    if (brokerEnv) await brokerCommand('stop', { ...brokerEnv, OBOL_SERVICES_KEEP_DATA: '' }).catch(() => undefined);
    await database?.drop().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it(
    'keeps taking payments while the broker is down and publishes every event once it is back',
    async (ctx) => {
      if (unavailable !== null) {
        if (isCi()) throw new Error(`the private Kafka broker for the outage test did not start (CI requires it): ${unavailable}`);
        warnSkipped('broker-outage', `a private Kafka broker could not be started (${unavailable})`, 'Fetch the jars with: node scripts/services/services.mjs fetch kafka (needs java and Maven).');
        ctx.skip();
        return;
      }
      const startedAt = performance.now();
      const config = loadConfig(stringEnv(obolEnv));
      const token = await signDevelopmentToken({ config, subject: 'svc_faults_broker', roles: ['service'], ttlSeconds: 6 * 3600 });
      await obol.start();

      const load = startCheckoutLoad({ urls: [url], token, clients: CLIENTS, label: 'broker' });
      const paid = () => load.records.filter((r) => r.outcome === 'succeeded').length;
      await sleep(3000);
      await brokerCommand('stop', brokerEnv);
      const paidBeforeOutage = paid();
      const outageStarted = performance.now();
      await sleep(OUTAGE_MS);
      const paidDuringOutage = paid() - paidBeforeOutage;
      await brokerCommand('start', brokerEnv);
      const outageSeconds = (performance.now() - outageStarted) / 1000;
      await sleep(byProfile(3000, 10_000));
      // Clients still retrying get a little longer; the verdict covers whatever they never heard.
      await load.stop(byProfile(5000, 30_000));

      // Everything the outage held back must now flow: the relay publishes, the consumer group consumes.
      const drainStarted = performance.now();
      const k = database.db.kysely;
      const unconsumed = async (): Promise<number> => {
        const completed = await k.selectFrom('outbox').select('id').where('type', '=', 'checkout.completed').execute();
        const inbox = new Set((await k.selectFrom('consumer_inbox').select('event_id').where('consumer_group', '=', 'entitlements').execute()).map((r) => r.event_id));
        return completed.filter((e) => !inbox.has(e.id)).length;
      };
      let left = Infinity;
      let progressAt = performance.now();
      while (performance.now() - drainStarted < DRAIN_MS && performance.now() - progressAt < STALL_MS) {
        const now = (await outstanding(database)) + (await unconsumed());
        if (now === 0) break;
        if (now < left) progressAt = performance.now();
        left = now;
        await sleep(500);
      }
      const drainSeconds = (performance.now() - drainStarted) / 1000;
      await obol.stop();

      const verdict = await judge(database, load.records);
      const events = await k.selectFrom('outbox').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst();
      printFigures(
        `broker-outage[${dialect}]`,
        {
          attempted: verdict.attempted,
          succeeded: verdict.succeeded,
          lost: verdict.lost,
          doubled: verdict.doubled,
          paidDuringOutage,
          outageSeconds: outageSeconds.toFixed(1),
          events: Number(events?.n ?? 0),
          drainSeconds: drainSeconds.toFixed(1),
          internalErrors: load.stats.internalErrors,
        },
        startedAt,
      );
      result = verdict;
      if (verdict.problems.length > 0) {
        const kinds = new Map<string, number>();
        for (const p of verdict.problems) kinds.set(p.replace(/\b(evt|pay|ord|cs)_[0-9A-Z]+/g, '…'), (kinds.get(p.replace(/\b(evt|pay|ord|cs)_[0-9A-Z]+/g, '…')) ?? 0) + 1);
        // The process log outlives the run's log directory, for whoever looks into the failure.
        const kept = join(tmpdir(), 'obol-faults-broker-outage.log');
        copyFileSync(obol.logFile, kept);
        console.log(`broker-outage problems by kind: ${JSON.stringify([...kinds])}; Obol's log: ${kept}`);
      }
      // Publishing: every outbox row reached the broker once it was back; nothing doubled, nothing else wrong.
      expect(verdict.problems.filter((p) => !isConsumerLoss(p))).toEqual([]);
      expect(verdict.doubled).toBe(0);
      // The outbox decouples checkout from the broker: sales go on while it is down.
      expect(paidDuringOutage).toBeGreaterThan(0);
      expect(load.stats.internalErrors).toBe(0);
    },
    byProfile(300_000, 900_000),
  );

  // Found by this test: the consumer group member used to stay dead after the outage (its stream
  // failed once the client's own retries ran out); runKafkaConsumer now rejoins with a back-off.
  it('the entitlements consumer group resumes after the outage and consumes every event', (ctx) => {
    if (result === undefined) ctx.skip();
    expect(result?.problems.filter(isConsumerLoss)).toEqual([]);
  });
});
