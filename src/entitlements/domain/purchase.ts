/**
 * What a completed purchase grants: per line, the product's resource for the price's validity
 * (see purchaseWindow). Lines that grant the same resource become one grant lasting as long as the
 * longest of them; quantity does not add up (access is not a count: two monthly seats of the same
 * specialization are still one month of access for the buyer).
 */
import type { BillingInterval } from '../../catalog/index.js';
import type { Grant } from './entitlement.js';
import { parseResource } from './resource.js';
import { outlasts, purchaseWindow } from './validity.js';

export interface PurchasedLine {
  readonly priceId: string;
  readonly productId: string;
}

/** What the catalog says about one purchased line. */
export interface LineTerms {
  readonly productId: string;
  /** The product's `grants`, as stored: null when it grants nothing. */
  readonly grants: string | null;
  readonly billingInterval: BillingInterval | null;
}

/**
 * Throws (an internal error, not a caller's) when the catalog cannot say what a line grants: the
 * event then stays unapplied and visible until the catalog is fixed, rather than a paid purchase
 * silently granting nothing.
 */
export function grantsForPurchase(lines: readonly PurchasedLine[], terms: ReadonlyMap<string, LineTerms>, completedAt: number): Grant[] {
  const byResource = new Map<string, Grant>();
  for (const line of lines) {
    const t = terms.get(line.priceId);
    if (t === undefined) throw new Error(`price ${line.priceId} is not in the catalog`);
    if (t.productId !== line.productId) throw new Error(`price ${line.priceId} belongs to ${t.productId}, not ${line.productId}`);
    if (t.grants === null) continue;
    const resource = parseResource(t.grants);
    if (resource === undefined) throw new Error(`product ${t.productId} grants "${t.grants}", which is not a resource`);
    const grant: Grant = { resource, productId: t.productId, ...purchaseWindow(completedAt, t.billingInterval) };
    const held = byResource.get(resource);
    if (held === undefined || !outlasts(held, grant)) byResource.set(resource, grant);
  }
  return [...byResource.values()].sort((a, b) => (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0));
}
