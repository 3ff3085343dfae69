/**
 * 1,000 subscriptions renewing at the same instant, processed by two `obol serve --roles worker`
 * processes on one MariaDB database. Each must be billed exactly once: checked against the
 * sandbox gateway's own charge log (what the gateway did, not what Obol believes), with the
 * ledger balanced and, once the new periods have run out, their deferred revenue recognised in
 * full.
 *
 * The subscriptions are set up by this test process on a clock set a month back: each pays its
 * first month at signup (a customer-present charge that saves the card), so every first period
 * ends at the same instant, in the past. The two workers then find 1,000 renewals due at once on
 * the real clock and charge the saved cards off-session.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { ManualClock, type Caller } from '../../src/kernel/index.js';
import { accountBalance, unbalancedTransactions } from '../../src/ledger/index.js';
import { createApp, type App } from '../../src/platform/app.js';
import { loadConfig } from '../../src/platform/config.js';
import { startSubscription } from '../../src/subscriptions/index.js';
import { createTestDatabase, MYSQL_TEST_URL, type TestDatabase } from '../support/databases.js';
import { OBOL_BIN, stopChildren, waitForLine } from '../support/processes.js';

vi.setConfig({ testTimeout: 600_000, hookTimeout: 300_000 });

const COUNT = 1000;
const DAY = 86_400_000;
const SERVICE: Caller = { actor: { subject: 'svc_renewal_load', roles: ['service'], customerId: null, kind: 'service' }, requestId: null, ip: null };

const suite = process.env.OBOL_TEST_MYSQL === '1' ? describe : describe.skip;

suite(`${COUNT} renewals at one instant, two worker processes, MariaDB (${MYSQL_TEST_URL})`, () => {
  let db: TestDatabase;
  let dir: string;
  let app: App;
  let clock: ManualClock;
  const children: ChildProcessWithoutNullStreams[] = [];
  let renewalAt = 0;

  beforeAll(async () => {
    db = await createTestDatabase('mysql');
    dir = mkdtempSync(join(tmpdir(), 'obol-renewals-'));
    const env = {
      NODE_ENV: 'test',
      DATABASE_URL: db.url,
      SEED_DEMO_CATALOG: 'true',
      AUTH_DEV_KEY_FILE: join(dir, 'signing-key.json'),
      DEV_ENCRYPTION_KEY_FILE: join(dir, 'encryption-keys.json'),
      LOG_LEVEL: 'warn',
    };
    const config = loadConfig(env);
    // 31 days back: a calendar month from there (28 to 31 days) has ended by now, for all of them alike.
    clock = new ManualClock(Date.now() - 31 * DAY - 60_000);
    app = await createApp({ config, logger: pino({ level: 'warn' }), clock });
    const started: Promise<unknown>[] = [];
    for (let i = 0; i < COUNT; i++) {
      started.push(
        startSubscription(app.subscriptions, {
          caller: SERVICE,
          customerId: `cus_load_${i}`,
          priceId: i % 2 === 0 ? 'price_data_science_monthly_usd' : 'price_plus_monthly_eur',
          country: i % 2 === 0 ? 'US' : 'DE',
          paymentMethodToken: 'tok_visa',
          cardCountry: null,
          couponCode: null,
          trialDays: 0,
          requestKey: `load-${i}`,
        }),
      );
      // A few at a time: the pool is small, and order does not matter.
      if (started.length >= 8) await Promise.all(started.splice(0));
    }
    await Promise.all(started);
    const active = await app.db.kysely.selectFrom('subscriptions').select(['current_period_end']).where('status', '=', 'active').execute();
    expect(active).toHaveLength(COUNT);
    // One instant for all of them, and it has passed on the real clock.
    const ends = new Set(active.map((s) => Number(s.current_period_end)));
    expect(ends.size).toBe(1);
    renewalAt = [...ends][0]!;
    expect(renewalAt).toBeLessThanOrEqual(Date.now());

    const workerEnv = { ...process.env, ...env, LOG_LEVEL: 'info', WORKER_POLL_INTERVAL_MS: '50', PORT: '0', HOST: '127.0.0.1', GRPC_PORT: '0', GRPC_HOST: '127.0.0.1', OPS_PORT: '0' };
    for (let i = 0; i < 2; i++) {
      const child = spawn(process.execPath, [OBOL_BIN, 'serve', '--roles', 'worker'], { env: workerEnv });
      children.push(child);
      await waitForLine(child, (l) => l.msg === 'worker started', 60_000);
    }
  });

  afterAll(async () => {
    await stopChildren(children);
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
    await db?.drop();
  });

  it('bills each subscription exactly once, with the ledger balanced and deferred revenue recognised by the end of the periods', async () => {
    const deadline = Date.now() + 300_000;
    const renewals = () => app.db.kysely.selectFrom('invoices').select((eb) => eb.fn.countAll<number>().as('n')).where('billing_reason', '=', 'subscription_cycle').where('status', '=', 'paid').executeTakeFirstOrThrow();
    for (;;) {
      const paid = await renewals();
      if (Number(paid.n) >= COUNT) break;
      if (Date.now() > deadline) throw new Error(`only ${String(paid.n)} of ${COUNT} renewals paid in time`);
      await new Promise((r) => setTimeout(r, 500));
    }
    // Let the workers finish whatever they hold, then stop them, so nothing changes under the checks.
    await stopChildren(children, 60_000);
    expect(children.map((c) => c.exitCode)).toEqual([0, 0]);

    const k = app.db.kysely;
    const subs = await k.selectFrom('subscriptions').select(['id', 'status', 'current_period_start']).execute();
    expect(subs.filter((s) => s.status !== 'active' || Number(s.current_period_start) !== renewalAt)).toEqual([]);
    const invoices = await k.selectFrom('invoices').select(['subscription_id', 'status', 'billing_reason', 'period_start']).execute();
    // The signup's invoice and exactly one renewal per subscription.
    expect(invoices).toHaveLength(2 * COUNT);
    const cycles = invoices.filter((i) => i.billing_reason === 'subscription_cycle');
    expect(cycles).toHaveLength(COUNT);
    expect(new Set(cycles.map((i) => i.subscription_id)).size).toBe(COUNT);
    expect(cycles.every((i) => i.status === 'paid' && Number(i.period_start) === renewalAt)).toBe(true);

    // The gateway's log: one successful off-session charge per saved card, none doubled.
    const methods = await k.selectFrom('payment_methods').select(['id', 'gateway_reference']).where('status', '=', 'active').execute();
    expect(methods).toHaveLength(COUNT);
    const log = (await app.sandbox.chargeLog()).filter((r) => r.operation === 'charge_off_session');
    expect(log).toHaveLength(COUNT);
    expect(log.every((r) => r.status === 'succeeded')).toBe(true);
    expect(new Set(log.map((r) => r.paymentMethod))).toEqual(new Set(methods.map((m) => m.gateway_reference)));
    const merchantInitiated = await k.selectFrom('payment_intents').select(['id', 'status']).where('initiator', '=', 'merchant').execute();
    expect(merchantInitiated).toHaveLength(COUNT);
    expect(merchantInitiated.every((i) => i.status === 'succeeded')).toBe(true);

    // Both workers took part (the lease holder of each job is recorded).
    const owners = await k.selectFrom('scheduled_jobs').select('lease_owner').distinct().where('kind', '=', 'subscription.period_end').where('status', '=', 'done').execute();
    expect(owners.length).toBeGreaterThanOrEqual(2);

    expect(await unbalancedTransactions(k)).toEqual([]);
    // Stop the next renewals (this test bills one instant), then move this process's clock past
    // the new periods' ends and run the recognition jobs here.
    await k.updateTable('scheduled_jobs').set({ status: 'canceled' }).where('kind', '=', 'subscription.period_end').where('status', '=', 'pending').execute();
    clock.advance(renewalAt - clock.now() + 32 * DAY);
    let ran = 0;
    do ran = await app.jobs.runDue({ limit: 5000, concurrency: 8 });
    while (ran > 0);
    expect(await accountBalance(k, 'deferred_revenue', 'USD')).toBe(0);
    expect(await accountBalance(k, 'deferred_revenue', 'EUR')).toBe(0);
    expect(await unbalancedTransactions(k)).toEqual([]);
  });
});
