/** The entitlements context's public face: who may access what, fed by events. */
export * from './domain/resource.js';
export * from './domain/validity.js';
export * from './domain/entitlement.js';
export * from './domain/access.js';
export { grantsForPurchase, type LineTerms, type PurchasedLine } from './domain/purchase.js';
export type { EntitlementsDeps } from './deps.js';
export { sqlEntitlementReadModel, type AccessRecord, type EntitlementReadModel } from './read-model.js';
export { dynamoDbEntitlementReadModel, entitlementAccessTableSpec, rebuildEntitlementReadModel, type RebuildReadModelProps } from './read-model-dynamodb.js';
export { grantFromSource, revokeSource, type GrantFromSourceProps, type ProjectionDeps, type ProjectionResult, type RevokeSourceProps } from './project.js';
export { applyEntitlementEvent, entitlementsConsumer, ENTITLEMENT_EVENT_TYPES, ENTITLEMENTS_CONSUMER_GROUP } from './consumer.js';
export {
  checkAccess,
  checkAccessBatch,
  listAccessibleResources,
  listEntitlements,
  MAX_BATCH_RESOURCES,
  type AccessibleResource,
  type CheckAccessBatchProps,
  type CheckAccessProps,
  type EntitlementView,
} from './read.js';
export type { EntitlementRecord, HistoryRecord } from './store.js';
