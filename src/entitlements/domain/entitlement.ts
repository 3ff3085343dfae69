/**
 * An entitlement: a customer may use a resource, because of a source (a purchase or a
 * subscription), during a window. Its life is a few decisions, all pure: grant it (born revoked
 * when its source's revocation came first), extend it (a later grant from the same source lasting
 * longer: a renewal), revoke it (a full refund, a lost dispute, a subscription's end).
 */
import type { Resource } from './resource.js';
import { isEmptyWindow, outlasts, type Window } from './validity.js';

/** What granted it: an order (checkout) or a subscription. */
export const SOURCE_KINDS = ['order', 'subscription'] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];
export function isSourceKind(v: unknown): v is SourceKind {
  return typeof v === 'string' && (SOURCE_KINDS as readonly string[]).includes(v);
}

export interface EntitlementSource {
  readonly kind: SourceKind;
  readonly id: string;
}

/** Expiry is not a status: a window's end passes by itself, so "active" means "not revoked". */
export const ENTITLEMENT_STATUSES = ['active', 'revoked'] as const;
export type EntitlementStatus = (typeof ENTITLEMENT_STATUSES)[number];
export function isEntitlementStatus(v: unknown): v is EntitlementStatus {
  return typeof v === 'string' && (ENTITLEMENT_STATUSES as readonly string[]).includes(v);
}

/** Why access was taken back: a full refund or lost dispute of an order, a subscription's end (or its lost dispute). */
export const REVOKE_REASONS = ['refunded', 'dispute_lost', 'subscription_ended'] as const;
export type RevokeReason = (typeof REVOKE_REASONS)[number];
export function isRevokeReason(v: unknown): v is RevokeReason {
  return typeof v === 'string' && (REVOKE_REASONS as readonly string[]).includes(v);
}

export const HISTORY_ACTIONS = ['granted', 'extended', 'revoked'] as const;
export type HistoryAction = (typeof HISTORY_ACTIONS)[number];
export function isHistoryAction(v: unknown): v is HistoryAction {
  return typeof v === 'string' && (HISTORY_ACTIONS as readonly string[]).includes(v);
}

export interface EntitlementState extends Window {
  readonly status: EntitlementStatus;
  readonly revokeReason: RevokeReason | null;
  readonly revokedAt: number | null;
}

export interface Revocation {
  readonly reason: RevokeReason;
  /** When the source lost its right (the refund's or dispute's time), not when we heard of it. */
  readonly at: number;
}

/** What one source grants for one resource. */
export interface Grant extends Window {
  readonly resource: Resource;
  readonly productId: string | null;
}

export type GrantPlan =
  | { readonly kind: 'create'; readonly state: EntitlementState; readonly actions: readonly HistoryAction[] }
  | { readonly kind: 'extend'; readonly state: EntitlementState }
  | { readonly kind: 'unchanged' };

export type RevokePlan = { readonly kind: 'revoke'; readonly state: EntitlementState } | { readonly kind: 'unchanged' };

/**
 * The state after revocation: the window ends when the source lost its right (never before it
 * began, never after it would have ended anyway), so the history still says access was held
 * until then.
 */
export function revokedState(state: Window, revocation: Revocation): EntitlementState {
  const until = Math.max(state.validFrom, state.validUntil === null ? revocation.at : Math.min(state.validUntil, revocation.at));
  return { validFrom: state.validFrom, validUntil: until, status: 'revoked', revokeReason: revocation.reason, revokedAt: revocation.at };
}

/**
 * A grant meets what is already known about its (customer, resource, source):
 * - nothing yet: create it, born revoked when the source was revoked first (events may arrive
 *   out of order; a revoked purchase never leaves live access behind);
 * - active and the grant lasts longer: extend it (a renewal);
 * - anything else (a replay, a shorter grant, a revoked entitlement): change nothing. A revoked
 *   entitlement never comes back; a new source must grant anew.
 */
export function planGrant(existing: EntitlementState | undefined, revocation: Revocation | undefined, grant: Window): GrantPlan {
  if (existing === undefined) {
    const granted: EntitlementState = { validFrom: grant.validFrom, validUntil: grant.validUntil, status: 'active', revokeReason: null, revokedAt: null };
    if (revocation === undefined) return { kind: 'create', state: granted, actions: ['granted'] };
    return { kind: 'create', state: revokedState(granted, revocation), actions: ['granted', 'revoked'] };
  }
  if (existing.status === 'revoked') return { kind: 'unchanged' };
  if (outlasts(existing, grant)) return { kind: 'unchanged' };
  return { kind: 'extend', state: { ...existing, validFrom: Math.min(existing.validFrom, grant.validFrom), validUntil: grant.validUntil } };
}

/** Revoking twice, or revoking what is already revoked, changes nothing (the first reason stays). */
export function planRevoke(existing: EntitlementState, revocation: Revocation): RevokePlan {
  if (existing.status === 'revoked') return { kind: 'unchanged' };
  return { kind: 'revoke', state: revokedState(existing, revocation) };
}

/** True when the entitlement opens its resource at `at`. */
export function isEffectiveAt(state: EntitlementState, at: number): boolean {
  return !isEmptyWindow(state) && state.validFrom <= at && (state.validUntil === null || at < state.validUntil);
}
