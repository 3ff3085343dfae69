/** Row types of the entitlements context's tables (merged into Database in schema.ts). */
import type { Generated } from 'kysely';

/** Write side: one row per (customer, resource, source). */
export interface EntitlementsTable {
  /** Derived from the natural key (see src/entitlements/store.ts). */
  id: string;
  customer_id: string;
  /** `course:<slug>` | `specialization:<slug>` | `catalog:all` */
  resource: string;
  /** order | subscription */
  source_kind: string;
  source_id: string;
  product_id: string | null;
  /** active | revoked */
  status: string;
  /** refunded | dispute_lost | subscription_ended */
  revoke_reason: string | null;
  revoked_at: number | null;
  valid_from: number;
  /** null: no end */
  valid_until: number | null;
  created_at: number;
  updated_at: number;
}

/** Append-only: every grant, extension and revocation, with the state it left behind. */
export interface EntitlementHistoryTable {
  seq: Generated<number>;
  entitlement_id: string;
  customer_id: string;
  resource: string;
  source_kind: string;
  source_id: string;
  /** granted | extended | revoked */
  action: string;
  status: string;
  valid_from: number;
  valid_until: number | null;
  reason: string | null;
  /** The event that caused it. */
  event_id: string;
  /** When it happened (the event's time). */
  occurred_at: number;
  recorded_at: number;
}

/** One row per purchase or subscription: the per-source lock, and its revocation once known. */
export interface EntitlementSourcesTable {
  source_kind: string;
  source_id: string;
  customer_id: string;
  revoke_reason: string | null;
  revoked_at: number | null;
  revoke_event_id: string | null;
  created_at: number;
  updated_at: number;
}

/** One row per (customer, resource): the lock and change counter of its read-model row. */
export interface EntitlementKeysTable {
  customer_id: string;
  resource: string;
  version: number;
  updated_at: number;
}

/** The SQL read model: PRIMARY KEY (customer_id, resource), nothing else to search by. */
export interface EntitlementAccessTable {
  customer_id: string;
  resource: string;
  /** JSON `[[validFrom, validUntil | null], …]`: merged, disjoint, ascending. */
  windows: string;
  version: number;
  updated_at: number;
}

export interface EntitlementTables {
  entitlements: EntitlementsTable;
  entitlement_history: EntitlementHistoryTable;
  entitlement_sources: EntitlementSourcesTable;
  entitlement_keys: EntitlementKeysTable;
  entitlement_access: EntitlementAccessTable;
}

/*
 * Migration 0011 adds `products.grants`. The column belongs to the catalog's table, whose type
 * lives in schema.ts; it is declared here (beside the migration that adds it) by augmentation.
 */
declare module './schema.js' {
  interface ProductsTable {
    /** What the product grants: `course:<slug>`, `specialization:<slug>`, `catalog:all`; null: nothing. */
    grants: string | null;
  }
}
