/**
 * Saved payment methods: the gateway's reusable reference for merchant-initiated charges
 * (renewals), kept per customer. Obol never holds card data, only the gateway's reference.
 *
 * A method is saved either by a customer-present payment that asked to save it (authorize.ts,
 * a subscription's first invoice) or on its own (`savePaymentMethod`, for a free trial, where
 * nothing is charged). Saving on its own follows invariant 4 like any gateway call: the row is
 * committed `pending` before the call, under its id as the gateway key, and the answer is applied
 * after it; an answer lost on the way is resolved by sending the same request again (saving moves
 * no money, and the gateway treats the same key as the same request).
 *
 *   pending ──saved──▶ active ──detach──▶ detached
 *      └────declined──▶ failed
 */
import { dbInt, type Executor, type PaymentMethodsTable, type Tx } from '../platform/db/index.js';
import { newId, ObolError } from '../kernel/index.js';
import { ConnectorUnavailableError, ConnectorUnknownOutcomeError } from './connectors/port.js';
import type { PaymentsDeps } from './deps.js';

export const PAYMENT_METHOD_STATUSES = ['pending', 'active', 'failed', 'detached'] as const;
export type PaymentMethodStatus = (typeof PAYMENT_METHOD_STATUSES)[number];
export function isPaymentMethodStatus(v: unknown): v is PaymentMethodStatus {
  return typeof v === 'string' && (PAYMENT_METHOD_STATUSES as readonly string[]).includes(v);
}

export interface PaymentMethodView {
  readonly id: string;
  readonly customerId: string;
  readonly connector: string;
  readonly status: PaymentMethodStatus;
  readonly declineCode: string | null;
  readonly declineReason: string | null;
  readonly createdAt: number;
}

function view(row: PaymentMethodsTable): PaymentMethodView {
  if (!isPaymentMethodStatus(row.status)) throw new Error(`corrupt payment method ${row.id}: status ${row.status}`);
  return {
    id: row.id,
    customerId: row.customer_id,
    connector: row.connector,
    status: row.status,
    declineCode: row.decline_code,
    declineReason: row.decline_reason,
    createdAt: dbInt(row.created_at),
  };
}

export async function loadPaymentMethod(db: Executor, id: string): Promise<PaymentMethodView | undefined> {
  const row = await db.selectFrom('payment_methods').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? view(row) : undefined;
}

/** A new method: active with the gateway's reference, or pending with the token still to send. */
async function insertMethod(
  tx: Tx,
  m: {
    readonly id: string;
    readonly customerId: string;
    readonly connector: string;
    readonly state: { readonly status: 'active'; readonly gatewayReference: string } | { readonly status: 'pending'; readonly token: string };
    readonly createdByPaymentId: string | null;
    readonly requestKey: string | null;
    readonly now: number;
  },
): Promise<void> {
  await tx
    .insertInto('payment_methods')
    .values({
      id: m.id,
      customer_id: m.customerId,
      connector: m.connector,
      gateway_reference: m.state.status === 'active' ? m.state.gatewayReference : null,
      token: m.state.status === 'pending' ? m.state.token : null,
      status: m.state.status,
      created_by_payment_id: m.createdByPaymentId,
      request_key: m.requestKey,
      decline_code: null,
      decline_reason: null,
      created_at: m.now,
      updated_at: m.now,
      version: 0,
    })
    .execute();
}

/** Inside the caller's transaction: an approved payment saved the method at its gateway. */
export async function recordSavedPaymentMethod(
  tx: Tx,
  args: { readonly customerId: string; readonly connector: string; readonly gatewayReference: string; readonly createdByPaymentId: string | null; readonly now: number },
): Promise<string> {
  const id = newId('paymentMethod', args.now);
  await insertMethod(tx, { id, customerId: args.customerId, connector: args.connector, state: { status: 'active', gatewayReference: args.gatewayReference }, createdByPaymentId: args.createdByPaymentId, requestKey: null, now: args.now });
  return id;
}

/**
 * Inside the caller's transaction: commits a `pending` saved method at the connector the routing
 * rules pick, to be sent by `completeSavePaymentMethod` after the commit. A repeat of the same
 * request (the customer's `requestKey`) returns the method the first one created, whatever became
 * of it, so a retried request never saves twice.
 */
export async function beginSavePaymentMethod(
  deps: PaymentsDeps,
  tx: Tx,
  args: { readonly customerId: string; readonly customerCountry: string | null; readonly currency: string; readonly paymentMethodToken: string; readonly requestKey: string; readonly now: number },
): Promise<string> {
  const earlier = await tx.selectFrom('payment_methods').select('id').where('customer_id', '=', args.customerId).where('request_key', '=', args.requestKey).executeTakeFirst();
  if (earlier) return earlier.id;
  const id = newId('paymentMethod', args.now);
  const { connector } = deps.connectors.route({ paymentId: id, currency: args.currency, amount: 0, customerCountry: args.customerCountry, paymentMethod: args.paymentMethodToken });
  await insertMethod(tx, { id, customerId: args.customerId, connector: connector.name, state: { status: 'pending', token: args.paymentMethodToken }, createdByPaymentId: null, requestKey: args.requestKey, now: args.now });
  return id;
}

/**
 * Sends a pending save to its gateway (no transaction open) and applies the answer. Returns the
 * method as it now stands; an answer that never came leaves it `pending` and throws
 * GATEWAY_UNAVAILABLE, so the caller's repeat (same idempotency key) sends it again. A save never
 * repeated stays pending and is never charged: saving moves no money, and the signup that asked
 * for it expires (subscriptions' incomplete expiry).
 */
export async function completeSavePaymentMethod(deps: PaymentsDeps, paymentMethodId: string): Promise<PaymentMethodView> {
  const { db, clock } = deps;
  const row = await db.kysely.selectFrom('payment_methods').selectAll().where('id', '=', paymentMethodId).executeTakeFirst();
  if (!row) throw new Error(`payment method ${paymentMethodId} not found`);
  if (row.status !== 'pending') return view(row);
  const token = row.token;
  if (token === null) throw new Error(`pending payment method ${row.id} has no token to send`);
  const connector = deps.connectors.get(row.connector);
  if (!connector) throw new Error(`connector ${row.connector} is not configured`);
  let outcome;
  try {
    outcome = await connector.savePaymentMethod({ idempotencyKey: row.id, paymentMethod: token, customerId: row.customer_id });
  } catch (err) {
    deps.connectors.recordCall({ connector: row.connector, ok: false });
    if (err instanceof ConnectorUnavailableError || err instanceof ConnectorUnknownOutcomeError) {
      deps.onIncident?.(err, { operation: 'save_payment_method', id: row.id });
      throw new ObolError('GATEWAY_UNAVAILABLE', 'The payment gateway did not answer; try again with the same request.');
    }
    throw err;
  }
  deps.connectors.recordCall({ connector: row.connector, ok: true });
  return db.transaction(async (tx) => {
    const now = clock.now();
    const current = await tx.selectFrom('payment_methods').selectAll().where('id', '=', row.id).executeTakeFirstOrThrow();
    if (current.status !== 'pending') return view(current);
    const changes =
      outcome.status === 'saved'
        ? { status: 'active', gateway_reference: outcome.savedPaymentMethod, token: null, decline_code: null, decline_reason: null }
        : { status: 'failed', gateway_reference: null, token: null, decline_code: outcome.decline.code, decline_reason: outcome.decline.reason };
    const res = await tx
      .updateTable('payment_methods')
      .set({ ...changes, updated_at: now, version: dbInt(current.version) + 1 })
      .where('id', '=', row.id)
      .where('version', '=', current.version)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) throw new Error(`payment method ${row.id} changed concurrently`);
    return view({ ...current, ...changes, updated_at: now });
  });
}

/** Inside the caller's transaction: the method may no longer be charged (replaced by another). */
export async function detachPaymentMethod(tx: Tx, args: { readonly paymentMethodId: string; readonly now: number }): Promise<void> {
  await tx.updateTable('payment_methods').set({ status: 'detached', updated_at: args.now }).where('id', '=', args.paymentMethodId).where('status', '=', 'active').execute();
}
