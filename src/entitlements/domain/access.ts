/**
 * The answer to "may this customer use this resource at this instant?", from the read-model rows
 * of the keys that can open it (see keysGranting). Pure: the store fetched the rows in one query.
 */
import { keysGranting, type Resource } from './resource.js';
import { outlasts, windowAt, type Window } from './validity.js';

export interface AccessDecision {
  readonly resource: Resource;
  readonly allowed: boolean;
  /** The key that opens it: the resource itself or `catalog:all`; null when refused. */
  readonly via: Resource | null;
  /** The end of the window that holds `at` (null: no end, or refused). */
  readonly validUntil: number | null;
}

/** When both the resource and the all-access catalogue open it, the one lasting longer answers. */
export function decideAccess(resource: Resource, windowsByKey: ReadonlyMap<Resource, readonly Window[]>, at: number): AccessDecision {
  let best: { readonly key: Resource; readonly window: Window } | undefined;
  for (const key of keysGranting(resource)) {
    const window = windowAt(windowsByKey.get(key) ?? [], at);
    if (window !== undefined && (best === undefined || !outlasts(best.window, window))) best = { key, window };
  }
  return best === undefined ? { resource, allowed: false, via: null, validUntil: null } : { resource, allowed: true, via: best.key, validUntil: best.window.validUntil };
}

/** Every key a batch of checks needs, once each: the query's IN list. */
export function keysForCheck(resources: readonly Resource[]): Resource[] {
  return [...new Set(resources.flatMap((r) => keysGranting(r)))];
}
