import { describe, expect, it } from 'vitest';
import { ObolError } from '../../kernel/index.js';
import { AuthenticationError, UNAUTHENTICATED_MESSAGE, hasRole, principalFromClaims, type AuthFailureReason } from './principal.js';

function refusal(claims: Record<string, unknown>): AuthFailureReason {
  try {
    principalFromClaims(claims);
  } catch (err) {
    expect(err).toBeInstanceOf(AuthenticationError);
    expect(err).toBeInstanceOf(ObolError);
    const auth = err as AuthenticationError;
    expect(auth.code).toBe('UNAUTHENTICATED');
    expect(auth.message).toBe(UNAUTHENTICATED_MESSAGE);
    expect(auth.details).toBeUndefined();
    return auth.reason;
  }
  throw new Error('expected the claims to be refused');
}

describe('principalFromClaims', () => {
  it('makes a learner a customer principal whose customer id is the subject', () => {
    const p = principalFromClaims({ sub: 'cus_ada', roles: ['learner'], jti: 'tok-1' });
    expect(p).toEqual({ subject: 'cus_ada', roles: ['learner'], customerId: 'cus_ada', kind: 'customer', tokenId: 'tok-1' });
    expect(hasRole(p, 'learner')).toBe(true);
    expect(hasRole(p, 'admin')).toBe(false);
  });

  it('makes staff roles a staff principal with no customer id, combining roles in a stable order', () => {
    const p = principalFromClaims({ sub: 'auth0|5f1c', roles: ['finance', 'support', 'finance'] });
    expect(p).toEqual({ subject: 'auth0|5f1c', roles: ['support', 'finance'], customerId: null, kind: 'staff', tokenId: null });
  });

  it('makes a client-credentials token with the service role a service principal', () => {
    const p = principalFromClaims({ sub: 'svc_enrolment', roles: ['service'] });
    expect(p.kind).toBe('service');
    expect(p.customerId).toBeNull();
  });

  it('ignores role names it does not know, which identity providers add', () => {
    expect(principalFromClaims({ sub: 'staff_1', roles: ['offline_access', 'admin', 'uma_authorization'] }).roles).toEqual(['admin']);
  });

  it('refuses a token with no role it knows', () => {
    expect(refusal({ sub: 'staff_1', roles: ['offline_access'] })).toBe('no_known_role');
    expect(refusal({ sub: 'staff_1', roles: [] })).toBe('no_known_role');
    expect(refusal({ sub: 'staff_1' })).toBe('no_known_role');
  });

  it('refuses a roles claim that is not an array of strings rather than guessing', () => {
    expect(refusal({ sub: 'staff_1', roles: 'admin' })).toBe('invalid_roles');
    expect(refusal({ sub: 'staff_1', roles: ['admin', 7] })).toBe('invalid_roles');
  });

  it('refuses a missing subject and subjects that are not a usable identifier', () => {
    expect(refusal({ roles: ['admin'] })).toBe('missing_claim');
    expect(refusal({ sub: '', roles: ['admin'] })).toBe('invalid_subject');
    expect(refusal({ sub: 42, roles: ['admin'] })).toBe('invalid_subject');
    expect(refusal({ sub: 'x'.repeat(201), roles: ['admin'] })).toBe('invalid_subject');
    expect(refusal({ sub: 'ops\nadmin', roles: ['admin'] })).toBe('invalid_subject');
    expect(refusal({ sub: ' ops', roles: ['admin'] })).toBe('invalid_subject');
    expect(principalFromClaims({ sub: 'x'.repeat(200), roles: ['admin'] }).subject).toHaveLength(200);
  });

  it('refuses a learner whose subject is not a customer id', () => {
    expect(refusal({ sub: 'ada@example.com', roles: ['learner'] })).toBe('invalid_subject');
    expect(refusal({ sub: 'cus_', roles: ['learner'] })).toBe('invalid_subject');
    expect(refusal({ sub: `cus_${'a'.repeat(61)}`, roles: ['learner'] })).toBe('invalid_subject');
    expect(refusal({ sub: 'cus_ada/../other', roles: ['learner'] })).toBe('invalid_subject');
  });

  it('refuses a learner combined with any other role, and a service combined with a person’s role', () => {
    expect(refusal({ sub: 'cus_ada', roles: ['learner', 'admin'] })).toBe('conflicting_roles');
    expect(refusal({ sub: 'cus_ada', roles: ['learner', 'support'] })).toBe('conflicting_roles');
    expect(refusal({ sub: 'cus_ada', roles: ['learner', 'service'] })).toBe('conflicting_roles');
    expect(refusal({ sub: 'svc_enrolment', roles: ['service', 'admin'] })).toBe('conflicting_roles');
  });

  it('keeps a token id only when it is a reasonable string', () => {
    expect(principalFromClaims({ sub: 'cus_ada', roles: ['learner'], jti: 12 as unknown as string }).tokenId).toBeNull();
    expect(principalFromClaims({ sub: 'cus_ada', roles: ['learner'], jti: 'j'.repeat(201) }).tokenId).toBeNull();
  });

  it('returns a frozen principal', () => {
    const p = principalFromClaims({ sub: 'cus_ada', roles: ['learner'] });
    expect(Object.isFrozen(p)).toBe(true);
    expect(Object.isFrozen(p.roles)).toBe(true);
  });
});
