/**
 * The read model behind the access check, as a port. The check is the hot path (every page a
 * learner opens asks it), so the model is shaped for it and nothing else:
 *
 *   entitlement_access  PRIMARY KEY (customer_id, resource)  →  windows, version
 *
 * One row per customer and resource, holding the merged validity windows of every entitlement
 * for that pair (revoked ones included, cut at their revocation, so a check about a past instant
 * is still right). A check of N resources reads N keys plus `catalog:all` in ONE query, by primary
 * key: no joins, no scans, no secondary index; a customer's listing is one primary-key prefix
 * range. The same shape maps one-to-one onto a DynamoDB table (partition key customer_id, sort key
 * resource; BatchGetItem for the check, Query for the listing).
 *
 * Writes come only from the projection (src/entitlements/project.ts), which recomputes a whole
 * row from the write side under that row's lock and stamps it with a version that grows per key.
 * The SQL default writes in the projection's own transaction. A store that cannot share that
 * transaction should write a row only if its version is not below the stored one (a conditional
 * put), so late or repeated writes converge on the newest recomputation.
 */
import { dbInt, type Db, type Tx } from '../platform/db/index.js';
import type { Resource } from './domain/resource.js';
import { isResource } from './domain/resource.js';
import type { Window } from './domain/validity.js';

export interface AccessRecord {
  readonly customerId: string;
  readonly resource: Resource;
  /** Merged, disjoint, ascending; may be empty (every entitlement revoked before it began). */
  readonly windows: readonly Window[];
  readonly version: number;
  readonly updatedAt: number;
}

export interface EntitlementReadModel {
  /** The rows of these resources for one customer, in one round trip; a missing key was never held. */
  get(args: { readonly customerId: string; readonly resources: readonly Resource[] }): Promise<ReadonlyMap<Resource, AccessRecord>>;
  /** Every row of one customer, by resource. */
  listForCustomer(args: { readonly customerId: string }): Promise<readonly AccessRecord[]>;
  /** Stores a complete recomputation of one row (see the versioning rule above). */
  put(args: { readonly tx: Tx; readonly record: AccessRecord }): Promise<void>;
}

function encodeWindows(windows: readonly Window[]): string {
  return JSON.stringify(windows.map((w) => [w.validFrom, w.validUntil]));
}

function decodeWindows(json: string, where: string): Window[] {
  const parsed: unknown = JSON.parse(json);
  if (!Array.isArray(parsed)) throw new Error(`corrupt entitlement_access ${where}`);
  return parsed.map((pair: unknown) => {
    if (!Array.isArray(pair) || pair.length !== 2) throw new Error(`corrupt entitlement_access ${where}`);
    const [from, until] = pair as unknown[];
    if (typeof from !== 'number' || !(until === null || typeof until === 'number')) throw new Error(`corrupt entitlement_access ${where}`);
    return { validFrom: from, validUntil: until };
  });
}

type AccessRow = { customer_id: string; resource: string; windows: string; version: number | string; updated_at: number | string };

function toRecord(row: AccessRow): AccessRecord {
  const where = `${row.customer_id}/${row.resource}`;
  if (!isResource(row.resource)) throw new Error(`corrupt entitlement_access ${where}: resource`);
  return { customerId: row.customer_id, resource: row.resource, windows: decodeWindows(row.windows, where), version: dbInt(row.version), updatedAt: dbInt(row.updated_at) };
}

/** The default: the read model in the system-of-record database. */
export function sqlEntitlementReadModel(db: Db): EntitlementReadModel {
  const columns = ['customer_id', 'resource', 'windows', 'version', 'updated_at'] as const;
  return {
    async get({ customerId, resources }) {
      if (resources.length === 0) return new Map();
      // WHERE customer_id = ? AND resource IN (…): point lookups on the primary key.
      const rows = await db.kysely
        .selectFrom('entitlement_access')
        .select(columns)
        .where('customer_id', '=', customerId)
        .where('resource', 'in', [...new Set(resources)])
        .execute();
      return new Map(rows.map((r) => [r.resource as Resource, toRecord(r)]));
    },
    async listForCustomer({ customerId }) {
      const rows = await db.kysely.selectFrom('entitlement_access').select(columns).where('customer_id', '=', customerId).orderBy('resource').execute();
      return rows.map(toRecord);
    },
    async put({ tx, record }) {
      const row = { customer_id: record.customerId, resource: record.resource, windows: encodeWindows(record.windows), version: record.version, updated_at: record.updatedAt };
      const insert = tx.insertInto('entitlement_access').values(row);
      const update = { windows: row.windows, version: row.version, updated_at: row.updated_at };
      // Same transaction, under the key's lock: the version can only grow, so a plain upsert is right.
      if (db.dialect === 'mysql') await insert.onDuplicateKeyUpdate(update).execute();
      else await insert.onConflict((oc) => oc.columns(['customer_id', 'resource']).doUpdateSet(update)).execute();
    },
  };
}
