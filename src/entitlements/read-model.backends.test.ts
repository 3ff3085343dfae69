/**
 * The entitlement read model's contract, run unchanged against the SQL model (each database) and
 * the DynamoDB model (Local, beside a SQLite write side): rows read back exactly, a check of the
 * largest batch answers in full, listings are per customer in resource order, and rows written by
 * the projection end up matching the write side, even around a rolled-back transaction.
 */
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from '../../test/support/databases.js';
import { describeWithDynamoDb, dynamoDbClientConfig, uniqueServiceName } from '../../test/support/services.js';
import type { Db } from '../platform/db/index.js';
import { ensureDynamoDbTables, openDynamoDb, type DynamoDb } from '../platform/dynamodb.js';
import { keysForCheck } from './domain/access.js';
import type { Resource } from './domain/resource.js';
import { MAX_BATCH_RESOURCES } from './read.js';
import { grantFromSource } from './project.js';
import { sqlEntitlementReadModel, type AccessRecord, type EntitlementReadModel } from './read-model.js';
import { dynamoDbEntitlementReadModel, entitlementAccessTableSpec, rebuildEntitlementReadModel } from './read-model-dynamodb.js';

const T0 = Date.parse('2026-02-01T00:00:00.000Z');
const DAY = 86_400_000;

interface Backend {
  readonly db: Db;
  readonly readModel: EntitlementReadModel;
  /** Empties one customer's rows behind the model's back (a table that was never filled). */
  clear(customerId: string): Promise<void>;
}

function readModelCases(name: string, backend: () => Backend) {
  let n = 0;
  const customer = () => `cus_rm_${name}_${++n}`;
  const put = (record: AccessRecord) => backend().db.transaction((tx) => backend().readModel.put({ tx, record }));
  const record = (customerId: string, resource: Resource, windows: AccessRecord['windows'], version = 1): AccessRecord => ({ customerId, resource, windows, version, updatedAt: T0 + version });
  const grant = (customerId: string, orderId: string, resource: Resource, validFrom: number, validUntil: number | null) => (tx: Parameters<Parameters<Db['transaction']>[0]>[0]) =>
    grantFromSource(backend(), tx, { customerId, source: { kind: 'order', id: orderId }, grants: [{ resource, productId: null, validFrom, validUntil }], eventId: `evt_${orderId}`, occurredAt: validFrom, now: validFrom });

  it('reads back exactly the row stored, and nothing for a key never held', async () => {
    const c = customer();
    const stored = record(c, 'course:statistics', [{ validFrom: T0, validUntil: T0 + DAY }, { validFrom: T0 + 3 * DAY, validUntil: null }]);
    await put(stored);
    const rows = await backend().readModel.get({ customerId: c, resources: ['course:statistics', 'course:never-bought', 'course:statistics'] });
    expect([...rows]).toEqual([['course:statistics', stored]]);
    expect((await backend().readModel.get({ customerId: `${c}_other`, resources: ['course:statistics'] })).size).toBe(0);
    expect((await backend().readModel.get({ customerId: c, resources: [] })).size).toBe(0);
  });

  it('keeps a row whose every window was revoked away, with no windows', async () => {
    const c = customer();
    await put(record(c, 'catalog:all', []));
    expect((await backend().readModel.get({ customerId: c, resources: ['catalog:all'] })).get('catalog:all')?.windows).toEqual([]);
  });

  it('answers a check of the largest batch in full', async () => {
    const c = customer();
    const resources = Array.from({ length: MAX_BATCH_RESOURCES }, (_, i) => `course:c-${String(i).padStart(3, '0')}` as Resource);
    const keys = keysForCheck(resources);
    expect(keys).toHaveLength(MAX_BATCH_RESOURCES + 1); // plus catalog:all
    const held = keys.filter((k, i) => i % 7 === 3 || k === 'catalog:all');
    for (const [i, resource] of held.entries()) await put(record(c, resource, [{ validFrom: T0 + i, validUntil: null }]));
    const rows = await backend().readModel.get({ customerId: c, resources: keys });
    expect([...rows.keys()].sort()).toEqual([...held].sort());
    expect(rows.get('catalog:all')?.windows).toEqual([{ validFrom: T0 + held.indexOf('catalog:all'), validUntil: null }]);
  });

  it('replaces a whole row with a newer recomputation', async () => {
    const c = customer();
    await put(record(c, 'specialization:data-science', [{ validFrom: T0, validUntil: T0 + DAY }], 1));
    const newer = record(c, 'specialization:data-science', [{ validFrom: T0 + 2 * DAY, validUntil: null }], 2);
    await put(newer);
    expect((await backend().readModel.get({ customerId: c, resources: ['specialization:data-science'] })).get('specialization:data-science')).toEqual(newer);
  });

  it("lists one customer's rows in resource order, and no one else's", async () => {
    const c = customer();
    for (const resource of ['specialization:b', 'course:z', 'catalog:all', 'course:a'] as const) await put(record(c, resource, [{ validFrom: T0, validUntil: null }]));
    await put(record(`${c}x`, 'course:a', [{ validFrom: T0, validUntil: null }]));
    const listed = await backend().readModel.listForCustomer({ customerId: c });
    expect(listed.map((r) => r.resource)).toEqual(['catalog:all', 'course:a', 'course:z', 'specialization:b']);
    expect(new Set(listed.map((r) => r.customerId))).toEqual(new Set([c]));
  });

  it('ends on the committed recomputation when one after a rolled-back projection replaces it', async () => {
    const c = customer();
    const { db } = backend();
    await db.transaction(grant(c, 'ord_first', 'course:ml', T0, T0 + DAY));
    await expect(
      db.transaction(async (tx) => {
        await grant(c, 'ord_rolled_back', 'course:ml', T0 + 10 * DAY, null)(tx);
        throw new Error('the projection failed after writing the read model');
      }),
    ).rejects.toThrow('projection failed');
    // Another event for the key commits: its row carries the version the rolled-back one had.
    await db.transaction(grant(c, 'ord_second', 'course:ml', T0 + DAY, T0 + 2 * DAY));
    const row = (await backend().readModel.get({ customerId: c, resources: ['course:ml'] })).get('course:ml');
    expect(row?.windows).toEqual([{ validFrom: T0, validUntil: T0 + 2 * DAY }]);
    const committed = await db.kysely.selectFrom('entitlement_keys').select('version').where('customer_id', '=', c).where('resource', '=', 'course:ml').executeTakeFirstOrThrow();
    expect(row?.version).toBe(Number(committed.version));
  });

  it('rebuilds rows from the write side: an uncommitted recomputation is corrected and missing rows are filled', async () => {
    const c = customer();
    const { db } = backend();
    await db.transaction(grant(c, 'ord_a', 'course:ml', T0, T0 + DAY));
    await db.transaction(grant(c, 'ord_b', 'course:stats', T0, null));
    await expect(
      db.transaction(async (tx) => {
        await grant(c, 'ord_poison', 'course:ml', T0 + 5 * DAY, null)(tx);
        throw new Error('a poison event, never applied');
      }),
    ).rejects.toThrow('poison');
    const before = await backend().readModel.listForCustomer({ customerId: c });
    await backend().clear(c);
    await put(before.find((r) => r.resource === 'course:ml')!); // keep whatever the model held for course:ml
    expect(await rebuildEntitlementReadModel(backend(), { customerId: c, now: T0 + 7 * DAY, pageSize: 1 })).toBe(2);
    const after = await backend().readModel.listForCustomer({ customerId: c });
    expect(after.map((r) => [r.resource, r.windows])).toEqual([
      ['course:ml', [{ validFrom: T0, validUntil: T0 + DAY }]],
      ['course:stats', [{ validFrom: T0, validUntil: null }]],
    ]);
  });
}

describeEachDatabase('entitlement read model on SQL', (dialect) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(dialect);
  });
  afterAll(async () => t?.drop());
  readModelCases(`sql_${dialect}`, () => ({
    db: t.db,
    readModel: sqlEntitlementReadModel(t.db),
    clear: async (customerId) => void (await t.db.kysely.deleteFrom('entitlement_access').where('customer_id', '=', customerId).execute()),
  }));
});

describeWithDynamoDb('entitlement read model on DynamoDB', (endpoint) => {
  let t: TestDatabase;
  let dynamoDb: DynamoDb;
  let readModel: EntitlementReadModel;
  const table = () => entitlementAccessTableSpec(dynamoDb.tablePrefix).name;
  /** Commands sent, by name: the hot path's request count. */
  const sent: string[] = [];

  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    const { credentials } = dynamoDbClientConfig(endpoint);
    dynamoDb = openDynamoDb({ dynamoDbEndpoint: endpoint, dynamoDbRegion: 'us-east-1', dynamoDbTablePrefix: `${uniqueServiceName('obol')}_` }, { credentials });
    await ensureDynamoDbTables(dynamoDb.client, [entitlementAccessTableSpec(dynamoDb.tablePrefix)]);
    dynamoDb.documents.middlewareStack.add((next, context) => (args) => {
      sent.push(context.commandName ?? '?');
      return next(args);
    }, { step: 'initialize', name: 'countCommands' });
    readModel = dynamoDbEntitlementReadModel({ dynamoDb });
  });
  afterAll(async () => {
    await dynamoDb?.client.send(new DeleteTableCommand({ TableName: table() })).catch(() => undefined);
    dynamoDb?.close();
    await t?.drop();
  });

  readModelCases('dynamodb', () => ({
    db: t.db,
    readModel,
    async clear(customerId) {
      const { Items: items = [] } = await dynamoDb.documents.send(new QueryCommand({ TableName: table(), KeyConditionExpression: 'customer_id = :c', ExpressionAttributeValues: { ':c': customerId }, ConsistentRead: true }));
      for (const item of items) await dynamoDb.documents.send(new DeleteCommand({ TableName: table(), Key: { customer_id: item.customer_id, resource: item.resource } }));
    },
  }));

  describe('what only DynamoDB needs', () => {
    const put = (r: AccessRecord) => t.db.transaction((tx) => readModel.put({ tx, record: r }));

    it('never lets an older recomputation overwrite a newer row', async () => {
      const newer: AccessRecord = { customerId: 'cus_rm_versions', resource: 'course:ml', windows: [{ validFrom: T0, validUntil: null }], version: 5, updatedAt: T0 + 5 };
      await put(newer);
      await put({ ...newer, windows: [], version: 4, updatedAt: T0 + 4 });
      expect((await readModel.get({ customerId: 'cus_rm_versions', resources: ['course:ml'] })).get('course:ml')).toEqual(newer);
    });

    it('answers a check with one GetItem, a batch with one BatchGetItem, the largest batch with two sent together', async () => {
      const ask = async (count: number) => {
        sent.length = 0;
        await readModel.get({ customerId: 'cus_rm_requests', resources: Array.from({ length: count }, (_, i) => `course:r-${i}` as Resource) });
        return [...sent];
      };
      expect(await ask(1)).toEqual(['GetItemCommand']);
      expect(await ask(2)).toEqual(['BatchGetItemCommand']);
      expect(await ask(100)).toEqual(['BatchGetItemCommand']);
      expect(await ask(MAX_BATCH_RESOURCES + 1)).toEqual(['BatchGetItemCommand', 'BatchGetItemCommand']);
    });
  });
});
