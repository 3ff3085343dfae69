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
 * Where the keys live is a port (IdempotencyStore): the system-of-record database by default
 * (sqlIdempotencyStore, below), or DynamoDB (idempotency-dynamodb.ts). The two differ in one
 * place, when the response is recorded:
 *
 * - SQL joins the use case's transaction: `finish(tx, response)` writes the response in `tx`, so
 *   the effect and its record commit together or not at all.
 * - A store in another system cannot join that transaction. `finish` only checks the response
 *   can be stored and keeps it; runIdempotent records it right after `execute` returns, that is
 *   after the use case committed. A process that dies between that commit and that write (or a
 *   write that fails: the caller then gets an error for an effect that happened) leaves the key
 *   `in_progress` with its effect done. Nothing new is needed for that case: it is the
 *   crashed-holder case above. A duplicate arriving before the lock expires waits and then gets
 *   IDEMPOTENCY_REQUEST_IN_PROGRESS; the first retry after it takes the key over and runs the
 *   use case again, which finds its earlier result through its own request-key guard and
 *   returns it, and that response is recorded. The one use case without such a guard is
 *   createCheckoutSession (it relies on `finish` alone): there the retry opens a second session.
 *   That costs a row and one tick of the customer's checkout rate limit: an open session holds
 *   no money and no coupon, expires after CHECKOUT_SESSION_TTL_SECONDS, and only a confirmation
 *   (which is guarded) charges.
 *
 * Locks are infrastructure, so they run on wall time, never on a test clock.
 */
import { createHash, randomUUID } from 'node:crypto';
import { ObolError, isObolError } from '../kernel/index.js';
import type { Clock } from '../kernel/index.js';
import { dbInt, isUniqueViolation, type Db, type Tx } from './db/index.js';

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
  /**
   * Hands over the response from inside the use case's own transaction. A store that can join
   * that transaction (SQL) stores it there, so effect and record commit together; any other
   * store checks now that it can keep it (a refusal here rolls the use case back) and records it
   * right after the commit.
   */
  finish(tx: Tx, response: T): Promise<void>;
}

export interface IdempotencyOptions {
  readonly db: Db;
  readonly clock: Clock;
  /** Where the keys live; default: the `idempotency_keys` table of `db`. */
  readonly store?: IdempotencyStore;
  /** How long a claim protects an in-flight request before a retry may take it over. */
  readonly lockMs?: number;
  /** How long a concurrent duplicate waits for the first request's response. */
  readonly waitMs?: number;
}

/**
 * How long a duplicate waits for the first request at an API edge: half the request timeout, at
 * most 10 s. A caller whose first request is still running, or whose holder died mid-request
 * (its claim lasts until the lock expires), then hears IDEMPOTENCY_REQUEST_IN_PROGRESS, a typed
 * answer to retry on, instead of having its connection cut by the request timeout.
 */
export function duplicateWaitMs(requestTimeoutMs: number): number {
  return Math.min(10_000, Math.floor(requestTimeoutMs / 2));
}

export const IDEMPOTENCY_STATUSES = ['in_progress', 'completed'] as const;
export type IdempotencyStatus = (typeof IDEMPOTENCY_STATUSES)[number];

export function isIdempotencyStatus(value: unknown): value is IdempotencyStatus {
  return (IDEMPOTENCY_STATUSES as readonly unknown[]).includes(value);
}

/** One caller's key: (scope, key) is unique. */
export interface IdempotencyKeyRef {
  readonly scope: string;
  readonly key: string;
}

export interface IdempotencyRecord {
  readonly operation: string;
  readonly requestHash: string;
  readonly status: IdempotencyStatus;
  /** The response as JSON, once completed. */
  readonly response: string | null;
  readonly holder: string;
  /** Wall time (epoch ms) until which the holder's claim stands. */
  readonly lockedUntil: number;
}

/**
 * Where idempotency keys live. Every write is conditional, so concurrent processes agree on one
 * holder per key without any lock outside the store.
 */
export interface IdempotencyStore {
  /** Whether `complete` can join the use case's own transaction (the store is in the same database). */
  readonly joinsTransactions: boolean;
  /** Largest response (UTF-8 bytes of its JSON) the store can keep; null: no limit of its own. */
  readonly maxResponseBytes: number | null;
  /** Claims an unused key for `holder`; false when the key already has a record (then `find` it). */
  insert(args: { readonly ref: IdempotencyKeyRef; readonly operation: string; readonly requestHash: string; readonly holder: string; readonly lockedUntil: number; readonly now: number }): Promise<boolean>;
  /** The key's record; undefined when it has none (never used, released, or past its retention). */
  find(args: { readonly ref: IdempotencyKeyRef }): Promise<IdempotencyRecord | undefined>;
  /** Gives an in-progress key to `holder`, only if its lock is still the expired `expectedLockedUntil`. */
  takeOver(args: { readonly ref: IdempotencyKeyRef; readonly holder: string; readonly expectedLockedUntil: number; readonly lockedUntil: number; readonly now: number }): Promise<boolean>;
  /**
   * Stores the response, only while `holder` still holds the key in progress: a request that
   * outlived its lock and was taken over must not overwrite its successor's response. `tx` is
   * the use case's open transaction when there is one; only a store that joinsTransactions uses it.
   */
  complete(args: { readonly ref: IdempotencyKeyRef; readonly holder: string; readonly response: string; readonly now: number; readonly tx: Tx | null }): Promise<void>;
  /** Frees a key `holder` still holds in progress (its request was refused and changed nothing). */
  release(args: { readonly ref: IdempotencyKeyRef; readonly holder: string }): Promise<void>;
  /** Forgets completed keys past the retention; returns how many (0 where the store expires them itself). */
  purge(args: { readonly olderThanMs?: number; readonly limit?: number }): Promise<number>;
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

function responseJson(response: unknown, store: IdempotencyStore): string {
  const json = JSON.stringify(response);
  if (store.maxResponseBytes !== null) {
    const bytes = Buffer.byteLength(json, 'utf8');
    if (bytes > store.maxResponseBytes) {
      throw new ObolError('INTERNAL', `The response (${bytes} bytes of JSON) is larger than the idempotency store can keep (${store.maxResponseBytes} bytes).`);
    }
  }
  return json;
}

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
  const store = options.store ?? sqlIdempotencyStore(db);
  // Longer than any gateway call may take (connectors time out well within it).
  const lockMs = options.lockMs ?? 60_000;
  const holder = randomUUID();
  const waitMs = options.waitMs ?? 15_000;
  const hash = fingerprint(req.operation, req.request);
  const ref: IdempotencyKeyRef = { scope: req.scope, key: req.key };

  const claimed = await claim();
  if (claimed.kind === 'replay') return claimed.response;

  let finished = false;
  // The response handed to `finish`, for a store that records it after the commit.
  let handedOver: string | undefined;
  const ctx: IdempotencyContext<T> = {
    async finish(tx, response) {
      if (store.joinsTransactions) {
        await store.complete({ ref, holder, response: JSON.stringify(response), now: clock.now(), tx });
        finished = true;
      } else {
        // Checked inside the transaction, so a response the store cannot keep rolls the use case back.
        handedOver = responseJson(response, store);
      }
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
    if (isObolError(err)) await store.release({ ref, holder }).catch(() => undefined);
    throw err;
  }
  if (!finished) {
    if (store.joinsTransactions) {
      await db.transaction((tx) => store.complete({ ref, holder, response: JSON.stringify(response), now: clock.now(), tx }));
    } else {
      // After the commit: a failure here (or a crash) leaves the key in progress; see the header.
      // A plain Error, not a typed one, so the claim is kept rather than released.
      let json = handedOver;
      if (json === undefined) {
        try {
          json = responseJson(response, store);
        } catch (err) {
          throw new Error(`idempotency key ${JSON.stringify(req.key)}: the effect is committed but its response cannot be recorded`, { cause: err });
        }
      }
      await store.complete({ ref, holder, response: json, now: clock.now(), tx: null });
    }
  }
  // Round-trip through JSON so the first response is exactly what a replay will return.
  return JSON.parse(JSON.stringify(response)) as T;

  async function claim(): Promise<{ kind: 'new' } | { kind: 'replay'; response: T }> {
    const deadline = Date.now() + waitMs; // wall time: waiting is infrastructure, not business time
    for (;;) {
      const now = Date.now();
      if (await store.insert({ ref, operation: req.operation, requestHash: hash, holder, lockedUntil: now + lockMs, now: clock.now() })) return { kind: 'new' };
      const row = await store.find({ ref });
      if (!row) continue; // released between our insert and read: try again
      if (row.requestHash !== hash || row.operation !== req.operation) {
        throw new ObolError('IDEMPOTENCY_KEY_REUSED', 'This idempotency key was already used for a different request. Use a new key for a new operation.');
      }
      if (row.status === 'completed' && row.response !== null) {
        return { kind: 'replay', response: JSON.parse(row.response) as T };
      }
      if (row.lockedUntil <= now) {
        // The first holder died mid-flight: take the key over atomically.
        if (await store.takeOver({ ref, holder, expectedLockedUntil: row.lockedUntil, lockedUntil: now + lockMs, now })) return { kind: 'new' };
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

/** The default store: the `idempotency_keys` table of the system-of-record database. */
export function sqlIdempotencyStore(db: Db): IdempotencyStore {
  return {
    joinsTransactions: true,
    maxResponseBytes: null,
    async insert({ ref, operation, requestHash, holder, lockedUntil, now }) {
      try {
        await db.kysely
          .insertInto('idempotency_keys')
          .values({ scope: ref.scope, idem_key: ref.key, operation, request_hash: requestHash, status: 'in_progress', response: null, holder, locked_until: lockedUntil, created_at: now, updated_at: now })
          .execute();
        return true;
      } catch (err) {
        if (isUniqueViolation(err)) return false;
        throw err;
      }
    },
    async find({ ref }) {
      const row = await db.kysely.selectFrom('idempotency_keys').selectAll().where('scope', '=', ref.scope).where('idem_key', '=', ref.key).executeTakeFirst();
      if (!row) return undefined;
      if (!isIdempotencyStatus(row.status)) throw new Error(`corrupt idempotency_keys row: status ${JSON.stringify(row.status)}`);
      return { operation: row.operation, requestHash: row.request_hash, status: row.status, response: row.response, holder: row.holder, lockedUntil: dbInt(row.locked_until) };
    },
    async takeOver({ ref, holder, expectedLockedUntil, lockedUntil, now }) {
      const taken = await db.kysely
        .updateTable('idempotency_keys')
        .set({ holder, locked_until: lockedUntil, updated_at: now })
        .where('scope', '=', ref.scope)
        .where('idem_key', '=', ref.key)
        .where('status', '=', 'in_progress')
        .where('locked_until', '=', expectedLockedUntil)
        .executeTakeFirst();
      return Number(taken.numUpdatedRows) === 1;
    },
    async complete({ ref, holder, response, now, tx }) {
      await (tx ?? db.kysely)
        .updateTable('idempotency_keys')
        .set({ status: 'completed', response, updated_at: now })
        .where('scope', '=', ref.scope)
        .where('idem_key', '=', ref.key)
        .where('holder', '=', holder)
        .where('status', '=', 'in_progress')
        .execute();
    },
    async release({ ref, holder }) {
      await db.kysely
        .deleteFrom('idempotency_keys')
        .where('scope', '=', ref.scope)
        .where('idem_key', '=', ref.key)
        .where('holder', '=', holder)
        .where('status', '=', 'in_progress')
        .execute();
    },
    async purge(args) {
      // A key still in progress is never removed.
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
    },
  };
}

/** Forgets completed keys older than the retention; a key still in progress is never removed. */
export async function purgeIdempotencyKeys(db: Db, args: { readonly olderThanMs?: number; readonly limit?: number } = {}): Promise<number> {
  return sqlIdempotencyStore(db).purge(args);
}
