import { Migrator, sql, type Kysely, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import type { Db } from './database.js';
import type { Dialect } from './dialect.js';
import * as foundation from './migrations/0001_foundation.js';
import * as abuseLimits from './migrations/0002_abuse_limits.js';
import * as personalData from './migrations/0003_personal_data.js';
import * as auditLog from './migrations/0004_audit_log.js';
import * as webhookInbox from './migrations/0005_webhook_inbox.js';
import * as disputes from './migrations/0006_disputes.js';
import * as attemptRouting from './migrations/0007_attempt_routing.js';
import * as sca from './migrations/0008_sca.js';
import * as razorpayJournal from './migrations/0009_razorpay_journal.js';
import * as consumerInbox from './migrations/0010_consumer_inbox.js';
import * as entitlements from './migrations/0011_entitlements.js';
import * as outboxRelayShards from './migrations/0012_outbox_relay_shards.js';
import * as invoicePayments from './migrations/0013_invoice_payments.js';
import * as jobsAndTestClocks from './migrations/0014_jobs_and_test_clocks.js';
import * as subscriptions from './migrations/0015_subscriptions.js';
import * as outboxTraceContext from './migrations/0016_outbox_trace_context.js';

/**
 * Expand/contract (docs/migrations.md). An expand step only adds to the schema, or relaxes it, so
 * the version already running keeps working beside the new one; a contract step drops, renames or
 * tightens, in a later release, once no running version uses the old shape. A migration module
 * says it is a contract step with `export const phase = 'contract' as const`; without it, it is an
 * expand step, and src/platform/db/migrations.test.ts fails if it removes or tightens anything.
 */
export const MIGRATION_PHASES = ['expand', 'contract'] as const;
export type MigrationPhase = (typeof MIGRATION_PHASES)[number];

/** What a module under migrations/ exports. */
export interface MigrationModule {
  up(db: Kysely<unknown>, dialect: Dialect): Promise<void>;
  /** Absent: an expand step. */
  readonly phase?: MigrationPhase;
}

/** A bundled migration, by the name it is recorded under, with its phase. */
export interface BundledMigration {
  readonly name: string;
  readonly phase: MigrationPhase;
  up(db: Kysely<unknown>, dialect: Dialect): Promise<void>;
}

/** The module's `phase` export, `expand` when it has none; anything else is refused. */
export function migrationPhase(module: MigrationModule): MigrationPhase {
  const phase: unknown = module.phase ?? 'expand';
  if (typeof phase !== 'string' || !(MIGRATION_PHASES as readonly string[]).includes(phase)) {
    throw new Error(`a migration's phase must be one of ${MIGRATION_PHASES.join(', ')}, not ${JSON.stringify(phase)}`);
  }
  return phase as MigrationPhase;
}

/** Ordered by name; bundled in code so a compiled build needs no migration files on disk. */
const MIGRATIONS: Readonly<Record<string, MigrationModule>> = {
  '0001_foundation': foundation,
  '0002_abuse_limits': abuseLimits,
  '0003_personal_data': personalData,
  '0004_audit_log': auditLog,
  '0005_webhook_inbox': webhookInbox,
  '0006_disputes': disputes,
  '0007_attempt_routing': attemptRouting,
  '0008_sca': sca,
  '0009_razorpay_journal': razorpayJournal,
  '0010_consumer_inbox': consumerInbox,
  '0011_entitlements': entitlements,
  '0012_outbox_relay_shards': outboxRelayShards,
  '0013_invoice_payments': invoicePayments,
  '0014_jobs_and_test_clocks': jobsAndTestClocks,
  '0015_subscriptions': subscriptions,
  '0016_outbox_trace_context': outboxTraceContext,
};

/** Every bundled migration in the order it runs (by name), each with its phase. */
export function bundledMigrations(): readonly BundledMigration[] {
  return Object.keys(MIGRATIONS)
    .sort()
    .map((name) => {
      const m = MIGRATIONS[name]!;
      return { name, phase: migrationPhase(m), up: (db: Kysely<unknown>, dialect: Dialect) => m.up(db, dialect) };
    });
}

class BundledProvider implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    const out: Record<string, Migration> = {};
    for (const m of bundledMigrations()) {
      out[m.name] = { up: (db) => m.up(db, this.dialect) };
    }
    return out;
  }
}

function migrator(db: Db): Migrator {
  return new Migrator({ db: db.kysely, provider: new BundledProvider(db.dialect) });
}

/** Names of the migrations recorded as applied (none on a new database). */
async function appliedMigrations(db: Db): Promise<readonly string[]> {
  try {
    const rows = await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(db.kysely);
    return rows.rows.map((r) => r.name);
  } catch (err) {
    // A new database has no migration table yet.
    if (/kysely_migration/i.test(String(err instanceof Error ? err.message : err))) return [];
    throw err;
  }
}

/**
 * Applies the bundled migrations not yet applied. A database that a newer release has already
 * migrated further (a rolling deploy, a rollback, an older copy scaled out) is left alone when it
 * holds every migration this build knows: expand steps keep the older shape working, and contract
 * steps come only once no running version needs it (docs/migrations.md).
 */
export async function migrateToLatest(db: Db): Promise<readonly string[]> {
  const applied = await appliedMigrations(db);
  const known = new Set(Object.keys(MIGRATIONS));
  const newer = applied.filter((name) => !known.has(name));
  if (newer.length > 0) {
    const missing = [...known].filter((name) => !applied.includes(name));
    if (missing.length === 0) return [];
    throw new Error(`the database was migrated by a newer release (${newer.join(', ')}) but lacks ${missing.join(', ')} of this one: it is not a history this build can continue`);
  }
  const result: MigrationResultSet = await migrator(db).migrateToLatest();
  if (result.error) throw result.error instanceof Error ? result.error : new Error(String(result.error));
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Names of this build's migrations not yet applied; empty when the schema is current (or newer: used by /readyz). */
export async function pendingMigrations(db: Db): Promise<readonly string[]> {
  const applied = new Set(await appliedMigrations(db));
  return Object.keys(MIGRATIONS)
    .sort()
    .filter((name) => !applied.has(name));
}
