import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../dialect.js';

const APPEND_ONLY = 'audit_log is append-only';

/**
 * The audit log of privileged actions. `seq` orders entries (and backs the cursor) the same way
 * the outbox does: INTEGER PRIMARY KEY AUTOINCREMENT on SQLite (never reuses a value), BIGINT
 * AUTO_INCREMENT on MySQL, with the public id kept UNIQUE beside it.
 *
 * Append-only is enforced by the database, not only by the code: triggers abort every UPDATE and
 * DELETE, so neither a bug nor a hand-typed statement can rewrite or erase history. (MySQL's
 * TRUNCATE and DROP fire no triggers; production should also grant the application user only
 * INSERT and SELECT on this table.)
 */
export async function up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  const auditLog = db.schema.createTable('audit_log');
  await (dialect === 'sqlite'
    ? auditLog.addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
    : auditLog.addColumn('seq', 'bigint', (c) => c.primaryKey().autoIncrement())
  )
    .addColumn('id', 'varchar(40)', (c) => c.notNull().unique())
    .addColumn('occurred_at', 'bigint', (c) => c.notNull())
    .addColumn('actor_subject', 'varchar(200)', (c) => c.notNull())
    .addColumn('actor_roles', 'varchar(200)', (c) => c.notNull())
    .addColumn('actor_kind', 'varchar(20)', (c) => c.notNull())
    .addColumn('action', 'varchar(60)', (c) => c.notNull())
    .addColumn('target_type', 'varchar(40)', (c) => c.notNull())
    .addColumn('target_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('before_summary', 'text')
    .addColumn('after_summary', 'text')
    .addColumn('request_id', 'varchar(100)')
    .execute();

  // Every query is newest first within its filter, so each index ends in seq.
  await db.schema.createIndex('audit_log_target_idx').on('audit_log').columns(['target_id', 'seq']).execute();
  await db.schema.createIndex('audit_log_action_idx').on('audit_log').columns(['action', 'seq']).execute();
  await db.schema.createIndex('audit_log_actor_idx').on('audit_log').columns(['actor_subject', 'seq']).execute();

  if (dialect === 'sqlite') {
    await sql`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, ${sql.lit(APPEND_ONLY)}); END`.execute(db);
    await sql`CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, ${sql.lit(APPEND_ONLY)}); END`.execute(db);
  } else {
    await sql`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = ${sql.lit(APPEND_ONLY)}`.execute(db);
    await sql`CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = ${sql.lit(APPEND_ONLY)}`.execute(db);
  }
}
