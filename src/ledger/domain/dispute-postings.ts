/**
 * Dispute posting rules (chargebacks). Pure, balanced by construction: every debit is paired
 * with a credit of the same amount in the same currency, so each currency nets to zero even when
 * the gateway charges its fee in a different currency from the payment.
 *
 * Opened — the gateway withdraws the disputed amount and charges its fee at once:
 *   Dr chargebacks            amount   (contra-revenue: the sale is reversed until we win)
 *   Dr dispute_fees           fee      (expense)
 *   Cr gateway_clearing:<c>   amount + fee   (booked as two lines, one per currency pairing)
 *
 * Won — the gateway returns the disputed amount; the fee is normally NOT returned (Stripe,
 * Braintree and Razorpay all keep it), so the fee stays an expense:
 *   Dr gateway_clearing:<c>   amount
 *   Cr chargebacks            amount
 *
 * Lost — nothing moves at the gateway, and because the opened posting already booked the
 * amount in contra-revenue (not in a suspense asset) the loss is already final in the books:
 * there is no posting. Choosing contra-revenue over an asset "disputed funds" keeps reports
 * prudent while a dispute is open (most are lost) and makes the loss a no-op.
 *
 * Malformed input (non-positive amount, negative fee) throws a plain Error: the use case
 * validates caller input first, so reaching one here is a bug.
 */
import type { Money } from '../../money/index.js';
import { gatewayClearing } from './accounts.js';
import { CHARGEBACKS, DISPUTE_FEES } from './dispute-accounts.js';
import { credit, debit, draft, type JournalDraft } from './journal.js';

export interface DisputeOpenedPostingArgs {
  readonly paymentId: string;
  readonly disputeId: string;
  readonly connector: string;
  /** The disputed amount, in the payment's currency. */
  readonly amount: Money;
  /** The gateway's dispute fee; null or zero when it charged none (or did not say). */
  readonly fee: Money | null;
}

export interface DisputeWonPostingArgs {
  readonly paymentId: string;
  readonly disputeId: string;
  readonly connector: string;
  /** The amount the gateway returns: the amount withdrawn when the dispute opened. */
  readonly amount: Money;
}

function assertPositive(m: Money, what: string): void {
  if (!Number.isSafeInteger(m.amount) || m.amount <= 0) throw new Error(`dispute ${what} must be a positive integer, got ${m.amount}`);
}

export function disputeOpenedPosting(args: DisputeOpenedPostingArgs): JournalDraft {
  assertPositive(args.amount, 'amount');
  if (args.fee !== null && (!Number.isSafeInteger(args.fee.amount) || args.fee.amount < 0)) {
    throw new Error(`dispute fee must be a non-negative integer, got ${args.fee.amount}`);
  }
  const clearing = gatewayClearing(args.connector);
  return draft({
    kind: 'dispute_opened',
    referenceType: 'payment',
    referenceId: args.paymentId,
    description: `dispute ${args.disputeId} opened at ${args.connector}`,
    lines: [
      debit(CHARGEBACKS, args.amount),
      credit(clearing, args.amount),
      // draft() drops the pair when the fee is zero.
      ...(args.fee === null ? [] : [debit(DISPUTE_FEES, args.fee), credit(clearing, args.fee)]),
    ],
  });
}

export function disputeWonPosting(args: DisputeWonPostingArgs): JournalDraft {
  assertPositive(args.amount, 'amount');
  return draft({
    kind: 'dispute_won',
    referenceType: 'payment',
    referenceId: args.paymentId,
    description: `dispute ${args.disputeId} won at ${args.connector}`,
    lines: [debit(gatewayClearing(args.connector), args.amount), credit(CHARGEBACKS, args.amount)],
  });
}
