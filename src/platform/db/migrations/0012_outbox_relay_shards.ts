import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/** Must equal RELAY_SHARDS in platform/events/outbox.ts; the lease rows are created here once. */
const SHARDS = 16;

/**
 * Expand step: several relay copies share the outbox without publishing a row twice or out of
 * order. Each row belongs to a shard (a hash of its aggregate id, so one aggregate's events stay
 * in one shard); a relay publishes only the shards it holds a lease on.
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('outbox').addColumn('shard', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.createIndex('outbox_shard_unpublished_idx').on('outbox').columns(['shard', 'published_at', 'seq']).execute();
  await db.schema
    .createTable('relay_leases')
    .addColumn('shard', 'integer', (c) => c.primaryKey())
    .addColumn('holder', 'varchar(64)')
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db
    .insertInto('relay_leases' as never)
    .values(Array.from({ length: SHARDS }, (_, shard) => ({ shard, holder: null, expires_at: 0 })) as never)
    .execute();
  await db.schema
    .createTable('relay_members')
    .addColumn('holder', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
}
