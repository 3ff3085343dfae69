import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from '../../../test/support/databases.js';
import { ManualClock, ObolError } from '../../kernel/index.js';
import { dbInt, openDatabase, parseDatabaseUrl, type Db } from '../db/index.js';
import { advanceTestClock, attachCustomerToClock, clockOfCustomer, clockSource, CLOCK_LEASE_MS, createTestClock, getTestClock, MAX_ADVANCE_MS, resumeAdvances } from './clocks.js';
import { cancelJob, cancelJobsOf, createJobRunner, jobBackoffMs, pendingJobsOf, scheduleJob, type ClaimedJob, type JobHandler, type ScheduleJobArgs } from './jobs.js';

const SYS = Date.UTC(2031, 5, 1, 12); // the system clock's time in these tests
const T0 = Date.UTC(2030, 0, 31, 9); // a test clock's starting time
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function deferred<T = void>(): { readonly promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ObolError) return err.code;
    throw err;
  }
  return 'no error';
}

/** A handler that records each run. */
function recorder(kind: string, body?: (job: ClaimedJob) => Promise<void>): JobHandler & { readonly runs: ClaimedJob[] } {
  const runs: ClaimedJob[] = [];
  return {
    kind,
    runs,
    async run(job) {
      runs.push(job);
      await body?.(job);
    },
  };
}

describe('jobBackoffMs', () => {
  it('doubles from 2 s and stops at 15 minutes', () => {
    expect([0, 1, 2, 3, 9].map(jobBackoffMs)).toEqual([2000, 2000, 4000, 8000, 512_000]);
    expect(jobBackoffMs(10)).toBe(15 * 60_000);
    expect(jobBackoffMs(1000)).toBe(15 * 60_000);
  });
});

describeEachDatabase('durable jobs and test clocks', (dialect) => {
  let tdb: TestDatabase;
  let db: Db;
  /** A second connection (pool) to the same database, for a second worker process. */
  let db2: Db;
  let system: ManualClock;

  beforeAll(async () => {
    tdb = await createTestDatabase(dialect);
    db = tdb.db;
    const location = parseDatabaseUrl(tdb.url);
    if (!location) throw new Error(`cannot reopen ${tdb.url}`);
    db2 = openDatabase(location);
  });
  afterAll(async () => {
    await db2?.close();
    await tdb?.drop();
  });
  beforeEach(async () => {
    system = new ManualClock(SYS);
    await db.kysely.deleteFrom('scheduled_jobs').execute();
    await db.kysely.deleteFrom('test_clock_customers').execute();
    await db.kysely.deleteFrom('test_clocks').execute();
  });

  const schedule = (args: Partial<ScheduleJobArgs> & Pick<ScheduleJobArgs, 'key'>, on: Db = db) =>
    on.transaction((tx) => scheduleJob(tx, { kind: 'tick', subjectId: 'sub_1', clockId: null, runAt: SYS, now: SYS, ...args }));
  const jobRow = async (key: string) => {
    const row = await db.kysely.selectFrom('scheduled_jobs').selectAll().where('job_key', '=', key).executeTakeFirstOrThrow();
    return { ...row, run_at: dbInt(row.run_at), attempts: dbInt(row.attempts), version: dbInt(row.version), lease_until: row.lease_until === null ? null : dbInt(row.lease_until) };
  };
  const statuses = async () => {
    const rows = await db.kysely.selectFrom('scheduled_jobs').select(['job_key', 'status']).orderBy('job_key').execute();
    return Object.fromEntries(rows.map((r) => [r.job_key, r.status]));
  };

  describe('scheduling', () => {
    it('is idempotent by key: the same key is the same job, whatever else changes', async () => {
      await schedule({ key: 'renew:sub_1:1', runAt: SYS + 1000, subjectId: 'sub_1' });
      await schedule({ key: 'renew:sub_1:1', runAt: SYS + 9999, subjectId: 'sub_2', kind: 'other' });
      const rows = await db.kysely.selectFrom('scheduled_jobs').selectAll().execute();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ job_key: 'renew:sub_1:1', kind: 'tick', subject_id: 'sub_1', status: 'pending', clock_id: null, lease_owner: null, last_error: null });
      expect(dbInt(rows[0]!.run_at)).toBe(SYS + 1000);
      expect(dbInt(rows[0]!.attempts)).toBe(0);
    });

    it('keeps one job when many transactions schedule the same key at once', async () => {
      // On MySQL from two pools, so the transactions really overlap; SQLite (one writer, one
      // connection per process) serialises them, which still exercises the "already there" path.
      await Promise.all(Array.from({ length: 8 }, (_, i) => schedule({ key: 'same', runAt: SYS + i }, dialect === 'mysql' && i % 2 === 0 ? db2 : db)));
      const rows = await db.kysely.selectFrom('scheduled_jobs').selectAll().execute();
      expect(rows).toHaveLength(1);
    });

    // Only MySQL has two transactions open at once: SQLite has one writer, and a process one connection.
    it.runIf(dialect === 'mysql')('treats a concurrent insert of the same key (a unique violation) as the same job', async () => {
      const inserted = deferred();
      const release = deferred();
      const first = db.transaction(async (tx) => {
        await scheduleJob(tx, { kind: 'tick', key: 'contended', subjectId: 'first', clockId: null, runAt: SYS, now: SYS });
        inserted.resolve();
        await release.promise;
      });
      await inserted.promise;
      // The second transaction cannot see the first's uncommitted row, so it inserts too, and waits on the key's lock.
      const second = schedule({ key: 'contended', subjectId: 'second' }, db2);
      const secondOutcome = second.then(
        () => 'scheduled',
        (err: unknown) => `failed: ${String(err)}`,
      );
      let inserting = false;
      try {
        for (let i = 0; i < 1000 && !inserting; i++) {
          const { rows } = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND INFO LIKE 'insert into \`scheduled_jobs\`%'`.execute(db.kysely);
          inserting = Number(rows[0]?.n) > 0;
          if (!inserting) await new Promise((r) => setTimeout(r, 5));
        }
      } finally {
        release.resolve();
      }
      expect(inserting).toBe(true);
      await first;
      // The first commit turns the second's insert into a duplicate key, which it takes as "already scheduled".
      expect(await secondOutcome).toBe('scheduled');
      const rows = await db.kysely.selectFrom('scheduled_jobs').selectAll().execute();
      expect(rows.map((r) => [r.job_key, r.subject_id])).toEqual([['contended', 'first']]);
    });

    it('commits or rolls back with the caller’s transaction', async () => {
      await expect(
        db.transaction(async (tx) => {
          await scheduleJob(tx, { kind: 'tick', key: 'rolled-back', subjectId: 's', clockId: null, runAt: SYS, now: SYS });
          throw new Error('decision failed');
        }),
      ).rejects.toThrow('decision failed');
      expect(await statuses()).toEqual({});
    });

    it('does not bring back a finished or canceled job', async () => {
      const runner = createJobRunner({ db, system, owner: 'a', handlers: [recorder('tick')] });
      await schedule({ key: 'done-once' });
      await schedule({ key: 'canceled-once' });
      await db.transaction((tx) => cancelJob(tx, { key: 'canceled-once', now: SYS }));
      expect(await runner.runDue({ limit: 10, concurrency: 1 })).toBe(1);
      await schedule({ key: 'done-once', runAt: SYS + 1 });
      await schedule({ key: 'canceled-once', runAt: SYS + 1 });
      expect(await statuses()).toEqual({ 'canceled-once': 'canceled', 'done-once': 'done' });
    });

    it('refuses a bad key or run time', async () => {
      await expect(schedule({ key: '' })).rejects.toThrow(/job key/);
      await expect(schedule({ key: 'k'.repeat(256) })).rejects.toThrow(/job key/);
      await expect(schedule({ key: 'k', runAt: Number.NaN })).rejects.toThrow(/no valid run time/);
      await expect(schedule({ key: 'k', runAt: 1.5 })).rejects.toThrow(/no valid run time/);
      await schedule({ key: 'k'.repeat(255) });
      expect(Object.keys(await statuses())).toEqual(['k'.repeat(255)]);
    });
  });

  describe('runDue', () => {
    it('runs only system-clock jobs that are due, in run_at order, never a test clock’s', async () => {
      const clock = await createTestClock(db, { name: 'c', frozenTime: T0, now: SYS });
      const tick = recorder('tick');
      const runner = createJobRunner({ db, system, owner: 'a', handlers: [tick] });
      await schedule({ key: 'due-now', runAt: SYS, subjectId: 's2' });
      await schedule({ key: 'future', runAt: SYS + 1 });
      await schedule({ key: 'overdue', runAt: SYS - DAY });
      // Far in the past by the system clock, and due by its own clock too: still only an advance runs it.
      await schedule({ key: 'on-test-clock', runAt: T0 - DAY, clockId: clock.id });

      expect(await runner.runDue({ limit: 10, concurrency: 1 })).toBe(2);
      expect(tick.runs.map((j) => j.key)).toEqual(['overdue', 'due-now']);
      expect(tick.runs[1]).toEqual({ id: expect.any(String), kind: 'tick', key: 'due-now', subjectId: 's2', clockId: null, runAt: SYS, attempts: 1 });
      expect(await statuses()).toEqual({ 'due-now': 'done', future: 'pending', 'on-test-clock': 'pending', overdue: 'done' });
      expect((await jobRow('on-test-clock')).attempts).toBe(0);

      expect(await runner.runDue({ limit: 10, concurrency: 1 })).toBe(0);
      system.advance(1);
      expect(await runner.runDue({ limit: 10, concurrency: 1 })).toBe(1);
      expect(tick.runs.map((j) => j.key)).toEqual(['overdue', 'due-now', 'future']);
      expect((await jobRow('future')).status).toBe('done');
      expect((await jobRow('on-test-clock')).status).toBe('pending');
    });

    it('runs at most `limit` jobs per call', async () => {
      const tick = recorder('tick');
      const runner = createJobRunner({ db, system, owner: 'a', handlers: [tick] });
      for (let i = 0; i < 5; i++) await schedule({ key: `j${i}`, runAt: SYS - i });
      expect(await runner.runDue({ limit: 2, concurrency: 3 })).toBe(2);
      expect(tick.runs.map((j) => j.key).sort()).toEqual(['j3', 'j4']);
      expect(await runner.runDue({ limit: 10, concurrency: 3 })).toBe(3);
      expect(tick.runs).toHaveLength(5);
    });

    it('runs each job exactly once when two runners race over the same due jobs', async () => {
      const N = 60;
      const runsById = new Map<string, string[]>();
      const handler = (owner: string): JobHandler => ({
        kind: 'tick',
        async run(job) {
          runsById.set(job.id, [...(runsById.get(job.id) ?? []), owner]);
          // Yield to the other runner in the middle of every job.
          await new Promise((r) => setImmediate(r));
        },
      });
      for (let i = 0; i < N; i++) await schedule({ key: `race-${i}`, runAt: SYS - (i % 7), subjectId: `s${i % 5}` });
      const a = createJobRunner({ db, system, owner: 'worker-a', handlers: [handler('a')] });
      const b = createJobRunner({ db: db2, system, owner: 'worker-b', handlers: [handler('b')] });
      const drain = async (runner: typeof a): Promise<number> => {
        let total = 0;
        for (;;) {
          const ran = await runner.runDue({ limit: 25, concurrency: 4 });
          if (ran === 0) return total;
          total += ran;
        }
      };
      const [ranA, ranB] = await Promise.all([drain(a), drain(b)]);
      expect(ranA + ranB).toBe(N);
      expect(runsById.size).toBe(N);
      for (const owners of runsById.values()) expect(owners).toHaveLength(1);
      const rows = await db.kysely.selectFrom('scheduled_jobs').selectAll().execute();
      expect(rows).toHaveLength(N);
      for (const r of rows) {
        expect(r.status).toBe('done');
        expect(dbInt(r.attempts)).toBe(1);
        expect(r.lease_owner).toBe(`worker-${runsById.get(r.id)![0]}`);
      }
    });

    it('leaves a job whose handler threw pending, with a back-off lease and the error, and runs it again after the back-off', async () => {
      const errors: [unknown, ClaimedJob][] = [];
      let calls = 0;
      const flaky: JobHandler = {
        kind: 'tick',
        async run() {
          calls += 1;
          if (calls === 1) throw new Error('database went away');
        },
      };
      const runner = createJobRunner({ db, system, owner: 'a', handlers: [flaky], onError: (err, job) => errors.push([err, job]) });
      await schedule({ key: 'flaky' });
      expect(await runner.runDue({ limit: 10, concurrency: 1 })).toBe(1);
      let row = await jobRow('flaky');
      expect(row).toMatchObject({ status: 'pending', attempts: 1, last_error: 'database went away', lease_owner: 'a', lease_until: SYS + jobBackoffMs(1) });
      expect(errors).toHaveLength(1);
      expect((errors[0]![0] as Error).message).toBe('database went away');
      expect(errors[0]![1]).toMatchObject({ key: 'flaky', attempts: 1 });

      // Not before the back-off has passed…
      expect(await runner.runDue({ limit: 10, concurrency: 1 })).toBe(0);
      system.advance(jobBackoffMs(1) - 1);
      expect(await runner.runDue({ limit: 10, concurrency: 1 })).toBe(0);
      expect(calls).toBe(1);
      // …and then again, by any runner.
      system.advance(1);
      const other = createJobRunner({ db: db2, system, owner: 'b', handlers: [flaky] });
      expect(await other.runDue({ limit: 10, concurrency: 1 })).toBe(1);
      expect(calls).toBe(2);
      row = await jobRow('flaky');
      expect(row).toMatchObject({ status: 'done', attempts: 2, last_error: null, lease_until: null, lease_owner: 'b' });
    });

    it('records what was thrown even when it is not an Error, cut to fit, and a job of an unknown kind as failed', async () => {
      const runner = createJobRunner({
        db,
        system,
        owner: 'a',
        handlers: [
          {
            kind: 'throws-text',
            async run() {
              throw 'x'.repeat(5000);
            },
          },
        ],
      });
      await schedule({ key: 'text', kind: 'throws-text' });
      await schedule({ key: 'orphan', kind: 'nobody-handles-this' });
      expect(await runner.runDue({ limit: 10, concurrency: 2 })).toBe(2);
      expect((await jobRow('text')).last_error).toBe('x'.repeat(1000));
      expect(await jobRow('orphan')).toMatchObject({ status: 'pending', attempts: 1, last_error: 'no handler for job kind nobody-handles-this' });
      // A second failure backs off longer.
      system.advance(jobBackoffMs(1));
      expect(await runner.runDue({ limit: 10, concurrency: 2 })).toBe(2);
      expect(await jobRow('orphan')).toMatchObject({ status: 'pending', attempts: 2, lease_until: SYS + jobBackoffMs(1) + jobBackoffMs(2) });
    });

    it('lets another runner take over a job whose runner died (its lease passed), and the late finish changes nothing', async () => {
      const entered = deferred();
      const release = deferred();
      let calls = 0;
      const slow: JobHandler = {
        kind: 'tick',
        async run() {
          calls += 1;
          if (calls === 1) {
            entered.resolve();
            await release.promise;
          }
        },
      };
      const leaseMs = 60_000;
      const a = createJobRunner({ db, system, owner: 'a', leaseMs, handlers: [slow] });
      const b = createJobRunner({ db: db2, system, owner: 'b', leaseMs, handlers: [slow] });
      await schedule({ key: 'stuck' });

      const ranByA = a.runDue({ limit: 10, concurrency: 1 });
      await entered.promise;
      expect(await jobRow('stuck')).toMatchObject({ status: 'pending', lease_owner: 'a', lease_until: SYS + leaseMs, attempts: 1 });
      expect(await b.runDue({ limit: 10, concurrency: 1 })).toBe(0);
      system.advance(leaseMs - 1);
      expect(await b.runDue({ limit: 10, concurrency: 1 })).toBe(0);
      system.advance(1);
      expect(await b.runDue({ limit: 10, concurrency: 1 })).toBe(1);
      expect(calls).toBe(2);
      const taken = await jobRow('stuck');
      expect(taken).toMatchObject({ status: 'done', lease_owner: 'b', attempts: 2 });

      release.resolve();
      expect(await ranByA).toBe(1);
      expect(await jobRow('stuck')).toEqual(taken);
    });
  });

  describe('cancelJob and cancelJobsOf', () => {
    it('cancel only pending jobs, of the key, or of the subject and kinds', async () => {
      const runner = createJobRunner({ db, system, owner: 'a', handlers: [recorder('renew'), recorder('retry'), recorder('recognise')] });
      await schedule({ key: 'finished', kind: 'renew', subjectId: 'sub_1', runAt: SYS });
      expect(await runner.runDue({ limit: 10, concurrency: 1 })).toBe(1);
      await schedule({ key: 'renew', kind: 'renew', subjectId: 'sub_1', runAt: SYS + 3 });
      await schedule({ key: 'retry', kind: 'retry', subjectId: 'sub_1', runAt: SYS + 1 });
      await schedule({ key: 'recognise', kind: 'recognise', subjectId: 'sub_1', runAt: SYS + 2 });
      await schedule({ key: 'other-subject', kind: 'retry', subjectId: 'sub_2', runAt: SYS + 1 });
      await schedule({ key: 'by-key', kind: 'retry', subjectId: 'sub_3', runAt: SYS + 1 });

      await db.transaction((tx) => cancelJob(tx, { key: 'finished', now: SYS }));
      await db.transaction((tx) => cancelJob(tx, { key: 'by-key', now: SYS }));
      await db.transaction((tx) => cancelJob(tx, { key: 'no-such-key', now: SYS }));
      expect(await statuses()).toMatchObject({ finished: 'done', 'by-key': 'canceled', renew: 'pending' });

      await db.transaction((tx) => cancelJobsOf(tx, { subjectId: 'sub_1', kinds: [], now: SYS }));
      expect(await statuses()).toMatchObject({ renew: 'pending', retry: 'pending', recognise: 'pending' });
      await db.transaction((tx) => cancelJobsOf(tx, { subjectId: 'sub_1', kinds: ['retry', 'recognise'], now: SYS }));
      expect(await statuses()).toEqual({ finished: 'done', 'by-key': 'canceled', renew: 'pending', retry: 'canceled', recognise: 'canceled', 'other-subject': 'pending' });
      expect((await pendingJobsOf(db.kysely, 'sub_1')).map((j) => j.key)).toEqual(['renew']);

      await db.transaction((tx) => cancelJobsOf(tx, { subjectId: 'sub_1', now: SYS }));
      expect(await statuses()).toEqual({ finished: 'done', 'by-key': 'canceled', renew: 'canceled', retry: 'canceled', recognise: 'canceled', 'other-subject': 'pending' });
      expect(await pendingJobsOf(db.kysely, 'sub_1')).toEqual([]);

      // Canceled jobs never run.
      system.advance(DAY);
      expect(await runner.runDue({ limit: 10, concurrency: 2 })).toBe(1);
      expect(await statuses()).toMatchObject({ 'other-subject': 'done', renew: 'canceled' });
    });

    it('roll back with the caller’s transaction', async () => {
      await schedule({ key: 'kept' });
      await expect(
        db.transaction(async (tx) => {
          await cancelJob(tx, { key: 'kept', now: SYS });
          throw new Error('no');
        }),
      ).rejects.toThrow('no');
      expect(await statuses()).toEqual({ kept: 'pending' });
    });

    it('lists a subject’s pending jobs in run_at order', async () => {
      await schedule({ key: 'b', runAt: SYS + 2, subjectId: 'sub_9' });
      await schedule({ key: 'a', runAt: SYS + 1, subjectId: 'sub_9' });
      await schedule({ key: 'x', runAt: SYS, subjectId: 'sub_8' });
      const pending = await pendingJobsOf(db.kysely, 'sub_9');
      expect(pending.map((j) => [j.key, j.runAt, j.attempts])).toEqual([
        ['a', SYS + 1, 0],
        ['b', SYS + 2, 0],
      ]);
    });
  });

  describe('test clocks', () => {
    it('creates, reads and validates clocks; the clock source reads a test clock or the system clock', async () => {
      const clock = await createTestClock(db, { name: '  renewals  ', frozenTime: T0, now: SYS });
      expect(clock).toEqual({ id: expect.stringMatching(/^clock_/), name: 'renewals', frozenTime: T0, status: 'ready', advanceTo: null, createdAt: SYS });
      expect(await getTestClock(db.kysely, clock.id)).toEqual(clock);
      expect(await getTestClock(db.kysely, 'clock_missing')).toBeUndefined();
      const source = clockSource({ db, system });
      expect(await source.now(clock.id)).toBe(T0);
      expect(await source.now(null)).toBe(SYS);
      await expect(source.now('clock_missing')).rejects.toThrow(/does not exist/);
      expect(await codeOf(createTestClock(db, { name: ' ', frozenTime: T0, now: SYS }))).toBe('VALIDATION_FAILED');
      expect(await codeOf(createTestClock(db, { name: 'x', frozenTime: -1, now: SYS }))).toBe('VALIDATION_FAILED');
      expect(await codeOf(createTestClock(db, { name: 'x', frozenTime: Date.UTC(10_000, 0, 1), now: SYS }))).toBe('VALIDATION_FAILED');
    });

    it('attaches a customer to one clock only', async () => {
      const c1 = await createTestClock(db, { name: 'one', frozenTime: T0, now: SYS });
      const c2 = await createTestClock(db, { name: 'two', frozenTime: T0, now: SYS });
      expect(await clockOfCustomer(db.kysely, 'cus_1')).toBeNull();
      await attachCustomerToClock(db, { clockId: c1.id, customerId: 'cus_1', now: SYS });
      await attachCustomerToClock(db, { clockId: c1.id, customerId: 'cus_1', now: SYS + 1 });
      expect(await clockOfCustomer(db.kysely, 'cus_1')).toBe(c1.id);
      expect(await codeOf(attachCustomerToClock(db, { clockId: c2.id, customerId: 'cus_1', now: SYS }))).toBe('TEST_CLOCK_IN_USE');
      expect(await clockOfCustomer(db.kysely, 'cus_1')).toBe(c1.id);
      await attachCustomerToClock(db, { clockId: c2.id, customerId: 'cus_2', now: SYS });
      expect(await clockOfCustomer(db.kysely, 'cus_2')).toBe(c2.id);
      expect(await db.kysely.selectFrom('test_clock_customers').selectAll().execute()).toHaveLength(2);
    });

    it('advances through the clock’s due jobs in run_at order, reading each job’s time, picking up jobs scheduled on the way, and rests at the target', async () => {
      const clock = await createTestClock(db, { name: 'c', frozenTime: T0, now: SYS });
      const other = await createTestClock(db, { name: 'other', frozenTime: T0, now: SYS });
      const source = clockSource({ db, system });
      const seen: { key: string; runAt: number; clockNow: number }[] = [];
      const tick = recorder('tick', async (job) => {
        seen.push({ key: job.key, runAt: job.runAt, clockNow: await source.now(job.clockId) });
        if (job.key === 'b') {
          // A renewal schedules the next one, inside the advance and beyond it.
          await schedule({ key: 'spawned', clockId: clock.id, runAt: T0 + 36 * HOUR, now: await source.now(job.clockId) });
          await schedule({ key: 'spawned-late', clockId: clock.id, runAt: T0 + 20 * DAY });
          // Due before the clock's present: runs next, and the clock does not go back.
          await schedule({ key: 'backdated', clockId: clock.id, runAt: T0 + 12 * HOUR });
        }
      });
      const runner = createJobRunner({ db, system, owner: 'a', handlers: [tick] });
      await schedule({ key: 'a', clockId: clock.id, runAt: T0 + 3 * DAY });
      await schedule({ key: 'b', clockId: clock.id, runAt: T0 + 1 * DAY });
      await schedule({ key: 'c', clockId: clock.id, runAt: T0 + 2 * DAY });
      await schedule({ key: 'overdue', clockId: clock.id, runAt: T0 - HOUR });
      await schedule({ key: 'at-target', clockId: clock.id, runAt: T0 + 5 * DAY });
      await schedule({ key: 'after-target', clockId: clock.id, runAt: T0 + 5 * DAY + 1 });
      await schedule({ key: 'other-clock', clockId: other.id, runAt: T0 + DAY });
      await schedule({ key: 'system', clockId: null, runAt: T0 });

      const view = await advanceTestClock({ db, runner, system }, { clockId: clock.id, to: T0 + 5 * DAY });
      expect(view).toEqual({ ...clock, frozenTime: T0 + 5 * DAY, status: 'ready', advanceTo: null });
      expect(seen).toEqual([
        { key: 'overdue', runAt: T0 - HOUR, clockNow: T0 },
        { key: 'b', runAt: T0 + DAY, clockNow: T0 + DAY },
        { key: 'backdated', runAt: T0 + 12 * HOUR, clockNow: T0 + DAY },
        { key: 'spawned', runAt: T0 + 36 * HOUR, clockNow: T0 + 36 * HOUR },
        { key: 'c', runAt: T0 + 2 * DAY, clockNow: T0 + 2 * DAY },
        { key: 'a', runAt: T0 + 3 * DAY, clockNow: T0 + 3 * DAY },
        { key: 'at-target', runAt: T0 + 5 * DAY, clockNow: T0 + 5 * DAY },
      ]);
      expect(await statuses()).toMatchObject({ 'after-target': 'pending', 'spawned-late': 'pending', 'other-clock': 'pending', system: 'pending' });
      expect(await getTestClock(db.kysely, clock.id)).toEqual(view);
      expect((await getTestClock(db.kysely, other.id))?.frozenTime).toBe(T0);
      expect(await source.now(clock.id)).toBe(T0 + 5 * DAY);

      // The next advance carries on from there.
      await advanceTestClock({ db, runner, system }, { clockId: clock.id, to: T0 + 30 * DAY });
      expect(seen.slice(7).map((s) => [s.key, s.clockNow])).toEqual([
        ['after-target', T0 + 5 * DAY + 1],
        ['spawned-late', T0 + 20 * DAY],
      ]);
    });

    it('refuses a target not after the clock’s time, too far, an unknown clock, and a concurrent advance', async () => {
      const clock = await createTestClock(db, { name: 'c', frozenTime: T0, now: SYS });
      const entered = deferred();
      const release = deferred();
      const runner = createJobRunner({ db, system, owner: 'a', handlers: [recorder('tick', async () => (entered.resolve(), release.promise))] });
      const deps = { db, runner, system };
      expect(await codeOf(advanceTestClock(deps, { clockId: clock.id, to: T0 }))).toBe('TEST_CLOCK_ADVANCE_INVALID');
      expect(await codeOf(advanceTestClock(deps, { clockId: clock.id, to: T0 - 1 }))).toBe('TEST_CLOCK_ADVANCE_INVALID');
      expect(await codeOf(advanceTestClock(deps, { clockId: clock.id, to: T0 + MAX_ADVANCE_MS + 1 }))).toBe('TEST_CLOCK_ADVANCE_INVALID');
      expect(await codeOf(advanceTestClock(deps, { clockId: clock.id, to: -5 }))).toBe('VALIDATION_FAILED');
      expect(await codeOf(advanceTestClock(deps, { clockId: 'clock_missing', to: T0 + DAY }))).toBe('TEST_CLOCK_NOT_FOUND');
      expect(await getTestClock(db.kysely, clock.id)).toEqual(clock);

      await schedule({ key: 'slow', clockId: clock.id, runAt: T0 + DAY });
      const first = advanceTestClock(deps, { clockId: clock.id, to: T0 + MAX_ADVANCE_MS });
      await entered.promise;
      expect(await getTestClock(db.kysely, clock.id)).toEqual({ ...clock, frozenTime: T0 + DAY, status: 'advancing', advanceTo: T0 + MAX_ADVANCE_MS });
      expect(await codeOf(advanceTestClock(deps, { clockId: clock.id, to: T0 + 2 * DAY }))).toBe('TEST_CLOCK_IN_USE');
      expect(await codeOf(advanceTestClock({ db: db2, runner, system }, { clockId: clock.id, to: T0 + 2 * DAY }))).toBe('TEST_CLOCK_IN_USE');
      release.resolve();
      expect(await first).toMatchObject({ frozenTime: T0 + MAX_ADVANCE_MS, status: 'ready' });
    });

    it('stops at a failing job’s time with the clock ready, the job pending, and a later advance runs it again', async () => {
      const clock = await createTestClock(db, { name: 'c', frozenTime: T0, now: SYS });
      let failures = 1;
      const tick = recorder('tick', async (job) => {
        if (job.key === 'fails' && failures > 0) {
          failures -= 1;
          throw new Error('gateway simulator down');
        }
      });
      const runner = createJobRunner({ db, system, owner: 'a', handlers: [tick] });
      await schedule({ key: 'ok-1', clockId: clock.id, runAt: T0 + DAY });
      await schedule({ key: 'fails', clockId: clock.id, runAt: T0 + 2 * DAY });
      await schedule({ key: 'ok-3', clockId: clock.id, runAt: T0 + 3 * DAY });

      await expect(advanceTestClock({ db, runner, system }, { clockId: clock.id, to: T0 + 5 * DAY })).rejects.toThrow('gateway simulator down');
      expect(await getTestClock(db.kysely, clock.id)).toEqual({ ...clock, frozenTime: T0 + 2 * DAY, status: 'ready', advanceTo: null });
      expect(await statuses()).toEqual({ 'ok-1': 'done', fails: 'pending', 'ok-3': 'pending' });
      expect(await jobRow('fails')).toMatchObject({ attempts: 1, last_error: 'gateway simulator down' });
      expect((await jobRow('ok-3')).attempts).toBe(0);

      // Ready again: the next advance (any target after the clock's time) retries the failed job first.
      const view = await advanceTestClock({ db, runner, system }, { clockId: clock.id, to: T0 + 4 * DAY });
      expect(view).toMatchObject({ frozenTime: T0 + 4 * DAY, status: 'ready' });
      expect(tick.runs.map((j) => [j.key, j.attempts])).toEqual([
        ['ok-1', 1],
        ['fails', 1],
        ['fails', 2],
        ['ok-3', 1],
      ]);
      expect(await statuses()).toEqual({ 'ok-1': 'done', fails: 'done', 'ok-3': 'done' });
    });

    it('resumes an advance whose process stopped holding the clock, once the hold has lapsed', async () => {
      const clock = await createTestClock(db, { name: 'c', frozenTime: T0, now: SYS });
      const entered = deferred();
      const release = deferred();
      let hangs = 1;
      const tick = recorder('tick', async (job) => {
        if (job.key === 'hangs' && hangs > 0) {
          hangs -= 1;
          entered.resolve();
          await release.promise;
        }
      });
      const a = createJobRunner({ db, system, owner: 'a', handlers: [tick] });
      const b = createJobRunner({ db: db2, system, owner: 'b', handlers: [tick] });
      await schedule({ key: 'hangs', clockId: clock.id, runAt: T0 + DAY });
      await schedule({ key: 'next', clockId: clock.id, runAt: T0 + 2 * DAY });

      const dying = advanceTestClock({ db, runner: a, system }, { clockId: clock.id, to: T0 + 3 * DAY });
      await entered.promise;
      // Still held: nothing to resume.
      expect(await resumeAdvances({ db: db2, runner: b, system })).toBe(0);
      system.advance(CLOCK_LEASE_MS - 1);
      expect(await resumeAdvances({ db: db2, runner: b, system })).toBe(0);
      system.advance(1);
      expect(await resumeAdvances({ db: db2, runner: b, system })).toBe(1);
      expect(await getTestClock(db.kysely, clock.id)).toEqual({ ...clock, frozenTime: T0 + 3 * DAY, status: 'ready', advanceTo: null });
      expect(await statuses()).toEqual({ hangs: 'done', next: 'done' });
      expect(tick.runs.map((j) => j.key)).toEqual(['hangs', 'hangs', 'next']);
      expect(await resumeAdvances({ db: db2, runner: b, system })).toBe(0);

      // The old advance wakes up late: it finds nothing left and changes nothing.
      release.resolve();
      expect(await dying).toMatchObject({ frozenTime: T0 + 3 * DAY, status: 'ready' });
      expect(tick.runs).toHaveLength(3);
      expect(await jobRow('hangs')).toMatchObject({ status: 'done', lease_owner: 'b' });
    });
  });
});
