/**
 * The entitlements projection as an event consumer (group `entitlements`). It runs unchanged
 * behind the in-process bus and behind a Kafka consumer group: `deliverOnce` gives it the
 * transaction and drops redeliveries by event id.
 *
 *   checkout.completed    grant what the order's products grant (source: the order)
 *   order.access_revoked  revoke everything the order granted (full refund, lost dispute)
 *   subscription.activated | renewed | past_due | recovered | plan_changed
 *                         grant what the plan's product grants for [accessFrom, accessUntil)
 *                         (source: the subscription); a later event lasting longer extends it:
 *                         a renewal to the new period's end, dunning to the end of its grace
 *   subscription.canceled revoke everything the subscription granted, at `endedAt` (access
 *                         held until then stays in the history); a lost dispute says so
 *
 * Every subscription event carries the subscription's whole access window, so the events need
 * not arrive in order: a stale one grants no more than was already held, and a grant arriving
 * after the cancellation is born revoked. `unpaid` needs no event of its own: the window the
 * last past_due event granted ends with the grace period.
 *
 * A malformed event, or a catalog that cannot say what a line grants, throws: the event stays
 * unapplied and is retried (its error recorded on the outbox row) instead of being dropped.
 */
import { z } from 'zod';
import { findPrices, findProducts } from '../catalog/index.js';
import type { Tx } from '../platform/db/index.js';
import type { CloudEvent, EventConsumer, EventType } from '../platform/events/index.js';
import { grantsForPurchase, type LineTerms } from './domain/purchase.js';
import { parseResource } from './domain/resource.js';
import { grantFromSource, revokeSource, type ProjectionDeps, type ProjectionResult } from './project.js';

export const ENTITLEMENTS_CONSUMER_GROUP = 'entitlements';

const SUBSCRIPTION_GRANTS = ['subscription.activated', 'subscription.renewed', 'subscription.past_due', 'subscription.recovered', 'subscription.plan_changed'] as const satisfies readonly EventType[];

export const ENTITLEMENT_EVENT_TYPES = ['checkout.completed', 'order.access_revoked', ...SUBSCRIPTION_GRANTS, 'subscription.canceled'] as const satisfies readonly EventType[];

const Items = z.array(z.object({ priceId: z.string().min(1), productId: z.string().min(1) }).loose()).max(1000);

const CheckoutCompleted = z.object({ orderId: z.string().min(1).max(64), customerId: z.string().min(1).max(64), items: Items }).loose();

const AccessRevoked = z.object({ orderId: z.string().min(1).max(64), customerId: z.string().min(1).max(64), reason: z.enum(['refunded', 'dispute_lost']) }).loose();

const isoInstant = z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'must be an ISO 8601 instant');

const SubscriptionState = z
  .object({
    subscriptionId: z.string().min(1).max(64),
    customerId: z.string().min(1).max(64),
    productId: z.string().min(1).max(64),
    status: z.string().min(1).max(30),
    accessFrom: isoInstant,
    accessUntil: isoInstant.nullable(),
    endedAt: isoInstant.nullable(),
    reason: z.string().max(200).nullable(),
  })
  .loose();

function parse<T>(schema: z.ZodType<T>, event: CloudEvent): T {
  const result = schema.safeParse(event.data);
  if (!result.success) throw new Error(`${event.type} ${event.id} is malformed: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return result.data;
}

function timeOf(event: CloudEvent): number {
  const at = Date.parse(event.time);
  if (Number.isNaN(at)) throw new Error(`${event.type} ${event.id} has no valid time`);
  return at;
}

/** Applies one event in `tx`; exported for tests that drive the projection without a bus. */
export async function applyEntitlementEvent(deps: ProjectionDeps, tx: Tx, event: CloudEvent, now: number): Promise<ProjectionResult> {
  const type = event.type;
  switch (type) {
    case 'checkout.completed': {
      const data = parse(CheckoutCompleted, event);
      const prices = await findPrices(tx, data.items.map((i) => i.priceId));
      const products = await findProducts(tx, [...prices.values()].map((p) => p.productId));
      const terms = new Map<string, LineTerms>();
      for (const [id, price] of prices) terms.set(id, { productId: price.productId, grants: products.get(price.productId)?.grants ?? null, billingInterval: price.billingInterval });
      // Validity starts when the order completed, whenever the event happens to be applied.
      const completedAt = timeOf(event);
      const grants = grantsForPurchase(data.items, terms, completedAt);
      return grantFromSource(deps, tx, { customerId: data.customerId, source: { kind: 'order', id: data.orderId }, grants, eventId: event.id, occurredAt: completedAt, now });
    }
    case 'order.access_revoked': {
      const data = parse(AccessRevoked, event);
      return revokeSource(deps, tx, { customerId: data.customerId, source: { kind: 'order', id: data.orderId }, reason: data.reason, revokedAt: timeOf(event), eventId: event.id, now });
    }
    case 'subscription.activated':
    case 'subscription.renewed':
    case 'subscription.past_due':
    case 'subscription.recovered':
    case 'subscription.plan_changed': {
      const data = parse(SubscriptionState, event);
      // An event of a subscription that grants nothing right now (its first payment is not in)
      // has no window to grant.
      if (data.accessUntil === null) return { changed: [] };
      const products = await findProducts(tx, [data.productId]);
      const product = products.get(data.productId);
      if (!product) throw new Error(`product ${data.productId} of subscription ${data.subscriptionId} is not in the catalog`);
      if (product.grants === null) return { changed: [] };
      const resource = parseResource(product.grants);
      if (resource === undefined) throw new Error(`product ${data.productId} grants "${product.grants}", which is not a resource`);
      const validFrom = Date.parse(data.accessFrom);
      const validUntil = Date.parse(data.accessUntil);
      if (validUntil <= validFrom) return { changed: [] };
      return grantFromSource(deps, tx, {
        customerId: data.customerId,
        source: { kind: 'subscription', id: data.subscriptionId },
        grants: [{ resource, productId: data.productId, validFrom, validUntil }],
        eventId: event.id,
        occurredAt: timeOf(event),
        now,
      });
    }
    case 'subscription.canceled': {
      const data = parse(SubscriptionState, event);
      const endedAt = data.endedAt === null ? timeOf(event) : Date.parse(data.endedAt);
      return revokeSource(deps, tx, {
        customerId: data.customerId,
        source: { kind: 'subscription', id: data.subscriptionId },
        reason: data.reason === 'dispute_lost' ? 'dispute_lost' : 'subscription_ended',
        revokedAt: endedAt,
        eventId: event.id,
        now,
      });
    }
    default:
      throw new Error(`the entitlements consumer does not handle ${type}`);
  }
}

export function entitlementsConsumer(deps: ProjectionDeps): EventConsumer {
  return {
    group: ENTITLEMENTS_CONSUMER_GROUP,
    types: ENTITLEMENT_EVENT_TYPES,
    async handle(tx, event, now) {
      await applyEntitlementEvent(deps, tx, event, now);
    },
  };
}
