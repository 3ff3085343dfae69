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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signDevelopmentToken } from '../../src/platform/auth/index.js';
import { loadConfig } from '../../src/platform/config.js';
import { createTestDatabase, type TestDatabase, type TestDialect } from '../support/databases.js';
import { judge, resolveLeftovers, startCheckoutLoad } from './checkout-load.js';
import { between, byProfile, freePort, ObolProcess, printFigures, sleep, stringEnv, warnSkipped, obolServeEnv } from './support.js';

/** Kills in all, shared by the two copies. */
const KILLS = byProfile(20, 40);
const REPLICAS = 2;
/**
 * When a copy dies: once it has answered a random number of requests in this range since it
 * started (so every life serves some load, however slow the machine), at a random moment up to
 * KILL_JITTER_MS after it next has a request in flight (so the kill cuts one off).
 */
const ANSWERS_PER_LIFE = byProfile([1, 4] as const, [1, 40] as const);
const KILL_JITTER_MS = 60;
/** The longest a copy waits for its answers before it is killed anyway. */
const ANSWER_WAIT_MS = byProfile(5_000, 30_000);
const CLIENTS = byProfile(16, 24);
/** After the last kill the load stops; clients still retrying get this long to hear an answer. */
const CLIENT_GRACE_MS = byProfile(8_000, 70_000);

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
    env = obolServeEnv(
      { databaseUrl: database.url, dir },
      {
        EVENT_BUS: 'inprocess',
        RECONCILE_AFTER_SECONDS: '1',
        // A gateway call that takes a little while widens the window in which a kill cuts one off.
        SANDBOX_LATENCY_MS: '25',
      },
    );
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

      const load = startCheckoutLoad({ urls: replicas.map((r) => r.url), token, clients: CLIENTS, label: 'crash' });
      let kills = 0;
      /** Waits until `condition` holds, or `ms` pass. */
      const until = async (condition: () => boolean, ms: number): Promise<void> => {
        const deadline = performance.now() + ms;
        while (!condition() && performance.now() < deadline) await sleep(5);
      };
      /** Each copy dies at random moments of its own, under load, until the kills are used up. */
      async function killer(obol: ObolProcess, url: string): Promise<void> {
        while (kills < KILLS) {
          const base = load.answered(url);
          const answers = between(ANSWERS_PER_LIFE[0], ANSWERS_PER_LIFE[1]);
          // Bounded waits: clients whose request a kill cut off wait out the dead holder's claim on
          // their idempotency key (a minute), so answers can run short; the kills go on regardless.
          await until(() => load.answered(url) - base >= answers, ANSWER_WAIT_MS);
          await until(() => load.inFlight(url) > 0, 2_000);
          await sleep(between(0, KILL_JITTER_MS));
          if (kills >= KILLS) break;
          kills += 1;
          await obol.kill9();
          await obol.start();
        }
      }
      try {
        await Promise.all(replicas.map((r) => killer(r.obol, r.url)));
        // A little load on the last processes, so the final state includes ordinary traffic too.
        await sleep(1000);
      } finally {
        await load.stop(CLIENT_GRACE_MS);
      }
      await Promise.all(replicas.map((r) => r.obol.stop()));
      const { records, stats } = load;

      // ---- resolution: what the kills left behind, as the worker would resolve it later ----
      const rounds = await resolveLeftovers(database, config);

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
          resolutionRounds: rounds,
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

function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}
