import { createSchema } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../kernel/index.js';
import { PAYMENT_METHOD_STATUSES } from '../../payments/index.js';
import { BILLING_REASONS, DUNNING_STATES, END_REASONS, INVOICE_LINE_KINDS, INVOICE_STATUSES, REFUND_POLICIES, SUBSCRIPTION_STATUSES } from '../../subscriptions/index.js';
import { TEST_CLOCK_STATUSES } from '../jobs/index.js';
import { httpStatusFor } from './errors.js';
import { resolvers } from './resolvers.js';
import { typeDefs } from './typeDefs.js';

const schema = createSchema({ typeDefs, resolvers: resolvers as never });
const resolverMap = resolvers as unknown as Record<string, Record<string, unknown>>;

/*
 * graphql-yoga may load the other build of graphql (CommonJS or ESM) than this file would, and
 * graphql's own isObjectType/isEnumType refuse types from another build: duck typing instead.
 */
type Field = { readonly name: string; readonly type: { toString(): string } };
type ObjectLike = { readonly name: string; getFields(): Record<string, Field>; getInterfaces(): unknown };
type EnumLike = { readonly name: string; getValues(): readonly { readonly name: string }[] };
const isObjectType = (t: unknown): t is ObjectLike => typeof t === 'object' && t !== null && 'getInterfaces' in t && 'getFields' in t;
const isEnumType = (t: unknown): t is EnumLike => typeof t === 'object' && t !== null && 'getValues' in t;
const namedType = (f: Field): string => f.type.toString().replace(/[[\]!]/g, '');

describe('GraphQL schema', () => {
  it('has no subscription operations (a type named Subscription would become their root)', () => {
    expect(schema.getQueryType()?.name).toBe('Query');
    expect(schema.getMutationType()?.name).toBe('Mutation');
    expect(schema.getSubscriptionType() ?? null).toBeNull();
    expect(isObjectType(schema.getType('CustomerSubscription'))).toBe(true);
  });

  it.each([
    ['SubscriptionStatus', SUBSCRIPTION_STATUSES],
    ['InvoiceStatus', INVOICE_STATUSES],
    ['DunningState', DUNNING_STATES],
    ['SubscriptionEndReason', END_REASONS],
    ['InvoiceBillingReason', BILLING_REASONS],
    ['InvoiceLineKind', INVOICE_LINE_KINDS],
    ['SubscriptionRefundPolicy', REFUND_POLICIES],
    ['PaymentMethodStatus', PAYMENT_METHOD_STATUSES],
    ['TestClockStatus', TEST_CLOCK_STATUSES],
  ] as const)('enum %s has exactly the domain’s values', (name, domain) => {
    const type = schema.getType(name);
    if (!isEnumType(type)) throw new Error(`${name} is not an enum`);
    expect(type.getValues().map((v) => v.name)).toEqual([...domain]);
  });

  it('resolves every root field, and every resolver names a field that exists', () => {
    for (const root of ['Query', 'Mutation'] as const) {
      const type = schema.getType(root);
      if (!isObjectType(type)) throw new Error(root);
      const fields = Object.keys(type.getFields());
      expect(fields.filter((f) => typeof resolverMap[root]?.[f] !== 'function')).toEqual([]);
    }
    for (const [typeName, fields] of Object.entries(resolverMap)) {
      const type = schema.getType(typeName);
      expect(type, typeName).toBeDefined();
      if (!isObjectType(type)) continue;
      for (const field of Object.keys(fields)) expect(Object.keys(type.getFields()), `${typeName}.${field}`).toContain(field);
    }
  });

  it('maps every amount field to Money through a resolver (views hold minor units, not Money)', () => {
    // Types whose parents already build Money objects.
    const built = new Set(['JournalEntry', 'Money']);
    const missing: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('__') || built.has(type.name)) continue;
      for (const field of Object.values(type.getFields())) {
        if (namedType(field) === 'Money' && typeof resolverMap[type.name]?.[field.name] !== 'function') missing.push(`${type.name}.${field.name}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('never exposes card data on a payment method', () => {
    const type = schema.getType('PaymentMethod');
    if (!isObjectType(type)) throw new Error('PaymentMethod');
    const fields = Object.keys(type.getFields());
    expect(fields).toEqual(['id', 'customerId', 'connector', 'status', 'declineCode', 'declineReason', 'createdAt']);
  });
});

describe('httpStatusFor', () => {
  it('gives every error code a status', () => {
    for (const code of ERROR_CODES) expect([400, 401, 403, 404, 409, 413, 429, 500, 503], code).toContain(httpStatusFor(code));
  });

  it.each([
    ['PRICE_NOT_RECURRING', 400],
    ['TEST_CLOCK_ADVANCE_INVALID', 400],
    ['PAYMENT_METHOD_NOT_FOUND', 404],
    ['TEST_CLOCK_NOT_FOUND', 404],
    ['SUBSCRIPTION_ALREADY_EXISTS', 409],
    ['SUBSCRIPTION_NOT_ACTIVE', 409],
    ['PLAN_CHANGE_NOT_ALLOWED', 409],
    ['INVOICE_NOT_PAYABLE', 409],
    ['TEST_CLOCK_IN_USE', 409],
  ] as const)('%s → %i', (code, status) => {
    expect(httpStatusFor(code)).toBe(status);
  });
});
