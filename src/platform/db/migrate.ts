import { Migrator, type Kysely, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
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

interface DialectMigration {
  up(db: Kysely<unknown>, dialect: Dialect): Promise<void>;
}

/** Ordered by name; bundled in code so a compiled build needs no migration files on disk. */
const MIGRATIONS: Readonly<Record<string, DialectMigration>> = {
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
};

class BundledProvider implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    const out: Record<string, Migration> = {};
    for (const [name, m] of Object.entries(MIGRATIONS)) {
      out[name] = { up: (db) => m.up(db, this.dialect) };
    }
    return out;
  }
}

function migrator(db: Db): Migrator {
  return new Migrator({ db: db.kysely, provider: new BundledProvider(db.dialect) });
}

export async function migrateToLatest(db: Db): Promise<readonly string[]> {
  const result: MigrationResultSet = await migrator(db).migrateToLatest();
  if (result.error) throw result.error instanceof Error ? result.error : new Error(String(result.error));
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Names of migrations not yet applied; empty when the schema is current (used by /readyz). */
export async function pendingMigrations(db: Db): Promise<readonly string[]> {
  const all = await migrator(db).getMigrations();
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name);
}
