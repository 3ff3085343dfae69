/**
 * Subscriptions over GraphQL: the subscriptions use cases (which authorize: a learner acts for
 * themselves only, and someone else's subscription or invoice is NOT_FOUND) behind shape checks,
 * every mutation under an idempotency key, and their views mapped to the schema (Money for
 * amounts, DateTime for instants).
 *
 * Mutations answer with the use case's own result, stored by the idempotency record, so a replay
 * returns the first response; fields below it that are loaded on demand (a subscription's
 * invoices, an invoice's payment) read the current state, as elsewhere in the schema.
 */
import { ObolError } from '../../kernel/index.js';
import { getPayment, loadPaymentMethod, type PaymentView } from '../../payments/index.js';
import {
  advanceClock,
  attachCustomer,
  cancelSubscription,
  changeSubscriptionPlan,
  createClock,
  getClock,
  getInvoice,
  getSubscription,
  listInvoices,
  listSubscriptions,
  payOpenInvoice,
  REFUND_POLICIES,
  resumeSubscription,
  startSubscription,
  updateSubscriptionPaymentMethod,
  type InvoiceLineView,
  type InvoiceView,
  type RefundPolicy,
  type SubscriptionResult,
  type SubscriptionView,
  type UpdatePaymentMethodResult,
} from '../../subscriptions/index.js';
import { runIdempotent } from '../idempotency.js';
import {
  callerOf,
  idem,
  input,
  moneyOf,
  optionalString,
  requireId,
  requireInstant,
  requirePriceId,
  requireString,
  type Args,
  type GraphQLContext,
  type Resolver,
} from './edge.js';

/** Gateway tokens are at most this long (the use cases check their shape). */
const TOKEN_MAX = 255;

function refundPolicyOf(value: unknown): RefundPolicy {
  if (value === undefined || value === null) return 'none';
  const found = REFUND_POLICIES.find((p) => p === value);
  if (found === undefined) throw new ObolError('VALIDATION_FAILED', `refund must be one of ${REFUND_POLICIES.join(', ')}.`, { field: 'refund' });
  return found;
}

function booleanOf(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw new ObolError('VALIDATION_FAILED', `${field} must be true or false.`, { field });
  return value;
}

/** Null: the plan's default trial. GraphQL has already refused a non-integer or one beyond 32 bits. */
function trialDaysOf(value: unknown): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new ObolError('VALIDATION_FAILED', 'trialDays must be a whole number of days.', { field: 'trialDays' });
  return value;
}

/** Coupon codes are stored in upper case; learners type them any way (as at checkout). */
function couponCodeOf(value: unknown): string | null {
  const code = optionalString(value, 'couponCode', 64);
  return code === null || code.trim() === '' ? null : code.trim().toUpperCase();
}

const Query: Record<string, Resolver> = {
  subscription(_p, args, ctx) {
    const caller = callerOf(ctx);
    const subscriptionId = requireId('subscription', args.id, 'id');
    return getSubscription(ctx.app.db.kysely, { caller, subscriptionId });
  },
  subscriptions(_p, args, ctx) {
    const caller = callerOf(ctx);
    return listSubscriptions(ctx.app.db.kysely, { caller, customerId: optionalString(args.customerId, 'customerId', 64) });
  },
  invoice(_p, args, ctx) {
    const caller = callerOf(ctx);
    const invoiceId = requireId('invoice', args.id, 'id');
    return getInvoice(ctx.app.db.kysely, { caller, invoiceId });
  },
  testClock(_p, args, ctx) {
    const clockId = requireId('testClock', args.id, 'id');
    return getClock(ctx.app.subscriptions, { caller: callerOf(ctx), clockId });
  },
};

const Mutation: Record<string, Resolver> = {
  async startSubscription(_p, args, ctx) {
    const i = input(args);
    const customerId = optionalString(i.customerId, 'customerId', 64);
    const priceId = requirePriceId(i.priceId, 'priceId');
    const country = requireString(i.country, 'country', 8);
    const paymentMethodToken = requireString(i.paymentMethodToken, 'paymentMethodToken', TOKEN_MAX);
    const cardCountry = optionalString(i.cardCountry, 'cardCountry', 8);
    const couponCode = couponCodeOf(i.couponCode);
    const trialDays = trialDaysOf(i.trialDays);
    const { caller, options, req } = idem(ctx, 'startSubscription', i);
    return runIdempotent<SubscriptionResult>(options, req, () =>
      startSubscription(ctx.app.subscriptions, { caller, customerId, priceId, country, paymentMethodToken, cardCountry, couponCode, trialDays, requestKey: req.key }),
    );
  },
  async cancelSubscription(_p, args, ctx) {
    const i = input(args);
    const subscriptionId = requireId('subscription', i.subscriptionId, 'subscriptionId');
    const atPeriodEnd = booleanOf(i.atPeriodEnd, 'atPeriodEnd', true);
    const refund = refundPolicyOf(i.refund);
    const { caller, options, req } = idem(ctx, 'cancelSubscription', i);
    return runIdempotent<SubscriptionResult>(options, req, () => cancelSubscription(ctx.app.subscriptions, { caller, subscriptionId, atPeriodEnd, refund, requestKey: req.key }));
  },
  async resumeSubscription(_p, args, ctx) {
    const i = input(args);
    const subscriptionId = requireId('subscription', i.subscriptionId, 'subscriptionId');
    const { caller, options, req } = idem(ctx, 'resumeSubscription', i);
    return runIdempotent<SubscriptionResult>(options, req, () => resumeSubscription(ctx.app.subscriptions, { caller, subscriptionId }));
  },
  async changeSubscriptionPlan(_p, args, ctx) {
    const i = input(args);
    const subscriptionId = requireId('subscription', i.subscriptionId, 'subscriptionId');
    const priceId = requirePriceId(i.priceId, 'priceId');
    const { caller, options, req } = idem(ctx, 'changeSubscriptionPlan', i);
    return runIdempotent<SubscriptionResult>(options, req, () => changeSubscriptionPlan(ctx.app.subscriptions, { caller, subscriptionId, priceId, requestKey: req.key }));
  },
  async updateSubscriptionPaymentMethod(_p, args, ctx) {
    const i = input(args);
    const subscriptionId = requireId('subscription', i.subscriptionId, 'subscriptionId');
    const paymentMethodToken = requireString(i.paymentMethodToken, 'paymentMethodToken', TOKEN_MAX);
    const { caller, options, req } = idem(ctx, 'updateSubscriptionPaymentMethod', i);
    return runIdempotent<UpdatePaymentMethodResult>(options, req, () =>
      updateSubscriptionPaymentMethod(ctx.app.subscriptions, { caller, subscriptionId, paymentMethodToken, requestKey: req.key }),
    );
  },
  async paySubscriptionInvoice(_p, args, ctx) {
    const i = input(args);
    const subscriptionId = requireId('subscription', i.subscriptionId, 'subscriptionId');
    const paymentMethodToken = requireString(i.paymentMethodToken, 'paymentMethodToken', TOKEN_MAX);
    const cardCountry = optionalString(i.cardCountry, 'cardCountry', 8);
    const { caller, options, req } = idem(ctx, 'paySubscriptionInvoice', i);
    return runIdempotent<SubscriptionResult>(options, req, () =>
      payOpenInvoice(ctx.app.subscriptions, { caller, subscriptionId, paymentMethodToken, cardCountry, requestKey: req.key }),
    );
  },
  async createTestClock(_p, args, ctx) {
    const i = input(args);
    const name = requireString(i.name, 'name', 200);
    const frozenTime = requireInstant(i.frozenTime, 'frozenTime');
    const { caller, options, req } = idem(ctx, 'createTestClock', i);
    return runIdempotent(options, req, async () => ({ testClock: await createClock(ctx.app.subscriptions, { caller, name, frozenTime }) }));
  },
  async attachCustomerToTestClock(_p, args, ctx) {
    const i = input(args);
    const clockId = requireId('testClock', i.clockId, 'clockId');
    const customerId = requireString(i.customerId, 'customerId', 64);
    const { caller, options, req } = idem(ctx, 'attachCustomerToTestClock', i);
    return runIdempotent(options, req, async () => ({ testClock: await attachCustomer(ctx.app.subscriptions, { caller, clockId, customerId }) }));
  },
  async advanceTestClock(_p, args, ctx) {
    const i = input(args);
    const clockId = requireId('testClock', i.clockId, 'clockId');
    const to = requireInstant(i.to, 'to');
    const { caller, options, req } = idem(ctx, 'advanceTestClock', i);
    return runIdempotent(options, req, async () => ({ testClock: await advanceClock({ ...ctx.app.subscriptions, jobs: ctx.app.jobs }, { caller, clockId, to }) }));
  },
};

/** The schema's CustomerSubscription (a type named Subscription would be taken for the root of subscription operations). */
const CustomerSubscription = {
  unitAmount: (s: SubscriptionView) => moneyOf(s.unitAmount, s.currency),
  creditBalance: (s: SubscriptionView) => moneyOf(s.creditBalance, s.currency),
  invoices: (s: SubscriptionView, _a: Args, ctx: GraphQLContext) => listInvoices(ctx.app.db.kysely, { caller: callerOf(ctx), subscriptionId: s.id }),
  latestInvoice: (s: SubscriptionView, _a: Args, ctx: GraphQLContext) => (s.latestInvoiceId === null ? null : getInvoice(ctx.app.db.kysely, { caller: callerOf(ctx), invoiceId: s.latestInvoiceId })),
  /**
   * The subscription itself came from a use case that authorized the caller for it; its saved
   * method is the gateway's reference and status, never card data.
   */
  paymentMethod: async (s: SubscriptionView, _a: Args, ctx: GraphQLContext) => {
    if (s.paymentMethodId === null) return null;
    const method = await loadPaymentMethod(ctx.app.db.kysely, s.paymentMethodId);
    return method && method.customerId === s.customerId ? method : null;
  },
};

type LineWithCurrency = InvoiceLineView & { readonly currency: string };

const Invoice = {
  subtotal: (i: InvoiceView) => moneyOf(i.subtotal, i.currency),
  discount: (i: InvoiceView) => moneyOf(i.discount, i.currency),
  credit: (i: InvoiceView) => moneyOf(i.credit, i.currency),
  tax: (i: InvoiceView) => moneyOf(i.tax, i.currency),
  total: (i: InvoiceView) => moneyOf(i.total, i.currency),
  lines: (i: InvoiceView): readonly LineWithCurrency[] => i.lines.map((l) => ({ ...l, currency: i.currency })),
  subscription: (i: InvoiceView, _a: Args, ctx: GraphQLContext) => getSubscription(ctx.app.db.kysely, { caller: callerOf(ctx), subscriptionId: i.subscriptionId }),
  payment: (i: InvoiceView, _a: Args, ctx: GraphQLContext) => (i.paymentId === null ? null : getPayment(ctx.app.db.kysely, { caller: callerOf(ctx), paymentId: i.paymentId })),
};

const InvoiceLine = {
  amount: (l: LineWithCurrency) => moneyOf(l.amount, l.currency),
};

/** On the existing Payment type: the invoice a subscription payment pays. */
export const paymentInvoice = (p: PaymentView, _a: Args, ctx: GraphQLContext) => (p.invoiceId === null ? null : getInvoice(ctx.app.db.kysely, { caller: callerOf(ctx), invoiceId: p.invoiceId }));

export const subscriptionResolvers = { Query, Mutation, CustomerSubscription, Invoice, InvoiceLine };
