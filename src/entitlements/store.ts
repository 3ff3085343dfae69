/** The write side's rows: entitlements, their history, their sources' locks and the key locks. */
import { createHash } from 'node:crypto';
import { dbInt, type Db, type Executor, type Tx } from '../platform/db/index.js';
import type { EntitlementsTable } from '../platform/db/schema-entitlements.js';
import {
  isEntitlementStatus,
  isHistoryAction,
  isRevokeReason,
  isSourceKind,
  type EntitlementSource,
  type EntitlementState,
  type HistoryAction,
  type Revocation,
  type RevokeReason,
} from './domain/entitlement.js';
import { isResource, type Resource } from './domain/resource.js';

export interface EntitlementRecord extends EntitlementState {
  readonly id: string;
  readonly customerId: string;
  readonly resource: Resource;
  readonly source: EntitlementSource;
  readonly productId: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface HistoryRecord {
  readonly seq: number;
  readonly entitlementId: string;
  readonly action: HistoryAction;
  readonly status: EntitlementRecord['status'];
  readonly validFrom: number;
  readonly validUntil: number | null;
  readonly reason: RevokeReason | null;
  readonly eventId: string;
  readonly occurredAt: number;
  readonly recordedAt: number;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * An entitlement's id is derived from its natural key (customer, resource, source), so a replay,
 * a rebuild or a second consumer names it the same, and two racing creators collide on the key.
 */
export function entitlementId(customerId: string, resource: Resource, source: EntitlementSource): string {
  const digest = createHash('sha256').update(`${customerId}\n${resource}\n${source.kind}\n${source.id}`).digest();
  let body = '';
  for (let i = 0; i < 26; i++) body += CROCKFORD[digest[i]! % 32];
  return `ent_${body}`;
}

type Row = EntitlementsTable;

function toRecord(r: Row): EntitlementRecord {
  if (!isResource(r.resource) || !isSourceKind(r.source_kind) || !isEntitlementStatus(r.status)) throw new Error(`corrupt entitlement ${r.id}`);
  const reason = r.revoke_reason;
  if (reason !== null && !isRevokeReason(reason)) throw new Error(`corrupt entitlement ${r.id}: reason ${reason}`);
  return {
    id: r.id,
    customerId: r.customer_id,
    resource: r.resource,
    source: { kind: r.source_kind, id: r.source_id },
    productId: r.product_id,
    status: r.status,
    revokeReason: reason,
    revokedAt: r.revoked_at === null ? null : dbInt(r.revoked_at),
    validFrom: dbInt(r.valid_from),
    validUntil: r.valid_until === null ? null : dbInt(r.valid_until),
    createdAt: dbInt(r.created_at),
    updatedAt: dbInt(r.updated_at),
  };
}

export async function findEntitlement(tx: Executor, id: string): Promise<EntitlementRecord | undefined> {
  const row = await tx.selectFrom('entitlements').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toRecord(row) : undefined;
}

export async function entitlementsOfSource(tx: Executor, source: EntitlementSource): Promise<EntitlementRecord[]> {
  const rows = await tx.selectFrom('entitlements').selectAll().where('source_kind', '=', source.kind).where('source_id', '=', source.id).orderBy('resource').execute();
  return rows.map(toRecord);
}

/** A customer's entitlements (support and the learner's own view; not the hot path). */
export async function entitlementsOfCustomer(db: Executor, customerId: string): Promise<EntitlementRecord[]> {
  const rows = await db.selectFrom('entitlements').selectAll().where('customer_id', '=', customerId).orderBy('resource').orderBy('valid_from').orderBy('id').execute();
  return rows.map(toRecord);
}

/** The windows of every entitlement for one key: the input of its read-model row. */
export async function windowsOfKey(tx: Tx, customerId: string, resource: Resource): Promise<{ validFrom: number; validUntil: number | null }[]> {
  const rows = await tx.selectFrom('entitlements').select(['valid_from', 'valid_until']).where('customer_id', '=', customerId).where('resource', '=', resource).execute();
  return rows.map((r) => ({ validFrom: dbInt(r.valid_from), validUntil: r.valid_until === null ? null : dbInt(r.valid_until) }));
}

export async function insertEntitlement(tx: Tx, e: EntitlementRecord): Promise<void> {
  await tx
    .insertInto('entitlements')
    .values({
      id: e.id,
      customer_id: e.customerId,
      resource: e.resource,
      source_kind: e.source.kind,
      source_id: e.source.id,
      product_id: e.productId,
      status: e.status,
      revoke_reason: e.revokeReason,
      revoked_at: e.revokedAt,
      valid_from: e.validFrom,
      valid_until: e.validUntil,
      created_at: e.createdAt,
      updated_at: e.updatedAt,
    })
    .execute();
}

export async function updateEntitlement(tx: Tx, id: string, state: EntitlementState, now: number): Promise<void> {
  await tx
    .updateTable('entitlements')
    .set({ status: state.status, revoke_reason: state.revokeReason, revoked_at: state.revokedAt, valid_from: state.validFrom, valid_until: state.validUntil, updated_at: now })
    .where('id', '=', id)
    .execute();
}

export async function appendHistory(
  tx: Tx,
  args: { readonly entitlement: EntitlementRecord; readonly action: HistoryAction; readonly state: EntitlementState; readonly eventId: string; readonly occurredAt: number; readonly now: number },
): Promise<void> {
  const { entitlement: e, state } = args;
  await tx
    .insertInto('entitlement_history')
    .values({
      entitlement_id: e.id,
      customer_id: e.customerId,
      resource: e.resource,
      source_kind: e.source.kind,
      source_id: e.source.id,
      action: args.action,
      status: state.status,
      valid_from: state.validFrom,
      valid_until: state.validUntil,
      reason: args.action === 'revoked' ? state.revokeReason : null,
      event_id: args.eventId,
      occurred_at: args.occurredAt,
      recorded_at: args.now,
    })
    .execute();
}

export async function historyOf(db: Executor, entitlementIds: readonly string[]): Promise<Map<string, HistoryRecord[]>> {
  const out = new Map<string, HistoryRecord[]>();
  if (entitlementIds.length === 0) return out;
  const rows = await db.selectFrom('entitlement_history').selectAll().where('entitlement_id', 'in', [...new Set(entitlementIds)]).orderBy('seq').execute();
  for (const r of rows) {
    if (!isHistoryAction(r.action) || !isEntitlementStatus(r.status) || (r.reason !== null && !isRevokeReason(r.reason))) throw new Error(`corrupt entitlement history ${r.seq}`);
    const list = out.get(r.entitlement_id) ?? [];
    list.push({
      seq: dbInt(r.seq),
      entitlementId: r.entitlement_id,
      action: r.action,
      status: r.status,
      validFrom: dbInt(r.valid_from),
      validUntil: r.valid_until === null ? null : dbInt(r.valid_until),
      reason: r.reason,
      eventId: r.event_id,
      occurredAt: dbInt(r.occurred_at),
      recordedAt: dbInt(r.recorded_at),
    });
    out.set(r.entitlement_id, list);
  }
  return out;
}

/**
 * Locks one source's row (creating it on first sight) and returns its revocation, if one was
 * recorded. Grant and revocation of the same source both start here, so they run one after the
 * other even when two consumers hold them at once. On MySQL, ON DUPLICATE KEY UPDATE takes the
 * exclusive lock directly (insert-then-select would share it first and deadlock two creators).
 */
export async function lockSource(db: Db, tx: Tx, args: { readonly source: EntitlementSource; readonly customerId: string; readonly now: number }): Promise<Revocation | undefined> {
  const { source, now } = args;
  const insert = tx.insertInto('entitlement_sources').values({ source_kind: source.kind, source_id: source.id, customer_id: args.customerId, revoke_reason: null, revoked_at: null, revoke_event_id: null, created_at: now, updated_at: now });
  if (db.dialect === 'mysql') await insert.onDuplicateKeyUpdate({ updated_at: now }).execute();
  else await insert.onConflict((oc) => oc.columns(['source_kind', 'source_id']).doUpdateSet({ updated_at: now })).execute();
  const row = await tx.selectFrom('entitlement_sources').select(['revoke_reason', 'revoked_at']).where('source_kind', '=', source.kind).where('source_id', '=', source.id).executeTakeFirstOrThrow();
  if (row.revoke_reason === null || row.revoked_at === null) return undefined;
  if (!isRevokeReason(row.revoke_reason)) throw new Error(`corrupt entitlement source ${source.kind}/${source.id}`);
  return { reason: row.revoke_reason, at: dbInt(row.revoked_at) };
}

/** Records a source's revocation (under its lock); the first one recorded stays. */
export async function recordRevocation(tx: Tx, args: { readonly source: EntitlementSource; readonly revocation: Revocation; readonly eventId: string; readonly now: number }): Promise<void> {
  await tx
    .updateTable('entitlement_sources')
    .set({ revoke_reason: args.revocation.reason, revoked_at: args.revocation.at, revoke_event_id: args.eventId, updated_at: args.now })
    .where('source_kind', '=', args.source.kind)
    .where('source_id', '=', args.source.id)
    .where('revoke_reason', 'is', null)
    .execute();
}

/**
 * Locks the read-model keys about to change, in one fixed order (so two projections touching the
 * same keys wait, never deadlock), and bumps each key's version. Returns the new versions.
 */
export async function lockKeys(db: Db, tx: Tx, args: { readonly customerId: string; readonly resources: readonly Resource[]; readonly now: number }): Promise<Map<Resource, number>> {
  const versions = new Map<Resource, number>();
  for (const resource of [...new Set(args.resources)].sort()) {
    const insert = tx.insertInto('entitlement_keys').values({ customer_id: args.customerId, resource, version: 1, updated_at: args.now });
    if (db.dialect === 'mysql') await insert.onDuplicateKeyUpdate((eb) => ({ version: eb('version', '+', 1), updated_at: args.now })).execute();
    else await insert.onConflict((oc) => oc.columns(['customer_id', 'resource']).doUpdateSet((eb) => ({ version: eb('entitlement_keys.version', '+', 1), updated_at: args.now }))).execute();
    const row = await tx.selectFrom('entitlement_keys').select('version').where('customer_id', '=', args.customerId).where('resource', '=', resource).executeTakeFirstOrThrow();
    versions.set(resource, dbInt(row.version));
  }
  return versions;
}
