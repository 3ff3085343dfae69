import type { Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

/**
 * Expand step: each outbox row keeps the W3C trace context of the operation that wrote it
 * (`{"traceparent":"00-…","tracestate":"…"}`), so the relay's publication, and the consumers
 * behind it, continue that operation's trace. Null for rows written before this step, or
 * outside any traced operation: those are published in a trace of their own.
 */
export async function up(db: Kysely<unknown>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('outbox').addColumn('trace_context', 'varchar(1024)').execute();
}
