/**
 * Resolves gateway calls whose outcome Obol does not know (timeouts, crashes between the call and
 * the commit of its outcome). It asks the gateway what happened to the call's idempotency key;
 * if the gateway never saw the call, it sends the very same request again under the same key,
 * which the gateway treats as one request. Nothing is ever guessed.
 */
import type { Connector } from './connectors/port.js';
import type { PaymentsDeps } from './deps.js';
import { applyAuthorizeOutcome, executeAttempt, gatewayKeyOf, markAttemptUnknown } from './authorize.js';
import { applyOperationOutcome, applyRefundOutcome, executeOperation, executeRefund } from './operations.js';
import { normaliseAttempt } from './records.js';

export interface ReconcileArgs {
  /** Calls whose last update is older than this are examined (give slow calls time to finish). */
  readonly olderThanMs: number;
  readonly limit?: number;
}

export interface ReconcileResult {
  readonly examined: number;
  readonly resolved: number;
  readonly stillUnknown: number;
}

function connectorFor(deps: PaymentsDeps, name: string): Connector | undefined {
  return deps.connectors.get(name);
}

export async function resolveUnknownOutcomes(deps: PaymentsDeps, args: ReconcileArgs): Promise<ReconcileResult> {
  const { db, clock } = deps;
  const cutoff = clock.now() - args.olderThanMs;
  const limit = args.limit ?? 100;
  let examined = 0;
  let resolved = 0;
  let stillUnknown = 0;

  const attempts = await db.kysely
    .selectFrom('payment_attempts')
    .selectAll()
    .where('status', 'in', ['pending', 'unknown'])
    .where('updated_at', '<=', cutoff)
    .orderBy('updated_at')
    .limit(limit)
    .execute();
  for (const row of attempts) {
    examined++;
    const attempt = normaliseAttempt(row);
    const connector = connectorFor(deps, attempt.connector);
    if (!connector) {
      stillUnknown++;
      continue;
    }
    const { operation, key } = gatewayKeyOf(attempt);
    try {
      const found = await connector.retrieve({ idempotencyKey: key, operation });
      if (found.status === 'found' && (found.operation === 'authorize' || found.operation === 'resume')) {
        await applyAuthorizeOutcome(deps, attempt.id, found.outcome);
      } else {
        // The gateway has no record: repeat the identical request under the identical key.
        await executeAttempt(deps, attempt.id);
      }
    } catch (err) {
      deps.onGatewayError?.(err, { operation: `reconcile:${operation}`, id: attempt.id });
      await markAttemptUnknown(deps, attempt.id);
    }
    const after = await db.kysely.selectFrom('payment_attempts').select('status').where('id', '=', attempt.id).executeTakeFirst();
    if (after && (after.status === 'pending' || after.status === 'unknown')) {
      stillUnknown++;
      // Touch it so the next round looks at other calls first.
      await db.kysely.updateTable('payment_attempts').set({ updated_at: clock.now() }).where('id', '=', attempt.id).where('status', '=', after.status).execute();
    } else resolved++;
  }

  const operations = await db.kysely
    .selectFrom('payment_operations')
    .selectAll()
    .where('status', 'in', ['pending', 'unknown'])
    .where('updated_at', '<=', cutoff)
    .orderBy('updated_at')
    .limit(limit)
    .execute();
  for (const op of operations) {
    examined++;
    const connector = connectorFor(deps, op.connector);
    if (!connector) {
      stillUnknown++;
      continue;
    }
    const kind = op.kind === 'void' ? 'void' : 'capture';
    try {
      const found = await connector.retrieve({ idempotencyKey: op.idempotency_key, operation: kind });
      if (found.status === 'found' && (found.operation === 'capture' || found.operation === 'void')) await applyOperationOutcome(deps, op.id, found.outcome);
      else await executeOperation(deps, op.id);
    } catch (err) {
      deps.onGatewayError?.(err, { operation: `reconcile:${kind}`, id: op.id });
    }
    const after = await db.kysely.selectFrom('payment_operations').select('status').where('id', '=', op.id).executeTakeFirst();
    if (after && (after.status === 'pending' || after.status === 'unknown')) {
      stillUnknown++;
      await db.kysely.updateTable('payment_operations').set({ status: 'unknown', updated_at: clock.now() }).where('id', '=', op.id).where('status', 'in', ['pending', 'unknown']).execute();
    } else resolved++;
  }

  const refunds = await db.kysely
    .selectFrom('refunds')
    .selectAll()
    .where('status', 'in', ['pending', 'unknown'])
    .where('updated_at', '<=', cutoff)
    .orderBy('updated_at')
    .limit(limit)
    .execute();
  for (const refund of refunds) {
    examined++;
    const connector = connectorFor(deps, refund.connector);
    if (!connector) {
      stillUnknown++;
      continue;
    }
    try {
      const found = await connector.retrieve({ idempotencyKey: refund.idempotency_key, operation: 'refund' });
      if (found.status === 'found' && found.operation === 'refund') await applyRefundOutcome(deps, refund.id, found.outcome);
      else await executeRefund(deps, refund.id);
    } catch (err) {
      deps.onGatewayError?.(err, { operation: 'reconcile:refund', id: refund.id });
    }
    const after = await db.kysely.selectFrom('refunds').select('status').where('id', '=', refund.id).executeTakeFirst();
    if (after && (after.status === 'pending' || after.status === 'unknown')) {
      stillUnknown++;
      await db.kysely.updateTable('refunds').set({ status: 'unknown', updated_at: clock.now() }).where('id', '=', refund.id).where('status', 'in', ['pending', 'unknown']).execute();
    } else resolved++;
  }

  return { examined, resolved, stillUnknown };
}
