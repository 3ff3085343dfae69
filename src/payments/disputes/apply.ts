/**
 * applyDisputeEvent: what the gateway webhook processors call when a gateway reports a dispute
 * opened, won or lost. One transaction does everything — lock the payment, upsert the dispute,
 * post the ledger, enqueue the events — so a crash leaves either all of it or none of it, and the
 * webhook's retry simply applies it again.
 *
 * Idempotency: the dispute row is keyed by (connector, gateway dispute id), and the stored
 * status decides which legs an event still has to perform (domain.ts: disputeLegs). A repeated
 * or late event performs none and returns `applied: false`; nothing is written.
 *
 * Disputes do not touch the payment's status or amounts: a disputed payment still succeeded and
 * its refundable amount is a question for the gateway (most refuse a refund while a dispute is
 * open). The payment state machine stays about charging; disputes hang off the payment instead.
 *
 * Revocation: a lost dispute is, for access, the same as a full refund — the money is gone. Until
 * the entitlements context exists, the revocation path is the event stream: `dispute.lost`
 * (like `refund.succeeded` with fullyRefunded) is what the entitlements consumer must treat as
 * "revoke what this payment granted", whatever the disputed amount.
 */
import { newId, notFound, ObolError } from '../../kernel/index.js';
import { disputeOpenedPosting, disputeWonPosting, postJournal } from '../../ledger/index.js';
import { money, type Money } from '../../money/index.js';
import { forUpdate, type Tx } from '../../platform/db/index.js';
import { enqueueEvent } from '../../platform/events/index.js';
import type { PaymentsDeps } from '../deps.js';
import { currencyOf, lockIntent, type IntentRow } from '../records.js';
import { disputeLegs, statusAfter, TERMINAL_DISPUTE_STATUSES, type DisputeEventKind, type DisputeLeg } from './domain.js';
import { disputeStatusOf, disputeView, normaliseDispute, type DisputeRow, type DisputeView } from './records.js';

export interface DisputeEventProps {
  readonly connector: string;
  readonly gatewayDisputeId: string;
  readonly paymentId: string;
  readonly kind: DisputeEventKind;
  /** The disputed amount; must be in the payment's currency. */
  readonly amount: Money;
  /** The gateway's dispute fee (any currency it settles in); null when it reported none. */
  readonly fee: Money | null;
  readonly reason: string | null;
  /** When the gateway says it happened (epoch ms); dates the dispute, not the ledger. */
  readonly occurredAt: number;
}

export interface DisputeEventResult {
  /** False when the event was a repeat or arrived too late to change anything. */
  readonly applied: boolean;
  readonly dispute: DisputeView;
}

const GATEWAY_ID_MAX = 255; // disputes.gateway_dispute_id
const REASON_MAX = 255; // disputes.reason

/** Validates what does not need the database, so a malformed event opens no transaction. */
function assertProps(props: DisputeEventProps): void {
  if (props.gatewayDisputeId.length === 0 || props.gatewayDisputeId.length > GATEWAY_ID_MAX) {
    throw new ObolError('VALIDATION_FAILED', `gatewayDisputeId must be 1..${GATEWAY_ID_MAX} characters.`, { field: 'gatewayDisputeId' });
  }
  if (!Number.isSafeInteger(props.amount.amount) || props.amount.amount <= 0) {
    throw new ObolError('AMOUNT_INVALID', 'amount must be a positive whole number of minor units.', { field: 'amount' });
  }
  if (props.fee !== null && (!Number.isSafeInteger(props.fee.amount) || props.fee.amount < 0)) {
    throw new ObolError('AMOUNT_INVALID', 'fee must be a non-negative whole number of minor units.', { field: 'fee' });
  }
  if (!Number.isSafeInteger(props.occurredAt) || props.occurredAt < 0) {
    throw new ObolError('VALIDATION_FAILED', 'occurredAt must be epoch milliseconds.', { field: 'occurredAt' });
  }
}

/** The payment must be one this connector captured money for, and the dispute must fit in it. */
function assertDisputable(intent: IntentRow, props: DisputeEventProps): void {
  if (props.amount.currency !== intent.currency) {
    throw new ObolError('CURRENCY_MISMATCH', `The dispute is in ${props.amount.currency} but the payment is in ${intent.currency}.`, {
      expected: intent.currency,
      actual: props.amount.currency,
    });
  }
  if (intent.amount_captured <= 0) {
    throw new ObolError('ILLEGAL_STATE_TRANSITION', `Payment ${intent.id} has no captured money to dispute (status ${intent.status}).`, { status: intent.status });
  }
  if (props.amount.amount > intent.amount_captured) {
    throw new ObolError('AMOUNT_TOO_LARGE', `The dispute of ${props.amount.amount} exceeds the ${intent.amount_captured} captured.`, { captured: intent.amount_captured });
  }
}

export async function applyDisputeEvent(deps: PaymentsDeps, props: DisputeEventProps): Promise<DisputeEventResult> {
  assertProps(props);
  const { db, clock } = deps;
  return db.transaction(async (tx) => {
    const now = clock.now();
    // The payment first, always: every money movement on a payment locks it before anything
    // else, so disputes, refunds and captures of one payment serialise and never deadlock.
    const intent = await lockIntent(db, tx, props.paymentId);
    // A connector that did not take the payment cannot dispute it: to that gateway it is unknown.
    if (!intent || intent.connector !== props.connector) throw notFound('payment', 'paymentId');
    assertDisputable(intent, props);

    const existingRow = await forUpdate(
      db,
      tx.selectFrom('disputes').selectAll().where('connector', '=', props.connector).where('gateway_dispute_id', '=', props.gatewayDisputeId),
    ).executeTakeFirst();
    const existing = existingRow ? normaliseDispute(existingRow) : undefined;
    if (existing && existing.payment_id !== intent.id) {
      throw new ObolError('VALIDATION_FAILED', `Dispute ${props.gatewayDisputeId} at ${props.connector} belongs to another payment.`, { field: 'paymentId' });
    }
    const stored = existing ? disputeStatusOf(existing) : null;
    const legs = disputeLegs(stored, props.kind);
    if (legs.length === 0) {
      if (existing && stored !== null && TERMINAL_DISPUTE_STATUSES.includes(stored) && props.kind !== 'opened' && props.kind !== stored) {
        // A gateway contradicting an outcome it already reported: the books keep the first
        // answer, and a person has to find out which is true.
        deps.onIncident?.(new Error(`dispute ${existing.id} is ${stored} but ${props.connector} now reports ${props.kind}`), { operation: 'dispute', id: existing.id });
      }
      return { applied: false, dispute: disputeView(existing!) };
    }
    const status = statusAfter(stored, legs);
    if (status === null) throw new Error('a dispute leg left no status');
    const resolvedAt = TERMINAL_DISPUTE_STATUSES.includes(status) ? props.occurredAt : null;

    let row: DisputeRow;
    if (existing) {
      row = { ...existing, status, resolved_at: resolvedAt, updated_at: now, version: existing.version + 1 };
      const res = await tx
        .updateTable('disputes')
        .set({ status, resolved_at: resolvedAt, updated_at: now, version: row.version })
        .where('id', '=', existing.id)
        .where('version', '=', existing.version)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) throw new Error(`dispute ${existing.id} changed concurrently`);
    } else {
      row = {
        // kernel/ids has no 'dispute' kind yet: an event-kind ULID with the dispute prefix.
        id: newId('dispute', now),
        payment_id: intent.id,
        connector: props.connector,
        gateway_dispute_id: props.gatewayDisputeId,
        status,
        reason: props.reason === null ? null : props.reason.slice(0, REASON_MAX),
        amount: props.amount.amount,
        currency: intent.currency,
        fee: props.fee === null ? null : props.fee.amount,
        fee_currency: props.fee === null ? null : props.fee.currency,
        opened_at: props.occurredAt,
        resolved_at: resolvedAt,
        created_at: now,
        updated_at: now,
        version: 0,
      };
      // A racing insert of the same gateway dispute (a second payment row cannot share the lock)
      // fails on the unique key and rolls back; the webhook's retry then finds the row.
      await tx.insertInto('disputes').values(row).execute();
    }
    for (const leg of legs) await performLeg(deps, tx, intent, row, leg, now);
    return { applied: true, dispute: disputeView(row) };
  });
}

/** One leg: its ledger posting (none for a loss — see dispute-postings.ts) and its event. */
async function performLeg(deps: PaymentsDeps, tx: Tx, intent: IntentRow, dispute: DisputeRow, leg: DisputeLeg, now: number): Promise<void> {
  const currency = currencyOf(dispute.currency);
  // The stored amount, not the event's: a win returns what was withdrawn when it opened.
  const amount = money(dispute.amount, currency);
  const base = { paymentId: intent.id, disputeId: dispute.id, connector: dispute.connector, amount };
  switch (leg) {
    case 'opened': {
      const fee = dispute.fee === null || dispute.fee_currency === null ? null : money(dispute.fee, currencyOf(dispute.fee_currency));
      await postJournal(tx, disputeOpenedPosting({ ...base, fee }), now);
      break;
    }
    case 'won':
      await postJournal(tx, disputeWonPosting(base), now);
      break;
    case 'lost':
      // Nothing moves in the ledger: the opened posting already booked the amount as
      // contra-revenue. What the payment bought is revoked, by the path a full refund takes.
      await deps.hooks.onDisputeLost(tx, intent, now);
      break;
    default: {
      const unreachable: never = leg;
      throw new Error(`unknown dispute leg ${String(unreachable)}`);
    }
  }
  await enqueueEvent(tx, {
    type: `dispute.${leg}`,
    aggregateType: 'payment',
    // Keyed by the payment, like refunds: one partition keeps a payment's story in order.
    aggregateId: intent.id,
    now,
    data: {
      disputeId: dispute.id,
      gatewayDisputeId: dispute.gateway_dispute_id,
      paymentId: intent.id,
      checkoutSessionId: intent.checkout_session_id,
      invoiceId: intent.invoice_id,
      customerId: intent.customer_id,
      connector: dispute.connector,
      amount: dispute.amount,
      currency: dispute.currency,
      fee: dispute.fee,
      feeCurrency: dispute.fee_currency,
      reason: dispute.reason,
      status: dispute.status,
    },
  });
}
