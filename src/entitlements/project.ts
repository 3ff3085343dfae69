/**
 * The projection's two use cases, each inside the caller's transaction (the consumer's, so the
 * inbox row, the write side and the SQL read model commit together). Both take the source's lock
 * first and the keys' locks after, in that order, so they serialise without deadlocking.
 * Subscriptions take the same two: a period starting or renewing is a grant from source
 * `subscription` (a longer grant extends), its end a revocation with reason `subscription_ended`.
 */
import type { Tx } from '../platform/db/index.js';
import { mergeWindows } from './domain/validity.js';
import { planGrant, planRevoke, type EntitlementSource, type Grant, type RevokeReason } from './domain/entitlement.js';
import type { Resource } from './domain/resource.js';
import type { EntitlementsDeps } from './deps.js';
import { appendHistory, entitlementId, entitlementsOfSource, findEntitlement, insertEntitlement, lockKeys, lockSource, recordRevocation, updateEntitlement, windowsOfKey, type EntitlementRecord } from './store.js';

export type ProjectionDeps = Pick<EntitlementsDeps, 'db' | 'readModel'>;

export interface ProjectionResult {
  /** Entitlement ids created, extended or revoked; empty when the event changed nothing. */
  readonly changed: readonly string[];
}

export interface GrantFromSourceProps {
  readonly customerId: string;
  readonly source: EntitlementSource;
  readonly grants: readonly Grant[];
  /** The event that carries the grant, recorded in the history. */
  readonly eventId: string;
  /** When the grant happened (the event's time). */
  readonly occurredAt: number;
  readonly now: number;
}

export async function grantFromSource(deps: ProjectionDeps, tx: Tx, props: GrantFromSourceProps): Promise<ProjectionResult> {
  const { db } = deps;
  const { customerId, source, now } = props;
  if (props.grants.length === 0) return { changed: [] };
  const revocation = await lockSource(db, tx, { source, customerId, now });
  const versions = await lockKeys(db, tx, { customerId, resources: props.grants.map((g) => g.resource), now });
  const changed: string[] = [];
  const touched = new Set<Resource>();
  for (const grant of props.grants) {
    const id = entitlementId(customerId, grant.resource, source);
    const existing = await findEntitlement(tx, id);
    const plan = planGrant(existing, revocation, grant);
    const history = { eventId: props.eventId, occurredAt: props.occurredAt, now };
    switch (plan.kind) {
      case 'unchanged':
        continue;
      case 'create': {
        const record: EntitlementRecord = { id, customerId, resource: grant.resource, source, productId: grant.productId, createdAt: now, updatedAt: now, ...plan.state };
        await insertEntitlement(tx, record);
        // A grant born revoked keeps both facts: it was bought, and it was taken back.
        for (const action of plan.actions) {
          if (action === 'granted') await appendHistory(tx, { entitlement: record, action, state: { validFrom: grant.validFrom, validUntil: grant.validUntil, status: 'active', revokeReason: null, revokedAt: null }, ...history });
          else await appendHistory(tx, { entitlement: record, action, state: plan.state, ...history, occurredAt: plan.state.revokedAt ?? props.occurredAt });
        }
        break;
      }
      case 'extend': {
        if (existing === undefined) throw new Error(`extending ${id}, which does not exist`);
        await updateEntitlement(tx, id, plan.state, now);
        await appendHistory(tx, { entitlement: existing, action: 'extended', state: plan.state, ...history });
        break;
      }
      default: {
        const never: never = plan;
        throw new Error(`unhandled grant plan ${JSON.stringify(never)}`);
      }
    }
    changed.push(id);
    touched.add(grant.resource);
  }
  await refreshKeys(deps, tx, { customerId, resources: [...touched], versions, now });
  return { changed };
}

export interface RevokeSourceProps {
  readonly customerId: string;
  readonly source: EntitlementSource;
  readonly reason: RevokeReason;
  /** When the source lost its right (the refund's or dispute's time). */
  readonly revokedAt: number;
  readonly eventId: string;
  readonly now: number;
}

/**
 * Ends everything a source granted, and remembers that it did: a grant of the same source that
 * arrives later (out of order) is born revoked.
 */
export async function revokeSource(deps: ProjectionDeps, tx: Tx, props: RevokeSourceProps): Promise<ProjectionResult> {
  const { db } = deps;
  const { source, now } = props;
  const earlier = await lockSource(db, tx, { source, customerId: props.customerId, now });
  // The first revocation recorded stays: a second one (another reason, a replay) changes nothing.
  const revocation = earlier ?? { reason: props.reason, at: props.revokedAt };
  if (earlier === undefined) await recordRevocation(tx, { source, revocation, eventId: props.eventId, now });
  const live = (await entitlementsOfSource(tx, source)).filter((e) => planRevoke(e, revocation).kind === 'revoke');
  const changed: string[] = [];
  for (const customerId of [...new Set(live.map((e) => e.customerId))].sort()) {
    const mine = live.filter((e) => e.customerId === customerId);
    const versions = await lockKeys(db, tx, { customerId, resources: mine.map((e) => e.resource), now });
    for (const e of mine) {
      const plan = planRevoke(e, revocation);
      if (plan.kind === 'unchanged') continue;
      await updateEntitlement(tx, e.id, plan.state, now);
      await appendHistory(tx, { entitlement: e, action: 'revoked', state: plan.state, eventId: props.eventId, occurredAt: revocation.at, now });
      changed.push(e.id);
    }
    await refreshKeys(deps, tx, { customerId, resources: mine.map((e) => e.resource), versions, now });
  }
  return { changed };
}

/** Recomputes each key's read-model row from the write side (a whole row, never a delta). */
async function refreshKeys(deps: ProjectionDeps, tx: Tx, args: { readonly customerId: string; readonly resources: readonly Resource[]; readonly versions: ReadonlyMap<Resource, number>; readonly now: number }): Promise<void> {
  for (const resource of args.resources) {
    const version = args.versions.get(resource);
    if (version === undefined) throw new Error(`key ${resource} was not locked`);
    const windows = mergeWindows(await windowsOfKey(tx, args.customerId, resource));
    await deps.readModel.put({ tx, record: { customerId: args.customerId, resource, windows, version, updatedAt: args.now } });
  }
}
