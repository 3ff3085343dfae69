import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * Personal data, stored only as encryption envelopes (see platform/crypto/keyring.ts). TEXT, not
 * VARCHAR: an envelope is about 4/3 of its plaintext plus a header, and MySQL counts VARCHAR
 * widths against its 64 KB row limit while TEXT lives off-row. Nullable: sessions created
 * before billing details were collected, and sessions that never give any, have none.
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('checkout_sessions').addColumn('billing_details', 'text').execute();
}
