/** obol.v1.EntitlementService: the entitlements context's read use cases. */
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { checkAccess, checkAccessBatch, listEntitlements, type EntitlementStatus, type EntitlementView } from '../../entitlements/index.js';
import type { AccessDecision } from '../../entitlements/index.js';
import { EntitlementStatus as PbEntitlementStatus, type AccessDecisionSchema, type EntitlementSchema, type EntitlementService } from '../../gen/obol/v1/entitlements_pb.js';
import type { App } from '../app.js';
import type { UnaryHandlers } from './service.js';

function entitlementStatusOf(value: EntitlementStatus): PbEntitlementStatus {
  switch (value) {
    case 'active':
      return PbEntitlementStatus.ACTIVE;
    case 'revoked':
      return PbEntitlementStatus.REVOKED;
    default: {
      const unhandled: never = value;
      throw new Error(`unknown entitlement status ${String(unhandled)}`);
    }
  }
}

function decisionOf(d: AccessDecision): MessageInitShape<typeof AccessDecisionSchema> {
  return { resource: d.resource, allowed: d.allowed, via: d.via ?? '', ...(d.validUntil !== null ? { validUntil: timestampFromMs(d.validUntil) } : {}) };
}

function entitlementOf(e: EntitlementView): MessageInitShape<typeof EntitlementSchema> {
  return {
    id: e.id,
    customerId: e.customerId,
    resource: e.resource,
    sourceKind: e.source.kind,
    sourceId: e.source.id,
    productId: e.productId ?? '',
    status: entitlementStatusOf(e.status),
    revokeReason: e.revokeReason ?? '',
    ...(e.revokedAt !== null ? { revokeTime: timestampFromMs(e.revokedAt) } : {}),
    validFrom: timestampFromMs(e.validFrom),
    ...(e.validUntil !== null ? { validUntil: timestampFromMs(e.validUntil) } : {}),
    activeNow: e.activeNow,
    createTime: timestampFromMs(e.createdAt),
    updateTime: timestampFromMs(e.updatedAt),
  };
}

/** An empty customer_id means "the calling learner", as a null customerId does in the use cases. */
const customerIdOf = (value: string): string | null => (value === '' ? null : value);

export function entitlementHandlers(app: App): UnaryHandlers<(typeof EntitlementService)['method']> {
  return {
    async checkEntitlement(req, { caller }) {
      const decision = await checkAccess(app.entitlements, { caller, customerId: customerIdOf(req.customerId), resource: req.resource, at: null });
      return { decision: decisionOf(decision) };
    },
    async batchCheckEntitlements(req, { caller }) {
      const decisions = await checkAccessBatch(app.entitlements, { caller, customerId: customerIdOf(req.customerId), resources: req.resources, at: null });
      return { decisions: decisions.map(decisionOf) };
    },
    async listEntitlements(req, { caller }) {
      const entitlements = await listEntitlements(app.entitlements, { caller, customerId: customerIdOf(req.customerId) });
      return { entitlements: entitlements.map(entitlementOf) };
    },
  };
}
