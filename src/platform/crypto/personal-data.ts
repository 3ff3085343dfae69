/**
 * Every database column that holds an encryption envelope, in one place, so that re-encryption
 * after a key rotation cannot forget one. A feature adding an encrypted column adds an entry
 * here (and builds its encryption context with the entry's `context`).
 *
 * Lives in platform because `reencryptPersonalData` (platform) must reach every column, and
 * platform may not import from business contexts; the contexts import their entry from here.
 */
import type { Executor } from '../db/index.js';

export const ENCRYPTED_COLUMN_NAMES = ['checkout_sessions.billing_details'] as const;
export type EncryptedColumnName = (typeof ENCRYPTED_COLUMN_NAMES)[number];

export interface EnvelopeRow {
  /** The primary key; ids are strings throughout Obol. */
  readonly id: string;
  readonly envelope: string;
}

export interface EncryptedColumn {
  readonly name: EncryptedColumnName;
  /** The authenticated context an envelope of this row is bound to. */
  context(id: string): string;
  /** Rows with an envelope whose primary key sorts after `afterId`, in key order. */
  page(args: { readonly db: Executor; readonly afterId: string | null; readonly limit: number }): Promise<readonly EnvelopeRow[]>;
  /** Replaces the envelope only if it is still `from`; true when a row changed. */
  swap(args: { readonly db: Executor; readonly id: string; readonly from: string; readonly to: string }): Promise<boolean>;
}

export function checkoutSessionBillingDetailsContext(sessionId: string): string {
  return `checkout_session:${sessionId}:billing_details`;
}

const checkoutSessionBillingDetails: EncryptedColumn = {
  name: 'checkout_sessions.billing_details',
  context: checkoutSessionBillingDetailsContext,
  async page({ db, afterId, limit }) {
    let q = db
      .selectFrom('checkout_sessions')
      .select(['id', 'billing_details'])
      .where('billing_details', 'is not', null)
      .orderBy('id')
      .limit(limit);
    if (afterId !== null) q = q.where('id', '>', afterId);
    const rows = await q.execute();
    return rows.map((r) => ({ id: r.id, envelope: r.billing_details! }));
  },
  async swap({ db, id, from, to }) {
    // Neither `version` nor `updated_at` moves: re-encryption changes no business data, and bumping
    // the version would fail a concurrent use case's optimistic check for no reason.
    const result = await db
      .updateTable('checkout_sessions')
      .set({ billing_details: to })
      .where('id', '=', id)
      .where('billing_details', '=', from)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  },
};

export const ENCRYPTED_COLUMNS: { readonly [K in EncryptedColumnName]: EncryptedColumn } = {
  'checkout_sessions.billing_details': checkoutSessionBillingDetails,
};
