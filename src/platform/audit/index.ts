/**
 * The audit log: every privileged action (capture, void, refund, manual grant or revoke,
 * configuration change, admin override) appended with who, in which role, did what to which
 * object, a before/after summary, the request id and the time.
 *
 * `appendAudit` takes the use case's own transaction, so the entry commits with the action or not
 * at all (invariant 2): there is never an action without its entry, nor an entry for an action
 * that rolled back. The table is append-only in the database itself (see 0004_audit_log).
 *
 * Who may read it ('audit.read': finance and admin) is checked by the use case or edge that calls
 * `listAudit`; this module is storage.
 */
import { ObolError } from '../../kernel/errors.js';
import { newId } from '../../kernel/ids.js';
import type { Executor } from '../db/database.js';
import type { AuditLogTable } from '../db/schema-audit.js';
import { serializeSummary } from './scrub.js';

export { EMAIL_REDACTED, isSensitiveKey, MAX_SUMMARY_BYTES, scrubSummary } from './scrub.js';

export const AUDIT_ACTIONS = [
  'payment.capture',
  'payment.void',
  'payment.refund',
  'entitlement.grant',
  'entitlement.revoke',
  'config.change',
  'admin.override',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export function isAuditAction(value: unknown): value is AuditAction {
  return typeof value === 'string' && (AUDIT_ACTIONS as readonly string[]).includes(value);
}

/** Who acted. Structurally a subset of the kernel's `Actor`, so an `Actor` can be passed as is. */
export interface AuditActor {
  readonly subject: string;
  readonly roles: readonly string[];
  readonly kind: string;
}

export interface AuditTarget {
  readonly type: string;
  readonly id: string;
}

export interface AuditEntry {
  readonly id: string;
  readonly occurredAt: number;
  readonly actor: AuditActor;
  readonly action: AuditAction;
  readonly target: AuditTarget;
  /** As stored: scrubbed of secrets and personal data. */
  readonly before: Readonly<Record<string, unknown>> | null;
  readonly after: Readonly<Record<string, unknown>> | null;
  readonly requestId: string | null;
}

export interface AuditPage {
  readonly entries: readonly AuditEntry[];
  readonly endCursor: string | null;
  readonly hasNextPage: boolean;
}

export const AUDIT_PAGE_MAX = 100;

const ID_PREFIX = 'aud_';

/**
 * The same monotonic ULID body as every other id (sorts by time), under the audit log's own
 * prefix; borrowed from the event kind so kernel/ids.ts needs no audit-specific entry.
 */
function newAuditId(now: number): string {
  const eventId = newId('event', now);
  return ID_PREFIX + eventId.slice(eventId.indexOf('_') + 1);
}

// Column widths of 0004_audit_log: checked here so an oversized value fails the same way on both
// dialects (SQLite would store it, MySQL would refuse it) and names the field.
const LIMITS = { subject: 200, roles: 200, kind: 20, targetType: 40, targetId: 64, requestId: 100 } as const;

function requireText(value: string, field: keyof typeof LIMITS): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > LIMITS[field]) {
    throw new Error(`Audit ${field} must be 1–${LIMITS[field]} characters.`);
  }
}

/**
 * Appends one entry in `tx`, the transaction of the action it records. Every refusal here is a
 * plain Error: the inputs come from our own use cases and the authenticated principal, so a bad
 * one is a bug, and it aborts the action rather than letting it go unrecorded.
 */
export async function appendAudit(
  tx: Executor,
  entry: {
    readonly actor: AuditActor;
    readonly action: AuditAction;
    readonly target: AuditTarget;
    readonly before: Readonly<Record<string, unknown>> | null;
    readonly after: Readonly<Record<string, unknown>> | null;
    readonly requestId: string | null;
    readonly now: number;
  },
): Promise<AuditEntry> {
  if (!isAuditAction(entry.action)) throw new Error(`Unknown audit action ${String(entry.action)}.`);
  if (!Number.isSafeInteger(entry.now) || entry.now < 0) throw new Error('Audit time must be epoch milliseconds.');
  requireText(entry.actor.subject, 'subject');
  requireText(entry.actor.kind, 'kind');
  if (entry.actor.roles.some((r) => r.length === 0 || r.includes(','))) throw new Error('Audit roles must be non-empty and contain no comma.');
  const roles = entry.actor.roles.join(',');
  if (roles.length > LIMITS.roles) throw new Error(`Audit roles must fit in ${LIMITS.roles} characters.`);
  requireText(entry.target.type, 'targetType');
  requireText(entry.target.id, 'targetId');
  if (entry.requestId !== null) requireText(entry.requestId, 'requestId');

  const before = serializeSummary(entry.before, 'before');
  const after = serializeSummary(entry.after, 'after');
  const id = newAuditId(entry.now);

  await tx
    .insertInto('audit_log')
    .values({
      id,
      occurred_at: entry.now,
      actor_subject: entry.actor.subject,
      actor_roles: roles,
      actor_kind: entry.actor.kind,
      action: entry.action,
      target_type: entry.target.type,
      target_id: entry.target.id,
      before_summary: before,
      after_summary: after,
      request_id: entry.requestId,
    })
    .execute();

  return {
    id,
    occurredAt: entry.now,
    actor: { subject: entry.actor.subject, roles: [...entry.actor.roles], kind: entry.actor.kind },
    action: entry.action,
    target: { type: entry.target.type, id: entry.target.id },
    before: before === null ? null : (JSON.parse(before) as Record<string, unknown>),
    after: after === null ? null : (JSON.parse(after) as Record<string, unknown>),
    requestId: entry.requestId,
  };
}

// The cursor is opaque to callers: a versioned seq, base64url-encoded, so its shape can change.
const CURSOR_PREFIX = 'audit:v1:';

function encodeCursor(seq: number): string {
  return Buffer.from(`${CURSOR_PREFIX}${seq}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): number {
  const text = cursor.length <= 64 ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const digits = text.startsWith(CURSOR_PREFIX) ? text.slice(CURSOR_PREFIX.length) : '';
  const seq = /^[1-9][0-9]{0,15}$/.test(digits) ? Number(digits) : NaN;
  if (!Number.isSafeInteger(seq)) throw new ObolError('VALIDATION_FAILED', 'after is not a cursor from this list.', { field: 'after' });
  return seq;
}

function parseSummary(json: string | null): Readonly<Record<string, unknown>> | null {
  return json === null ? null : (JSON.parse(json) as Record<string, unknown>);
}

function toEntry(row: Omit<AuditLogTable, 'seq'>): AuditEntry {
  // Readers deploy before writers (expand/contract), so an unknown action is a deployment bug.
  if (!isAuditAction(row.action)) throw new Error(`audit_log ${row.id} has an action this build does not know: ${row.action}.`);
  return {
    id: row.id,
    occurredAt: Number(row.occurred_at),
    actor: { subject: row.actor_subject, roles: row.actor_roles === '' ? [] : row.actor_roles.split(','), kind: row.actor_kind },
    action: row.action,
    target: { type: row.target_type, id: row.target_id },
    before: parseSummary(row.before_summary),
    after: parseSummary(row.after_summary),
    requestId: row.request_id,
  };
}

/**
 * Newest first, optionally filtered (filters combine with AND). Caller mistakes (a page size out
 * of range, a cursor that is not ours, an unknown action) are VALIDATION_FAILED.
 */
export async function listAudit(
  db: Executor,
  args: {
    readonly first: number;
    readonly after: string | null;
    readonly action?: AuditAction;
    readonly targetId?: string;
    readonly actorSubject?: string;
  },
): Promise<AuditPage> {
  if (!Number.isInteger(args.first) || args.first < 1 || args.first > AUDIT_PAGE_MAX) {
    throw new ObolError('VALIDATION_FAILED', `first must be between 1 and ${AUDIT_PAGE_MAX}.`, { field: 'first' });
  }
  // The edge may pass a client's string straight through: check it against the list, not the type.
  if (args.action !== undefined && !isAuditAction(args.action)) {
    throw new ObolError('VALIDATION_FAILED', `action must be one of ${AUDIT_ACTIONS.join(', ')}.`, { field: 'action' });
  }
  let q = db
    .selectFrom('audit_log')
    .select(['seq', 'id', 'occurred_at', 'actor_subject', 'actor_roles', 'actor_kind', 'action', 'target_type', 'target_id', 'before_summary', 'after_summary', 'request_id']);
  if (args.after !== null) q = q.where('seq', '<', decodeCursor(args.after));
  if (args.action !== undefined) q = q.where('action', '=', args.action);
  if (args.targetId !== undefined) q = q.where('target_id', '=', args.targetId);
  if (args.actorSubject !== undefined) q = q.where('actor_subject', '=', args.actorSubject);
  const rows = await q.orderBy('seq', 'desc').limit(args.first + 1).execute();
  const page = rows.slice(0, args.first);
  const last = page[page.length - 1];
  return {
    entries: page.map(toEntry),
    endCursor: last === undefined ? null : encodeCursor(Number(last.seq)),
    hasNextPage: rows.length > args.first,
  };
}
