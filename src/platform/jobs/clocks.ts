/**
 * Time for scheduling decisions, and test clocks.
 *
 * Every scheduling decision reads time from a ClockSource: the system clock for real customers,
 * or the test clock a customer is attached to. A test clock is frozen at an instant and moves
 * only when advanced; advancing it runs, in order of due time, every job on it that falls due up
 * to the target, with the clock set to each job's due time as it runs (so a renewal due on the
 * 31st is decided "on the 31st", however far the advance goes), then rests at the target.
 *
 *   ready ──advance (lease)──▶ advancing ──all due jobs ran──▶ ready (at the target)
 *                                  │ a job failed: ready at that job's time, the job still pending
 *                                  │ the process died: a worker resumes it once the lease passes
 */
import { randomUUID } from 'node:crypto';
import { newId, ObolError, type Clock } from '../../kernel/index.js';
import { dbInt, isUniqueViolation, type Db, type Executor, type TestClocksTable } from '../db/index.js';
import { DEFAULT_JOB_LEASE_MS, type JobRunner } from './jobs.js';

export interface ClockSource {
  /** Now, in the time of the given test clock, or of the system clock when `clockId` is null. */
  now(clockId: string | null, executor?: Executor): Promise<number>;
}

export function clockSource(args: { readonly db: Db; readonly system: Clock }): ClockSource {
  return {
    async now(clockId, executor) {
      if (clockId === null) return args.system.now();
      const row = await (executor ?? args.db.kysely).selectFrom('test_clocks').select('frozen_time').where('id', '=', clockId).executeTakeFirst();
      if (!row) throw new Error(`test clock ${clockId} does not exist`);
      return dbInt(row.frozen_time);
    },
  };
}

/** The test clock a customer's subscriptions run on, or null (the system clock). */
export async function clockOfCustomer(db: Executor, customerId: string): Promise<string | null> {
  const row = await db.selectFrom('test_clock_customers').select('clock_id').where('customer_id', '=', customerId).executeTakeFirst();
  return row?.clock_id ?? null;
}

export const TEST_CLOCK_STATUSES = ['ready', 'advancing'] as const;
export type TestClockStatus = (typeof TEST_CLOCK_STATUSES)[number];

export interface TestClockView {
  readonly id: string;
  readonly name: string;
  readonly frozenTime: number;
  readonly status: TestClockStatus;
  /** While advancing: the target. */
  readonly advanceTo: number | null;
  readonly createdAt: number;
}

function view(row: TestClocksTable): TestClockView {
  const status = row.status === 'ready' || row.status === 'advancing' ? row.status : undefined;
  if (status === undefined) throw new Error(`corrupt test clock ${row.id}: status ${row.status}`);
  return { id: row.id, name: row.name, frozenTime: dbInt(row.frozen_time), status, advanceTo: row.advance_to === null ? null : dbInt(row.advance_to), createdAt: dbInt(row.created_at) };
}

/** A test clock's time must be a real instant: from 1970 to 9999. */
export const MAX_CLOCK_TIME = Date.UTC(9999, 11, 31, 23, 59, 59);
/** One advance moves a clock at most this far, so a typo cannot run centuries of renewals. */
export const MAX_ADVANCE_MS = 5 * 366 * 86_400_000;
const MAX_NAME_LENGTH = 200;
/**
 * An advance renews its hold on the clock before each job; a hold not renewed for this long was
 * lost with its process. Longer than a job's own lease, so no job outlives the hold it ran under.
 */
export const CLOCK_LEASE_MS = DEFAULT_JOB_LEASE_MS + 60_000;
/** A bound on the jobs one advance runs: far above a few years of any one customer's renewals. */
const MAX_JOBS_PER_ADVANCE = 1_000_000;

export function assertClockTime(field: string, ms: number): void {
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > MAX_CLOCK_TIME) {
    throw new ObolError('VALIDATION_FAILED', `${field} must be an instant between 1970 and 9999.`, { field });
  }
}

export async function createTestClock(db: Db, args: { readonly name: string; readonly frozenTime: number; readonly now: number }): Promise<TestClockView> {
  const name = args.name.trim();
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) throw new ObolError('VALIDATION_FAILED', `name must be 1 to ${MAX_NAME_LENGTH} characters.`, { field: 'name' });
  assertClockTime('frozenTime', args.frozenTime);
  const row: TestClocksTable = { id: newId('testClock', args.now), name, frozen_time: args.frozenTime, status: 'ready', advance_to: null, advance_owner: null, lease_until: null, created_at: args.now, updated_at: args.now };
  await db.kysely.insertInto('test_clocks').values(row).execute();
  return view(row);
}

export async function getTestClock(db: Executor, id: string): Promise<TestClockView | undefined> {
  const row = await db.selectFrom('test_clocks').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? view(row) : undefined;
}

/** Attaches a customer; attaching to the clock it is already on changes nothing. */
export async function attachCustomerToClock(db: Db, args: { readonly clockId: string; readonly customerId: string; readonly now: number }): Promise<void> {
  await db.transaction(async (tx) => {
    const current = await clockOfCustomer(tx, args.customerId);
    if (current === args.clockId) return;
    if (current !== null) throw new ObolError('TEST_CLOCK_IN_USE', 'This customer is already attached to another test clock.', { field: 'customerId' });
    await tx.insertInto('test_clock_customers').values({ customer_id: args.customerId, clock_id: args.clockId, created_at: args.now }).execute();
  }).catch(async (err: unknown) => {
    // Attached concurrently: to this clock, nothing to do; to another, the same refusal as above.
    if (!isUniqueViolation(err)) throw err;
    if ((await clockOfCustomer(db.kysely, args.customerId)) !== args.clockId) throw new ObolError('TEST_CLOCK_IN_USE', 'This customer is already attached to another test clock.', { field: 'customerId' });
  });
}

export interface AdvanceDeps {
  readonly db: Db;
  readonly runner: JobRunner;
  readonly system: Clock;
}

/**
 * Moves a clock forward to `to`, running every job on it that falls due on the way. Refused when
 * `to` is not after the clock's time or the clock is already being advanced.
 */
export async function advanceTestClock(deps: AdvanceDeps, args: { readonly clockId: string; readonly to: number }): Promise<TestClockView> {
  const { db, system } = deps;
  assertClockTime('to', args.to);
  const clock = await getTestClock(db.kysely, args.clockId);
  if (!clock) throw new ObolError('TEST_CLOCK_NOT_FOUND', 'No test clock with this id.', { field: 'clockId' });
  if (args.to <= clock.frozenTime) throw new ObolError('TEST_CLOCK_ADVANCE_INVALID', `A clock only moves forward: it reads ${new Date(clock.frozenTime).toISOString()}.`, { field: 'to' });
  if (args.to - clock.frozenTime > MAX_ADVANCE_MS) throw new ObolError('TEST_CLOCK_ADVANCE_INVALID', 'One advance moves a clock at most five years.', { field: 'to' });
  const now = system.now();
  const owner = randomUUID();
  const taken = await db.kysely
    .updateTable('test_clocks')
    .set({ status: 'advancing', advance_to: args.to, advance_owner: owner, lease_until: now + CLOCK_LEASE_MS, updated_at: now })
    .where('id', '=', clock.id)
    .where('frozen_time', '=', clock.frozenTime)
    .where((eb) => eb.or([eb('status', '=', 'ready'), eb('lease_until', '<=', now)]))
    .executeTakeFirst();
  if (Number(taken.numUpdatedRows) !== 1) throw new ObolError('TEST_CLOCK_IN_USE', 'This clock is being advanced; wait until it is ready.', { field: 'clockId' });
  return runAdvance(deps, { clockId: clock.id, to: args.to, owner });
}

/** Advances that a dead process left half done, taken over once their hold has lapsed (a worker task). */
export async function resumeAdvances(deps: AdvanceDeps): Promise<number> {
  const now = deps.system.now();
  const stale = await deps.db.kysely.selectFrom('test_clocks').selectAll().where('status', '=', 'advancing').where('lease_until', '<=', now).limit(10).execute();
  let resumed = 0;
  for (const row of stale) {
    if (row.advance_to === null) continue;
    const owner = randomUUID();
    const taken = await deps.db.kysely
      .updateTable('test_clocks')
      .set({ advance_owner: owner, lease_until: now + CLOCK_LEASE_MS, updated_at: now })
      .where('id', '=', row.id)
      .where('status', '=', 'advancing')
      .where('lease_until', '=', row.lease_until)
      .executeTakeFirst();
    if (Number(taken.numUpdatedRows) !== 1) continue;
    // A job that fails again leaves the clock ready at its time, for the admin to see and advance again.
    await runAdvance(deps, { clockId: row.id, to: dbInt(row.advance_to), owner }).catch(() => undefined);
    resumed += 1;
  }
  return resumed;
}

/**
 * Runs the clock's due jobs in order, then rests it at `to`. Every write is conditional on still
 * holding the clock (`owner`): an advance whose hold lapsed and was taken over stops, and never
 * marks the clock ready under the advance that took over.
 */
async function runAdvance(deps: AdvanceDeps, args: { readonly clockId: string; readonly to: number; readonly owner: string }): Promise<TestClockView> {
  const { db, runner, system } = deps;
  const { clockId, to, owner } = args;
  const held = (now: number) => db.kysely.updateTable('test_clocks').set({ lease_until: now + CLOCK_LEASE_MS, updated_at: now }).where('id', '=', clockId).where('advance_owner', '=', owner);
  const release = (frozenTime: number | null, now: number) =>
    db.kysely
      .updateTable('test_clocks')
      .set({ status: 'ready', advance_to: null, advance_owner: null, lease_until: null, updated_at: now, ...(frozenTime === null ? {} : { frozen_time: frozenTime }) })
      .where('id', '=', clockId)
      .where('advance_owner', '=', owner)
      .execute();
  for (let ran = 0; ; ran++) {
    if (ran >= MAX_JOBS_PER_ADVANCE) throw new Error(`test clock ${clockId}: more than ${MAX_JOBS_PER_ADVANCE} jobs in one advance (a job that keeps rescheduling itself?)`);
    const next = await db.kysely
      .selectFrom('scheduled_jobs')
      .selectAll()
      .where('status', '=', 'pending')
      .where('clock_id', '=', clockId)
      .where('run_at', '<=', to)
      .orderBy('run_at')
      .orderBy('id')
      .limit(1)
      .executeTakeFirst();
    if (!next) break;
    const now = system.now();
    // The hold is renewed, and the clock reads the job's due time while it runs (never going back).
    if (Number((await held(now).executeTakeFirst()).numUpdatedRows) !== 1) throw new Error(`test clock ${clockId}: this advance lost its hold on the clock to another one`);
    await db.kysely.updateTable('test_clocks').set({ frozen_time: dbInt(next.run_at), updated_at: now }).where('id', '=', clockId).where('advance_owner', '=', owner).where('frozen_time', '<', dbInt(next.run_at)).execute();
    try {
      await runner.runClaimed(next);
    } catch (err) {
      await release(null, system.now());
      throw err;
    }
  }
  // Every job up to `to` ran: the clock rests there (it read at most `to` while they ran).
  await release(to, system.now());
  const done = await getTestClock(db.kysely, clockId);
  if (!done) throw new Error(`test clock ${clockId} vanished while advancing`);
  return done;
}
