/**
 * Entitlements through the whole app: a learner pays, the worker relays `checkout.completed` to
 * the entitlements consumer over the in-process bus, and the GraphQL check says yes; a full refund
 * or a lost dispute, once relayed, takes it away.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { money, parseCurrency, type CurrencyCode } from '../../src/money/index.js';
import { applyDisputeEvent } from '../../src/payments/disputes/index.js';
import { describeEachDatabase } from '../support/databases.js';
import { errorCode, key, startHarness, type Harness } from '../support/harness.js';
import { CONFIRM, CREATE, REFUND } from './fragments.js';

const USD = parseCurrency('USD') as CurrencyCode;

const CHECK = `query Check($customerId: ID, $resource: String!, $at: DateTime) { checkAccess(customerId: $customerId, resource: $resource, at: $at) { resource allowed via validUntil } }`;
const CHECK_BATCH = `query Batch($customerId: ID, $resources: [String!]!) { checkAccessBatch(customerId: $customerId, resources: $resources) { resource allowed via validUntil } }`;
const ENTITLEMENTS = `query List($customerId: ID) { entitlements(customerId: $customerId) { resource status revokeReason activeNow validFrom validUntil source { kind id } history { action status reason } } }`;
const LIBRARY = `query { accessibleResources { resource validUntil } }`;

describeEachDatabase('entitlements through the app', (dialect) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(dialect);
  });
  afterAll(async () => h?.close());

  /** A learner buys `priceId` with a card; returns their token, the session and the payment. */
  async function purchase(customerId: string, priceId: string) {
    const learner = await h.token({ sub: customerId, roles: ['learner'] });
    const created = await h.gql(CREATE, { input: { country: 'US', items: [{ priceId, quantity: 1 }], idempotencyKey: key() } }, { as: learner });
    expect(created.errors).toBeUndefined();
    const session = created.data!.createCheckoutSession.checkoutSession;
    const confirmed = await h.gql(CONFIRM, { input: { sessionId: session.id, paymentMethodToken: 'tok_visa', idempotencyKey: key() } }, { as: learner });
    expect(confirmed.errors).toBeUndefined();
    expect(confirmed.data!.confirmCheckoutSession.payment.status).toBe('succeeded');
    return { learner, session, orderId: confirmed.data!.confirmCheckoutSession.checkoutSession.orderId as string, payment: confirmed.data!.confirmCheckoutSession.payment };
  }

  it('grants a paid course once the worker has run, and a full refund takes it away', async () => {
    const { learner, session, orderId, payment } = await purchase('cus_ent_refund', 'price_ml_certificate_usd');
    const check = () => h.gql(CHECK, { resource: 'course:machine-learning' }, { as: learner });
    // Granted by the projection, not by checkout itself: nothing until the event is relayed.
    expect((await check()).data!.checkAccess.allowed).toBe(false);
    await h.runWorker();
    expect((await check()).data!.checkAccess).toEqual({ resource: 'course:machine-learning', allowed: true, via: 'course:machine-learning', validUntil: null });
    expect((await h.gql(LIBRARY, {}, { as: learner })).data!.accessibleResources).toEqual([{ resource: 'course:machine-learning', validUntil: null }]);

    h.clock.advance(60 * 60 * 1000); // the learner studies for an hour, then asks for their money back
    const refund = await h.gql(REFUND, { input: { paymentId: payment.id, amount: session.total.amount, idempotencyKey: key() } });
    expect(refund.data!.refundPayment.result).toBe('succeeded');
    await h.runWorker();
    expect((await check()).data!.checkAccess.allowed).toBe(false);
    const listed = (await h.gql(ENTITLEMENTS, {}, { as: learner })).data!.entitlements;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ resource: 'course:machine-learning', status: 'revoked', revokeReason: 'refunded', activeNow: false, source: { kind: 'order', id: orderId } });
    expect(orderId).toMatch(/^ord_/);
    expect(listed[0].history).toEqual([
      { action: 'granted', status: 'active', reason: null },
      { action: 'revoked', status: 'revoked', reason: 'refunded' },
    ]);
    // Still true about the time before the refund.
    expect((await h.gql(CHECK, { resource: 'course:machine-learning', at: listed[0].validFrom }, { as: learner })).data!.checkAccess.allowed).toBe(true);
  });

  it('the all-access subscription opens every course for a month; a lost dispute takes it away', async () => {
    const { learner, session, payment } = await purchase('cus_ent_dispute', 'price_plus_monthly_usd');
    await h.runWorker();
    const batch = await h.gql(CHECK_BATCH, { resources: ['course:machine-learning', 'specialization:data-science', 'course:any-other'] }, { as: learner });
    expect(batch.data!.checkAccessBatch.map((d: { allowed: boolean; via: string }) => [d.allowed, d.via])).toEqual([
      [true, 'catalog:all'],
      [true, 'catalog:all'],
      [true, 'catalog:all'],
    ]);
    const [plus] = (await h.gql(ENTITLEMENTS, {}, { as: learner })).data!.entitlements;
    const from = new Date(plus.validFrom);
    const until = new Date(plus.validUntil);
    // One calendar month in UTC (the day clamps at a shorter month's end).
    expect(until.getUTCMonth()).toBe((from.getUTCMonth() + 1) % 12);
    expect(until.getUTCHours() * 60 + until.getUTCMinutes()).toBe(from.getUTCHours() * 60 + from.getUTCMinutes());

    const base = { connector: 'sandbox', gatewayDisputeId: `dp_ent_${dialect}`, paymentId: payment.id, amount: money(session.total.amount, USD), fee: null, reason: 'fraudulent', occurredAt: h.clock.now() };
    await applyDisputeEvent(h.app.payments, { ...base, kind: 'opened' });
    await h.runWorker();
    expect((await h.gql(CHECK, { resource: 'course:machine-learning' }, { as: learner })).data!.checkAccess.allowed).toBe(true); // opened is not lost
    await applyDisputeEvent(h.app.payments, { ...base, kind: 'lost' });
    await h.runWorker();
    const after = await h.gql(CHECK_BATCH, { resources: ['course:machine-learning', 'catalog:all'] }, { as: learner });
    expect(after.data!.checkAccessBatch.map((d: { allowed: boolean }) => d.allowed)).toEqual([false, false]);
    expect((await h.gql(ENTITLEMENTS, {}, { as: learner })).data!.entitlements[0]).toMatchObject({ status: 'revoked', revokeReason: 'dispute_lost' });
  });

  it('a partial refund keeps access', async () => {
    const { learner, payment } = await purchase('cus_ent_partial', 'price_ml_certificate_usd');
    await h.runWorker();
    expect((await h.gql(REFUND, { input: { paymentId: payment.id, amount: 100, idempotencyKey: key() } })).errors).toBeUndefined();
    await h.runWorker();
    expect((await h.gql(CHECK, { resource: 'course:machine-learning' }, { as: learner })).data!.checkAccess.allowed).toBe(true);
  });

  it('a learner cannot look at someone else; a service can; bad input is a typed error', async () => {
    await purchase('cus_ent_owner', 'price_ml_certificate_usd');
    await h.runWorker();
    const stranger = await h.token({ sub: 'cus_ent_stranger', roles: ['learner'] });
    expect(errorCode(await h.gql(CHECK, { customerId: 'cus_ent_owner', resource: 'course:machine-learning' }, { as: stranger }))).toBe('NOT_FOUND');
    expect(errorCode(await h.gql(ENTITLEMENTS, { customerId: 'cus_ent_owner' }, { as: stranger }))).toBe('NOT_FOUND');
    const service = await h.token({ sub: 'svc_courses', roles: ['service'] });
    expect((await h.gql(CHECK, { customerId: 'cus_ent_owner', resource: 'course:machine-learning' }, { as: service })).data!.checkAccess.allowed).toBe(true);
    const finance = await h.token({ sub: 'staff_finance', roles: ['finance'] });
    expect(errorCode(await h.gql(CHECK, { customerId: 'cus_ent_owner', resource: 'course:machine-learning' }, { as: finance }))).toBe('FORBIDDEN');
    expect(errorCode(await h.gql(CHECK, { customerId: 'cus_ent_owner', resource: 'Course ML' }, { as: service }))).toBe('VALIDATION_FAILED');
    expect(errorCode(await h.gql(CHECK, { resource: 'course:machine-learning' }, { as: 'anonymous' }))).toBe('UNAUTHENTICATED');
  });

  it('the catalog says what each product grants', async () => {
    const products = (await h.gql(`query { products { id grants } }`, {}, { as: 'anonymous' })).data!.products;
    expect(products).toEqual([
      { id: 'prod_data_science_specialization', grants: 'specialization:data-science' },
      { id: 'prod_ml_certificate', grants: 'course:machine-learning' },
      { id: 'prod_obol_plus', grants: 'catalog:all' },
    ]);
  });
});
