/**
 * Reading entitlements. `checkAccess` and `checkAccessBatch` are the hot path: one read-model
 * query per call (primary-key lookups of the asked resources plus `catalog:all`, see
 * read-model.ts), authorization without I/O, no write. The listings serve the learner's library
 * and support, and may read more.
 */
import { authorize, isCustomerId, mayActFor, notFound, ObolError, type Caller } from '../kernel/index.js';
import { decideAccess, keysForCheck, type AccessDecision } from './domain/access.js';
import type { EntitlementSource, EntitlementStatus, RevokeReason } from './domain/entitlement.js';
import { parseResource, type Resource } from './domain/resource.js';
import { windowAt, type Window } from './domain/validity.js';
import type { EntitlementsDeps } from './deps.js';
import { entitlementsOfCustomer, historyOf, type HistoryRecord } from './store.js';

/** Most resources one batch may ask about (one query; a page of a catalogue, not the catalogue). */
export const MAX_BATCH_RESOURCES = 100;


/** The customer a read is about: the given one, or for a learner themselves; only their own. */
function customerFor(caller: Caller, customerId: string | null): string {
  const { actor } = caller;
  authorize(actor, 'entitlement.read');
  const id = customerId ?? actor.customerId;
  if (id === null) throw new ObolError('VALIDATION_FAILED', 'customerId is required.', { field: 'customerId' });
  // The same rule checkout applies to the customers it accepts.
  if (!isCustomerId(id)) throw new ObolError('INVALID_ID', 'customerId must look like cus_… (letters, digits, _ or -, at most 64 characters).', { field: 'customerId' });
  if (!mayActFor(actor, id)) throw notFound('customer', 'customerId');
  return id;
}

function resourceOf(value: string, field: string): Resource {
  const r = parseResource(value);
  if (r === undefined) throw new ObolError('VALIDATION_FAILED', `${field} must be course:<slug>, specialization:<slug> or catalog:all (slug: lowercase letters, digits and -).`, { field });
  return r;
}

function instant(at: number | null, now: number): number {
  if (at === null) return now;
  if (!Number.isSafeInteger(at)) throw new ObolError('VALIDATION_FAILED', 'at must be an instant.', { field: 'at' });
  return at;
}

export interface CheckAccessProps {
  readonly caller: Caller;
  /** null: the calling learner. */
  readonly customerId: string | null;
  readonly resource: string;
  /** Epoch ms; null: now. */
  readonly at: number | null;
}

export async function checkAccess(deps: EntitlementsDeps, props: CheckAccessProps): Promise<AccessDecision> {
  const [decision] = await checkAccessBatch(deps, { caller: props.caller, customerId: props.customerId, resources: [props.resource], at: props.at });
  return decision!;
}

export interface CheckAccessBatchProps {
  readonly caller: Caller;
  readonly customerId: string | null;
  /** Up to MAX_BATCH_RESOURCES; answered in the order asked. */
  readonly resources: readonly string[];
  readonly at: number | null;
}

export async function checkAccessBatch(deps: EntitlementsDeps, props: CheckAccessBatchProps): Promise<AccessDecision[]> {
  const customerId = customerFor(props.caller, props.customerId);
  if (props.resources.length === 0) throw new ObolError('VALIDATION_FAILED', 'resources must name at least one resource.', { field: 'resources' });
  if (props.resources.length > MAX_BATCH_RESOURCES) throw new ObolError('INPUT_TOO_LARGE', `resources may name at most ${MAX_BATCH_RESOURCES} resources.`, { field: 'resources' });
  const resources = props.resources.map((r) => resourceOf(r, 'resource'));
  const at = instant(props.at, deps.clock.now());
  const rows = await deps.readModel.get({ customerId, resources: keysForCheck(resources) });
  const windows = new Map<Resource, readonly Window[]>([...rows].map(([key, record]) => [key, record.windows]));
  return resources.map((r) => decideAccess(r, windows, at));
}

export interface AccessibleResource {
  readonly resource: Resource;
  /** End of the window holding `at` (null: no end). */
  readonly validUntil: number | null;
}

/**
 * What a customer may open at `at`, from the read model: the resources held directly (a course
 * opened by `catalog:all` is not listed; `catalog:all` is).
 */
export async function listAccessibleResources(deps: EntitlementsDeps, props: { readonly caller: Caller; readonly customerId: string | null; readonly at: number | null }): Promise<AccessibleResource[]> {
  const customerId = customerFor(props.caller, props.customerId);
  const at = instant(props.at, deps.clock.now());
  const records = await deps.readModel.listForCustomer({ customerId });
  const out: AccessibleResource[] = [];
  for (const r of records) {
    const w = windowAt(r.windows, at);
    if (w !== undefined) out.push({ resource: r.resource, validUntil: w.validUntil });
  }
  return out;
}

export interface EntitlementView {
  readonly id: string;
  readonly customerId: string;
  readonly resource: Resource;
  readonly source: EntitlementSource;
  readonly productId: string | null;
  readonly status: EntitlementStatus;
  readonly revokeReason: RevokeReason | null;
  readonly revokedAt: number | null;
  readonly validFrom: number;
  readonly validUntil: number | null;
  /** Whether it opens its resource now (not revoked, inside its window). */
  readonly activeNow: boolean;
  readonly history: readonly HistoryRecord[];
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** Every entitlement of a customer with its history, from the write side (not the hot path). */
export async function listEntitlements(deps: EntitlementsDeps, props: { readonly caller: Caller; readonly customerId: string | null }): Promise<EntitlementView[]> {
  const customerId = customerFor(props.caller, props.customerId);
  const now = deps.clock.now();
  const records = await entitlementsOfCustomer(deps.db.kysely, customerId);
  const history = await historyOf(deps.db.kysely, records.map((r) => r.id));
  return records.map((r) => ({
    ...r,
    activeNow: r.status === 'active' && windowAt([r], now) !== undefined,
    history: history.get(r.id) ?? [],
  }));
}
