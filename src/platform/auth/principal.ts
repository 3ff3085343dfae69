/**
 * Who a verified token says the caller is. Pure: no I/O, no clock, no keys. The verifier checks
 * the signature and the time claims; this module decides what the claims mean, so the same rules
 * apply to every token source (identity provider, development key, later gRPC metadata).
 *
 * The role names and the `Actor` shape live in the kernel (src/kernel/access.ts), where the use
 * cases enforce them; they are re-exported here rather than declared twice.
 */
import type { JWTPayload } from 'jose';
import { ACCESS_ROLES, ObolError, isAccessRole, isCustomerId, type AccessRole, type Actor } from '../../kernel/index.js';

export { ACCESS_ROLES, isAccessRole, type AccessRole };

/** A caller authenticated by a bearer token: an `Actor` plus the token's id for the audit log. */
export interface Principal extends Actor {
  readonly subject: string;
  readonly roles: readonly AccessRole[];
  /** Set when the caller is a learner: their customer id. */
  readonly customerId: string | null;
  readonly kind: 'customer' | 'staff' | 'service';
  /** The token's `jti`, when it has one. */
  readonly tokenId: string | null;
}

/**
 * Why a token was refused. Never shown to the caller (they all get one generic message, so an
 * attacker cannot learn which check failed); kept on the error for logs, metrics and tests.
 */
export const AUTH_FAILURE_REASONS = [
  'missing_token',
  'too_large',
  'malformed',
  'unsupported_algorithm',
  'unknown_key',
  'bad_signature',
  'expired',
  'not_yet_valid',
  'wrong_issuer',
  'wrong_audience',
  'missing_claim',
  'invalid_claim',
  'invalid_subject',
  'invalid_roles',
  'no_known_role',
  'conflicting_roles',
] as const;
export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];

export function isAuthFailureReason(value: unknown): value is AuthFailureReason {
  return typeof value === 'string' && (AUTH_FAILURE_REASONS as readonly string[]).includes(value);
}

/** The one message every refused token gets, whatever the reason. */
export const UNAUTHENTICATED_MESSAGE = 'The bearer token is missing, invalid or expired.';

/**
 * A refused token. `reason` is a property, not part of `details`, because details travel to the
 * client and the reason must not.
 */
export class AuthenticationError extends ObolError {
  readonly reason: AuthFailureReason;

  constructor(reason: AuthFailureReason, cause?: unknown) {
    super('UNAUTHENTICATED', UNAUTHENTICATED_MESSAGE);
    this.name = 'AuthenticationError';
    this.reason = reason;
    if (cause !== undefined) this.cause = cause;
  }
}

export function isAuthenticationError(err: unknown): err is AuthenticationError {
  return err instanceof AuthenticationError;
}

export const MAX_SUBJECT_LENGTH = 200;
const MAX_TOKEN_ID_LENGTH = 200;

/** Subjects end up in logs and the audit log: no control characters, no surrounding blanks. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

export function hasRole(principal: Principal, role: AccessRole): boolean {
  return principal.roles.includes(role);
}

/**
 * Turns verified claims into a principal, or throws AuthenticationError. Fails closed: a token
 * must name exactly one kind of caller (a learner, staff, or a service), because the access
 * rules (`mayActFor`) treat learners differently and a mixed token would be ambiguous.
 */
export function principalFromClaims(claims: JWTPayload): Principal {
  const subject = claims.sub;
  if (subject === undefined) throw new AuthenticationError('missing_claim');
  if (typeof subject !== 'string' || subject === '' || subject.length > MAX_SUBJECT_LENGTH || subject.trim() !== subject || UNPRINTABLE.test(subject)) {
    throw new AuthenticationError('invalid_subject');
  }

  const roles = knownRoles(claims['roles']);
  const isLearner = roles.includes('learner');
  const isService = roles.includes('service');
  // A learner is scoped to one customer; any other role would silently widen that scope. A
  // service identity is a machine: mixing it with a person's roles blurs the audit trail.
  if ((isLearner || isService) && roles.length > 1) throw new AuthenticationError('conflicting_roles');
  // A learner's subject is their customer id, the same shape the API accepts for `customerId`.
  if (isLearner && !isCustomerId(subject)) throw new AuthenticationError('invalid_subject');

  const jti = claims.jti;
  const tokenId = typeof jti === 'string' && jti !== '' && jti.length <= MAX_TOKEN_ID_LENGTH ? jti : null;
  return Object.freeze({
    subject,
    roles,
    customerId: isLearner ? subject : null,
    kind: isLearner ? 'customer' : isService ? 'service' : 'staff',
    tokenId,
  });
}

/**
 * The known roles of a `roles` claim, deduplicated, in ACCESS_ROLES order. Identity providers add
 * role names of their own, so unknown names are ignored; but a claim of the wrong shape, or one
 * with no role we know, is refused rather than treated as "no privileges".
 */
function knownRoles(claim: unknown): readonly AccessRole[] {
  if (claim === undefined) throw new AuthenticationError('no_known_role');
  if (!Array.isArray(claim) || !claim.every((r): r is string => typeof r === 'string')) {
    throw new AuthenticationError('invalid_roles');
  }
  const roles = ACCESS_ROLES.filter((role) => claim.includes(role));
  if (roles.length === 0) throw new AuthenticationError('no_known_role');
  return Object.freeze(roles);
}
