/**
 * Applies what a gateway's webhook reported: a dispute goes to the dispute use case; a payment
 * change makes Obol ask the gateway about the attempt it concerns (never trusting the event's
 * own claim, which may be stale or out of order).
 */
import { ObolError } from '../kernel/index.js';
import type { PaymentsDeps } from './deps.js';
import { applyDisputeEvent } from './disputes/index.js';
import type { GatewayFact } from './gateway-events.js';
import { resolveAttempt } from './reconcile.js';

export async function applyGatewayFact(deps: PaymentsDeps, fact: GatewayFact, occurredAt: number): Promise<{ readonly outcome: string }> {
  switch (fact.kind) {
    case 'ignored':
      return { outcome: fact.reason };
    case 'dispute': {
      const attempt = await attemptFor(deps, fact.connector, fact.paymentReference);
      if (!attempt) throw new ObolError('NOT_FOUND', `no ${fact.connector} payment ${fact.paymentReference} is known to Obol`);
      const result = await applyDisputeEvent(deps, {
        connector: fact.connector,
        gatewayDisputeId: fact.gatewayDisputeId,
        paymentId: attempt.payment_id,
        kind: fact.status,
        amount: fact.amount,
        fee: fact.fee,
        reason: fact.reason,
        occurredAt,
      });
      return { outcome: result.applied ? `dispute ${fact.status} applied` : 'dispute already known' };
    }
    case 'payment_changed': {
      const attempt = await attemptFor(deps, fact.connector, fact.paymentReference);
      // An event for a payment Obol did not start (or not yet committed) changes nothing here.
      if (!attempt) return { outcome: 'no matching attempt' };
      if (attempt.status !== 'pending' && attempt.status !== 'unknown') return { outcome: `attempt already ${attempt.status}` };
      await resolveAttempt(deps, attempt.id);
      return { outcome: 'attempt resolved by asking the gateway' };
    }
    default: {
      const unreachable: never = fact;
      throw new Error(`unknown gateway fact ${JSON.stringify(unreachable)}`);
    }
  }
}

async function attemptFor(deps: PaymentsDeps, connector: string, reference: string) {
  return deps.db.kysely
    .selectFrom('payment_attempts')
    .select(['id', 'payment_id', 'status'])
    .where('connector', '=', connector)
    .where('gateway_reference', '=', reference)
    .orderBy('seq', 'desc')
    .executeTakeFirst();
}
