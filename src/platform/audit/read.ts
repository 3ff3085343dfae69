import { authorize, type Caller } from '../../kernel/index.js';
import type { Executor } from '../db/index.js';
import { listAudit, type AuditAction } from './index.js';

export { AUDIT_ACTIONS, AUDIT_PAGE_MAX, isAuditAction } from './index.js';

/** The audit log, for admins and finance only. */
export async function readAuditLog(
  db: Executor,
  props: { readonly caller: Caller; readonly first: number; readonly after: string | null; readonly action?: AuditAction; readonly targetId?: string; readonly actorSubject?: string },
) {
  authorize(props.caller.actor, 'audit.read');
  const { caller: _caller, ...query } = props;
  return listAudit(db, query);
}
