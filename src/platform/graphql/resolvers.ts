/**
 * Resolvers are the edge: validate the shape, run the use case (with its idempotency record),
 * map the view to the schema. No business rule lives here.
 */
import { can, ObolError } from '../../kernel/index.js';
import { listPrices, listProducts, listTaxRates, type Price } from '../../catalog/index.js';
import { confirmCheckoutSession, createCheckoutSession, getBillingDetails, getCheckoutSession, type CheckoutSessionView } from '../../checkout/index.js';
import { entriesForReference, getTrialBalance } from '../../ledger/index.js';
import {
  capturePayment,
  completeThreeDSecure,
  getPayment,
  listPayments,
  refundPayment,
  voidPayment,
  type AttemptView,
  type OperationView,
  type PaymentView,
  type RefundView,
} from '../../payments/index.js';
import { runIdempotent } from '../idempotency.js';
import { AUDIT_ACTIONS, AUDIT_PAGE_MAX, isAuditAction, readAuditLog } from '../audit/read.js';
import type { AuditEntry as AuditEntryView } from '../audit/index.js';
import type { DisputeView } from '../../payments/disputes/index.js';
import { checkAccess, checkAccessBatch, listAccessibleResources, listEntitlements } from '../../entitlements/index.js';
import { DateTimeScalar, SafeIntScalar } from './scalars.js';
import { callerOf, idem, input, moneyOf, optionalInstant, optionalString, requireId, requireString, type Args, type GraphQLContext, type Resolver } from './edge.js';
import { paymentInvoice, subscriptionResolvers } from './subscriptions.js';

export type { GraphQLContext } from './edge.js';

const Query: Record<string, Resolver> = {
  async payment(_p, args, ctx) {
    const caller = callerOf(ctx);
    const id = requireId('payment', args.id, 'id');
    return getPayment(ctx.app.db.kysely, { caller, paymentId: id });
  },
  async checkoutSession(_p, args, ctx) {
    const caller = callerOf(ctx);
    const id = requireId('checkoutSession', args.id, 'id');
    return getCheckoutSession(ctx.app.db.kysely, { caller, sessionId: id });
  },
  async customerPayments(_p, args, ctx) {
    const caller = callerOf(ctx);
    const { app } = ctx;
    const customerId = requireString(args.customerId, 'customerId', 64);
    const first = typeof args.first === 'number' ? args.first : 20;
    if (!Number.isInteger(first) || first < 1 || first > 100) throw new ObolError('VALIDATION_FAILED', 'first must be between 1 and 100.', { field: 'first' });
    const after = args.after === undefined || args.after === null ? null : requireId('payment', args.after, 'after');
    const page = await listPayments(app.db.kysely, { caller, customerId, first, after });
    return { nodes: page.nodes, pageInfo: { endCursor: page.endCursor, hasNextPage: page.hasNextPage } };
  },
  products: (_p, _a, { app }) => listProducts(app.db.kysely),
  async prices(_p, args, { app }) {
    return listPrices(app.db.kysely, {
      country: optionalString(args.country, 'country', 2)?.toUpperCase() ?? undefined,
      currency: optionalString(args.currency, 'currency', 3)?.toUpperCase() ?? undefined,
      productId: optionalString(args.productId, 'productId', 64) ?? undefined,
    });
  },
  taxRates: (_p, _a, { app }) => listTaxRates(app.db.kysely),
  viewer: (_p, _a, ctx) => (ctx.caller ? ctx.caller.actor : null),
  async auditLog(_p, args, ctx) {
    const caller = callerOf(ctx);
    const first = typeof args.first === 'number' ? args.first : 50;
    if (!Number.isInteger(first) || first < 1 || first > AUDIT_PAGE_MAX) throw new ObolError('VALIDATION_FAILED', `first must be between 1 and ${AUDIT_PAGE_MAX}.`, { field: 'first' });
    const action = optionalString(args.action, 'action', 60);
    if (action !== null && !isAuditAction(action)) throw new ObolError('VALIDATION_FAILED', `action must be one of ${AUDIT_ACTIONS.join(', ')}.`, { field: 'action' });
    const page = await readAuditLog(ctx.app.db.kysely, {
      caller,
      first,
      after: optionalString(args.after, 'after', 200),
      ...(action !== null ? { action } : {}),
      ...(args.targetId ? { targetId: requireString(args.targetId, 'targetId', 64) } : {}),
      ...(args.actorSubject ? { actorSubject: requireString(args.actorSubject, 'actorSubject', 200) } : {}),
    });
    return { nodes: page.entries, pageInfo: { endCursor: page.endCursor, hasNextPage: page.hasNextPage } };
  },
  // Entitlements: customerId may be left out by a learner (then themselves).
  entitlements: (_p, args, ctx) => listEntitlements(ctx.app.entitlements, { caller: callerOf(ctx), customerId: optionalString(args.customerId, 'customerId', 64) }),
  checkAccess: (_p, args, ctx) =>
    checkAccess(ctx.app.entitlements, { caller: callerOf(ctx), customerId: optionalString(args.customerId, 'customerId', 64), resource: requireString(args.resource, 'resource', 200), at: optionalInstant(args.at) }),
  checkAccessBatch: (_p, args, ctx) =>
    checkAccessBatch(ctx.app.entitlements, {
      caller: callerOf(ctx),
      customerId: optionalString(args.customerId, 'customerId', 64),
      resources: (Array.isArray(args.resources) ? args.resources : []).map((r: unknown) => requireString(r, 'resources', 200)),
      at: optionalInstant(args.at),
    }),
  accessibleResources: (_p, args, ctx) => listAccessibleResources(ctx.app.entitlements, { caller: callerOf(ctx), customerId: optionalString(args.customerId, 'customerId', 64), at: optionalInstant(args.at) }),
  async trialBalance(_p, _a, ctx) {
    const tb = await getTrialBalance(ctx.app.db.kysely, { caller: callerOf(ctx) });
    return { ...tb, balanced: tb.currencies.every((c) => c.balanced) };
  },
};

const Mutation: Record<string, Resolver> = {
  async createCheckoutSession(_p, args, ctx) {
    const i = input(args);
    const { caller, options, req } = idem(ctx, 'createCheckoutSession', i);
    const items = Array.isArray(i.items) ? (i.items as { priceId: string; quantity: number }[]) : [];
    const couponCode = optionalString(i.couponCode, 'couponCode', 64);
    return runIdempotent<{ checkoutSession: CheckoutSessionView }>(options, req, async (run) => {
      const view = await createCheckoutSession(
        ctx.app.checkout,
        {
          caller,
          customerId: optionalString(i.customerId, 'customerId', 64),
          country: requireString(i.country, 'country', 8),
          items: items.map((it) => ({ priceId: it.priceId, quantity: it.quantity })),
          couponCode: couponCode === null || couponCode.trim() === '' ? null : couponCode.trim().toUpperCase(),
          captureMethod: i.captureMethod === 'manual' ? 'manual' : 'automatic',
          billingDetails: i.billingDetails ?? null,
        },
        (tx, v) => run.finish(tx, { checkoutSession: v }),
      );
      return { checkoutSession: view };
    });
  },
  async confirmCheckoutSession(_p, args, ctx) {
    const i = input(args);
    const sessionId = requireId('checkoutSession', i.sessionId, 'sessionId');
    const token = optionalString(i.paymentMethodToken, 'paymentMethodToken', 255);
    const cardCountry = optionalString(i.cardCountry, 'cardCountry', 2);
    const { caller, options, req } = idem(ctx, 'confirmCheckoutSession', i);
    return runIdempotent(options, req, async () => {
      const result = await confirmCheckoutSession(ctx.app.checkout, { caller, sessionId, paymentMethodToken: token, cardCountry, requestKey: req.key });
      return { checkoutSession: result.session, payment: result.payment };
    });
  },
  async completeThreeDSecureChallenge(_p, args, ctx) {
    const i = input(args);
    const paymentId = requireId('payment', i.paymentId, 'paymentId');
    const outcome = i.outcome === 'failed' ? 'failed' : i.outcome === null ? null : 'authenticated';
    const { caller, options, req } = idem(ctx, 'completeThreeDSecureChallenge', i);
    return runIdempotent(options, req, async () => ({ payment: await completeThreeDSecure(ctx.app.payments, { caller, paymentId, outcome, requestKey: req.key }) }));
  },
  async failThreeDSecureChallenge(_p, args, ctx) {
    const i = input(args);
    const paymentId = requireId('payment', i.paymentId, 'paymentId');
    const { caller, options, req } = idem(ctx, 'failThreeDSecureChallenge', i);
    return runIdempotent(options, req, async () => ({ payment: await completeThreeDSecure(ctx.app.payments, { caller, paymentId, outcome: 'failed', requestKey: req.key }) }));
  },
  async capturePayment(_p, args, ctx) {
    const i = input(args);
    const paymentId = requireId('payment', i.paymentId, 'paymentId');
    const amount = typeof i.amount === 'number' ? i.amount : null;
    const { caller, options, req } = idem(ctx, 'capturePayment', i);
    return runIdempotent(options, req, () => capturePayment(ctx.app.payments, { caller, paymentId, amount, requestKey: req.key }));
  },
  async voidPayment(_p, args, ctx) {
    const i = input(args);
    const paymentId = requireId('payment', i.paymentId, 'paymentId');
    const { caller, options, req } = idem(ctx, 'voidPayment', i);
    return runIdempotent(options, req, () => voidPayment(ctx.app.payments, { caller, paymentId, requestKey: req.key }));
  },
  async refundPayment(_p, args, ctx) {
    const i = input(args);
    const paymentId = requireId('payment', i.paymentId, 'paymentId');
    const amount = typeof i.amount === 'number' ? i.amount : null;
    const reason = optionalString(i.reason, 'reason', 500);
    const { caller, options, req } = idem(ctx, 'refundPayment', i);
    return runIdempotent(options, req, () => refundPayment(ctx.app.payments, { caller, paymentId, amount, reason, requestKey: req.key }));
  },
};

const CheckoutSession = {
  billingDetails: (s: CheckoutSessionView, _a: Args, ctx: GraphQLContext) => {
    const caller = callerOf(ctx);
    return can(caller.actor, 'checkout.read_billing_details') ? getBillingDetails({ db: ctx.app.db, keyring: ctx.app.checkout.keyring }, { caller, sessionId: s.id }) : null;
  },
  subtotal: (s: CheckoutSessionView) => moneyOf(s.subtotal, s.currency),
  discountTotal: (s: CheckoutSessionView) => moneyOf(s.discountTotal, s.currency),
  taxTotal: (s: CheckoutSessionView) => moneyOf(s.taxTotal, s.currency),
  total: (s: CheckoutSessionView) => moneyOf(s.total, s.currency),
  lines: (s: CheckoutSessionView) => s.lines.map((l) => ({ ...l, currency: s.currency })),
  payment: async (s: CheckoutSessionView, _a: Args, ctx: GraphQLContext) => (s.paymentId === null ? null : getPayment(ctx.app.db.kysely, { caller: callerOf(ctx), paymentId: s.paymentId })),
};

type LineWithCurrency = CheckoutSessionView['lines'][number] & { currency: string };
const CheckoutLine = {
  unitAmount: (l: LineWithCurrency) => moneyOf(l.unitAmount, l.currency),
  amountGross: (l: LineWithCurrency) => moneyOf(l.amountGross, l.currency),
  discount: (l: LineWithCurrency) => moneyOf(l.discount, l.currency),
  tax: (l: LineWithCurrency) => moneyOf(l.tax, l.currency),
  total: (l: LineWithCurrency) => moneyOf(l.total, l.currency),
};

const Payment = {
  invoice: paymentInvoice,
  checkoutSession: async (p: PaymentView, _a: Args, ctx: GraphQLContext) => (p.checkoutSessionId === null ? null : getCheckoutSession(ctx.app.db.kysely, { caller: callerOf(ctx), sessionId: p.checkoutSessionId })),
  amount: (p: PaymentView) => moneyOf(p.amount, p.currency),
  amountAuthorized: (p: PaymentView) => moneyOf(p.amountAuthorized, p.currency),
  amountCaptured: (p: PaymentView) => moneyOf(p.amountCaptured, p.currency),
  amountRefunded: (p: PaymentView) => moneyOf(p.amountRefunded, p.currency),
  amountRefundable: (p: PaymentView) => moneyOf(p.amountRefundable, p.currency),
  async ledgerTransactions(p: PaymentView, _a: Args, ctx: GraphQLContext) {
    // The ledger is finance's: a learner or support sees their payment, not its journal.
    if (!can(callerOf(ctx).actor, 'ledger.read')) throw new ObolError('FORBIDDEN', 'Your role may not read the ledger.', { permission: 'ledger.read' });
    const posted = await entriesForReference(ctx.app.db.kysely, p.id);
    return posted.map((t) => ({
      id: t.id,
      kind: t.kind,
      description: t.description,
      createdAt: t.createdAt,
      entries: t.entries.map((e) => ({
        account: e.account,
        amount: moneyOf(e.amount, e.currency),
        debit: e.amount > 0 ? e.amount : 0,
        credit: e.amount < 0 ? -e.amount : 0,
      })),
    }));
  },
};

const AuditEntry = {
  actorSubject: (e: AuditEntryView) => e.actor.subject,
  actorRoles: (e: AuditEntryView) => e.actor.roles,
  actorKind: (e: AuditEntryView) => e.actor.kind,
  targetType: (e: AuditEntryView) => e.target.type,
  targetId: (e: AuditEntryView) => e.target.id,
  before: (e: AuditEntryView) => (e.before === null ? null : JSON.stringify(e.before)),
  after: (e: AuditEntryView) => (e.after === null ? null : JSON.stringify(e.after)),
};

const PaymentAttempt = { amount: (a: AttemptView) => moneyOf(a.amount, a.currency) };
const Dispute = {
  amount: (d: DisputeView) => moneyOf(d.amount, d.currency),
  fee: (d: DisputeView) => (d.fee === null || d.feeCurrency === null ? null : moneyOf(d.fee, d.feeCurrency)),
};
const PaymentOperation = { amount: (o: OperationView) => moneyOf(o.amount, o.currency) };
const Refund = { amount: (r: RefundView) => moneyOf(r.amount, r.currency) };
const Price = { unitAmount: (p: Price) => moneyOf(p.unitAmount, p.currency) };
const Product = {
  prices: (p: { id: string }, args: Args, { app }: GraphQLContext) =>
    listPrices(app.db.kysely, { productId: p.id, country: optionalString(args.country, 'country', 2)?.toUpperCase() ?? undefined, currency: optionalString(args.currency, 'currency', 3)?.toUpperCase() ?? undefined }),
};

export const resolvers = {
  SafeInt: SafeIntScalar,
  DateTime: DateTimeScalar,
  Query: { ...Query, ...subscriptionResolvers.Query },
  Mutation: { ...Mutation, ...subscriptionResolvers.Mutation },
  CustomerSubscription: subscriptionResolvers.CustomerSubscription,
  Invoice: subscriptionResolvers.Invoice,
  InvoiceLine: subscriptionResolvers.InvoiceLine,
  CheckoutSession,
  CheckoutLine,
  Payment,
  AuditEntry,
  Dispute,
  PaymentAttempt,
  PaymentOperation,
  Refund,
  Price,
  Product,
};
