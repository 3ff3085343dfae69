/**
 * /readyz asks what the process needs to take work: the database (reachable, migrated) on every
 * database, and DynamoDB where a store lives there; a missing table makes it not ready.
 */
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../support/databases.js';
import { startHarness, type Harness } from '../support/harness.js';
import { describeWithDynamoDb, dynamoDbClientConfig, uniqueServiceName } from '../support/services.js';

describeEachDatabase('readiness', (dialect) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(dialect);
  });
  afterAll(async () => h?.close());

  it('is ready with the database reachable and migrated, and not ready while a check fails', async () => {
    const ready = await h.server.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', database: 'ok', migrations: 'current' });
    // What `obol serve` adds while it starts and once it shuts down.
    const remove = h.app.readiness.add('shutdown', async () => ({ ok: false, detail: 'shutting_down' }));
    const draining = await h.server.inject({ method: 'GET', url: '/readyz' });
    expect(draining.statusCode).toBe(503);
    expect(draining.json()).toEqual({ status: 'not_ready', database: 'ok', migrations: 'current', shutdown: 'shutting_down' });
    remove();
    expect((await h.server.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    // Liveness asks nothing.
    expect((await h.server.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
  });
});

describeWithDynamoDb('readiness with DynamoDB stores', (endpoint) => {
  const prefix = `${uniqueServiceName('obol')}_`;
  const config = dynamoDbClientConfig(endpoint);
  const savedEnv = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  let h: Harness;
  let client: DynamoDBClient;

  beforeAll(async () => {
    // The app takes credentials from the SDK's default chain, as in production; DynamoDB Local accepts any.
    process.env.AWS_ACCESS_KEY_ID = config.credentials && 'accessKeyId' in config.credentials ? config.credentials.accessKeyId : 'obolTest';
    process.env.AWS_SECRET_ACCESS_KEY = config.credentials && 'secretAccessKey' in config.credentials ? config.credentials.secretAccessKey : 'obolTest';
    h = await startHarness('sqlite', { IDEMPOTENCY_STORE: 'dynamodb', ENTITLEMENT_READ_MODEL: 'dynamodb', DYNAMODB_ENDPOINT: endpoint, DYNAMODB_REGION: 'us-east-1', DYNAMODB_TABLE_PREFIX: prefix });
    client = new DynamoDBClient(config);
  });
  afterAll(async () => {
    await h?.close();
    for (const table of ['idempotency_keys', 'entitlement_access']) await client?.send(new DeleteTableCommand({ TableName: `${prefix}${table}` })).catch(() => undefined);
    client?.destroy();
    if (savedEnv.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
    else process.env.AWS_ACCESS_KEY_ID = savedEnv.id;
    if (savedEnv.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
    else process.env.AWS_SECRET_ACCESS_KEY = savedEnv.secret;
  });

  it('includes DynamoDB, and is not ready once a table it needs is gone', async () => {
    const ready = await h.server.inject({ method: 'GET', url: '/readyz' });
    expect(ready.json()).toEqual({ status: 'ready', database: 'ok', migrations: 'current', dynamodb: 'ok' });
    expect(ready.statusCode).toBe(200);
    await client.send(new DeleteTableCommand({ TableName: `${prefix}idempotency_keys` }));
    const gone = await h.server.inject({ method: 'GET', url: '/readyz' });
    expect(gone.statusCode).toBe(503);
    expect(gone.json()).toMatchObject({ status: 'not_ready', database: 'ok' });
    // Missing (DescribeTable refused) or on its way out (DELETING).
    expect(['unreachable', 'tables not active']).toContain(gone.json().dynamodb);
  });
});
