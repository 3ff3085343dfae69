import { describe, expect, it } from 'vitest';
import { isEffectiveAt, planGrant, planRevoke, type EntitlementState } from './entitlement.js';

const active = (validFrom: number, validUntil: number | null): EntitlementState => ({ validFrom, validUntil, status: 'active', revokeReason: null, revokedAt: null });

describe('granting', () => {
  it('creates a new entitlement, active', () => {
    expect(planGrant(undefined, undefined, { validFrom: 100, validUntil: null })).toEqual({ kind: 'create', state: active(100, null), actions: ['granted'] });
  });

  it('creates it born revoked when its source was revoked first, cut at the revocation', () => {
    const plan = planGrant(undefined, { reason: 'refunded', at: 150 }, { validFrom: 100, validUntil: null });
    expect(plan).toEqual({ kind: 'create', state: { validFrom: 100, validUntil: 150, status: 'revoked', revokeReason: 'refunded', revokedAt: 150 }, actions: ['granted', 'revoked'] });
    if (plan.kind === 'create') expect(isEffectiveAt(plan.state, 200)).toBe(false);
  });

  it('a revocation stamped before the grant began leaves an empty window, never a live one', () => {
    const plan = planGrant(undefined, { reason: 'dispute_lost', at: 50 }, { validFrom: 100, validUntil: 500 });
    expect(plan.kind === 'create' && plan.state).toMatchObject({ validFrom: 100, validUntil: 100, status: 'revoked' });
    if (plan.kind === 'create') expect([50, 100, 300].some((t) => isEffectiveAt(plan.state, t))).toBe(false);
  });

  it('extends an active entitlement when the grant lasts longer, and only then', () => {
    expect(planGrant(active(100, 200), undefined, { validFrom: 150, validUntil: 400 })).toEqual({ kind: 'extend', state: active(100, 400) });
    expect(planGrant(active(100, 200), undefined, { validFrom: 150, validUntil: null })).toEqual({ kind: 'extend', state: active(100, null) });
    expect(planGrant(active(100, 200), undefined, { validFrom: 100, validUntil: 200 })).toEqual({ kind: 'unchanged' });
    expect(planGrant(active(100, null), undefined, { validFrom: 100, validUntil: 900 })).toEqual({ kind: 'unchanged' });
  });

  it('never brings a revoked entitlement back', () => {
    const revoked: EntitlementState = { validFrom: 100, validUntil: 150, status: 'revoked', revokeReason: 'refunded', revokedAt: 150 };
    expect(planGrant(revoked, undefined, { validFrom: 100, validUntil: null })).toEqual({ kind: 'unchanged' });
  });
});

describe('revoking', () => {
  it('ends access at the revocation and records why', () => {
    expect(planRevoke(active(100, null), { reason: 'refunded', at: 300 })).toEqual({ kind: 'revoke', state: { validFrom: 100, validUntil: 300, status: 'revoked', revokeReason: 'refunded', revokedAt: 300 } });
  });

  it('never lengthens a window that would have ended earlier', () => {
    expect(planRevoke(active(100, 200), { reason: 'dispute_lost', at: 300 })).toMatchObject({ kind: 'revoke', state: { validUntil: 200, status: 'revoked' } });
  });

  it('is idempotent: a second revocation changes nothing and keeps the first reason', () => {
    const first = planRevoke(active(100, null), { reason: 'refunded', at: 300 });
    if (first.kind !== 'revoke') throw new Error('expected revoke');
    expect(planRevoke(first.state, { reason: 'dispute_lost', at: 400 })).toEqual({ kind: 'unchanged' });
  });

  it('keeps access before the revocation true for a check about that past instant', () => {
    const plan = planRevoke(active(100, null), { reason: 'refunded', at: 300 });
    if (plan.kind !== 'revoke') throw new Error('expected revoke');
    expect([isEffectiveAt(plan.state, 200), isEffectiveAt(plan.state, 300)]).toEqual([true, false]);
  });
});
