/**
 * Who may do what. The use cases enforce this (not only the API layer), so every entry point —
 * GraphQL today, gRPC and webhooks later — gets the same rules.
 *
 *   learner  their own checkout sessions, payments, entitlements and subscriptions
 *   support  read everything; refund up to a configured amount per refund
 *   finance  ledger, trial balance, audit log, reconciliation views; read payments
 *   admin    everything
 *   service  what internal callers need: checkouts on a customer's behalf, capture, void, refund
 *
 * A learner asking for someone else's object gets NOT_FOUND, exactly as for an object that does
 * not exist, so ids cannot be probed. A role that may not perform an action at all gets FORBIDDEN.
 */
import { ObolError } from './errors.js';

export const ACCESS_ROLES = ['learner', 'support', 'finance', 'admin', 'service'] as const;
export type AccessRole = (typeof ACCESS_ROLES)[number];

export function isAccessRole(value: unknown): value is AccessRole {
  return typeof value === 'string' && (ACCESS_ROLES as readonly string[]).includes(value);
}

export const ACTOR_KINDS = ['customer', 'staff', 'service'] as const;
export type ActorKind = (typeof ACTOR_KINDS)[number];

/** The authenticated caller, as every use case sees it. */
export interface Actor {
  readonly subject: string;
  readonly roles: readonly AccessRole[];
  /** Set for learners: the customer they are. */
  readonly customerId: string | null;
  readonly kind: ActorKind;
}

/** The actor plus what the edge knows about the request, for limits and the audit log. */
export interface Caller {
  readonly actor: Actor;
  readonly requestId: string | null;
  /** Client address as the edge determined it (after trusted proxies), or null. */
  readonly ip: string | null;
}

export const PERMISSIONS = {
  'checkout.create': ['learner', 'service', 'admin'],
  'checkout.confirm': ['learner', 'service', 'admin'],
  'checkout.read': ['learner', 'support', 'finance', 'service', 'admin'],
  /** Billing details are personal data: not finance's (it works on amounts, not people). */
  'checkout.read_billing_details': ['learner', 'support', 'service', 'admin'],
  'payment.read': ['learner', 'support', 'finance', 'service', 'admin'],
  'payment.authenticate': ['learner', 'service', 'admin'],
  'payment.capture': ['service', 'admin'],
  'payment.void': ['service', 'admin'],
  'payment.refund': ['support', 'service', 'admin'],
  'ledger.read': ['finance', 'admin'],
  'audit.read': ['finance', 'admin'],
  /** Who may access what: learners their own (mayActFor), back-end services and support anyone's. */
  'entitlement.read': ['learner', 'support', 'service', 'admin'],
  /** A learner their own (mayActFor); services on a learner's behalf. */
  'subscription.create': ['learner', 'service', 'admin'],
  'subscription.read': ['learner', 'support', 'finance', 'service', 'admin'],
  /** Cancel, resume, change plan, update the payment method, pay an open invoice. */
  'subscription.manage': ['learner', 'support', 'service', 'admin'],
  /** Test clocks move time for everything attached to them: admins only (and only where enabled). */
  'test_clock.manage': ['admin'],
} as const satisfies Record<string, readonly AccessRole[]>;

export type Permission = keyof typeof PERMISSIONS;

export function can(actor: Actor, permission: Permission): boolean {
  const allowed: readonly AccessRole[] = PERMISSIONS[permission];
  return actor.roles.some((r) => allowed.includes(r));
}

export function authorize(actor: Actor, permission: Permission): void {
  if (!can(actor, permission)) {
    throw new ObolError('FORBIDDEN', `Your role may not ${permission.replace('.', ' ')}.`, { permission });
  }
}

/**
 * True when the actor may see objects belonging to `customerId`: learners only their own,
 * everyone else (already past `authorize`) any customer's.
 */
export function mayActFor(actor: Actor, customerId: string): boolean {
  if (actor.roles.includes('learner')) return actor.customerId === customerId;
  return true;
}

/** The no-oracle refusal: the same error as for an object that does not exist. */
export function notFound(what: string, field: string): ObolError {
  return new ObolError('NOT_FOUND', `No ${what} with this id.`, { field });
}
