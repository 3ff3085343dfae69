/**
 * Idempotency keys in DynamoDB (IDEMPOTENCY_STORE=dynamodb): one item per (scope, key), every
 * write conditional, so processes agree on one holder per key exactly as the SQL store's unique
 * key and guarded updates make them agree.
 *
 *   pk  = JSON [scope, key]   (one partition per key: a busy caller's keys spread over the table)
 *   expires_at                epoch seconds; the table's TTL attribute
 *
 * What differs from SQL, and why it is still safe, is written once in idempotency.ts: this store
 * cannot join the use case's transaction, so the response is recorded right after the commit.
 *
 * Retention is DynamoDB's TTL: each write stamps `expires_at` (a completed key: its completion plus
 * the retention; a claim: the end of its lock plus the retention), so `purge` has nothing to do.
 * DynamoDB deletes expired items late (typically within days; DynamoDB Local never does), so an
 * item past `expires_at` is treated as absent by every read and may be claimed over.
 */
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDb, DynamoDbTableSpec } from './dynamodb.js';
import { isConditionalCheckFailed } from './dynamodb.js';
import { IDEMPOTENCY_RETENTION_MS, isIdempotencyStatus, type IdempotencyKeyRef, type IdempotencyRecord, type IdempotencyStore } from './idempotency.js';

export const IDEMPOTENCY_TABLE = 'idempotency_keys';

/** DynamoDB refuses items over 400 KB (names and values together); the rest of ours is well under 16 KB. */
export const DYNAMODB_MAX_RESPONSE_BYTES = 400 * 1024 - 16 * 1024;

export function idempotencyTableSpec(tablePrefix: string): DynamoDbTableSpec {
  return { name: `${tablePrefix}${IDEMPOTENCY_TABLE}`, partitionKey: 'pk', ttlAttribute: 'expires_at' };
}

export interface DynamoDbIdempotencyStoreArgs {
  readonly dynamoDb: DynamoDb;
  /** How long a completed key is kept for replays; default IDEMPOTENCY_RETENTION_MS. */
  readonly retentionMs?: number;
}

const pkOf = (ref: IdempotencyKeyRef) => JSON.stringify([ref.scope, ref.key]);
const epochSeconds = (ms: number) => Math.ceil(ms / 1000);
// `status` is a DynamoDB reserved word; the rest are named alike for readability.
const NAMES = { '#status': 'status', '#holder': 'holder', '#locked': 'locked_until', '#response': 'response', '#updated': 'updated_at', '#expires': 'expires_at' } as const;

export function dynamoDbIdempotencyStore(args: DynamoDbIdempotencyStoreArgs): IdempotencyStore {
  const { documents } = args.dynamoDb;
  const table = idempotencyTableSpec(args.dynamoDb.tablePrefix).name;
  const retentionMs = args.retentionMs ?? IDEMPOTENCY_RETENTION_MS;
  const nowSeconds = () => Math.floor(Date.now() / 1000);

  /** Runs a conditional write; false when its condition did not hold. */
  async function conditionally(write: () => Promise<unknown>): Promise<boolean> {
    try {
      await write();
      return true;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return false;
      throw err;
    }
  }

  return {
    joinsTransactions: false,
    maxResponseBytes: DYNAMODB_MAX_RESPONSE_BYTES,
    insert({ ref, operation, requestHash, holder, lockedUntil, now }) {
      return conditionally(() =>
        documents.send(
          new PutCommand({
            TableName: table,
            Item: {
              pk: pkOf(ref),
              scope: ref.scope,
              idem_key: ref.key,
              operation,
              request_hash: requestHash,
              status: 'in_progress',
              holder,
              locked_until: lockedUntil,
              created_at: now,
              updated_at: now,
              expires_at: epochSeconds(lockedUntil + retentionMs),
            },
            // A key past its retention counts as unused even before DynamoDB deletes it.
            ConditionExpression: 'attribute_not_exists(pk) OR #expires <= :now',
            ExpressionAttributeNames: { '#expires': NAMES['#expires'] },
            ExpressionAttributeValues: { ':now': nowSeconds() },
          }),
        ),
      );
    },
    async find({ ref }) {
      const { Item: item } = await documents.send(new GetCommand({ TableName: table, Key: { pk: pkOf(ref) }, ConsistentRead: true }));
      if (item === undefined) return undefined;
      if (typeof item.expires_at === 'number' && item.expires_at <= nowSeconds()) return undefined;
      return toRecord(item, table);
    },
    takeOver({ ref, holder, expectedLockedUntil, lockedUntil, now }) {
      return conditionally(() =>
        documents.send(
          new UpdateCommand({
            TableName: table,
            Key: { pk: pkOf(ref) },
            UpdateExpression: 'SET #holder = :holder, #locked = :locked, #updated = :now, #expires = :expires',
            ConditionExpression: '#status = :in_progress AND #locked = :expected',
            ExpressionAttributeNames: { '#holder': NAMES['#holder'], '#locked': NAMES['#locked'], '#updated': NAMES['#updated'], '#expires': NAMES['#expires'], '#status': NAMES['#status'] },
            ExpressionAttributeValues: { ':holder': holder, ':locked': lockedUntil, ':now': now, ':expires': epochSeconds(lockedUntil + retentionMs), ':in_progress': 'in_progress', ':expected': expectedLockedUntil },
          }),
        ),
      );
    },
    async complete({ ref, holder, response, now }) {
      // `tx` is ignored: this store cannot join it (see idempotency.ts). A holder that was taken
      // over fails the condition and records nothing, as the SQL store's guarded update does.
      await conditionally(() =>
        documents.send(
          new UpdateCommand({
            TableName: table,
            Key: { pk: pkOf(ref) },
            UpdateExpression: 'SET #status = :completed, #response = :response, #updated = :now, #expires = :expires',
            ConditionExpression: '#holder = :holder AND #status = :in_progress',
            ExpressionAttributeNames: { '#status': NAMES['#status'], '#response': NAMES['#response'], '#updated': NAMES['#updated'], '#expires': NAMES['#expires'], '#holder': NAMES['#holder'] },
            ExpressionAttributeValues: { ':completed': 'completed', ':response': response, ':now': now, ':expires': epochSeconds(Date.now() + retentionMs), ':holder': holder, ':in_progress': 'in_progress' },
          }),
        ),
      );
    },
    async release({ ref, holder }) {
      await conditionally(() =>
        documents.send(
          new DeleteCommand({
            TableName: table,
            Key: { pk: pkOf(ref) },
            ConditionExpression: '#holder = :holder AND #status = :in_progress',
            ExpressionAttributeNames: { '#holder': NAMES['#holder'], '#status': NAMES['#status'] },
            ExpressionAttributeValues: { ':holder': holder, ':in_progress': 'in_progress' },
          }),
        ),
      );
    },
    async purge() {
      return 0; // DynamoDB's TTL deletes expired keys.
    },
  };
}

function toRecord(item: Record<string, unknown>, table: string): IdempotencyRecord {
  const { operation, request_hash: requestHash, status, response, holder, locked_until: lockedUntil } = item;
  if (typeof operation !== 'string' || typeof requestHash !== 'string' || typeof holder !== 'string' || typeof lockedUntil !== 'number' || !isIdempotencyStatus(status) || !(response === undefined || typeof response === 'string')) {
    throw new Error(`corrupt item in DynamoDB table ${table}: ${JSON.stringify(item.pk)}`);
  }
  return { operation, requestHash, status, response: response ?? null, holder, lockedUntil };
}
