import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

export async function up(_db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  // filled in by its feature
}
