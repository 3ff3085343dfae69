import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * Expand step: the entitlements context (src/entitlements).
 *
 * Write side (always SQL): `entitlements` (one row per customer, resource and source),
 * `entitlement_history` (append-only), `entitlement_sources` (one row per purchase or
 * subscription: the lock that orders a grant against its revocation, and the record of a
 * revocation that arrived first), `entitlement_keys` (one row per customer and resource: the lock
 * and change counter of the read-model row).
 *
 * Read model (the SQL default of a port; DynamoDB later): `entitlement_access`, keyed by
 * (customer_id, resource) and nothing else, so the access check is a primary-key lookup.
 *
 * Catalog: `products.grants` says which resource a product grants (null: none). It supersedes the
 * free-text `products.resource` (NOT NULL, never validated), which stays until a contract step.
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  await db.schema.alterTable('products').addColumn('grants', 'varchar(200)').execute();
  // Installs seeded before this column existed keep their access model: what `resource` named,
  // where it is a grantable resource, becomes what the product grants.
  await sql`UPDATE products SET grants = resource WHERE resource = 'catalog:all' OR resource LIKE 'course:%' OR resource LIKE 'specialization:%'`.execute(db);

  await db.schema
    .createTable('entitlements')
    .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
    .addColumn('customer_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('resource', 'varchar(200)', (c) => c.notNull())
    .addColumn('source_kind', 'varchar(20)', (c) => c.notNull())
    .addColumn('source_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('product_id', 'varchar(64)')
    .addColumn('status', 'varchar(20)', (c) => c.notNull())
    .addColumn('revoke_reason', 'varchar(40)')
    .addColumn('revoked_at', 'bigint')
    .addColumn('valid_from', 'bigint', (c) => c.notNull())
    .addColumn('valid_until', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    // The natural key: a source grants a resource to a customer once (its id is derived from it).
    .addUniqueConstraint('entitlements_natural_uq', ['customer_id', 'resource', 'source_kind', 'source_id'])
    .execute();
  // Revocation finds everything one purchase granted.
  await db.schema.createIndex('entitlements_source_idx').on('entitlements').columns(['source_kind', 'source_id']).execute();

  const history = db.schema.createTable('entitlement_history');
  await (dialect === 'sqlite' ? history.addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement()) : history.addColumn('seq', 'bigint', (c) => c.primaryKey().autoIncrement()))
    .addColumn('entitlement_id', 'varchar(40)', (c) => c.notNull())
    .addColumn('customer_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('resource', 'varchar(200)', (c) => c.notNull())
    .addColumn('source_kind', 'varchar(20)', (c) => c.notNull())
    .addColumn('source_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('action', 'varchar(20)', (c) => c.notNull())
    .addColumn('status', 'varchar(20)', (c) => c.notNull())
    .addColumn('valid_from', 'bigint', (c) => c.notNull())
    .addColumn('valid_until', 'bigint')
    .addColumn('reason', 'varchar(40)')
    .addColumn('event_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('occurred_at', 'bigint', (c) => c.notNull())
    .addColumn('recorded_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('entitlement_history_entitlement_idx').on('entitlement_history').columns(['entitlement_id', 'seq']).execute();

  await db.schema
    .createTable('entitlement_sources')
    .addColumn('source_kind', 'varchar(20)', (c) => c.notNull())
    .addColumn('source_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('customer_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('revoke_reason', 'varchar(40)')
    .addColumn('revoked_at', 'bigint')
    .addColumn('revoke_event_id', 'varchar(64)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('entitlement_sources_pk', ['source_kind', 'source_id'])
    .execute();

  await db.schema
    .createTable('entitlement_keys')
    .addColumn('customer_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('resource', 'varchar(200)', (c) => c.notNull())
    .addColumn('version', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('entitlement_keys_pk', ['customer_id', 'resource'])
    .execute();

  await db.schema
    .createTable('entitlement_access')
    .addColumn('customer_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('resource', 'varchar(200)', (c) => c.notNull())
    .addColumn('windows', 'text', (c) => c.notNull())
    .addColumn('version', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('entitlement_access_pk', ['customer_id', 'resource'])
    .execute();
}
