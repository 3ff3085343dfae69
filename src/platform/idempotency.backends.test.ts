/**
 * The idempotency rules, run unchanged against every store: SQL on each database, and DynamoDB
 * (Local) beside a SQLite system of record. A use case's effect is a row it inserts in its own
 * SQL transaction, so "one effect" is a count.
 */
import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from '../../test/support/databases.js';
import { describeWithDynamoDb, dynamoDbClientConfig, uniqueServiceName } from '../../test/support/services.js';
import { ManualClock, ObolError } from '../kernel/index.js';
import type { Db, Tx } from './db/index.js';
import { ensureDynamoDbTables, openDynamoDb, type DynamoDb } from './dynamodb.js';
import { runIdempotent, sqlIdempotencyStore, IDEMPOTENCY_RETENTION_MS, type IdempotencyContext, type IdempotencyOptions, type IdempotencyStore } from './idempotency.js';
import { DYNAMODB_MAX_RESPONSE_BYTES, dynamoDbIdempotencyStore, idempotencyTableSpec } from './idempotency-dynamodb.js';

interface Backend {
  readonly db: Db;
  readonly store: IdempotencyStore;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

/** The same cases for every store. */
function idempotencyCases(backend: () => Backend) {
  const clock = new ManualClock(Date.parse('2026-03-01T12:00:00Z'));
  const options = (over: Partial<IdempotencyOptions> = {}): IdempotencyOptions => ({ db: backend().db, clock, store: backend().store, ...over });
  const request = (key: string, over: Partial<{ scope: string; operation: string; request: unknown }> = {}) => ({ scope: 'customer:cus_1', key, operation: 'createThing', request: { amount: 100 }, ...over });

  /** A use case: one effect row in its own transaction, its response handed to `finish` there. */
  async function effect<T>(ctx: IdempotencyContext<T>, response: T, after?: (tx: Tx) => Promise<void>): Promise<T> {
    await backend().db.transaction(async (tx) => {
      await tx.insertInto('consumer_inbox').values({ consumer_group: 'idem-test', event_id: randomUUID(), event_type: 'test', processed_at: 0 }).execute();
      await ctx.finish(tx, response);
      await after?.(tx);
    });
    return response;
  }
  const effects = async () => Number((await backend().db.kysely.selectFrom('consumer_inbox').select((eb) => eb.fn.countAll<number>().as('n')).where('consumer_group', '=', 'idem-test').executeTakeFirstOrThrow()).n);
  const key = () => `k-${randomUUID()}`;

  it('runs the first request once and replays its response to a retry', async () => {
    const k = key();
    let runs = 0;
    const first = await runIdempotent(options(), request(k), async () => ({ run: ++runs, at: new Date(0).toISOString() }));
    const second = await runIdempotent(options(), request(k), async () => ({ run: ++runs, at: 'never' }));
    expect(first).toEqual({ run: 1, at: '1970-01-01T00:00:00.000Z' });
    expect(second).toEqual(first);
    expect(runs).toBe(1);
  });

  it('replays the response the use case handed to finish inside its transaction, with one effect', async () => {
    const k = key();
    const before = await effects();
    const first = await runIdempotent(options(), request(k), (ctx) => effect(ctx, { id: 'thing_1' }));
    const replay = await runIdempotent(options(), request(k), (ctx) => effect(ctx, { id: 'thing_2' }));
    expect([first, replay]).toEqual([{ id: 'thing_1' }, { id: 'thing_1' }]);
    expect(await effects()).toBe(before + 1);
  });

  it('refuses the same key with a different request or for another operation', async () => {
    const k = key();
    await runIdempotent(options(), request(k), async () => ({ ok: true }));
    await expect(runIdempotent(options(), request(k, { request: { amount: 101 } }), async () => ({ ok: true }))).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    await expect(runIdempotent(options(), request(k, { operation: 'refundThing' }), async () => ({ ok: true }))).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
  });

  it('keeps the same key of two callers apart', async () => {
    const k = key();
    const a = await runIdempotent(options(), request(k, { scope: 'customer:cus_a' }), async () => 'a');
    const b = await runIdempotent(options(), request(k, { scope: 'customer:cus_b', request: { other: true } }), async () => 'b');
    expect([a, b]).toEqual(['a', 'b']);
  });

  it('runs concurrent duplicates once and gives every one the first response', async () => {
    const k = key();
    let runs = 0;
    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        runIdempotent(options(), request(k), async (ctx) => {
          runs++;
          await sleep(100);
          return effect(ctx, { id: `thing_${runs}` });
        }),
      ),
    );
    expect(runs).toBe(1);
    expect(new Set(results.map((r) => JSON.stringify(r)))).toEqual(new Set([JSON.stringify({ id: 'thing_1' })]));
  });

  it('answers IDEMPOTENCY_REQUEST_IN_PROGRESS while the first request outlasts the wait, then replays it', async () => {
    const k = key();
    const g = gate();
    const first = runIdempotent(options(), request(k), async () => {
      await g.opened;
      return 'done';
    });
    await sleep(30);
    await expect(runIdempotent(options({ waitMs: 100 }), request(k), async () => 'second')).rejects.toMatchObject({ code: 'IDEMPOTENCY_REQUEST_IN_PROGRESS' });
    g.open();
    expect(await first).toBe('done');
    expect(await runIdempotent(options(), request(k), async () => 'third')).toBe('done');
  });

  it('frees the key after a typed refusal, so the corrected request may use it', async () => {
    const k = key();
    await expect(
      runIdempotent(options(), request(k), async () => {
        throw new ObolError('VALIDATION_FAILED', 'no');
      }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(await runIdempotent(options(), request(k, { request: { amount: 5 } }), async () => 'corrected')).toBe('corrected');
  });

  it('keeps the key after an untyped failure until its lock expires, then lets a retry take it over', async () => {
    const k = key();
    await expect(
      runIdempotent(options({ lockMs: 300 }), request(k), async () => {
        throw new Error('crashed after its commit');
      }),
    ).rejects.toThrow('crashed');
    await expect(runIdempotent(options({ waitMs: 50 }), request(k), async () => 'too soon')).rejects.toMatchObject({ code: 'IDEMPOTENCY_REQUEST_IN_PROGRESS' });
    await sleep(350);
    expect(await runIdempotent(options(), request(k), async () => 'taken over')).toBe('taken over');
    expect(await runIdempotent(options(), request(k), async () => 'replayed?')).toBe('taken over');
  });

  it('records nothing for a use case whose transaction rolled back after finish', async () => {
    const k = key();
    const before = await effects();
    await expect(
      runIdempotent(options({ lockMs: 200 }), request(k), (ctx) =>
        effect(ctx, { id: 'rolled_back' }, async () => {
          throw new Error('the commit failed');
        }),
      ),
    ).rejects.toThrow('the commit failed');
    expect(await effects()).toBe(before);
    await sleep(250);
    expect(await runIdempotent(options(), request(k), (ctx) => effect(ctx, { id: 'committed' }))).toEqual({ id: 'committed' });
    expect(await runIdempotent(options(), request(k), async () => ({ id: 'again' }))).toEqual({ id: 'committed' });
  });

  it('never lets a request that was taken over overwrite the response of its successor', async () => {
    const k = key();
    const g = gate();
    const slow = runIdempotent(options({ lockMs: 150 }), request(k), async (ctx) => {
      await g.opened;
      return effect(ctx, 'slow');
    });
    await sleep(250);
    expect(await runIdempotent(options(), request(k), (ctx) => effect(ctx, 'successor'))).toBe('successor');
    g.open();
    expect(await slow).toBe('slow'); // its own caller still hears what it did
    expect(await runIdempotent(options(), request(k), async () => 'replay')).toBe('successor');
  });
}

describeEachDatabase('idempotency on the SQL store', (dialect) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(dialect);
  });
  afterAll(async () => t?.drop());
  idempotencyCases(() => ({ db: t.db, store: sqlIdempotencyStore(t.db) }));
});

describeWithDynamoDb('idempotency on the DynamoDB store', (endpoint) => {
  let t: TestDatabase;
  let dynamoDb: DynamoDb;
  let store: IdempotencyStore;
  const table = () => idempotencyTableSpec(dynamoDb.tablePrefix).name;

  beforeAll(async () => {
    t = await createTestDatabase('sqlite');
    const { credentials } = dynamoDbClientConfig(endpoint);
    dynamoDb = openDynamoDb({ dynamoDbEndpoint: endpoint, dynamoDbRegion: 'us-east-1', dynamoDbTablePrefix: `${uniqueServiceName('obol')}_` }, { credentials });
    await ensureDynamoDbTables(dynamoDb.client, [idempotencyTableSpec(dynamoDb.tablePrefix)]);
    store = dynamoDbIdempotencyStore({ dynamoDb });
  });
  afterAll(async () => {
    await dynamoDb?.client.send(new DeleteTableCommand({ TableName: table() })).catch(() => undefined);
    dynamoDb?.close();
    await t?.drop();
  });

  idempotencyCases(() => ({ db: t.db, store }));

  describe('what only DynamoDB has', () => {
    const clock = new ManualClock(Date.now());
    const options = (): IdempotencyOptions => ({ db: t.db, clock, store });
    const request = (key: string, body: unknown = { amount: 1 }) => ({ scope: 'service:billing', key, operation: 'createThing', request: body });

    it('creates its table with expires_at as the TTL attribute, and creating it again changes nothing', async () => {
      expect(await ensureDynamoDbTables(dynamoDb.client, [idempotencyTableSpec(dynamoDb.tablePrefix)])).toEqual([]);
      const ttl = await dynamoDb.client.send(new DescribeTimeToLiveCommand({ TableName: table() }));
      expect(ttl.TimeToLiveDescription).toMatchObject({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expires_at' });
    });

    it('stamps a completed key to expire one retention after it completed, in epoch seconds', async () => {
      const k = `ttl-${randomUUID()}`;
      await runIdempotent(options(), request(k), async () => 'ok');
      const { Item: item } = await dynamoDb.documents.send(new GetCommand({ TableName: table(), Key: { pk: JSON.stringify(['service:billing', k]) }, ConsistentRead: true }));
      expect(item).toMatchObject({ status: 'completed', response: '"ok"' });
      const expected = (Date.now() + IDEMPOTENCY_RETENTION_MS) / 1000;
      expect(item!.expires_at).toBeGreaterThan(expected - 60);
      expect(item!.expires_at).toBeLessThanOrEqual(Math.ceil(expected));
    });

    it('treats a key past its expiry as unused, though DynamoDB has not deleted it yet', async () => {
      const k = `expired-${randomUUID()}`;
      await runIdempotent(options(), request(k), async () => 'old');
      await dynamoDb.documents.send(
        new UpdateCommand({ TableName: table(), Key: { pk: JSON.stringify(['service:billing', k]) }, UpdateExpression: 'SET expires_at = :past', ExpressionAttributeValues: { ':past': Math.floor(Date.now() / 1000) - 1 } }),
      );
      expect(await runIdempotent(options(), request(k, { amount: 2 }), async () => 'new')).toBe('new');
      expect(await runIdempotent(options(), request(k, { amount: 2 }), async () => 'replay')).toBe('new');
    });

    it('refuses a response larger than an item can hold inside the transaction, so the use case rolls back and the key is freed', async () => {
      const k = `big-${randomUUID()}`;
      const big = 'x'.repeat(DYNAMODB_MAX_RESPONSE_BYTES);
      const count = async () => (await t.db.kysely.selectFrom('consumer_inbox').select('event_id').where('consumer_group', '=', 'big-test').execute()).length;
      const useCase = (response: string) => (ctx: IdempotencyContext<string>) =>
        t.db.transaction(async (tx) => {
          await tx.insertInto('consumer_inbox').values({ consumer_group: 'big-test', event_id: randomUUID(), event_type: 'test', processed_at: 0 }).execute();
          await ctx.finish(tx, response);
          return response;
        });
      await expect(runIdempotent(options(), request(k), useCase(big))).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(/larger than the idempotency store can keep/) });
      expect(await count()).toBe(0);
      expect(await runIdempotent(options(), request(k), useCase('small'))).toBe('small');
      expect(await count()).toBe(1);
    });
  });
});
