/**
 * The DynamoDB Local that scripts/services/services.mjs starts behaves as DynamoDB does for what
 * Obol keeps there: tables with a TTL attribute, conditional writes that succeed exactly once, and
 * strongly consistent reads. (DynamoDB Local records TTL settings but never deletes expired items.)
 */
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithDynamoDb, dynamoDbClientConfig, uniqueServiceName } from '../support/services.js';

describeWithDynamoDb('DynamoDB Local test service', (endpoint) => {
  const table = uniqueServiceName('obol-smoke');
  let client: DynamoDBClient;
  let documents: DynamoDBDocumentClient;

  beforeAll(async () => {
    client = new DynamoDBClient(dynamoDbClientConfig(endpoint));
    documents = DynamoDBDocumentClient.from(client);
    await client.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await waitUntilTableExists({ client, maxWaitTime: 30 }, { TableName: table });
    await client.send(new UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true } }));
  });

  afterAll(async () => {
    await client?.send(new DeleteTableCommand({ TableName: table })).catch(() => undefined);
    client?.destroy();
  });

  it('keeps the TTL attribute set on the table', async () => {
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: table }));
    expect(ttl.TimeToLiveDescription).toMatchObject({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' });
  });

  it('accepts a conditional put once, refuses the second with ConditionalCheckFailedException, and keeps the first item', async () => {
    const expiresAt = Math.floor(Date.now() / 1000) + 3600;
    const put = (holder: string) =>
      documents.send(
        new PutCommand({
          TableName: table,
          Item: { pk: 'idem#key-1', holder, expiresAt },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );

    await put('first');
    await expect(put('second')).rejects.toBeInstanceOf(ConditionalCheckFailedException);

    const read = await documents.send(new GetCommand({ TableName: table, Key: { pk: 'idem#key-1' }, ConsistentRead: true }));
    expect(read.Item).toEqual({ pk: 'idem#key-1', holder: 'first', expiresAt });
  });
});
