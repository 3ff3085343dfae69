/**
 * What every resolver module shares: the context, the caller, shape checks of arguments, Money,
 * and the idempotency record a mutation runs under.
 */
import type { GraphQLFieldResolver } from 'graphql';
import { isCatalogId, isId, ObolError, type Caller, type IdKind } from '../../kernel/index.js';
import { parseCurrency, toDecimalString, money as makeMoney } from '../../money/index.js';
import type { App } from '../app.js';
import { duplicateWaitMs } from '../idempotency.js';

export interface GraphQLContext {
  readonly app: App;
  /** The authenticated caller, or null for an anonymous request (which may only read the catalog). */
  readonly caller: Caller | null;
}

export type Args = Record<string, unknown>;
export type Resolver = GraphQLFieldResolver<unknown, GraphQLContext, Args>;

export function callerOf(ctx: GraphQLContext): Caller {
  if (!ctx.caller) throw new ObolError('UNAUTHENTICATED', 'Send a bearer token: Authorization: Bearer <token>.');
  return ctx.caller;
}

export function moneyOf(amount: number, currency: string) {
  const c = parseCurrency(currency);
  if (!c) throw new Error(`unknown currency ${currency}`);
  const m = makeMoney(amount, c);
  return { amount: m.amount, currency: m.currency, decimal: toDecimalString(m) };
}

export function requireId(kind: IdKind, value: unknown, field: string): string {
  if (typeof value !== 'string' || !isId(kind, value)) {
    throw new ObolError('INVALID_ID', `${field} is not a valid ${kind} id.`, { field });
  }
  return value;
}

/** Prices may carry readable slugs (price_plus_monthly_usd), so they are checked as catalog ids. */
export function requirePriceId(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length > 64 || !isCatalogId('price', value)) {
    throw new ObolError('INVALID_ID', `${field} is not a price id (price_…).`, { field });
  }
  return value;
}

export function optionalString(value: unknown, field: string, max: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new ObolError('VALIDATION_FAILED', `${field} must be a string.`, { field });
  if (value.length > max) throw new ObolError('INPUT_TOO_LARGE', `${field} is longer than ${max} characters.`, { field });
  return value;
}

export function requireString(value: unknown, field: string, max: number): string {
  const s = optionalString(value, field, max);
  if (s === null || s.length === 0) throw new ObolError('VALIDATION_FAILED', `${field} is required.`, { field });
  return s;
}

/** DateTime arguments arrive as epoch ms (the scalar parsed them). */
export function optionalInstant(value: unknown): number | null {
  return typeof value === 'number' ? value : null;
}

export function requireInstant(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new ObolError('VALIDATION_FAILED', `${field} must be an ISO 8601 instant.`, { field });
  return value;
}

export function input(args: Args): Record<string, unknown> {
  const i = args.input;
  if (typeof i !== 'object' || i === null) throw new ObolError('VALIDATION_FAILED', 'input is required.');
  return i as Record<string, unknown>;
}

/** The request as fingerprinted for idempotency: the input minus the key itself. */
function withoutKey(i: Record<string, unknown>): Record<string, unknown> {
  const { idempotencyKey: _k, ...rest } = i;
  return rest;
}

/** Idempotency keys are per caller: one caller can neither collide with nor replay another's. */
export function idem(ctx: GraphQLContext, operation: string, i: Record<string, unknown>) {
  const caller = callerOf(ctx);
  return { caller, options: { db: ctx.app.db, clock: ctx.app.clock, store: ctx.app.idempotency, waitMs: duplicateWaitMs(ctx.app.config.requestTimeoutMs) }, req: { scope: `${caller.actor.kind}:${caller.actor.subject}`, key: i.idempotencyKey as string, operation, request: withoutKey(i) } };
}
