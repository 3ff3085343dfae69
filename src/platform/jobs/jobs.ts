/**
 * Durable jobs: work due at an instant, kept in the database so that it survives restarts and is
 * shared by any number of worker copies.
 *
 *   schedule (in the caller's transaction, idempotent by key)
 *      │
 *      ▼
 *   pending ──claim (conditional update: lease owner + lease until)──▶ running (pending, leased)
 *      ▲                                                                 │      │
 *      │  handler threw: back-off as the lease, retried later ◀──────────┘      │ handler returned
 *      │                                                                        ▼
 *      └──── lease passed (the worker died): claimed again                    done
 *   cancel (pending only) ──▶ canceled
 *
 * Each job runs to completion at least once; "once in effect" is the handlers' part: each checks,
 * under its subject's row lock, whether its work is still to do, and a gateway call it starts is
 * an attempt committed with its own idempotency key before the call.
 *
 * A job's `run_at` is in the time of its clock: the system clock (`clock_id` null), which the
 * worker's poll follows, or a test clock, whose jobs run only when that clock is advanced.
 */
import { newId } from '../../kernel/index.js';
import type { Clock } from '../../kernel/index.js';
import { dbInt, isUniqueViolation, type Db, type Executor, type ScheduledJobsTable, type Tx } from '../db/index.js';
import type { Span } from '@opentelemetry/api';
import { withLogScope } from '../logging.js';
import { inSpan, recordFailure } from '../observability/tracing.js';

export const JOB_STATUSES = ['pending', 'done', 'canceled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** A job as its handler sees it. */
export interface ClaimedJob {
  readonly id: string;
  readonly kind: string;
  readonly key: string;
  readonly subjectId: string;
  readonly clockId: string | null;
  /** When it was due, in its clock's time. */
  readonly runAt: number;
  /** Including this run. */
  readonly attempts: number;
}

export interface JobHandler {
  readonly kind: string;
  run(job: ClaimedJob): Promise<void>;
}

export interface ScheduleJobArgs {
  readonly kind: string;
  /** Unique across all jobs: scheduling an existing key again changes nothing. */
  readonly key: string;
  readonly subjectId: string;
  readonly clockId: string | null;
  readonly runAt: number;
  readonly now: number;
}

const MAX_KEY_LENGTH = 255;

/** Inside the caller's transaction: the job commits (or not) with the decision that made it. */
export async function scheduleJob(tx: Tx, args: ScheduleJobArgs): Promise<void> {
  if (args.key.length === 0 || args.key.length > MAX_KEY_LENGTH) throw new Error(`job key must be 1..${MAX_KEY_LENGTH} characters: ${args.key}`);
  if (!Number.isSafeInteger(args.runAt)) throw new Error(`job ${args.key} has no valid run time: ${args.runAt}`);
  const existing = await tx.selectFrom('scheduled_jobs').select('id').where('job_key', '=', args.key).executeTakeFirst();
  if (existing) return;
  try {
    await tx
      .insertInto('scheduled_jobs')
      .values({
        id: newId('job', args.now),
        kind: args.kind,
        job_key: args.key,
        subject_id: args.subjectId,
        clock_id: args.clockId,
        run_at: args.runAt,
        status: 'pending',
        attempts: 0,
        lease_owner: null,
        lease_until: null,
        last_error: null,
        created_at: args.now,
        updated_at: args.now,
        version: 0,
      })
      .execute();
  } catch (err) {
    // Scheduled concurrently by another transaction: the same key is the same job.
    if (!isUniqueViolation(err)) throw err;
  }
}

/** Inside the caller's transaction: the job with this key will not run (if it has not yet). */
export async function cancelJob(tx: Tx, args: { readonly key: string; readonly now: number }): Promise<void> {
  await tx.updateTable('scheduled_jobs').set({ status: 'canceled', updated_at: args.now }).where('job_key', '=', args.key).where('status', '=', 'pending').execute();
}

/** Inside the caller's transaction: every pending job of a subject (of the given kinds) is canceled. */
export async function cancelJobsOf(tx: Tx, args: { readonly subjectId: string; readonly kinds?: readonly string[]; readonly now: number }): Promise<void> {
  let q = tx.updateTable('scheduled_jobs').set({ status: 'canceled', updated_at: args.now }).where('subject_id', '=', args.subjectId).where('status', '=', 'pending');
  if (args.kinds !== undefined) {
    if (args.kinds.length === 0) return;
    q = q.where('kind', 'in', [...args.kinds]);
  }
  await q.execute();
}

export function claimedJob(row: ScheduledJobsTable, attempts: number): ClaimedJob {
  return { id: row.id, kind: row.kind, key: row.job_key, subjectId: row.subject_id, clockId: row.clock_id, runAt: dbInt(row.run_at), attempts };
}

export interface JobRunnerArgs {
  readonly db: Db;
  /** Leases and back-off are in system time, whatever clock a job's due time is in. */
  readonly system: Clock;
  readonly handlers: readonly JobHandler[];
  /** This process's name in `lease_owner` (host, pid and a random part). */
  readonly owner: string;
  /** How long a claim holds before another worker may take the job over; longer than any handler runs. */
  readonly leaseMs?: number;
  readonly onError?: (err: unknown, job: ClaimedJob) => void;
  /** Told about every run once it is recorded (metrics: lateness, outcome). */
  readonly observer?: (run: JobRunReport) => void;
}

export interface JobRunReport {
  readonly kind: string;
  readonly clockId: string | null;
  /** Due time, in its clock's time. */
  readonly runAt: number;
  /** System time at which this run started. */
  readonly startedAt: number;
  readonly ok: boolean;
}

export interface RunDueArgs {
  /** At most this many jobs per call. */
  readonly limit: number;
  /** Jobs run at the same time by this process. */
  readonly concurrency: number;
}

export interface JobRunner {
  /** Runs system-clock jobs that are due now; returns how many it ran (succeeded or failed). */
  runDue(args: RunDueArgs): Promise<number>;
  /**
   * Claims and runs one job regardless of its lease (for a test clock's advance, which holds the
   * clock and so every job on it). Returns false when it was no longer pending; rethrows the
   * handler's error after recording it.
   */
  runClaimed(row: ScheduledJobsTable): Promise<boolean>;
}

export const DEFAULT_JOB_LEASE_MS = 5 * 60_000;
const MAX_BACKOFF_MS = 15 * 60_000;

/** 2 s, 4 s, 8 s … up to 15 minutes: a handler failing on infrastructure is retried, never dropped. */
export function jobBackoffMs(attempts: number): number {
  return Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(Math.max(attempts, 1), 20));
}

export function createJobRunner(args: JobRunnerArgs): JobRunner {
  const { db, system, owner } = args;
  const leaseMs = args.leaseMs ?? DEFAULT_JOB_LEASE_MS;
  const handlers = new Map<string, JobHandler>();
  for (const h of args.handlers) {
    if (handlers.has(h.kind)) throw new Error(`two job handlers for ${h.kind}`);
    handlers.set(h.kind, h);
  }

  /** The conditional update that makes this process the job's only runner until the lease ends. */
  async function claim(row: ScheduledJobsTable, options: { readonly ignoreLease: boolean }): Promise<{ readonly job: ClaimedJob; readonly version: number } | null> {
    const now = system.now();
    const version = dbInt(row.version);
    let q = db.kysely
      .updateTable('scheduled_jobs')
      .set({ lease_owner: owner, lease_until: now + leaseMs, attempts: dbInt(row.attempts) + 1, updated_at: now, version: version + 1 })
      .where('id', '=', row.id)
      .where('status', '=', 'pending')
      .where('version', '=', version);
    if (!options.ignoreLease) q = q.where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]));
    const res = await q.executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) return null;
    return { job: claimedJob(row, dbInt(row.attempts) + 1), version: version + 1 };
  }

  async function finish(job: ClaimedJob, version: number, outcome: { readonly ok: true } | { readonly ok: false; readonly err: unknown }): Promise<void> {
    const now = system.now();
    const changes = outcome.ok
      ? { status: 'done', lease_until: null, last_error: null }
      : { lease_until: now + jobBackoffMs(job.attempts), last_error: String(outcome.err instanceof Error ? outcome.err.message : outcome.err).slice(0, 1000) };
    // Conditional on our claim: a job another runner took over (its lease had passed) keeps what
    // that runner records. One canceled while it ran is still marked done when it succeeded: it
    // did run (a handler may cancel its own subject's jobs, itself among them).
    await db.kysely
      .updateTable('scheduled_jobs')
      .set({ ...changes, updated_at: now, version: version + 1 })
      .where('id', '=', job.id)
      .where('version', '=', version)
      .where('lease_owner', '=', owner)
      .execute();
  }

  async function run(row: ScheduledJobsTable, options: { readonly ignoreLease: boolean; readonly rethrow: boolean }): Promise<boolean> {
    const claimed = await claim(row, options);
    if (claimed === null) return false;
    // A job is an operation of its own (a trace, or a child of the request advancing a test clock),
    // and its log lines say which job they belong to.
    const { id, kind } = claimed.job;
    return inSpan(`job ${kind}`, { attributes: { 'obol.job.kind': kind, 'obol.job.id': id } }, (span) =>
      withLogScope({ jobId: id, jobKind: kind }, () => runClaimedJob(claimed, span, options)),
    );
  }

  async function runClaimedJob(claimed: { readonly job: ClaimedJob; readonly version: number }, span: Span, options: { readonly rethrow: boolean }): Promise<boolean> {
    const handler = handlers.get(claimed.job.kind);
    const startedAt = system.now();
    const observe = (ok: boolean) => {
      try {
        args.observer?.({ kind: claimed.job.kind, clockId: claimed.job.clockId, runAt: claimed.job.runAt, startedAt, ok });
      } catch {
        // An observer never changes a job's course.
      }
    };
    try {
      if (!handler) throw new Error(`no handler for job kind ${claimed.job.kind}`);
      await handler.run(claimed.job);
    } catch (err) {
      recordFailure(span, err);
      await finish(claimed.job, claimed.version, { ok: false, err });
      observe(false);
      args.onError?.(err, claimed.job);
      if (options.rethrow) throw err;
      return true;
    }
    await finish(claimed.job, claimed.version, { ok: true });
    observe(true);
    return true;
  }

  return {
    async runDue({ limit, concurrency }) {
      const now = system.now();
      const due = await db.kysely
        .selectFrom('scheduled_jobs')
        .selectAll()
        .where('status', '=', 'pending')
        .where('clock_id', 'is', null)
        .where('run_at', '<=', now)
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]))
        .orderBy('run_at')
        .orderBy('id')
        .limit(limit)
        .execute();
      let ran = 0;
      let next = 0;
      const lanes = Array.from({ length: Math.max(1, Math.min(concurrency, due.length)) }, async () => {
        while (next < due.length) {
          const row = due[next++]!;
          if (await run(row, { ignoreLease: false, rethrow: false })) ran += 1;
        }
      });
      await Promise.all(lanes);
      return ran;
    },
    runClaimed: (row) => run(row, { ignoreLease: true, rethrow: true }),
  };
}

/** Pending jobs of a subject (for read models and tests). */
export async function pendingJobsOf(db: Executor, subjectId: string): Promise<readonly ClaimedJob[]> {
  const rows = await db.selectFrom('scheduled_jobs').selectAll().where('subject_id', '=', subjectId).where('status', '=', 'pending').orderBy('run_at').execute();
  return rows.map((r) => claimedJob(r, dbInt(r.attempts)));
}
