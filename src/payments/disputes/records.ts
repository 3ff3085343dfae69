/** Row ↔ view mapping for disputes; views are plain JSON-serialisable data like the payment view. */
import type { CurrencyCode } from '../../money/index.js';
import { dbInt, type Executor } from '../../platform/db/index.js';
import type { DisputesTable } from '../../platform/db/schema-disputes.js';
import { currencyOf } from '../records.js';
import { isDisputeStatus, type DisputeStatus } from './domain.js';

export type DisputeRow = DisputesTable;

export interface DisputeView {
  readonly id: string;
  readonly paymentId: string;
  readonly connector: string;
  readonly gatewayDisputeId: string;
  readonly status: DisputeStatus;
  readonly reason: string | null;
  readonly amount: number;
  readonly currency: CurrencyCode;
  readonly fee: number | null;
  readonly feeCurrency: CurrencyCode | null;
  readonly openedAt: number;
  readonly resolvedAt: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}


export function normaliseDispute(row: DisputeRow): DisputeRow {
  return {
    ...row,
    amount: dbInt(row.amount),
    fee: row.fee === null ? null : dbInt(row.fee),
    opened_at: dbInt(row.opened_at),
    resolved_at: row.resolved_at === null ? null : dbInt(row.resolved_at),
    created_at: dbInt(row.created_at),
    updated_at: dbInt(row.updated_at),
    version: dbInt(row.version),
  };
}

export function disputeStatusOf(row: DisputeRow): DisputeStatus {
  if (!isDisputeStatus(row.status)) throw new Error(`corrupt dispute ${row.id}: status ${row.status}`);
  return row.status;
}

export function disputeView(row: DisputeRow): DisputeView {
  const r = normaliseDispute(row);
  return {
    id: r.id,
    paymentId: r.payment_id,
    connector: r.connector,
    gatewayDisputeId: r.gateway_dispute_id,
    status: disputeStatusOf(r),
    reason: r.reason,
    amount: r.amount,
    currency: currencyOf(r.currency),
    fee: r.fee,
    feeCurrency: r.fee_currency === null ? null : currencyOf(r.fee_currency),
    openedAt: r.opened_at,
    resolvedAt: r.resolved_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** A payment's disputes, oldest first (for the payment view). */
export async function listPaymentDisputes(db: Executor, paymentId: string): Promise<readonly DisputeView[]> {
  const rows = await db.selectFrom('disputes').selectAll().where('payment_id', '=', paymentId).orderBy('opened_at').orderBy('id').execute();
  return rows.map(disputeView);
}
