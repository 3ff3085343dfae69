/**
 * Resolves gateway calls whose outcome Obol does not know (timeouts, crashes between the call and
 * the commit of its outcome). It asks the gateway what happened to the call's idempotency key;
 * if the gateway never saw the call, it sends the very same request again under the same key,
 * which the gateway treats as one request. Nothing is ever guessed.
 */
import type { Connector, RetrieveOutcome } from './connectors/port.js';
import type { PaymentsDeps } from './deps.js';
import { applyAuthorizeOutcome, executeAttempt, gatewayKeyOf, markAttemptUnknown } from './authorize.js';
import { applyOperationOutcome, applyRefundOutcome, executeOperation, executeRefund } from './operations.js';
import { normaliseAttempt } from './records.js';
import { inSpan, traced } from '../platform/observability/tracing.js';

/**
 * A `pending` call may simply still be in flight, so it is left alone for longer than any
 * connector's client timeout; `unknown` ones (the call already failed) are looked at sooner.
 */
export const PENDING_GRACE_MS = 120_000;

type Found = Extract<RetrieveOutcome, { status: 'found' }>;

/** An outcome of one of the operations a payment attempt makes (gatewayKeyOf): an attempt's outcome. */
function isAttemptOutcome(found: Found): found is Extract<Found, { operation: 'authorize' | 'resume' | 'charge_off_session' }> {
  return found.operation === 'authorize' || found.operation === 'resume' || found.operation === 'charge_off_session';
}

export interface ReconcileArgs {
  /** `unknown` calls whose last update is older than this are examined. */
  readonly olderThanMs: number;
  /** `pending` calls older than this are examined (default PENDING_GRACE_MS). */
  readonly pendingOlderThanMs?: number;
  readonly limit?: number;
}

export interface ReconcileResult {
  readonly examined: number;
  readonly resolved: number;
  readonly stillUnknown: number;
}

type CallTable = 'payment_attempts' | 'payment_operations' | 'refunds';

/** One kind of gateway call, as the reconciler needs to see it. */
interface CallKind {
  readonly table: CallTable;
  readonly operationOf: (id: string) => Promise<{ readonly connector: string; readonly retrieve: Parameters<Connector['retrieve']>[0] } | undefined>;
  /** Applies a found outcome; false when the outcome is for another kind of call. */
  readonly apply: (id: string, found: Extract<RetrieveOutcome, { status: 'found' }>) => Promise<boolean>;
  /** Sends the identical request again under the identical key. */
  readonly resend: (id: string) => Promise<void>;
  readonly markUnknown: (id: string) => Promise<void>;
}

export async function resolveUnknownOutcomes(deps: PaymentsDeps, args: ReconcileArgs): Promise<ReconcileResult> {
  const { db, clock } = deps;
  const now = clock.now();
  const limit = args.limit ?? 100;
  const unknownCutoff = now - args.olderThanMs;
  const pendingCutoff = now - Math.max(args.olderThanMs, args.pendingOlderThanMs ?? PENDING_GRACE_MS);

  const kinds: readonly CallKind[] = [
    {
      table: 'payment_attempts',
      async operationOf(id) {
        const row = await db.kysely.selectFrom('payment_attempts').selectAll().where('id', '=', id).executeTakeFirst();
        if (!row) return undefined;
        const { operation, key } = gatewayKeyOf(normaliseAttempt(row));
        return { connector: row.connector, retrieve: { idempotencyKey: key, operation } };
      },
      async apply(id, found) {
        if (!isAttemptOutcome(found)) return false;
        await applyAuthorizeOutcome(deps, id, found.outcome);
        return true;
      },
      resend: (id) => executeAttempt(deps, id, { firstSend: false }),
      markUnknown: (id) => markAttemptUnknown(deps, id),
    },
    {
      table: 'payment_operations',
      async operationOf(id) {
        const row = await db.kysely.selectFrom('payment_operations').select(['connector', 'kind', 'idempotency_key']).where('id', '=', id).executeTakeFirst();
        return row ? { connector: row.connector, retrieve: { idempotencyKey: row.idempotency_key, operation: row.kind === 'void' ? 'void' : 'capture' } } : undefined;
      },
      async apply(id, found) {
        if (found.operation !== 'capture' && found.operation !== 'void') return false;
        await applyOperationOutcome(deps, id, found.outcome);
        return true;
      },
      resend: (id) => executeOperation(deps, id),
      markUnknown: async (id) => {
        await db.kysely.updateTable('payment_operations').set({ status: 'unknown', updated_at: clock.now() }).where('id', '=', id).where('status', '=', 'pending').execute();
      },
    },
    {
      table: 'refunds',
      async operationOf(id) {
        const row = await db.kysely.selectFrom('refunds').select(['connector', 'idempotency_key']).where('id', '=', id).executeTakeFirst();
        return row ? { connector: row.connector, retrieve: { idempotencyKey: row.idempotency_key, operation: 'refund' } } : undefined;
      },
      async apply(id, found) {
        if (found.operation !== 'refund') return false;
        await applyRefundOutcome(deps, id, found.outcome);
        return true;
      },
      resend: (id) => executeRefund(deps, id),
      markUnknown: async (id) => {
        await db.kysely.updateTable('refunds').set({ status: 'unknown', updated_at: clock.now() }).where('id', '=', id).where('status', '=', 'pending').execute();
      },
    },
  ];

  async function resolveOne(kind: CallKind, id: string): Promise<void> {
    const call = await kind.operationOf(id);
    const connector = call ? deps.connectors.get(call.connector) : undefined;
    if (!call || !connector) throw new Error(`connector ${call?.connector ?? '?'} is not configured`);
    let found: RetrieveOutcome;
    try {
      found = await connector.retrieve(call.retrieve);
    } catch (err) {
      // The gateway could not answer the question either: ask again next round.
      deps.onIncident?.(err, { operation: `reconcile:${call.retrieve.operation}`, id });
      await kind.markUnknown(id);
      return;
    }
    if (found.status === 'not_found') return kind.resend(id);
    if (!(await kind.apply(id, found))) throw new Error(`gateway returned a ${found.operation} outcome for ${kind.table} ${id}`);
  }

  let examined = 0;
  let resolved = 0;
  let stillUnknown = 0;
  for (const kind of kinds) {
    const due = await db.kysely
      .selectFrom(kind.table)
      .select(['id', 'status'])
      .where((eb) =>
        eb.or([
          eb.and([eb('status', '=', 'unknown'), eb('updated_at', '<=', unknownCutoff)]),
          eb.and([eb('status', '=', 'pending'), eb('updated_at', '<=', pendingCutoff)]),
        ]),
      )
      .orderBy('updated_at')
      .limit(limit)
      .execute();
    for (const { id } of due) {
      examined++;
      try {
        // Each resolution is an operation of its own: a trace with the gateway lookup in it.
        await inSpan('payments.reconcile', { attributes: { 'obol.reconcile.table': kind.table, 'obol.reconcile.id': id } }, () => resolveOne(kind, id));
      } catch (err) {
        // One call that cannot be resolved (a bug, a database error) must not stop the others.
        deps.onIncident?.(err, { operation: `reconcile:${kind.table}`, id });
      }
      const after = await db.kysely.selectFrom(kind.table).select('status').where('id', '=', id).executeTakeFirst();
      if (after && (after.status === 'pending' || after.status === 'unknown')) {
        stillUnknown++;
        // Touch it so the next round looks at other calls first: one stuck call never starves the rest.
        await db.kysely.updateTable(kind.table).set({ updated_at: clock.now() }).where('id', '=', id).where('status', '=', after.status).execute();
      } else resolved++;
    }
  }
  return { examined, resolved, stillUnknown };
}

/** Resolves one attempt now (a gateway webhook said something changed): the same steps as the reconciler. */
async function resolveAttemptUntraced(deps: PaymentsDeps, attemptId: string): Promise<void> {
  const row = await deps.db.kysely.selectFrom('payment_attempts').selectAll().where('id', '=', attemptId).executeTakeFirst();
  if (!row || (row.status !== 'pending' && row.status !== 'unknown')) return;
  const attempt = normaliseAttempt(row);
  const connector = deps.connectors.get(attempt.connector);
  if (!connector) throw new Error(`connector ${attempt.connector} is not configured`);
  const { operation, key } = gatewayKeyOf(attempt);
  const found = await connector.retrieve({ idempotencyKey: key, operation });
  if (found.status === 'found' && isAttemptOutcome(found)) await applyAuthorizeOutcome(deps, attempt.id, found.outcome);
}

/** Each call is one span of the trace it belongs to (platform/observability/tracing.ts). */
export const resolveAttempt = traced('payments.resolve_attempt', resolveAttemptUntraced);
