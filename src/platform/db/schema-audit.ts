/** Row types of the tables this feature owns (merged into Database in schema.ts). */
import type { Generated } from 'kysely';

/**
 * One privileged action, appended in the same transaction as the action itself. Append-only: the
 * database refuses UPDATE and DELETE on this table (triggers in 0004_audit_log), so no code path,
 * ours or a hand-typed one, can rewrite history.
 */
export interface AuditLogTable {
  /** `aud_<ulid>`: the public id of the entry */
  id: string;
  /** ordering and the pagination cursor; ids can tie within a millisecond across processes */
  seq: Generated<number>;
  occurred_at: number;
  actor_subject: string;
  /** comma-separated roles the actor held when acting */
  actor_roles: string;
  /** customer | staff | service */
  actor_kind: string;
  /** one of AUDIT_ACTIONS (platform/audit) */
  action: string;
  target_type: string;
  target_id: string;
  /** JSON object, scrubbed of secrets and personal data, or null (e.g. nothing existed before) */
  before_summary: string | null;
  after_summary: string | null;
  request_id: string | null;
}

export interface AuditTables {
  audit_log: AuditLogTable;
}
