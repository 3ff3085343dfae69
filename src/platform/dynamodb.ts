/**
 * DynamoDB for the stores that may live there instead of the system-of-record database (the
 * entitlement read model and the idempotency keys, chosen by ENTITLEMENT_READ_MODEL and
 * IDEMPOTENCY_STORE). One client per process; table names carry DYNAMODB_TABLE_PREFIX so several
 * environments (or test runs) share an account or a DynamoDB Local without colliding.
 *
 * Credentials come from the AWS SDK's default chain (environment, shared config, an IAM role),
 * never from Obol's own configuration, so no AWS secret passes through it.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
  type AttributeDefinition,
  type DynamoDBClientConfig,
  type KeySchemaElement,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from './config.js';

export interface DynamoDb {
  /** The low-level client (table management). */
  readonly client: DynamoDBClient;
  /** The document client: plain JavaScript values in and out. */
  readonly documents: DynamoDBDocumentClient;
  readonly tablePrefix: string;
  close(): void;
}

export type DynamoDbConfig = Pick<Config, 'dynamoDbEndpoint' | 'dynamoDbRegion' | 'dynamoDbTablePrefix'>;

/**
 * A client from configuration. `overrides` is for tools and tests that must set what the default
 * chain would otherwise find (DynamoDB Local wants some credentials, any will do).
 */
export function openDynamoDb(config: DynamoDbConfig, overrides: Partial<DynamoDBClientConfig> = {}): DynamoDb {
  if (config.dynamoDbRegion === null) throw new Error('DynamoDB needs DYNAMODB_REGION');
  const client = new DynamoDBClient({
    region: config.dynamoDbRegion,
    ...(config.dynamoDbEndpoint !== null ? { endpoint: config.dynamoDbEndpoint } : {}),
    // The access check is on every page a learner opens: fail fast and let the SDK retry, rather
    // than hang on one slow connection.
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000 },
    ...overrides,
  });
  const documents = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  return { client, documents, tablePrefix: config.dynamoDbTablePrefix, close: () => client.destroy() };
}

/** The shape of one table, as the adapter that owns it declares it. */
export interface DynamoDbTableSpec {
  readonly name: string;
  readonly partitionKey: string;
  /** Absent: the partition key alone identifies an item. */
  readonly sortKey?: string;
  /** An attribute holding epoch seconds after which DynamoDB may delete the item. */
  readonly ttlAttribute?: string;
}

/**
 * Creates the tables that are missing (string keys, on-demand capacity) and enables their TTL
 * attribute; tables that exist are left as they are. Safe to run from every process at start, at
 * the same time: a table another process is creating is waited for, not created twice.
 * Returns the names of the tables this call created.
 */
export async function ensureDynamoDbTables(client: DynamoDBClient, specs: readonly DynamoDbTableSpec[]): Promise<string[]> {
  const created: string[] = [];
  for (const spec of specs) {
    if (!(await tableExists(client, spec.name))) {
      const keys: KeySchemaElement[] = [{ AttributeName: spec.partitionKey, KeyType: 'HASH' }];
      const attributes: AttributeDefinition[] = [{ AttributeName: spec.partitionKey, AttributeType: 'S' }];
      if (spec.sortKey !== undefined) {
        keys.push({ AttributeName: spec.sortKey, KeyType: 'RANGE' });
        attributes.push({ AttributeName: spec.sortKey, AttributeType: 'S' });
      }
      try {
        await client.send(new CreateTableCommand({ TableName: spec.name, KeySchema: keys, AttributeDefinitions: attributes, BillingMode: 'PAY_PER_REQUEST' }));
        created.push(spec.name);
      } catch (err) {
        if (!(err instanceof ResourceInUseException)) throw err;
      }
      await waitUntilTableExists({ client, maxWaitTime: 120 }, { TableName: spec.name });
    }
    if (spec.ttlAttribute !== undefined) await ensureTtl(client, spec.name, spec.ttlAttribute);
  }
  return created;
}

async function tableExists(client: DynamoDBClient, name: string): Promise<boolean> {
  try {
    await client.send(new DescribeTableCommand({ TableName: name }));
    return true;
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return false;
    throw err;
  }
}

async function ensureTtl(client: DynamoDBClient, table: string, attribute: string): Promise<void> {
  const { TimeToLiveDescription: ttl } = await client.send(new DescribeTimeToLiveCommand({ TableName: table }));
  const status = ttl?.TimeToLiveStatus;
  if (status === 'ENABLED' || status === 'ENABLING') {
    // A table has at most one TTL attribute; another one means the table is not ours to change.
    if (ttl?.AttributeName !== attribute) throw new Error(`DynamoDB table ${table} expires items by ${ttl?.AttributeName}, not ${attribute}; drop it or pick another DYNAMODB_TABLE_PREFIX`);
    return;
  }
  if (status === 'DISABLING') throw new Error(`DynamoDB table ${table} is disabling its TTL; start again once that has finished`);
  await client.send(new UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification: { AttributeName: attribute, Enabled: true } }));
}

/** The error a conditional write raises when its condition does not hold (document client or not). */
export function isConditionalCheckFailed(err: unknown): boolean {
  return err instanceof Error && err.name === 'ConditionalCheckFailedException';
}
