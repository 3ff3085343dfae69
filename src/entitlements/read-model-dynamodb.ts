/**
 * The entitlement read model in DynamoDB (ENTITLEMENT_READ_MODEL=dynamodb): the same rows as the
 * SQL default, one item per (customer, resource).
 *
 *   partition key customer_id, sort key resource  →  windows [[validFrom, validUntil|null], …], version, updated_at
 *
 * Reads stay one request: a single key is a GetItem, a check of several keys one BatchGetItem
 * (DynamoDB answers up to 100 keys per batch; the largest check, MAX_BATCH_RESOURCES plus
 * `catalog:all`, sends its two batches at once, so it still costs one round trip of latency).
 * A listing is a Query of one partition. Reads are strongly consistent: a learner who has just
 * paid, or just been refunded, sees the projection's latest row on the next page, not a replica
 * a moment behind (it costs twice the read capacity of an eventually consistent read).
 *
 * Writes, and a transaction that rolls back. The projection calls `put` inside its SQL
 * transaction, under the key's lock, and DynamoDB cannot join that transaction. The item is
 * written at once, guarded by its version: a put lands only when no item is stored or the stored
 * version is not above the new one. So:
 *
 * - Late or repeated writes never move a row back to an older recomputation.
 * - When the transaction rolls back after the put, its version counter rolls back with it, so the
 *   next recomputation of that key carries the same version number, passes the guard (`<=`), and
 *   overwrites the uncommitted row. Nothing else has to happen for that: a rolled-back projection
 *   means its event was not applied, and every transport delivers it again (the MySQL wrapper
 *   re-runs a deadlocked transaction at once; the relay and Kafka consumers redeliver), so the
 *   row is rewritten from the committed write side on that redelivery. Until then the check may
 *   answer from the uncommitted recomputation of an event that is being retried.
 * - If the event never applies (a poison event) the row stays so until the key's next change or
 *   a rebuild: `rebuildEntitlementReadModel` (below) recomputes rows from the write side under
 *   their locks. The same rebuild fills the table when a deployment switches from the SQL model.
 *
 * The other choice, writing after the commit, was rejected: it needs a commit hook from every
 * transport, and a process that dies between the commit and the write loses the row for good (the
 * inbox already says "applied", so nothing redelivers it); writing first errs towards a row that
 * a redelivery is certain to correct.
 */
import { BatchGetCommand, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from '../platform/db/index.js';
import { isConditionalCheckFailed, type DynamoDb, type DynamoDbTableSpec } from '../platform/dynamodb.js';
import { isResource, type Resource } from './domain/resource.js';
import { mergeWindows, type Window } from './domain/validity.js';
import type { AccessRecord, EntitlementReadModel } from './read-model.js';
import { lockKeys, windowsOfKey } from './store.js';

export const ENTITLEMENT_ACCESS_TABLE = 'entitlement_access';

/** BatchGetItem's limit of keys per request. */
const BATCH_GET_MAX_KEYS = 100;
/** How often keys DynamoDB left unprocessed (throttling) are asked again before giving up. */
const UNPROCESSED_RETRIES = 5;

export function entitlementAccessTableSpec(tablePrefix: string): DynamoDbTableSpec {
  return { name: `${tablePrefix}${ENTITLEMENT_ACCESS_TABLE}`, partitionKey: 'customer_id', sortKey: 'resource' };
}

type Item = Record<string, unknown>;

function toRecord(item: Item, table: string): AccessRecord {
  const { customer_id: customerId, resource, windows, version, updated_at: updatedAt } = item;
  const corrupt = (what: string) => new Error(`corrupt item in DynamoDB table ${table}: ${String(customerId)}/${String(resource)}: ${what}`);
  if (typeof customerId !== 'string' || !isResource(resource)) throw corrupt('key');
  if (typeof version !== 'number' || typeof updatedAt !== 'number') throw corrupt('version');
  if (!Array.isArray(windows)) throw corrupt('windows');
  const decoded: Window[] = windows.map((pair: unknown) => {
    if (!Array.isArray(pair) || pair.length !== 2) throw corrupt('windows');
    const [from, until] = pair as unknown[];
    if (typeof from !== 'number' || !(until === null || typeof until === 'number')) throw corrupt('windows');
    return { validFrom: from, validUntil: until };
  });
  return { customerId, resource, windows: decoded, version, updatedAt };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function dynamoDbEntitlementReadModel(args: { readonly dynamoDb: DynamoDb }): EntitlementReadModel {
  const { documents } = args.dynamoDb;
  const table = entitlementAccessTableSpec(args.dynamoDb.tablePrefix).name;

  async function batchGet(keys: readonly Item[]): Promise<Item[]> {
    const items: Item[] = [];
    let pending: Item[] = [...keys];
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > UNPROCESSED_RETRIES) throw new Error(`DynamoDB left ${pending.length} keys of ${table} unprocessed after ${UNPROCESSED_RETRIES} retries`);
      if (attempt > 0) await sleep(10 * 2 ** attempt);
      const out = await documents.send(new BatchGetCommand({ RequestItems: { [table]: { Keys: pending, ConsistentRead: true } } }));
      items.push(...(out.Responses?.[table] ?? []));
      pending = (out.UnprocessedKeys?.[table]?.Keys ?? []) as Item[];
    }
    return items;
  }

  return {
    async get({ customerId, resources }) {
      const unique = [...new Set(resources)];
      if (unique.length === 0) return new Map();
      let items: Item[];
      if (unique.length === 1) {
        const out = await documents.send(new GetCommand({ TableName: table, Key: { customer_id: customerId, resource: unique[0] }, ConsistentRead: true }));
        items = out.Item ? [out.Item] : [];
      } else {
        const chunks: Item[][] = [];
        for (let i = 0; i < unique.length; i += BATCH_GET_MAX_KEYS) chunks.push(unique.slice(i, i + BATCH_GET_MAX_KEYS).map((resource) => ({ customer_id: customerId, resource })));
        items = (await Promise.all(chunks.map(batchGet))).flat();
      }
      return new Map(items.map((item) => {
        const record = toRecord(item, table);
        return [record.resource, record] as const;
      }));
    },
    async listForCustomer({ customerId }) {
      const out: AccessRecord[] = [];
      let start: Item | undefined;
      do {
        const page = await documents.send(
          new QueryCommand({
            TableName: table,
            KeyConditionExpression: 'customer_id = :c',
            ExpressionAttributeValues: { ':c': customerId },
            ConsistentRead: true,
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        );
        for (const item of page.Items ?? []) out.push(toRecord(item, table));
        start = page.LastEvaluatedKey;
      } while (start !== undefined);
      return out; // ascending by sort key, as the SQL model orders by resource
    },
    async put({ record }) {
      // `tx` is not joined (see the header): the write is immediate and guarded by the version.
      try {
        await documents.send(
          new PutCommand({
            TableName: table,
            Item: {
              customer_id: record.customerId,
              resource: record.resource,
              windows: record.windows.map((w) => [w.validFrom, w.validUntil]),
              version: record.version,
              updated_at: record.updatedAt,
            },
            ConditionExpression: 'attribute_not_exists(customer_id) OR #version <= :version',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: { ':version': record.version },
          }),
        );
      } catch (err) {
        // A newer recomputation is already stored: this one is obsolete, and dropping it is right.
        if (!isConditionalCheckFailed(err)) throw err;
      }
    },
  };
}

export interface RebuildReadModelProps {
  /** Only this customer's rows; default: every key the write side knows. */
  readonly customerId?: string;
  readonly now: number;
  /** Keys read from the write side per page. */
  readonly pageSize?: number;
}

/**
 * Recomputes read-model rows from the write side, each key in its own transaction under its lock
 * (the lock bumps the key's version, so the rebuilt row passes any version guard and a projection
 * running at the same time simply queues behind it). For any EntitlementReadModel; needed for
 * DynamoDB after a poison event left a row uncommitted (see the header) and to fill the table when
 * switching ENTITLEMENT_READ_MODEL from sql. Returns how many keys it rewrote.
 */
export async function rebuildEntitlementReadModel(deps: { readonly db: Db; readonly readModel: EntitlementReadModel }, props: RebuildReadModelProps): Promise<number> {
  const { db, readModel } = deps;
  const pageSize = props.pageSize ?? 500;
  let after: { customerId: string; resource: string } | undefined;
  let rebuilt = 0;
  for (;;) {
    let q = db.kysely.selectFrom('entitlement_keys').select(['customer_id', 'resource']).orderBy('customer_id').orderBy('resource').limit(pageSize);
    if (props.customerId !== undefined) q = q.where('customer_id', '=', props.customerId);
    if (after !== undefined) {
      const { customerId, resource } = after;
      q = q.where((eb) => eb.or([eb('customer_id', '>', customerId), eb.and([eb('customer_id', '=', customerId), eb('resource', '>', resource)])]));
    }
    const keys = await q.execute();
    for (const key of keys) {
      if (!isResource(key.resource)) throw new Error(`corrupt entitlement_keys row ${key.customer_id}/${key.resource}`);
      const resource: Resource = key.resource;
      await db.transaction(async (tx) => {
        const versions = await lockKeys(db, tx, { customerId: key.customer_id, resources: [resource], now: props.now });
        const windows = mergeWindows(await windowsOfKey(tx, key.customer_id, resource));
        await readModel.put({ tx, record: { customerId: key.customer_id, resource, windows, version: versions.get(resource)!, updatedAt: props.now } });
      });
      rebuilt++;
    }
    if (keys.length < pageSize) return rebuilt;
    const last = keys[keys.length - 1]!;
    after = { customerId: last.customer_id, resource: last.resource };
  }
}
