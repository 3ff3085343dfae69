/**
 * Idempotent mutations (invariant 5). A caller's key is claimed before any effect; a replay
 * returns the first response; the same key with a different request is a typed error; a
 * concurrent duplicate waits for the first to finish and then returns its response, so two
 * identical requests racing each other have exactly one effect.
 *
 * A key whose holder crashed stays `in_progress` until `locked_until`; after that a retry takes
 * it over and runs again. That is safe because every use case is itself guarded by its domain
 * state and finds its own earlier result by the caller's key (a session confirms once; an
 * attempt, operation, refund or resume remembers the request key that made it; gateway calls
 * carry their own idempotency keys).
 *
 * Locks are infrastructure, so they run on wall time, never on a test clock.
 */
import { createHash, randomUUID } from 'node:crypto';
import { ObolError, isObolError } from '../kernel/index.js';
import type { Clock } from '../kernel/index.js';
import { isUniqueViolation, type Db, type Tx } from './db/index.js';

export interface IdempotencyRequest {
  /** Whose key space: the calling principal (until authentication lands, one shared space). */
  readonly scope: string;
  readonly key: string;
  /** The mutation's name; part of the fingerprint so a key cannot be reused across mutations. */
  readonly operation: string;
  /** The request as the caller sent it, minus the key itself. */
  readonly request: unknown;
}

export interface IdempotencyContext<T> {
  /** Stores the response inside the use case's own transaction, so effect and record commit together. */
  finish(tx: Tx, response: T): Promise<void>;
}

export interface IdempotencyOptions {
  readonly db: Db;
  readonly clock: Clock;
  /** How long a claim protects an in-flight request before a retry may take it over. */
  readonly lockMs?: number;
  /** How long a concurrent duplicate waits for the first request's response. */
  readonly waitMs?: number;
}

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export function assertIdempotencyKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new ObolError('IDEMPOTENCY_KEY_REQUIRED', 'idempotencyKey is required: a unique string per intended operation (a UUID is ideal).');
  }
  if (!KEY_PATTERN.test(key)) {
    throw new ObolError('VALIDATION_FAILED', 'idempotencyKey must be 1–255 printable ASCII characters without spaces.', { field: 'idempotencyKey' });
  }
}

/** JSON with sorted object keys, so the fingerprint does not depend on property order. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function fingerprint(operation: string, request: unknown): string {
  return createHash('sha256').update(operation).update('\0').update(canonicalJson(request)).digest('hex');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `execute` at most once per (scope, key) in effect. `T` must be JSON-serialisable: a replay
 * returns the stored JSON, so the first response and its replays are byte-for-byte the same data.
 */
export async function runIdempotent<T>(
  options: IdempotencyOptions,
  req: IdempotencyRequest,
  execute: (ctx: IdempotencyContext<T>) => Promise<T>,
): Promise<T> {
  assertIdempotencyKey(req.key);
  const { db, clock } = options;
  // Longer than any gateway call may take (connectors time out well within it).
  const lockMs = options.lockMs ?? 60_000;
  const holder = randomUUID();
  const waitMs = options.waitMs ?? 15_000;
  const hash = fingerprint(req.operation, req.request);
  const keyWhere = { scope: req.scope, idem_key: req.key };

  const claimed = await claim();
  if (claimed.kind === 'replay') return claimed.response;

  let finished = false;
  const ctx: IdempotencyContext<T> = {
    async finish(tx, response) {
      // Only the holder stores: a request that outlived its lock and was taken over must not
      // overwrite the response its successor recorded.
      await tx
        .updateTable('idempotency_keys')
        .set({ status: 'completed', response: JSON.stringify(response), updated_at: clock.now() })
        .where('scope', '=', keyWhere.scope)
        .where('idem_key', '=', keyWhere.idem_key)
        .where('holder', '=', holder)
        .where('status', '=', 'in_progress')
        .execute();
      finished = true;
    },
  };

  let response: T;
  try {
    response = await execute(ctx);
  } catch (err) {
    // A typed error is a refusal that changed nothing, so the key is freed and the caller may
    // retry it at once. Anything else may have struck after a commit (an attempt row, a gateway
    // call): the claim stays until it expires, and the retry that takes it over finds what was
    // done through the use case's own request-key guard.
    if (isObolError(err)) {
      await db.kysely
        .deleteFrom('idempotency_keys')
        .where('scope', '=', keyWhere.scope)
        .where('idem_key', '=', keyWhere.idem_key)
        .where('holder', '=', holder)
        .where('status', '=', 'in_progress')
        .execute()
        .catch(() => undefined);
    }
    throw err;
  }
  if (!finished) await db.transaction((tx) => ctx.finish(tx, response));
  // Round-trip through JSON so the first response is exactly what a replay will return.
  return JSON.parse(JSON.stringify(response)) as T;

  async function claim(): Promise<{ kind: 'new' } | { kind: 'replay'; response: T }> {
    const deadline = Date.now() + waitMs; // wall time: waiting is infrastructure, not business time
    for (;;) {
      const now = Date.now();
      try {
        await db.kysely
          .insertInto('idempotency_keys')
          .values({
            ...keyWhere,
            operation: req.operation,
            request_hash: hash,
            status: 'in_progress',
            response: null,
            holder,
            locked_until: now + lockMs,
            created_at: clock.now(),
            updated_at: clock.now(),
          })
          .execute();
        return { kind: 'new' };
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
      }
      const row = await db.kysely.selectFrom('idempotency_keys').selectAll().where('scope', '=', keyWhere.scope).where('idem_key', '=', keyWhere.idem_key).executeTakeFirst();
      if (!row) continue; // released between our insert and read: try again
      if (row.request_hash !== hash || row.operation !== req.operation) {
        throw new ObolError('IDEMPOTENCY_KEY_REUSED', 'This idempotency key was already used for a different request. Use a new key for a new operation.');
      }
      if (row.status === 'completed' && row.response !== null) {
        return { kind: 'replay', response: JSON.parse(row.response) as T };
      }
      if (row.locked_until <= now) {
        // The first holder died mid-flight: take the key over atomically.
        const taken = await db.kysely
          .updateTable('idempotency_keys')
          .set({ holder, locked_until: now + lockMs, updated_at: now })
          .where('scope', '=', keyWhere.scope)
          .where('idem_key', '=', keyWhere.idem_key)
          .where('status', '=', 'in_progress')
          .where('locked_until', '=', row.locked_until)
          .executeTakeFirst();
        if (Number(taken.numUpdatedRows) === 1) return { kind: 'new' };
        continue;
      }
      if (Date.now() >= deadline) {
        throw new ObolError('IDEMPOTENCY_REQUEST_IN_PROGRESS', 'A request with this idempotency key is still being processed; retry shortly with the same key.');
      }
      await sleep(25);
    }
  }
}

/** How long a completed response is kept for replays (as long as the big gateways keep theirs). */
export const IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60 * 1000;

/** Forgets completed keys older than the retention; a key still in progress is never removed. */
export async function purgeIdempotencyKeys(db: Db, args: { readonly olderThanMs?: number; readonly limit?: number } = {}): Promise<number> {
  const cutoff = Date.now() - (args.olderThanMs ?? IDEMPOTENCY_RETENTION_MS);
  const old = await db.kysely
    .selectFrom('idempotency_keys')
    .select(['scope', 'idem_key'])
    .where('status', '=', 'completed')
    .where('locked_until', '<', cutoff)
    .limit(args.limit ?? 1000)
    .execute();
  for (const k of old) {
    await db.kysely.deleteFrom('idempotency_keys').where('scope', '=', k.scope).where('idem_key', '=', k.idem_key).where('status', '=', 'completed').execute();
  }
  return old.length;
}
